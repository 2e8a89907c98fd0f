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

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from safefakes.errors import InputError, SafeFakesError

JPEG_SUFFIXES = {".jpg", ".jpeg"}

# OpenCV's JPEG codec (libjpeg-turbo, like Pillow's) is used for the common
# case because it decodes straight into a numpy array and encodes from one,
# without Pillow's per-call plugin machinery and array copies. Both sides were
# checked to give the same pixels (decode) and the same bytes (encode: every
# quality 1..100 x 4:4:4 / 4:2:2 / 4:2:0, see tests/test_images.py); anything
# the fast path is not sure of goes through Pillow as before.
_CV2_SAMPLING = {
    "4:4:4": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    "4:2:2": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    "4:2:0": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
}
_CV2_READ_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)
# SOF markers of baseline, extended sequential and progressive Huffman JPEG.
_SOF_FAST = {0xC0, 0xC1, 0xC2}
_SOF_ALL = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


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
    except BaseException as exc:
        tmp_path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            name_the_file(exc, path, tmp_path)
        raise


def name_the_file(exc: OSError, path: str | Path, tmp: str | Path) -> None:
    """Let an error of a write (ENOSPC, EFBIG: ``write()`` names no file) name the file it was for.

    The temporary sibling's name is replaced too: the user knows the final path, not ``.x.jpg.1234.part``.
    """
    if exc.filename is None or os.fspath(exc.filename) == os.fspath(tmp):
        exc.filename = os.fspath(path)


def refuse_links(output_dir: str | Path) -> None:
    """Nothing is ever written through a symbolic link: a link inside an output folder
    (planted between two runs) could point the next write anywhere, outside the folder the user named."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return
    for folder, dirs, files in os.walk(output_dir):  # does not follow links into folders
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                raise SafeFakesError(
                    f"{path} is a symbolic link inside the output folder {output_dir}; outputs are never "
                    "written through links: remove it, or choose a new output folder")


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
        # By bit depth, never by the image's own maximum: a dark 16-bit photo
        # stays dark (the audit compares pixels with the original's).
        # Pillow reads 16-bit grey PNG and TIFF as I;16 or I: 0..65535.
        arr = np.asarray(img, dtype=np.float64)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ValueError(f"{img.mode} pixels outside 0..65535: not a 16-bit image this tool can convert")
        img = Image.fromarray((arr / 257.0).round().astype(np.uint8))
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def _jpeg_fast_path_ok(data: bytes) -> tuple[int, int] | None:
    """(width, height) when OpenCV decodes these bytes exactly as Pillow would, else None.

    That is a complete (ends with EOI: a truncated file must fail, as in
    Pillow, not come back grey-padded) 8-bit Huffman JPEG with one (grey) or
    three (YCbCr) components, no Adobe marker (CMYK/YCCK/RGB transforms are
    left to Pillow) and no more pixels than Pillow's decompression-bomb limit.
    Walks the marker segments up to the first scan (a handful per file).
    """
    if len(data) < 4 or data[:2] != b"\xff\xd8" or data[-2:] != b"\xff\xd9":
        return None
    pos, end, size = 2, len(data), None
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length field
            pos += 2
            continue
        if marker == 0xDA:  # start of scan: the header is complete
            return size
        if marker in (0xD8, 0xD9, 0xEE):  # misplaced SOI/EOI, Adobe APP14
            return None
        if marker in _SOF_ALL:
            if marker not in _SOF_FAST or size is not None or pos + 10 > end:
                return None
            precision = data[pos + 4]
            height = (data[pos + 5] << 8) | data[pos + 6]
            width = (data[pos + 7] << 8) | data[pos + 8]
            components = data[pos + 9]
            if precision != 8 or components not in (1, 3) or width == 0 or height == 0:
                return None
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and width * height > limit:
                return None  # Pillow's decompression-bomb check decides
            size = (width, height)
        pos += 2 + ((data[pos + 2] << 8) | data[pos + 3])
    return None


def _decode_jpeg_fast(data: bytes) -> np.ndarray | None:
    size = _jpeg_fast_path_ok(data)
    if size is None:
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    if _CV2_READ_RGB is not None:
        image = cv2.imdecode(buf, _CV2_READ_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    else:  # OpenCV before 4.10
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is not None:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image is None or image.shape != (size[1], size[0], 3) or image.dtype != np.uint8:
        return None
    return image


def decode_image(data: bytes, path: str | Path = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes to an RGB uint8 array (H, W, 3)."""
    apply_pixel_limit()
    image = _decode_jpeg_fast(data)
    if image is not None:
        return image
    return _decode_pil(data, path)


#: Environment variable that raises (or lowers) Pillow's decompression-bomb limit, in pixels.
MAX_PIXELS_VARIABLE = "SAFEFAKES_MAX_IMAGE_PIXELS"


def apply_pixel_limit() -> None:
    """Set Pillow's decompression-bomb limit from ``SAFEFAKES_MAX_IMAGE_PIXELS`` (when set)."""
    value = os.environ.get(MAX_PIXELS_VARIABLE)
    if value:
        try:
            Image.MAX_IMAGE_PIXELS = int(value)
        except ValueError:
            raise InputError(Path(MAX_PIXELS_VARIABLE), f"expected a number of pixels, found {value!r}") from None


def _decode_pil(data: bytes, path: str | Path = "<bytes>") -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                # EXIF orientation is deliberately ignored: WIDER boxes refer to
                # the stored pixel grid, not to the displayed orientation.
                return to_rgb(img)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise InputError(
            path,
            f"image larger than the pixel limit ({exc})",
            hint=f"the file may be a decompression bomb; if you trust it, raise the limit: "
                 f"{MAX_PIXELS_VARIABLE}=<pixels> in the environment",
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
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
    apply_pixel_limit()
    try:
        with Image.open(path) as img:
            return img.size
    except FileNotFoundError as exc:
        raise InputError(path, "image file not found") from exc
    except Image.DecompressionBombError as exc:
        raise InputError(path, f"image larger than the pixel limit ({exc})",
                         hint=f"if you trust the file, raise the limit: {MAX_PIXELS_VARIABLE}=<pixels>") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(path, f"cannot read image header ({exc})") from exc


def encode_image(
    image: np.ndarray, suffix: str, quality: int = 95, subsampling: str = "4:4:4"
) -> bytes:
    """Encode RGB uint8 as JPEG (quality, chroma subsampling) or PNG by suffix."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 array (H, W, 3), got {image.dtype} {image.shape}")
    suffix = suffix.lower()
    if suffix in JPEG_SUFFIXES and subsampling in _CV2_SAMPLING and 1 <= int(quality) <= 100 \
            and 0 < image.shape[0] <= 65500 and 0 < image.shape[1] <= 65500:
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [
            cv2.IMWRITE_JPEG_QUALITY, int(quality),
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _CV2_SAMPLING[subsampling],
        ])
        if ok:
            return encoded.tobytes()
    return _encode_pil(image, suffix, quality, subsampling)


def _encode_pil(image: np.ndarray, suffix: str, quality: int = 95, subsampling: str = "4:4:4") -> bytes:
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


# --------------------------------------------------------------------------- #
# Photos (``safefakes anonymize-images``): any format Pillow reads, upright
# --------------------------------------------------------------------------- #
#: Suffixes of the photos a plain-folder run reads and writes back in kind.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
_PIL_FORMATS = {".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
_EXIF_ORIENTATION = 0x0112
#: EXIF orientation -> the move of the stored grid that shows it upright.
_UPRIGHT = {
    2: lambda a: a[:, ::-1],                    # mirrored
    3: lambda a: a[::-1, ::-1],                 # rotated 180
    4: lambda a: a[::-1],                       # mirrored vertically
    5: lambda a: a.transpose(1, 0, 2),          # transposed
    6: lambda a: np.rot90(a, -1),               # stored turned 90 counter-clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # transversed
    8: lambda a: np.rot90(a, 1),                # stored turned 90 clockwise
}


def _orientation(data: bytes) -> int:
    """The EXIF orientation (1-8; 1 = as stored) from the header, without decoding pixels."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError):
        return 1  # decode_image reports an unreadable file with the path and a hint


def decode_photo(data: bytes, path: str | Path = "<bytes>") -> np.ndarray:
    """Decode a photo as it is displayed: ``decode_image`` with the EXIF orientation applied.

    A split's boxes refer to the stored pixel grid (``decode_image`` ignores
    the tag); a photo's faces are found on the upright image that the user
    sees, and the anonymized copy is written upright (without the tag).
    """
    image = decode_image(data, path)
    orientation = _orientation(data)
    if orientation == 1 or not 1 <= orientation <= 8:
        return image
    return np.ascontiguousarray(_UPRIGHT[orientation](image))


#: Pillow modes of grey photos (1-bit, 8-bit, 16-bit, with alpha): an anonymized copy stays grey.
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L"})
#: Formats that store a single grey channel (WebP has none: its copies are RGB).
_GREY_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})


def photo_is_grey(data: bytes) -> bool:
    """Whether the photo is stored with one grey channel (read from the header, no pixels decoded)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.mode in _GREY_MODES
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError):
        return False


def photo_exif(data: bytes) -> bytes | None:
    """The photo's EXIF block with the orientation set to 1 (the copy is written upright), or None."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            exif = img.getexif()
            if not len(exif):
                return None
            exif[_EXIF_ORIENTATION] = 1
            return exif.tobytes()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError):
        return None


#: Pillow modes that carry transparency (a palette photo may too: ``"transparency" in img.info``).
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
#: Formats whose copies keep a photo's alpha channel (BMP and JPEG copies are opaque).
ALPHA_SUFFIXES = frozenset({".png", ".webp", ".tif", ".tiff"})


def photo_alpha(data: bytes) -> np.ndarray | None:
    """The photo's alpha channel (H, W) uint8, upright as ``decode_photo`` reads it; None when it has none.

    RGBA, LA and palette photos with a transparent colour have one: their
    copies keep it (``encode_photo(alpha=...)``) whether or not a face was changed.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            if not (img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info)):
                return None
            alpha = np.asarray(img.convert("RGBA"), dtype=np.uint8)[..., 3:]
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError):
        return None
    orientation = _orientation(data)
    if 2 <= orientation <= 8:
        alpha = _UPRIGHT[orientation](alpha)
    return np.ascontiguousarray(alpha[..., 0])


def _uncomposite(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The colours that, with ``alpha``, show ``image`` over white (``to_rgb`` composites over white).

    Unchanged pixels get their own colours back (to rounding), changed ones
    the method's; fully transparent pixels are white (nothing hidden under them).
    """
    a = alpha.astype(np.float32)[..., None] / 255.0
    with np.errstate(divide="ignore", invalid="ignore"):
        colour = (image.astype(np.float32) - (1.0 - a) * 255.0) / a
    colour = np.where(a > 0, colour, 255.0)
    return np.clip(np.round(colour), 0, 255).astype(np.uint8)


def encode_photo(image: np.ndarray, suffix: str, quality: int = 95, subsampling: str = "4:4:4",
                 exif: bytes | None = None, grey: bool = False, alpha: np.ndarray | None = None) -> bytes:
    """Encode RGB uint8 in the format its suffix names (``PHOTO_SUFFIXES``), with ``exif`` if given.

    JPEG and PNG without metadata go through ``encode_image``; WebP is written
    at ``quality`` (lossy, like the JPEG it stands for), BMP as is, TIFF with
    lossless LZW. grey: the input photo was grey (``photo_is_grey``): written
    with one 8-bit channel where the format has one (not WebP), so that a grey
    photo does not come back three times as large; pixels the method coloured
    (a GAN's face) are converted to their luminance.
    alpha: the input photo's alpha channel (``photo_alpha``; ``image`` is the
    photo composited over white, as ``decode_photo`` reads it): kept in PNG,
    WebP and TIFF copies, with the colours under it anonymized; JPEG and BMP
    copies are the opaque composite.
    """
    suffix = suffix.lower()
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 array (H, W, 3), got {image.dtype} {image.shape}")
    grey = grey and suffix in _GREY_SUFFIXES
    if alpha is not None and (suffix not in ALPHA_SUFFIXES or alpha.shape != image.shape[:2]):
        alpha = None
    if exif is None and not grey and alpha is None and (suffix in JPEG_SUFFIXES or suffix == ".png"):
        return encode_image(image, suffix, quality, subsampling)
    if alpha is not None:
        image = _uncomposite(image, alpha)
    pixels: np.ndarray = image
    if grey:
        same = np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2])
        pixels = np.ascontiguousarray(image[..., 0]) if same else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if alpha is not None:
        pixels = np.ascontiguousarray(np.dstack([pixels, alpha]))
    options: dict = {} if exif is None else {"exif": exif}
    if suffix in JPEG_SUFFIXES:
        options.update(format="JPEG", quality=int(quality))
        if not grey:  # chroma subsampling: a grey JPEG has no chroma
            options["subsampling"] = subsampling
    elif suffix == ".png":
        options.update(format="PNG", compress_level=6)
    elif suffix == ".webp":
        options.update(format="WEBP", quality=int(quality))
    elif suffix in (".tif", ".tiff"):
        options.update(format="TIFF", compression="tiff_lzw")
    elif suffix == ".bmp":
        options.update(format="BMP")
        options.pop("exif", None)  # BMP has no metadata block
    else:
        raise ValueError(f"unsupported image suffix {suffix!r}: use one of {', '.join(PHOTO_SUFFIXES)}")
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, **options)
    return buf.getvalue()


#: Suffixes of the image formats a viewer would open, besides PHOTO_SUFFIXES.
_OTHER_IMAGE_SUFFIXES = (".gif", ".heic", ".heif", ".avif", ".jp2", ".ppm", ".pgm", ".pnm")
_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00",
                     b"MM\x00*", b"\x00\x00\x00\x0cjP  ")


def is_image_file(path: str | Path) -> bool:
    """Whether a file holds an image: by its suffix, or by its first bytes (an image renamed ``.bak``).

    Used by the audits to find images in an output folder that no record
    accounts for; a false positive costs a look, a false negative a leak.
    """
    path = Path(path)
    if path.suffix.lower() in PHOTO_SUFFIXES + _OTHER_IMAGE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    if head.startswith(_IMAGE_SIGNATURES):
        return True
    # RIFF....WEBP, and the ISO media boxes of HEIF / AVIF (....ftypheic, ftypavif, ftypmif1...)
    return (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or head[4:8] == b"ftyp"
