"""Robust image IO: modes, corrupt and missing files, atomic writes."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from safefakes.data import images
from safefakes.data.images import atomic_path, read_image, write_image
from safefakes.errors import InputError


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_jpeg_and_png_rgb(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    png = _save(Image.fromarray(arr), tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(png), arr)
    jpg = _save(Image.fromarray(arr), tmp_path / "a.jpg", quality=100, subsampling=0)
    out = read_image(jpg)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - arr).mean() < 12


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (5, 1))
    path = _save(Image.fromarray(gray, mode="L"), tmp_path / "g.png")
    out = read_image(path)
    assert out.shape == (5, 25, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


def test_cmyk_jpeg(tmp_path):
    # Pure cyan in CMYK is (0, 255, 255) in RGB.
    img = Image.new("CMYK", (8, 8), (255, 0, 0, 0))
    path = _save(img, tmp_path / "c.jpg", quality=100)
    out = read_image(path)
    assert out.shape == (8, 8, 3)
    assert out[..., 0].max() < 30 and out[..., 1].min() > 220 and out[..., 2].min() > 220


def test_alpha_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:2, :, 3] = 255  # top half opaque, bottom half transparent
    path = _save(Image.fromarray(rgba, mode="RGBA"), tmp_path / "t.png")
    out = read_image(path)
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[3, 0].tolist() == [255, 255, 255]


def test_corrupt_and_missing_images_name_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(buf, format="JPEG")
    bad.write_bytes(buf.getvalue()[:40])  # truncated header
    with pytest.raises(InputError, match="broken.jpg.*cannot decode"):
        read_image(bad)
    with pytest.raises(InputError, match="missing.jpg.*not found"):
        read_image(tmp_path / "missing.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(InputError, match="notes.jpg"):
        read_image(text)


def test_write_image_round_trip_and_options(tmp_path):
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    write_image(tmp_path / "x.png", arr)
    np.testing.assert_array_equal(read_image(tmp_path / "x.png"), arr)
    write_image(tmp_path / "hi.jpg", arr, quality=98, subsampling="4:4:4")
    write_image(tmp_path / "lo.jpg", arr, quality=30, subsampling="4:2:0")
    assert (tmp_path / "hi.jpg").stat().st_size > (tmp_path / "lo.jpg").stat().st_size
    with Image.open(tmp_path / "hi.jpg") as im:
        assert im.format == "JPEG"
    with pytest.raises(ValueError):
        write_image(tmp_path / "x.bmp", arr)
    with pytest.raises(ValueError):
        write_image(tmp_path / "x.png", arr.astype(np.float32))


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def _jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def test_fast_jpeg_decode_gives_pillows_pixels():
    """decode_image reads common JPEGs with OpenCV: the same pixels as the Pillow path."""
    rng = np.random.default_rng(2)
    arr = cv2.GaussianBlur(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), (0, 0), 1.5)
    cases = {
        "444": _jpeg_bytes(Image.fromarray(arr), quality=95, subsampling="4:4:4"),
        "420": _jpeg_bytes(Image.fromarray(arr), quality=80, subsampling="4:2:0"),
        "progressive": _jpeg_bytes(Image.fromarray(arr), quality=90, progressive=True),
        "gray": _jpeg_bytes(Image.fromarray(arr[..., 0], mode="L"), quality=90),
        "exif": _jpeg_bytes(Image.fromarray(arr), exif=Image.Exif()),
    }
    for label, data in cases.items():
        assert images._jpeg_fast_path_ok(data) == (53, 37), label
        np.testing.assert_array_equal(images.decode_image(data), images._decode_pil(data), err_msg=label)


def test_jpegs_the_fast_path_leaves_to_pillow(tmp_path):
    cmyk = _jpeg_bytes(Image.new("CMYK", (8, 8), (255, 0, 0, 0)))
    assert images._jpeg_fast_path_ok(cmyk) is None
    good = _jpeg_bytes(Image.new("RGB", (64, 64), (10, 20, 30)))
    assert images._jpeg_fast_path_ok(good + b"trailing") is None
    # truncated in the scan: Pillow's error, not a grey-padded image
    assert images._jpeg_fast_path_ok(good[:-10]) is None
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError, match="cut.jpg.*cannot decode"):
        read_image(bad)


def test_jpeg_encoding_gives_pillows_bytes():
    """encode_image writes JPEG with OpenCV: byte for byte what Pillow writes with the same settings."""
    rng = np.random.default_rng(3)
    for shape in [(1, 1, 3), (17, 9, 3), (64, 48, 3)]:
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
        for quality in (1, 50, 90, 95, 100):
            for subsampling in ("4:4:4", "4:2:2", "4:2:0"):
                assert images.encode_image(arr, ".jpg", quality, subsampling) == \
                    images._encode_pil(arr, ".jpg", quality, subsampling), (shape, quality, subsampling)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif"])
def test_a_grey_photo_is_encoded_grey(suffix):
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (24, 32), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, format=Image.registered_extensions()[suffix])
    assert images.photo_is_grey(buf.getvalue())
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[:4, :4] = (255, 0, 0)  # a coloured patch (as a GAN might paint) becomes its luminance
    data = images.encode_photo(rgb, suffix, grey=True)
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "L"
        pixels = np.asarray(img)
    if suffix != ".jpg":
        np.testing.assert_array_equal(pixels[4:, 4:], grey[4:, 4:])
        assert pixels[0, 0] == cv2.cvtColor(np.uint8([[[255, 0, 0]]]), cv2.COLOR_RGB2GRAY)[0, 0]
    assert len(data) < len(images.encode_photo(rgb, suffix))
    # A colour photo is not grey; WebP has no grey channel, so its copy stays RGB.
    assert not images.photo_is_grey(images.encode_photo(rgb, ".png"))
    with Image.open(io.BytesIO(images.encode_photo(rgb, ".webp", grey=True))) as img:
        assert img.mode == "RGB"
