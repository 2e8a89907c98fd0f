"""The conventional anonymizers, their regions and the method registry."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from safefakes.anonymizers.blackout import Blackout
from safefakes.anonymizers.blur import Blur
from safefakes.anonymizers.fullblur import FullBlur
from safefakes.anonymizers.original import Original
from safefakes.anonymizers.pixelate import Pixelate
from safefakes.anonymizers.regions import face_region, grow_box
from safefakes.anonymizers.registry import METHODS, AnonymizerSpec, build_anonymizer, method_options
from safefakes.data.anonymized import Status
from safefakes.errors import SafeFakesError

H, W = 96, 128
#: The paper's region: exactly the box (the methods' defaults grow an ellipse).
BOX = {"region": "box", "mask_scale": 1.0}


@pytest.fixture()
def image() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a != b).any(axis=2)


def test_blackout_is_black_exactly_inside_the_box(image):
    box = np.array([[20, 10, 30, 40]])
    before = image.copy()
    result = Blackout(**BOX).anonymize(image, box)
    assert result.statuses == [Status.ANONYMIZED]
    assert (result.image[10:50, 20:50] == 0).all()
    mask = np.zeros((H, W), bool)
    mask[10:50, 20:50] = True
    np.testing.assert_array_equal(result.image[~mask], image[~mask])
    np.testing.assert_array_equal(image, before)  # the input is never modified


def test_blur_matches_a_blur_of_the_whole_image_inside_and_leaves_outside(image):
    # The box plus a margin is blurred, so inside the box the result is what a
    # blur of the whole image gives there (no padding artefact at the box edge).
    box = np.array([[40, 30, 36, 28]])
    result = Blur(kernel=15, **BOX).anonymize(image, box)
    reference = cv2.GaussianBlur(image, (15, 15), 0)
    inside = result.image[30:58, 40:76].astype(int) - reference[30:58, 40:76]
    assert np.abs(inside).max() <= 1  # rounding only
    outside = np.ones((H, W), bool)
    outside[30:58, 40:76] = False
    np.testing.assert_array_equal(result.image[outside], image[outside])
    assert changed(result.image, image)[30:58, 40:76].mean() > 0.95


def test_blur_kernel_is_fixed_whatever_the_face_size(image):
    # The default 31-tap blur runs on a half-resolution grid: within 3 grey
    # levels of OpenCV's full-resolution Gaussian (mirror border); exact=True
    # is that filter up to rounding.
    small, large = np.array([[5, 5, 12, 12]]), np.array([[30, 20, 80, 70]])
    reference = cv2.GaussianBlur(image, (31, 31), 0, borderType=cv2.BORDER_REFLECT)
    for box in (small, large):
        x, y, w, h = box[0]
        for blur, tolerance in ((Blur(kernel=31, **BOX), 3), (Blur(kernel=31, exact=True, **BOX), 1)):
            out = blur.anonymize(image, box).image
            assert np.abs(out[y:y + h, x:x + w].astype(int) - reference[y:y + h, x:x + w]).max() <= tolerance


def test_pixelate_has_the_block_structure(image):
    box = np.array([[16, 8, 64, 64]])
    out = Pixelate(blocks=8, **BOX).anonymize(image, box).image
    face = out[8:72, 16:80].astype(int)
    original = image[8:72, 16:80].astype(float)
    for by in range(8):
        for bx in range(8):
            cell = face[by * 8:(by + 1) * 8, bx * 8:(bx + 1) * 8]
            assert (cell == cell[0, 0]).all(), "each 8x8 cell is one colour"
            expected = original[by * 8:(by + 1) * 8, bx * 8:(bx + 1) * 8].mean(axis=(0, 1))
            assert np.abs(cell[0, 0] - expected).max() <= 1.0, "the colour is the cell's average"
    outside = np.ones((H, W), bool)
    outside[8:72, 16:80] = False
    np.testing.assert_array_equal(out[outside], image[outside])


def test_pixelate_uses_fixed_block_count_for_any_size(image):
    out = Pixelate(blocks=4, **BOX).anonymize(image, np.array([[0, 0, 100, 60]])).image
    # 4 distinct columns of blocks across the face, whatever its width
    row = out[5, :100].astype(int)
    assert len({tuple(px) for px in row}) <= 4


def test_pixelate_changes_faces_smaller_than_the_block_count(image):
    out = Pixelate(blocks=8, **BOX).anonymize(image, np.array([[10, 10, 6, 6]])).image
    face = out[10:16, 10:16].astype(int)
    assert (face[0::2, 0::2] == face[1::2, 1::2]).all()  # 2 x 2 cells
    assert changed(out, image)[10:16, 10:16].mean() > 0.5


def test_fullblur_changes_the_whole_image(image):
    boxes = np.array([[10, 10, 20, 20], [0, 0, 0, 5]])
    result = FullBlur(kernel=9).anonymize(image, boxes)
    assert result.statuses == [Status.WHOLE_IMAGE, Status.DEGENERATE_BOX]
    reference = cv2.GaussianBlur(image, (9, 9), 0, borderType=cv2.BORDER_REFLECT)
    assert np.abs(result.image.astype(int) - reference).max() <= 1  # a weak blur: the exact filter
    assert changed(result.image, image).mean() > 0.95


def test_original_returns_the_image_unchanged(image):
    result = Original().anonymize(image, np.array([[1, 2, 3, 4]]))
    np.testing.assert_array_equal(result.image, image)
    assert result.statuses == [Status.ORIGINAL]


def test_ellipse_leaves_the_box_corners(image):
    out = Blackout(region="ellipse", mask_scale=1.0).anonymize(image, np.array([[20, 20, 40, 40]])).image
    assert (out[40, 40] == 0).all()  # centre
    np.testing.assert_array_equal(out[20, 20], image[20, 20])  # corner of the box
    np.testing.assert_array_equal(out[59, 59], image[59, 59])
    black = (out == 0).all(axis=2)[20:60, 20:60].sum()
    assert abs(black - np.pi * 20 * 20) < 0.05 * np.pi * 20 * 20


def test_mask_scale_grows_the_region_about_the_centre(image):
    out = Blackout(region="box", mask_scale=1.5).anonymize(image, np.array([[40, 40, 20, 20]])).image
    black = (out == 0).all(axis=2)
    ys, xs = np.nonzero(black & ((image != 0).any(axis=2)))
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (35, 64, 35, 64)
    np.testing.assert_allclose(grow_box(np.array([40, 40, 20, 20]), 1.5), [35, 35, 30, 30])


def test_min_size_leaves_small_faces_and_records_it(image):
    boxes = np.array([[5, 5, 8, 30], [40, 40, 20, 20]])
    result = Blackout(min_size=10, **BOX).anonymize(image, boxes)
    assert result.statuses == [Status.TOO_SMALL, Status.ANONYMIZED]
    np.testing.assert_array_equal(result.image[5:35, 5:13], image[5:35, 5:13])
    assert (result.image[40:60, 40:60] == 0).all()


@pytest.mark.parametrize("cls", [Blur, Blackout, Pixelate])
def test_bad_boxes(cls, image):
    boxes = np.array([
        [10, 10, 0, 20],      # zero width
        [10, 10, 20, -3],     # negative height
        [W + 5, 10, 20, 20],  # wholly outside, right
        [-40, -40, 30, 30],   # wholly outside, top left
        [W - 10, H - 10, 40, 40],  # partly outside: clipped
    ])
    result = cls(**BOX).anonymize(image, boxes)
    assert result.statuses == [Status.DEGENERATE_BOX, Status.DEGENERATE_BOX, Status.OUTSIDE_IMAGE,
                               Status.OUTSIDE_IMAGE, Status.ANONYMIZED]
    diff = changed(result.image, image)
    assert diff[H - 10:, W - 10:].mean() > 0.5
    diff[H - 10:, W - 10:] = False
    assert not diff.any()


def test_ellipse_region_of_a_tiny_box_is_not_empty():
    region = face_region(np.array([3, 3, 1, 1]), 10, 10, "ellipse")
    assert region is not None and region.mask.sum() == 1


def test_registry_builds_every_method_and_rejects_unknown_options():
    assert {"original", "blur", "blackout", "pixelate", "fullblur"} <= set(METHODS)
    assert build_anonymizer("blur", kernel=11).describe()["kernel"] == 11
    assert {"region", "mask_scale", "min_size", "blocks"} <= method_options("pixelate")
    with pytest.raises(SafeFakesError, match="does not take option"):
        build_anonymizer("fullblur", region="ellipse")
    with pytest.raises(SafeFakesError, match="unknown anonymization method"):
        build_anonymizer("nope")
    with pytest.raises(SafeFakesError, match="odd"):
        build_anonymizer("blur", kernel=10)
    with pytest.raises(SafeFakesError, match="mask_scale"):
        build_anonymizer("blackout", mask_scale=0.5)
    with pytest.raises(SafeFakesError, match="sigma needs a fixed kernel"):
        build_anonymizer("blur", sigma=3.0)


def test_default_region_is_the_ellipse_of_the_box_grown_1_6_times(image):
    # The ellipse inscribed in the 1.6x box holds the whole detected box (from
    # sqrt(2) on it does) and reaches 0.8 box widths from the centre along the axes.
    box = np.array([[44, 28, 40, 40]])  # centre (64, 48)
    black = (Blackout().anonymize(image, box).image == 0).all(axis=2) & (image != 0).any(axis=2)
    assert black[28:68, 44:84].all()
    assert black[48, 64 - 31] and black[48, 64 + 31] and black[48 - 31, 64]
    assert not black[48, 64 - 33] and not black[48, 64 + 33]
    assert not black[17, 33]  # near the grown box's corner (16, 32): outside its ellipse


def test_default_blur_scales_with_the_face(image):
    # kernel=0 (the default): a face's kernel is its region's longer side, so a
    # large face is blurred much more strongly than the study's fixed 31 taps.
    big = np.zeros((200, 200, 3), np.uint8)
    big[:, ::2] = 255  # vertical stripes: any blur wider than 2 px greys them
    box = np.array([[60, 60, 80, 80]])  # region 128 px: kernel 129
    scaled = Blur().anonymize(big, box).image[100, 90:110].astype(int)
    fixed = Blur(kernel=31, region="box", mask_scale=1.0).anonymize(big, box).image[100, 90:110].astype(int)
    assert np.abs(scaled - 127.5).max() < 3 and np.abs(fixed - 127.5).max() < 3  # both grey the stripes
    row = np.zeros((200, 200, 3), np.uint8)
    row[:, 100:] = 255  # a step edge: the strong blur spreads it over many more pixels
    ramp = lambda out: int(((out[100, 60:140, 0] > 10) & (out[100, 60:140, 0] < 245)).sum())  # noqa: E731
    assert ramp(Blur().anonymize(row, box).image) > 2.5 * ramp(Blur(kernel=31, **BOX).anonymize(row, box).image)
    assert Blur().describe()["kernel"] == 0 and Blur().describe()["kernel_share"] == 1.0
    spec = pickle.loads(pickle.dumps(AnonymizerSpec("pixelate", {"blocks": 4})))
    assert spec().describe()["blocks"] == 4


def test_face_regions_follow_the_per_face_rules():
    """face_regions (the methods' one pass) = skip_status then face_region, face by face."""
    from safefakes.anonymizers.regions import face_regions, skip_status

    rng = np.random.default_rng(5)
    boxes = np.concatenate([rng.integers(-40, 120, (300, 2)), rng.integers(-3, 50, (300, 2))], axis=1)
    boxes = boxes.astype(np.float64) + rng.choice([0.0, 0.5], boxes.shape)
    for region, scale, min_size in [("box", 1.0, 0.0), ("box", 1.5, 8.0), ("ellipse", 1.0, 4.0), ("ellipse", 1.2, 0.0)]:
        got = face_regions(boxes.tolist(), 100, 80, region, scale, min_size)
        for box, (status, face) in zip(boxes.tolist(), got):
            want = skip_status(box, 100, 80, min_size)
            want_face = face_region(box, 100, 80, region, scale) if want is None else None
            if want is None:
                want = Status.ANONYMIZED if want_face is not None else Status.OUTSIDE_IMAGE
            assert status == want
            if want_face is None:
                assert face is None
            else:
                assert (face.x1, face.y1, face.x2, face.y2) == (want_face.x1, want_face.y1, want_face.x2, want_face.y2)
                assert (face.mask is None) == (want_face.mask is None)
                if face.mask is not None:
                    np.testing.assert_array_equal(face.mask, want_face.mask)


def test_deterministic_methods_use_no_rng(image):
    boxes = np.array([[20, 16, 40, 48]])
    for name in ("blur", "blackout", "pixelate", "fullblur", "original"):
        method = build_anonymizer(name)
        assert method.uses_rng is False
        a = method.anonymize(image, boxes, None, None).image
        b = method.anonymize(image, boxes, None, np.random.default_rng(1)).image
        np.testing.assert_array_equal(a, b)
