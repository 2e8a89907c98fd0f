"""anonymize-images on videos against deface 1.5.0: frames/s, peak memory, frames where a face is left.

There is no real video offline, so the videos are built from the real sample
photos with faces (skimage's astronaut and cameraman, matplotlib's Grace
Hopper) moving over a face-free backdrop (skimage's rocket), with a sine tone
as audio, at 24 frames/s, H.264 in MP4:

* ``pan``: the three photos side by side on a strip three frames wide; the
  camera pans across it, so faces enter at the right and leave at the left.
* ``zoom``: Grace Hopper zoomed from a third of the frame's height to 1.3
  times it and back (her face grows past the frame's edges).
* ``cross``: the astronaut walks in from the left and the cameraman from the
  right, bobbing up and down; they cross (one in front of the other) and
  leave.

Full run: pan, zoom and cross at 1280 x 720, 96 frames each (4 s), and cross
at 1920 x 1080, 72 frames (360 frames: 8.5 CPU-minutes, most of them
deface's; 15 minutes of wall time on 2 cores shared at a load average of 7);
--quick: pan and cross at 640 x 360, 48 frames each (2 minutes).

Each tool runs as its own command on each video, one after the other:
``safefakes anonymize-images IN -o OUT`` with its defaults (CenterFace,
tracks, blur), and ``deface IN -o OUT --keep-audio`` with its defaults
(CenterFace at threshold 0.2, onnxruntime on the CPU when installed;
skipped with a message when deface is not installed: ``pip install
deface==1.5.0 onnx onnxruntime``, never a SafeFakes dependency). Reported
per video and tool: frames/s (frames over the command's wall time, model
loading included), the peak resident memory of its largest process (ffmpeg's
included), and the **frames left with a face**: the independent judge is
dlib's HOG detector (not CenterFace, which both tools use) at a low
threshold (-0.5), run on the neighbourhood of each face (the face's known
box grown 2x, scaled so the face is about 160 px); a face it finds in an
original frame counts as left in the output frame when it finds a face there
overlapping it (IoU >= 0.3). The count is of frames with at least one face
left. The 2 cores are shared with other work: the load average is recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from benchmarks._common import save
from safefakes.video.io import ffmpeg_exe, probe, read_frames
from safefakes.video.tracking import iou

FPS = 24
JUDGE_THRESHOLD = -0.5
SAME_FACE_IOU = 0.3
JUDGE_FACE_PX = 160
_MEASURE = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"rc": proc.returncode, "seconds": wall, "peak_rss_bytes": peak,
                  "stderr_tail": proc.stderr.decode("utf-8", "replace")[-800:]}))
"""


# --------------------------------------------------------------------------- #
# The scenes
# --------------------------------------------------------------------------- #
def _actors() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (RGB photo, its face box x, y, w, h by dlib's CNN)."""
    import dlib
    import matplotlib
    from PIL import Image
    from skimage import data

    from safefakes.photos.face_finder import cnn_model_path

    photos = {"astronaut": data.astronaut(), "camera": np.stack([data.camera()] * 3, axis=-1)}
    with Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg") as img:
        photos["grace_hopper"] = np.asarray(img.convert("RGB"))
    cnn = dlib.cnn_face_detection_model_v1(cnn_model_path())
    actors = {}
    for name, photo in photos.items():
        found = sorted(cnn(photo, 1), key=lambda d: -d.confidence)
        r = found[0].rect
        actors[name] = (np.ascontiguousarray(photo), np.array([r.left(), r.top(), r.width(), r.height()], float))
    return actors


def _place(canvas: np.ndarray, photo: np.ndarray, x: float, y: float, height: float) -> np.ndarray:
    """Paste ``photo`` scaled to ``height`` px with its top-left at (x, y); returns the affine (scale, x, y)."""
    scale = height / photo.shape[0]
    m = np.array([[scale, 0, x], [0, scale, y]], dtype=np.float64)
    h, w = canvas.shape[:2]
    warped = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpAffine(np.full(photo.shape[:2], 255, np.uint8), m, (w, h), flags=cv2.INTER_NEAREST)
    canvas[mask > 0] = warped[mask > 0]
    return np.array([scale, x, y])


def _face_in_frame(face: np.ndarray, t: np.ndarray) -> np.ndarray:
    scale, x, y = t
    return np.array([x + face[0] * scale, y + face[1] * scale, face[2] * scale, face[3] * scale])


def scene_frames(kind: str, width: int, height: int, n: int, actors, backdrop):
    """Yield (frame, [face boxes in it]) for the scene ``kind``."""
    back = cv2.resize(backdrop, (width, height), interpolation=cv2.INTER_AREA)
    for i in range(n):
        t = i / max(1, n - 1)
        canvas = back.copy()
        faces = []
        if kind == "pan":
            offset = -t * 2.2 * width + 0.4 * width
            for k, name in enumerate(("astronaut", "camera", "grace_hopper")):
                photo, face = actors[name]
                h = 0.75 * height
                tr = _place(canvas, photo, offset + k * 0.85 * width, 0.12 * height, h)
                faces.append(_face_in_frame(face, tr))
        elif kind == "zoom":
            photo, face = actors["grace_hopper"]
            h = height * (0.35 + 0.95 * (0.5 - 0.5 * np.cos(2 * np.pi * t)))
            w = h * photo.shape[1] / photo.shape[0]
            # Zoom about the face's centre, held at the frame's centre.
            cx, cy = (face[0] + face[2] / 2) * h / photo.shape[0], (face[1] + face[3] / 2) * h / photo.shape[0]
            tr = _place(canvas, photo, width / 2 - cx, height / 2 - cy, h)
            del w
            faces.append(_face_in_frame(face, tr))
        elif kind == "cross":
            for name, x0, x1, phase in (("camera", 1.05, -0.6, 1.3), ("astronaut", -0.6, 1.05, 0.0)):
                photo, face = actors[name]
                h = 0.55 * height
                x = (x0 + (x1 - x0) * t) * width
                y = 0.2 * height + 0.08 * height * np.sin(2 * np.pi * 2 * t + phase)
                tr = _place(canvas, photo, x, y, h)
                faces.append(_face_in_frame(face, tr))
        else:
            raise ValueError(kind)
        yield canvas, faces


def write_video(path: Path, frames: list[np.ndarray]) -> None:
    h, w = frames[0].shape[:2]
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-framerate", str(FPS), "-i", "-", "-f", "lavfi", "-i",
           "sine=frequency=330:sample_rate=48000", "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-crf", "18",
           "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for frame in frames:
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg could not write {path}")


# --------------------------------------------------------------------------- #
# The judge: dlib's HOG near each face
# --------------------------------------------------------------------------- #
def _judge_boxes(hog, frame: np.ndarray, face: np.ndarray) -> tuple[np.ndarray, tuple]:
    """HOG's boxes (frame pixels) in the neighbourhood of ``face`` (its box grown 2x, face scaled to ~160 px)."""
    h, w = frame.shape[:2]
    cx, cy, side = face[0] + face[2] / 2, face[1] + face[3] / 2, max(face[2], face[3])
    x1, y1 = int(max(0, cx - side)), int(max(0, cy - side))
    x2, y2 = int(min(w, cx + side)), int(min(h, cy + side))
    if x2 - x1 < 16 or y2 - y1 < 16:
        return np.zeros((0, 4)), (x1, y1)
    scale = JUDGE_FACE_PX / side
    crop = cv2.resize(np.ascontiguousarray(frame[y1:y2, x1:x2]), None, fx=scale, fy=scale,
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    rects, _, _ = hog.run(crop, 0, JUDGE_THRESHOLD)
    boxes = np.array([[r.left() / scale + x1, r.top() / scale + y1, r.width() / scale, r.height() / scale]
                      for r in rects], dtype=np.float64).reshape(-1, 4)
    return boxes, (x1, y1)


def judge_originals(hog, frames: list[np.ndarray], faces: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Per frame, the faces the judge finds in the original (its boxes matching a placed face)."""
    found = []
    for frame, placed in zip(frames, faces):
        here = []
        for face in placed:
            boxes, _ = _judge_boxes(hog, frame, face)
            if len(boxes):
                overlap = iou(boxes, face[None])[:, 0]
                if overlap.max() >= SAME_FACE_IOU:
                    here.append(boxes[int(overlap.argmax())])
        found.append(here)
    return found


def frames_left(hog, output: Path, truth: list[list[np.ndarray]]) -> dict:
    """Output frames where the judge still finds a face it found in the original (IoU >= 0.3)."""
    left = []
    n = 0
    for index, frame in read_frames(output):
        n += 1
        for face in truth[index] if index < len(truth) else []:
            boxes, _ = _judge_boxes(hog, frame, face)
            if len(boxes) and iou(boxes, face[None])[:, 0].max() >= SAME_FACE_IOU:
                left.append(index)
                break
    return {"frames_with_a_face_left": len(left), "left_frames": left[:50], "output_frames": n}


# --------------------------------------------------------------------------- #
def measure(command: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load_avg_1min"] = os.getloadavg()[0]
    if result["rc"] != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {result['rc']}: {result['stderr_tail']}")
    del result["stderr_tail"]
    return result


def deface_command() -> list[str] | None:
    deface = shutil.which("deface") or str(Path(sys.executable).with_name("deface"))
    if not Path(deface).exists():
        return None
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        backend = ["--backend", "onnxrt", "--execution-provider", "CPUExecutionProvider"]
    except ImportError:
        backend = ["--backend", "opencv"]
    return [deface, *backend]


def run(quick: bool = False) -> None:
    import dlib

    tmp = Path(tempfile.mkdtemp(prefix="bench_video_"))
    results: dict = {"quick": quick, "cores": len(os.sched_getaffinity(0)), "fps": FPS,
                     "judge": f"dlib HOG, threshold {JUDGE_THRESHOLD}, near each placed face; a face left = a "
                              f"judge box in the output at IoU >= {SAME_FACE_IOU} with one in the original",
                     "videos": {}}
    if quick:
        plan = [("pan", 640, 360, 48), ("cross", 640, 360, 48)]
    else:
        plan = [("pan", 1280, 720, 96), ("zoom", 1280, 720, 96), ("cross", 1280, 720, 96),
                ("cross", 1920, 1080, 72)]
    deface = deface_command()
    if deface is None:
        print("deface is not installed (pip install deface==1.5.0 onnx onnxruntime, into this environment only; "
              "it is not a SafeFakes dependency): measuring SafeFakes alone", flush=True)
    try:
        from skimage import data

        actors, backdrop = _actors(), data.rocket()
        hog = dlib.get_frontal_face_detector()
        for kind, width, height, n in plan:
            name = f"{kind}_{height}p"
            src = tmp / f"{name}.mp4"
            frames, faces = [], []
            for frame, placed in scene_frames(kind, width, height, n, actors, backdrop):
                frames.append(frame)
                faces.append(placed)
            write_video(src, frames)
            decoded = [f for _, f in read_frames(src)]
            truth = judge_originals(hog, decoded, faces)
            del frames, decoded
            row: dict = {"frames": n, "size": f"{width}x{height}",
                         "frames_with_a_judged_face": sum(1 for t in truth if t)}
            print(f"{name}: {n} frames, the judge finds a face in {row['frames_with_a_judged_face']} originals",
                  flush=True)
            tools = {"safefakes": [sys.executable, "-m", "safefakes", "anonymize-images", str(src), "-o",
                                   "{out}", "--no-progress"]}
            if deface is not None:
                tools["deface"] = [*deface, str(src), "-o", "{out}", "--keep-audio"]
            for tool, template in tools.items():
                out = tmp / f"{name}.{tool}.mp4"
                result = measure([str(out) if a == "{out}" else a for a in template])
                result["frames_per_second"] = n / result["seconds"]
                info = probe(out)
                result["output"] = {"frames": info.frames, "size": f"{info.width}x{info.height}",
                                    "fps": info.fps_rational, "audio": info.audio_codec}
                result.update(frames_left(hog, out, truth))
                row[tool] = result
                print(f"  {tool}: {result['frames_per_second']:.2f} frames/s, "
                      f"{result['peak_rss_bytes'] / 2**20:.0f} MB, {result['frames_with_a_face_left']} frame(s) "
                      f"with a face left (load {result['load_avg_1min']:.1f})", flush=True)
                out.unlink()
            results["videos"][name] = row
            src.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    path = save("video", results)
    print(table(results))
    print(f"results: {path}")


def table(results: dict) -> str:
    lines = ["| video | frames (judged faces) | tool | frames/s | peak MB | frames with a face left |",
             "|---|---|---|---|---|---|"]
    for name, row in results["videos"].items():
        for tool in ("safefakes", "deface"):
            if tool in row:
                r = row[tool]
                lines.append(f"| {name} | {row['frames']} ({row['frames_with_a_judged_face']}) | {tool} | "
                             f"{r['frames_per_second']:.2f} | {r['peak_rss_bytes'] / 2**20:.0f} | "
                             f"{r['frames_with_a_face_left']} |")
    return "\n".join(lines)
