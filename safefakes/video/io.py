"""Read and write videos through ffmpeg, the binary that the ``imageio-ffmpeg`` wheel ships.

Frames travel as raw RGB (``HxWx3`` uint8) through the pipes of ffmpeg
subprocesses, so that no video library is linked into Python and nothing is
downloaded at run time. ``probe`` reads what a video holds (frame count, frame
rate, size, audio) from ffmpeg's own description of the file (the wheel has
no ffprobe) and counts the frames by a stream copy (no decoding). Frames are
decoded upright: a rotation stored in the file is applied, and ``probe``
reports the upright size. ``VideoWriter`` encodes frames into the container of
the output's suffix and copies the input's audio stream unchanged where the
container takes its codec (re-encoding it otherwise), writing to the path it
is given; atomic replacement is the caller's (``safefakes.video.run``).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from safefakes.errors import InputError, SafeFakesError

#: Video files ``anonymize-images`` reads, and writes back in the same container.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
#: ffmpeg muxer per suffix (given explicitly: the temporary file's name does not end in it).
MUXERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}
#: Audio codecs each container takes as they are (copied); any other is re-encoded to the second entry.
AUDIO_COPY = {
    ".mp4": ({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}, ["-c:a", "aac", "-b:a", "192k"]),
    ".mov": ({"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
             ["-c:a", "aac", "-b:a", "192k"]),
    ".mkv": (None, ["-c:a", "flac"]),  # None: Matroska takes any codec
    ".avi": ({"mp3", "ac3", "pcm_s16le", "pcm_u8", "aac"}, ["-c:a", "libmp3lame", "-b:a", "192k"]),
    ".webm": ({"opus", "vorbis"}, ["-c:a", "libopus", "-b:a", "128k"]),
}


def ffmpeg_exe() -> str:
    """The ffmpeg binary of the ``imageio-ffmpeg`` wheel (a dependency; never downloaded at run time)."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a broken install
        raise SafeFakesError("videos need the imageio-ffmpeg package (a SafeFakes dependency): reinstall "
                             "SafeFakes, e.g. `pip install -e .`") from exc
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:  # pragma: no cover - a wheel without a binary for this platform
        raise SafeFakesError(f"no ffmpeg binary for videos: {exc}") from exc


def is_video_name(path: str | Path) -> bool:
    """Whether ``path`` names a video file this tool reads and writes (by its suffix)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` found in a video: its first video stream, upright, and whether it has audio."""

    path: Path
    frames: int
    fps: float
    fps_rational: str  # ffmpeg's rational, e.g. "30000/1001" or "25/1"
    width: int
    height: int
    has_audio: bool
    codec: str  # video codec, e.g. "h264"
    container: str  # ffmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    audio_codec: str | None = None
    duration: float | None = None  # seconds, as the container states it
    rotation: int = 0  # degrees the decoder turns the stored frames (applied to width and height)

    def describe(self) -> dict:
        return {"frames": self.frames, "fps": self.fps, "fps_rational": self.fps_rational, "width": self.width,
                "height": self.height, "has_audio": self.has_audio, "codec": self.codec,
                "container": self.container, "audio_codec": self.audio_codec, "duration": self.duration,
                "rotation": self.rotation}


_INPUT = re.compile(r"^Input #0, ([^,]+(?:,[^ ,]+)*), from ", re.M)
_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #0:\d+[^:]*: Video: (\w+)(.*)$", re.M)
_AUDIO = re.compile(r"Stream #0:\d+[^:]*: Audio: (\w+)", re.M)
_SIZE = re.compile(r", (\d{1,6})x(\d{1,6})[ ,\[]")
_RATE = re.compile(r"([\d.]+k?) (fps|tbr)")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")
_FRAMES = re.compile(r"frame=\s*(\d+)")


def _rate(text: str) -> Fraction:
    """ffmpeg's printed rate ("29.97", "25", "23.98", "1k") as the rational it rounds."""
    value = float(text[:-1]) * 1000 if text.endswith("k") else float(text)
    ntsc = value * 1.001
    if abs(ntsc - round(ntsc)) < 0.006 and abs(value - round(value)) > 0.005:  # 29.97 = 30000/1001
        return Fraction(round(ntsc) * 1000, 1001)
    return Fraction(value).limit_denominator(1000)


def _run(args: list[str], path: Path) -> str:
    try:
        proc = subprocess.run([ffmpeg_exe(), "-hide_banner", *args], capture_output=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise InputError(path, "ffmpeg took over 10 minutes to read this file",
                         hint="check that it is a complete video file") from None
    return proc.stderr.decode("utf-8", "replace")


def probe(path: str | Path) -> VideoInfo:
    """Frames, frame rate, upright size, audio and codec of the video at ``path``.

    The frame count is counted (a stream copy of the video, no decoding), not
    estimated from the duration. An unreadable file, or one without a video
    stream, raises ``InputError`` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "video not found", hint="give a video file (.mp4, .mov, .mkv, .avi, .webm)")
    text = _run(["-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"], path)
    container = _INPUT.search(text)
    video = _VIDEO.search(text)
    if container is None or video is None:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise InputError(path, "not a video that ffmpeg can read" if container is None else "holds no video stream",
                         hint=f"ffmpeg said: {last}; check the file is a complete video")
    details = video.group(2)
    size = _SIZE.search(details)
    if size is None or int(size.group(1)) == 0 or int(size.group(2)) == 0:
        raise InputError(path, "the video stream has no frame size", hint="check the file is a complete video")
    width, height = int(size.group(1)), int(size.group(2))
    rates = dict((kind, value) for value, kind in _RATE.findall(details))
    rate_text = rates.get("fps") or rates.get("tbr")
    if rate_text is None:
        raise InputError(path, "the video stream states no frame rate",
                         hint="remux it with a frame rate, e.g. `ffmpeg -i IN -r 25 OUT`")
    rate = _rate(rate_text)
    # The side data of the video stream sits between its line and the next stream's.
    stream_block = text[video.start():]
    nxt = re.search(r"\n\s*Stream #0:", stream_block[1:])
    stream_block = stream_block[: nxt.start() + 1] if nxt else stream_block
    rotation_match = _ROTATION.search(stream_block)
    rotation = int(round(float(rotation_match.group(1)))) % 360 if rotation_match else 0
    if rotation in (90, 270):
        width, height = height, width
    counted = _FRAMES.findall(text)
    frames = int(counted[-1]) if counted else 0
    if frames <= 0:
        raise InputError(path, "holds no video frame", hint="check the file is a complete video")
    duration = _DURATION.search(text)
    seconds = (int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3))
               if duration else None)
    audio = _AUDIO.search(text)
    return VideoInfo(path=path, frames=frames, fps=float(rate), fps_rational=f"{rate.numerator}/{rate.denominator}",
                     width=width, height=height, has_audio=audio is not None, codec=video.group(1),
                     container=container.group(1), audio_codec=audio.group(1) if audio else None,
                     duration=seconds, rotation=rotation)


def read_frames(path: str | Path, every: int = 1, info: VideoInfo | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame index, HxWx3 uint8 RGB frame)`` for every ``every``-th frame of the video, in order.

    Frames are decoded upright and one at a time (memory: one frame), with no
    frame dropped or repeated (ffmpeg's ``-fps_mode passthrough``). ``info``:
    the file's ``probe``, when already at hand. A stream that ends early or
    fails to decode raises ``InputError`` naming the file.
    """
    path = Path(path)
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    info = info or probe(path)
    width, height = info.width, info.height
    size = width * height * 3
    select = [] if every == 1 else ["-vf", f"select=not(mod(n\\,{every}))"]
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
           *select, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=size)
    n = 0
    try:
        assert proc.stdout is not None
        while True:
            data = proc.stdout.read(size)
            if not data:
                break
            if len(data) != size:
                raise InputError(path, f"frame {n * every} is cut short", hint="check the file is a complete video")
            yield n * every, np.frombuffer(data, np.uint8).reshape(height, width, 3)
            n += 1
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace").strip() if proc.stderr else ""
        if proc.wait() != 0:
            raise InputError(path, f"ffmpeg failed to decode it after {n} frame(s)",
                             hint=f"ffmpeg said: {err.splitlines()[-1] if err else 'nothing'}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _video_codec(suffix: str, width: int, height: int) -> list[str]:
    """Encoder options per container: H.264 (MPEG-4 Part 2 in AVI, VP9 in WebM), visually lossless-ish."""
    if suffix == ".webm":
        return ["-c:v", "libvpx-vp9", "-crf", "30", "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8",
                "-row-mt", "1", "-pix_fmt", "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"]
    if suffix == ".avi":
        return ["-c:v", "mpeg4", "-q:v", "2", "-pix_fmt", "yuv420p"]
    # 4:2:0 needs even sizes; an odd one is kept with full chroma rather than cropped or padded.
    pix = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    return ["-c:v", "libx264", "-crf", "18", "-preset", "veryfast", "-pix_fmt", pix]


def audio_plan(info: VideoInfo, suffix: str) -> tuple[list[str], str]:
    """ffmpeg's audio options for an output with ``suffix``, and what they do ("copied", "re-encoded to X", "none")."""
    if not info.has_audio:
        return [], "none"
    takes, reencode = AUDIO_COPY[suffix.lower()]
    if takes is None or info.audio_codec in takes:
        return ["-c:a", "copy"], "copied"
    return reencode, f"re-encoded to {reencode[1]} ({info.audio_codec} does not go into {suffix})"


class VideoWriter:
    """Encode RGB frames into ``path`` (muxer of ``suffix``) with the frame rate of ``info``, and its audio.

    Use as a context manager: ``write(frame)`` per frame, and on a clean exit
    ffmpeg finishes the file; on an exception it is killed (the caller removes
    the partial file). ``audio_from``: the file whose audio is muxed in.
    """

    def __init__(self, path: str | Path, info: VideoInfo, suffix: str, audio_from: str | Path | None = None) -> None:
        self.path = Path(path)
        self.info = info
        self.suffix = suffix.lower()
        if self.suffix not in MUXERS:
            raise InputError(path, f"cannot write a video with suffix {suffix!r}",
                             hint=f"use one of {', '.join(VIDEO_SUFFIXES)}")
        audio, self.audio = audio_plan(info, self.suffix) if audio_from is not None else ([], "none")
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{info.width}x{info.height}",
               "-framerate", info.fps_rational, "-i", "-"]
        if audio:
            cmd += ["-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0", *audio]
        else:
            cmd += ["-map", "0:v:0"]
        cmd += [*_video_codec(self.suffix, info.width, info.height), "-fps_mode", "passthrough",
                "-f", MUXERS[self.suffix], str(self.path)]
        self.frames = 0
        self._size = info.width * info.height * 3
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.info.height, self.info.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame of shape {frame.shape} {frame.dtype}, expected "
                             f"{(self.info.height, self.info.width, 3)} uint8")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).data)
        except BrokenPipeError:
            raise SafeFakesError(f"ffmpeg stopped while writing {self.path}: {self._error()}") from None
        self.frames += 1

    def _error(self) -> str:
        self._proc.wait()
        err = self._proc.stderr.read().decode("utf-8", "replace").strip() if self._proc.stderr else ""
        return err.splitlines()[-1] if err else f"exit status {self._proc.returncode}"

    def close(self) -> None:
        """Finish the file; raises when ffmpeg fails."""
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        if self._proc.wait() != 0:
            raise SafeFakesError(f"ffmpeg could not write {self.path}: {self._error()}")
        self._proc.stderr.close()

    def abort(self) -> None:
        """Stop ffmpeg without finishing the file."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stderr):
            try:
                stream.close()
            except (BrokenPipeError, OSError):
                pass

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
