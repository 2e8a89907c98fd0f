"""Anonymize the faces of videos: decode, detect, track, anonymize, encode (``anonymize-images`` on a video).

Each frame is decoded by ffmpeg (``safefakes.video.io``), searched by the
run's face detector (the photo tool's ``FaceFinder``), and the detections go
to a ``FaceTracker`` (``safefakes.video.tracking``), which decides each
frame's regions a few frames later (``FaceTracker.delay``: held in a buffer
of that many frames). The method of a photo run (blur by default, the same
``--method`` and options) is applied to those regions, and the frame is
piped to an ffmpeg encoder writing the same container, size, frame count
and frame rate, with the input's audio stream copied. The encoder writes
to a temporary file beside the output (``.<name>.<random>.part``), renamed
into place only when the video is complete and checked (frame count), so an
interrupted run (an exception, Ctrl-C, a kill) never leaves a half video under
the output's name; a rerun removes the temporary file.

In a folder run (``VideoStep``, run by ``safefakes.photos.folder.anonymize_folder``)
each video's record goes to ``OUTPUT/.safefakes/videos/<name>.json``: the
input's and output's SHA-256 and stream facts, the audio's fate, the
tracker's settings, and per track its first frame, one state letter a frame
(D detected, I interpolated, H held) and its region per frame. A rerun
keeps the videos whose record, input and output still match.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import signal
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from safefakes.anonymizers.base import Anonymizer
from safefakes.data.anonymized import sha256_file
from safefakes.data.images import atomic_path, write_text_atomic
from safefakes.data.seeding import image_seed
from safefakes.engine.methods import AnonymizerSource, resolve_anonymizer
from safefakes.engine.pool import _Bar
from safefakes.errors import InputError, SafeFakesError
from safefakes.photos.face_finder import DEFAULT_DETECTOR, FaceFinder
from safefakes.photos.folder import make_finder, warn_no_face
from safefakes.video.io import VIDEO_SUFFIXES, VideoInfo, VideoWriter, is_video_name, probe, read_frames
from safefakes.video.tracking import FaceTracker, FrameFaces, TrackParams

log = logging.getLogger(__name__)

#: Per-video records of a folder run, under its records folder (``.safefakes/``).
VIDEO_RECORDS = "videos"


@dataclass
class VideoReport:
    """What the anonymization of one video did."""

    input: Path
    output: Path
    method: str
    frames: int
    fps: float
    tracks: int
    regions: int  # face regions anonymized over all frames
    states: dict[str, int]  # regions by track state: D, I, H
    status_counts: dict[str, int]
    audio: str
    seconds: float
    record: dict = field(default_factory=dict, repr=False)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        states = ", ".join(f"{n} {name}" for name, n in (("detected", self.states.get("D", 0)),
                                                           ("interpolated", self.states.get("I", 0)),
                                                           ("held", self.states.get("H", 0))))
        return (f"{self.method}: {self.input} -> {self.output}, {self.frames} frame(s) at {self.fps:g} fps, "
                f"{self.tracks} face track(s), {self.regions} region(s) anonymized ({states}); audio {self.audio}; "
                f"{self.seconds:.1f} s ({self.frames_per_second:.1f} frames/s)")


@contextlib.contextmanager
def _terminate_raises() -> Iterator[None]:
    """A SIGTERM (``kill``) ends the run as Ctrl-C does, by an exception, so that the partial file is removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"terminated by signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _anonymize_frame(instance: Anonymizer, frame: np.ndarray, faces: FrameFaces, seed: int, name: str,
                     statuses: Counter) -> np.ndarray:
    if instance.identity or (not len(faces.boxes) and not instance.whole_image):
        return frame
    rng = np.random.default_rng(image_seed(int(seed), f"{name}#{faces.frame}")) if instance.uses_rng else None
    result = instance.anonymize(frame, faces.boxes, None, rng)
    statuses.update(result.statuses)
    return result.image


def _add_to_record(tracks: dict[int, dict], frame: FrameFaces) -> None:
    """Per track: first frame, a state letter per frame ("-": not covered), its region and score per frame covered."""
    for tid, box, state, score in zip(frame.tracks, frame.boxes.tolist(), frame.states, frame.scores):
        t = tracks.setdefault(tid, {"id": tid, "first": frame.frame, "states": "", "boxes": [], "scores": []})
        t["states"] += "-" * (frame.frame - t["first"] - len(t["states"])) + state
        t["boxes"].append(box)
        t["scores"].append(None if score is None else round(score, 3))


def process_video(
    src: Path,
    dst: Path,
    instance: Anonymizer,
    finder: FaceFinder,
    params: TrackParams,
    *,
    seed: int = 0,
    name: str | None = None,
    progress: bool = True,
    info: VideoInfo | None = None,
) -> VideoReport:
    """Anonymize ``src`` into ``dst`` (atomically: a temporary sibling renamed at the end); the core of both runs."""
    t0 = time.perf_counter()
    name = name or src.name
    info = info or probe(src)
    suffix = dst.suffix.lower()
    tracker = FaceTracker(params, info.width, info.height)
    buffer: deque[tuple[int, np.ndarray]] = deque()
    tracks: dict[int, dict] = {}
    states: Counter = Counter()
    statuses: Counter = Counter()
    with_faces = 0
    bar = _Bar(total=info.frames, unit="frame", disable=not progress, desc=f"{name} ({instance.name})",
               dynamic_ncols=True)
    with _terminate_raises(), atomic_path(dst) as tmp:
        try:
            with VideoWriter(tmp, info, suffix, audio_from=src) as writer:

                def emit(faces_list: list[FrameFaces]) -> None:
                    nonlocal with_faces
                    for faces in faces_list:
                        index, frame = buffer.popleft()
                        assert index == faces.frame
                        writer.write(_anonymize_frame(instance, frame, faces, seed, name, statuses))
                        _add_to_record(tracks, faces)
                        states.update(faces.states)
                        with_faces += bool(len(faces.boxes))
                        bar.update(1)

                every = int(params.detect_every)
                empty = (np.zeros((0, 4), np.int64), np.zeros(0))
                for index, frame in read_frames(src, info=info):
                    look = index % every == 0 or index == info.frames - 1
                    boxes, scores = finder(frame) if look else empty
                    buffer.append((index, frame))
                    emit(tracker.push(index, boxes, scores))
                emit(tracker.finish())
            if writer.frames != info.frames:
                raise InputError(src, f"ffmpeg decoded {writer.frames} frame(s), its header counts {info.frames}",
                                 hint="the file may be cut short or damaged; re-encode it with ffmpeg first")
            written = probe(tmp)
            if written.frames != info.frames:
                raise SafeFakesError(f"the anonymized copy of {src} has {written.frames} frame(s), not "
                                     f"{info.frames}; nothing was written to {dst}")
        finally:
            bar.close()
    seconds = time.perf_counter() - t0
    record = {
        "video": name,
        "input": info.describe() | {"path": None},
        "output": {"frames": written.frames, "fps_rational": written.fps_rational, "width": written.width,
                   "height": written.height, "has_audio": written.has_audio, "codec": written.codec,
                   "audio_codec": written.audio_codec},
        "audio": writer.audio,
        "method": instance.name,
        "tracking": params.describe(),
        "frames_with_faces": with_faces,
        "state_counts": dict(sorted(states.items())),
        "status_counts": dict(sorted(statuses.items())),
        "tracks": list(tracks.values()),
        "seconds": round(seconds, 2),
    }
    record["input"].pop("path")
    return VideoReport(src, dst, instance.name, info.frames, info.fps, len(tracks), sum(states.values()),
                       dict(states), dict(statuses), writer.audio, seconds, record)


def check_output_name(src: Path, dst: Path) -> None:
    """Refuse an output that is not a video file this tool writes, or is the input itself."""
    if not is_video_name(dst):
        raise InputError(dst, "the output of one video must be a video file name",
                         hint=f"name it with one of {', '.join(VIDEO_SUFFIXES)}, e.g. anon{src.suffix.lower()}")
    if dst.is_dir():
        raise InputError(dst, "output names a folder, not a file")
    if dst.resolve() == src.resolve():
        raise SafeFakesError(f"output {dst} is the input video {src}; the input is never written to: "
                             "name another output file")


def anonymize_video(
    input_path: str | Path,
    output_path: str | Path,
    anonymizer: AnonymizerSource,
    *,
    detector: str = DEFAULT_DETECTOR,
    threshold: float | None = None,
    upsample: int | None = None,
    max_side: int | None = None,
    weights: str | Path | None = None,
    tracking: TrackParams | None = None,
    seed: int = 0,
    progress: bool = True,
) -> VideoReport:
    """Anonymize one video into one file (its suffix picks the container); no records, as for one photo."""
    src, dst = Path(input_path), Path(output_path)
    if not src.is_file():
        raise InputError(src, "input video not found", hint="give a video file, or a folder of photos and videos")
    check_output_name(src, dst)
    instance, _ = resolve_anonymizer(anonymizer)
    finder = make_finder(detector, threshold, upsample, max_side, weights)
    info = probe(src)
    for old in dst.parent.glob(f".{dst.name}.*.part"):  # a killed run's temporary file
        old.unlink(missing_ok=True)
    report = process_video(src, dst, instance, finder, tracking or TrackParams(), seed=seed, name=src.name,
                           progress=progress, info=info)
    if report.tracks == 0:
        warn_no_face(1, finder)
    return report


class VideoStep:
    """The videos of a folder run: ``anonymize_folder(..., videos=VideoStep(params))``.

    ``check`` probes every video before any work (a bad file stops the run
    at once, named); ``describe`` is what the run's ``anonymization.json``
    records; ``run`` anonymizes the videos not done yet and returns their
    input hashes (for ``input_hashes.csv``) and how many face regions it
    anonymized.
    """

    def __init__(self, tracking: TrackParams | None = None) -> None:
        self.tracking = tracking or TrackParams()
        self.infos: dict[str, VideoInfo] = {}
        self.reports: list[VideoReport] = []

    def describe(self, names: Sequence[str]) -> dict:
        return {"tracking": self.tracking.describe(),
                "files_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest()}

    def check(self, input_dir: Path, names: Sequence[str]) -> None:
        self.infos = {name: probe(input_dir / name) for name in names}

    def run(self, input_dir: Path, names: Sequence[str], output_dir: Path, records: Path, finder: FaceFinder,
            instance: Anonymizer, *, seed: int = 0, progress: bool = True,
            resume: bool = True) -> tuple[dict[str, str], int]:
        hashes: dict[str, str] = {}
        regions = 0
        for name in names:
            src, dst = input_dir / name, output_dir / name
            record_path = records / VIDEO_RECORDS / f"{name}.json"
            digest = sha256_file(src)
            done = _read_record(record_path) if resume else None
            if (done is not None and done.get("sha256") == digest and dst.is_file()
                    and done.get("output_sha256") == sha256_file(dst)):
                hashes[name] = digest
                regions += sum(done.get("state_counts", {}).values())
                log.info("%s: kept from the earlier run", name)
                continue
            record_path.unlink(missing_ok=True)
            report = process_video(src, dst, instance, finder, self.tracking, seed=seed, name=name,
                                   progress=progress, info=self.infos.get(name))
            record = {"video": name, "sha256": digest, "output_sha256": sha256_file(dst), **report.record}
            write_text_atomic(record_path, json.dumps(record, separators=(",", ":")) + "\n")
            self.reports.append(report)
            hashes[name] = digest
            regions += report.regions
        return hashes, regions


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None
