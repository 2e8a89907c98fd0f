"""Videos in ``safefakes anonymize-images``: ffmpeg IO, face tracks, the runner, on tiny real videos.

The videos are built here from a real sample photo (skimage's astronaut,
tests/sample_photos.py), panned across 30 frames of 160 x 120, with a sine
tone as audio made by ffmpeg's ``lavfi`` source, so that every check runs
on what a camera could have recorded, in a second or two.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from safefakes import cli
from safefakes.anonymizers.registry import build_anonymizer
from safefakes.data.anonymized import PHOTO_RECORDS
from safefakes.errors import InputError
from safefakes.photos.folder import make_finder
from safefakes.video import run as video_run
from safefakes.video.io import VideoWriter, ffmpeg_exe, probe, read_frames
from safefakes.video.tracking import HELD, INTERPOLATED, FaceTracker, TrackParams, iou, track_boxes
from tests.sample_photos import sample_photo

N_FRAMES, WIDTH, HEIGHT = 30, 160, 120
CODECS = {
    ".mp4": (["-c:v", "libx264", "-pix_fmt", "yuv420p"], ["-c:a", "aac"]),
    ".mkv": (["-c:v", "libx264", "-pix_fmt", "yuv420p"], ["-c:a", "libopus"]),
    ".webm": (["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"], ["-c:a", "libopus"]),
    ".avi": (["-c:v", "mpeg4"], ["-c:a", "libmp3lame"]),
}


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """The astronaut's face panning right to left across 30 frames of 160 x 120."""
    image = cv2.resize(sample_photo("astronaut"), (200, 200), interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(image[20:20 + HEIGHT, 10 + f:10 + f + WIDTH]) for f in range(N_FRAMES)]


def make_video(path: Path, frames: list[np.ndarray], rate: str = "25", audio: bool = True) -> Path:
    """Encode ``frames`` (RGB) into ``path`` (its suffix picks the codecs), with a sine tone as audio."""
    path.parent.mkdir(parents=True, exist_ok=True)
    vcodec, acodec = CODECS[path.suffix]
    height, width = frames[0].shape[:2]
    sound = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"] if audio else []
    maps = ["-map", "0:v", "-map", "1:a", *acodec, "-shortest"] if audio else ["-map", "0:v"]
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{width}x{height}", "-framerate", rate, "-i", "-", *sound, *maps, *vcodec, str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    return path


def _face_box(frame: np.ndarray) -> np.ndarray:
    boxes, _ = make_finder("centerface", None, None, None)(frame)
    assert len(boxes) == 1, boxes
    return boxes[0]


def _changed(before: np.ndarray, after: np.ndarray, box) -> float:
    x, y, w, h = (int(v) for v in box)
    return float(np.abs(after[y:y + h, x:x + w].astype(int) - before[y:y + h, x:x + w]).mean())


def _covers(region, box) -> bool:
    x, y, w, h = region
    bx, by, bw, bh = box
    return x <= bx and y <= by and x + w >= bx + bw and y + h >= by + bh


# --------------------------------------------------------------------------- #
# ffmpeg IO
# --------------------------------------------------------------------------- #
def test_probe_and_read_frames(tmp_path, frames):
    path = make_video(tmp_path / "clip.mp4", frames)
    info = probe(path)
    assert (info.frames, info.width, info.height, info.fps, info.fps_rational) == (N_FRAMES, WIDTH, HEIGHT, 25.0,
                                                                                   "25/1")
    assert info.has_audio and info.audio_codec == "aac" and info.codec == "h264"
    decoded = list(read_frames(path))
    assert [i for i, _ in decoded] == list(range(N_FRAMES))
    assert decoded[0][1].shape == (HEIGHT, WIDTH, 3) and decoded[0][1].dtype == np.uint8
    # Lossy, but the same picture: the encoder's error is a few grey levels.
    assert np.abs(decoded[5][1].astype(int) - frames[5]).mean() < 6
    assert [i for i, _ in read_frames(path, every=7)] == [0, 7, 14, 21, 28]
    ntsc = probe(make_video(tmp_path / "ntsc.mkv", frames[:10], rate="30000/1001", audio=False))
    assert ntsc.fps_rational == "30000/1001" and not ntsc.has_audio and ntsc.frames == 10


def test_unreadable_videos_are_named(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    with pytest.raises(InputError, match="broken.mp4"):
        probe(bad)
    with pytest.raises(InputError, match="not found"):
        probe(tmp_path / "missing.mov")


# --------------------------------------------------------------------------- #
# Tracks on box lists
# --------------------------------------------------------------------------- #
def _moving_face(n: int = 40, missed: tuple = ()) -> tuple[list, list]:
    """A 30 px face moving 3 px a frame; its detections, with the frames in ``missed`` left out."""
    truth = [[10 + 3 * f, 40, 30, 30] for f in range(n)]
    return truth, [[] if f in missed else [box] for f, box in enumerate(truth)]


def test_a_face_missed_in_two_frames_of_a_track_is_covered():
    truth, dets = _moving_face(missed=(12, 13))
    out = track_boxes(dets, width=400, height=200)
    assert [f.frame for f in out] == list(range(len(truth)))
    for frame, box in zip(out, truth):
        assert len(frame.boxes) == 1 and _covers(frame.boxes[0], box), (frame.frame, frame.boxes, box)
    assert out[12].states == [INTERPOLATED] and out[13].states == [INTERPOLATED]
    assert len({t for f in out for t in f.tracks}) == 1


def test_gaps_up_to_twice_the_hold_are_bridged_and_the_hold_ends():
    hold = TrackParams().hold
    # Found at t - hold and t + hold (t = 20), missed in between: covered all along.
    truth, dets = _moving_face(missed=tuple(range(20 - hold + 1, 20 + hold)))
    out = track_boxes(dets, width=400, height=200)
    assert all(_covers(f.boxes[0], box) for f, box in zip(out, truth))
    # The face leaves for good after frame 29: held `hold` frames, then no region.
    truth, dets = _moving_face(n=45, missed=tuple(range(30, 45)))
    out = track_boxes(dets, width=400, height=200)
    assert [len(f.boxes) for f in out[30:45]] == [1] * hold + [0] * (15 - hold)
    assert set(s for f in out[30:30 + hold] for s in f.states) == {HELD}
    # ... and `hold` frames before its first detection (a face entering is found late).
    truth, dets = _moving_face(n=20, missed=tuple(range(10)))
    out = track_boxes(dets, width=400, height=200)
    assert [len(f.boxes) for f in out[:10]] == [0] * (10 - hold) + [1] * hold


def test_regions_are_smoothed_but_never_smaller_than_a_detection():
    rng = np.random.default_rng(0)
    truth, _ = _moving_face(n=60)
    jittered = [[[x + rng.integers(-3, 4), y + rng.integers(-3, 4), w, h]] for x, y, w, h in truth]
    out = track_boxes(jittered, width=400, height=200)
    for frame, det in zip(out, jittered):
        assert _covers(frame.boxes[0], det[0])
    # Smoothed: the region's centre moves more evenly than the detections'.
    centres = np.array([[b[0] + b[2] / 2 for b in f.boxes] for f in out]).ravel()
    raw = np.array([d[0][0] + d[0][2] / 2 for d in jittered])
    assert np.abs(np.diff(centres, 2)).mean() < np.abs(np.diff(raw, 2)).mean()


def test_two_faces_keep_their_tracks_and_memory_stays_bounded():
    tracker = FaceTracker(TrackParams(), 640, 480)
    out = []
    for f in range(2000):
        a = [50 + (f % 200), 100, 40, 40]
        b = [400, 300 - (f % 100), 50, 50]
        out.extend(tracker.push(f, [a, b] if f % 7 else [a]))
        assert tracker.pushed - tracker.emitted <= tracker.delay + 1
        assert sum(len(t.detections) for t in tracker.tracks) < 200
    out.extend(tracker.finish())
    assert len(out) == 2000 and all(len(f.boxes) == 2 for f in out[:90])
    assert {t for f in out[:90] for t in f.tracks} == {0, 1}
    assert iou(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 10, 10]]))[0, 0] == pytest.approx(1 / 3)


def test_detecting_every_second_frame_still_covers_every_frame():
    """--detect-every 2: the frames between looks, and a look that misses the face, are covered."""
    params = TrackParams(detect_every=2)
    truth, dets = _moving_face(n=40, missed=(14,))
    looked = [d if f % 2 == 0 or f == 39 else [] for f, d in enumerate(dets)]
    out = track_boxes(looked, params, width=400, height=200)
    assert all(len(f.boxes) == 1 and _covers(f.boxes[0], box) for f, box in zip(out, truth))
    with pytest.raises(ValueError, match="detect_every"):
        TrackParams(hold=2, detect_every=4)


def test_track_parameters_are_checked():
    with pytest.raises(ValueError, match="margin"):
        TrackParams(margin=0.9)
    with pytest.raises(ValueError, match="hold"):
        TrackParams(hold=-1)


# --------------------------------------------------------------------------- #
# The runner
# --------------------------------------------------------------------------- #
def test_a_folder_of_photos_and_videos_keeps_containers_frames_size_rate_and_audio(tmp_path, frames,
                                                                                   centerface_weights, capsys):
    root = tmp_path / "shoot"
    make_video(root / "clip.mp4", frames)
    make_video(root / "day2/clip.mkv", frames, rate="30000/1001")
    make_video(root / "day2/clip.webm", frames[:20])
    make_video(root / "old.avi", frames[:12])
    cv2.imwrite(str(root / "photo.jpg"), cv2.cvtColor(sample_photo("astronaut"), cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    assert cli.main(["anonymize-images", str(root), str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "clip.mp4" in printed and "4 video(s)" in printed and "1 images" in printed
    for name in ("clip.mp4", "day2/clip.mkv", "day2/clip.webm", "old.avi"):
        before, after = probe(root / name), probe(out / name)
        assert after.container == before.container, name
        assert (after.frames, after.width, after.height, after.fps_rational) == \
               (before.frames, before.width, before.height, before.fps_rational), name
        assert after.has_audio and after.audio_codec == before.audio_codec, name
        record = json.loads((out / PHOTO_RECORDS / "videos" / f"{name}.json").read_text())
        assert record["audio"] == "copied" and record["frames_with_faces"] == before.frames, name
        assert len(record["tracks"]) == 1 and record["tracks"][0]["states"].count("D") >= before.frames - 2
    assert (out / "photo.jpg").is_file() and (out / PHOTO_RECORDS / "anonymization.done").is_file()
    hashes = (out / PHOTO_RECORDS / "input_hashes.csv").read_text()
    assert "day2/clip.mkv," in hashes and "photo.jpg," in hashes
    # The face is blurred in every frame.
    box = _face_box(frames[0])
    first = next(read_frames(out / "clip.mp4"))[1]
    assert _changed(frames[0], first, box) > 15
    # A rerun keeps the finished videos (same bytes).
    stamp = (out / "clip.mp4").stat().st_mtime_ns
    assert cli.main(["anonymize-images", str(root), str(out), "--no-progress"]) == 0
    assert (out / "clip.mp4").stat().st_mtime_ns == stamp


def test_a_face_the_detector_misses_in_two_frames_is_still_covered(tmp_path, frames, centerface_weights,
                                                                   monkeypatch):
    src = make_video(tmp_path / "clip.mp4", frames)
    real = make_finder("centerface", None, None, None)
    missed = {12, 13}
    calls = []

    class Blind:
        """The real detector, blind in the frames in ``missed``."""

        def __call__(self, frame):
            calls.append(len(calls))
            boxes, scores = real(frame)
            return (boxes[:0], scores[:0]) if len(calls) - 1 in missed else (boxes, scores)

    monkeypatch.setattr(video_run, "make_finder", lambda *a, **k: Blind())
    report = video_run.anonymize_video(src, tmp_path / "anon.mp4", build_anonymizer("blur"), progress=False)
    assert report.frames == N_FRAMES and len(calls) == N_FRAMES
    assert report.record["tracks"][0]["states"][12:14] == "II"
    decoded = dict(read_frames(tmp_path / "anon.mp4"))
    for f in (11, 12, 13, 14):
        assert _changed(frames[f], decoded[f], real(frames[f])[0][0]) > 15, f
    # Without tracks (hold 0, no smoothing) the two frames would show the face.
    calls.clear()
    report = video_run.anonymize_video(src, tmp_path / "untracked.mp4", build_anonymizer("blur"), progress=False,
                                       tracking=TrackParams(hold=0, smooth=0, margin=1.0))
    decoded = dict(read_frames(tmp_path / "untracked.mp4"))
    assert _changed(frames[12], decoded[12], real(frames[12])[0][0]) < 6


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_video_leaves_no_output(tmp_path, frames, centerface_weights, monkeypatch, failure):
    root = tmp_path / "shoot"
    make_video(root / "clip.mp4", frames)
    make_video(root / "clip.mkv", frames[:10])
    original = VideoWriter.write

    def write(self, frame):
        if self.frames == 15:
            raise failure("interrupted after 15 frames")
        original(self, frame)

    monkeypatch.setattr(VideoWriter, "write", write)
    with pytest.raises(failure):
        video_run.anonymize_video(root / "clip.mp4", tmp_path / "anon.mp4", build_anonymizer("blur"),
                                  progress=False)
    assert sorted(os.listdir(tmp_path)) == ["shoot"]  # no anon.mp4, no temporary file
    out = tmp_path / "out"
    try:  # the command reports Ctrl-C with an exit status, another error propagates
        assert cli.main(["anonymize-images", str(root), str(out), "--no-progress"]) != 0
    except failure:
        pass
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    # The short video, done before the failure, is whole and kept; the other one is not there at all.
    assert [name for name in left if not name.startswith(f"{PHOTO_RECORDS}/")] == ["clip.mkv"], left
    assert probe(out / "clip.mkv").frames == 10
    assert f"{PHOTO_RECORDS}/anonymization.done" not in left
    # A rerun starts clean and finishes.
    monkeypatch.setattr(VideoWriter, "write", original)
    assert cli.main(["anonymize-images", str(root), str(out), "--no-progress"]) == 0
    assert probe(out / "clip.mp4").frames == N_FRAMES and probe(out / "clip.mkv").frames == 10
    assert not list(out.rglob("*.part"))


def test_a_killed_run_leaves_no_video_under_its_name(tmp_path, frames, centerface_weights):
    """SIGTERM (``kill``) mid-video: the temporary file is removed, the output name never exists."""
    src = make_video(tmp_path / "clip.mp4", frames * 4)
    script = (f"import time\nfrom safefakes.video.io import VideoWriter\nw = VideoWriter.write\n"
              f"def slow(self, f):\n    time.sleep(0.05)\n    w(self, f)\nVideoWriter.write = slow\n"
              f"from safefakes import cli\ncli.main(['anonymize-images', {str(src)!r}, '-o', "
              f"{str(tmp_path / 'anon.mp4')!r}, '--no-progress'])\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    deadline = 60.0
    while deadline > 0 and not list(tmp_path.glob(".anon.mp4.*.part")):
        deadline -= 0.05
        subprocess.run(["sleep", "0.05"])
    proc.terminate()
    proc.wait(timeout=30)
    assert not (tmp_path / "anon.mp4").exists()
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))


def test_bad_inputs_and_outputs_are_errors_in_words(tmp_path, frames, capsys, centerface_weights):
    bad = tmp_path / "shoot/broken.mov"
    bad.parent.mkdir()
    bad.write_bytes(b"not a video at all")
    assert cli.main(["anonymize-images", str(tmp_path / "shoot"), str(tmp_path / "out"), "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "broken.mov" in err and "Traceback" not in err
    clip = make_video(tmp_path / "clip.mp4", frames[:5])
    assert cli.main(["anonymize-images", str(clip), "-o", str(tmp_path / "anon.jpg"), "--no-progress"]) != 0
    assert cli.main(["anonymize-images", str(clip), "-o", str(clip), "--no-progress"]) != 0
    assert "never written to" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a usage error, which names the flag
        cli.main(["anonymize-images", str(clip), "-o", str(tmp_path / "a.mp4"), "--track-margin", "0.5"])
    assert "--track-margin must be >= 1" in capsys.readouterr().err


def _readme_video_recipe() -> str:
    """The second bash block of the README's section "Anonymizing your own photos": the video recipe."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Anonymizing your own photos", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```bash")
    assert len(blocks) >= 3, "the README's photo section has no second bash block (the video recipe)"
    return blocks[2].split("```", 1)[0]


def test_the_readme_video_recipe_runs_as_written(tmp_path, frames, centerface_weights, monkeypatch):
    make_video(tmp_path / "clip.mp4", frames)
    make_video(tmp_path / "shoot/day1/clip.mkv", frames[:12])
    cv2.imwrite(str(tmp_path / "shoot/photo.jpg"), cv2.cvtColor(sample_photo("astronaut"), cv2.COLOR_RGB2BGR))
    monkeypatch.chdir(tmp_path)
    for line in _readme_video_recipe().splitlines():
        argv = shlex.split(line, comments=True)
        if argv:
            assert argv[0] == "safefakes", argv
            assert cli.main([*argv[1:], "--no-progress"]) == 0, line
    assert probe(tmp_path / "anon.mp4").frames == N_FRAMES
    assert probe(tmp_path / "out/day1/clip.mkv").frames == 12 and (tmp_path / "out/photo.jpg").is_file()
