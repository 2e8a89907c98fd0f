"""Robust image IO: every image comes back as RGB uint8, every write is atomic."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from safefakes.errors import InputError

JPEG_SUFFIXES = {".jpg", ".jpeg"}


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it into place on success.

    A crash or an exception leaves no half-written file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    # newline="" keeps "\n": the files we write are read on every platform.
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)


def copy_file_atomic(src: str | Path, dst: str | Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def to_rgb(img: Image.Image) -> np.ndarray:
    """Convert any PIL mode (L, LA, P, RGBA, CMYK, I;16, ...) to RGB uint8."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite over white: a transparent background has no colour of its own.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    elif img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = max(float(arr.max()), 1.0)
        img = Image.fromarray((arr / top * 255.0).round().astype(np.uint8))
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def decode_image(data: bytes, path: str | Path = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes to an RGB uint8 array (H, W, 3)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                # EXIF orientation is deliberately ignored: WIDER boxes refer to
                # the stored pixel grid, not to the displayed orientation.
                return to_rgb(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombWarning) as exc:
        raise InputError(
            path,
            f"cannot decode image ({exc})",
            hint="the file is corrupt or not a JPEG/PNG; replace it or remove it from the annotations",
        ) from exc


def read_image(path: str | Path) -> np.ndarray:
    """Read a JPEG or PNG (grayscale, CMYK, palette or alpha) as RGB uint8."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(path, "image file not found",
                         hint="check the image path in the annotations and the split's images/ folder") from exc
    except IsADirectoryError as exc:
        raise InputError(path, "expected an image file, found a folder") from exc
    return decode_image(data, path)


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the header alone."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            return img.size
    except FileNotFoundError as exc:
        raise InputError(path, "image file not found") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(path, f"cannot read image header ({exc})") from exc


def encode_image(
    image: np.ndarray, suffix: str, quality: int = 95, subsampling: str = "4:4:4"
) -> bytes:
    """Encode RGB uint8 as JPEG (quality, chroma subsampling) or PNG by suffix."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 array (H, W, 3), got {image.dtype} {image.shape}")
    buf = io.BytesIO()
    pil = Image.fromarray(image)
    suffix = suffix.lower()
    if suffix in JPEG_SUFFIXES:
        pil.save(buf, format="JPEG", quality=int(quality), subsampling=subsampling, optimize=False)
    elif suffix == ".png":
        pil.save(buf, format="PNG", compress_level=6)
    else:
        raise ValueError(f"unsupported image suffix {suffix!r}: use .jpg, .jpeg or .png")
    return buf.getvalue()


def write_image(
    path: str | Path, image: np.ndarray, quality: int = 95, subsampling: str = "4:4:4"
) -> None:
    """Write RGB uint8 to ``path`` (format from the suffix), atomically."""
    path = Path(path)
    write_bytes_atomic(path, encode_image(image, path.suffix, quality, subsampling))
