"""The Gaussian of blur and fullblur: the half-resolution filter against the exact one, and regions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from safefakes.anonymizers import gaussian
from safefakes.anonymizers.blur import Blur
from safefakes.anonymizers.fullblur import FullBlur
from safefakes.anonymizers.regions import face_regions
from safefakes.data.images import read_image
from safefakes.data.split import Split


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Synthetic detection images (with their boxes), some cropped to odd sizes, and white noise."""
    from safefakes.data.synthetic import generate

    root = tmp_path_factory.mktemp("synthetic")
    generate(root, seed=3, train_images=6, val_images=1, crops=2, workers=1)
    split = Split.load(root / "train")
    images = [(read_image(split.image_path(im.name)), im.boxes) for im in split.images]
    odd = [(img[:171, :187].copy(), boxes) for img, boxes in images[:3]]
    noise = np.random.default_rng(0).integers(0, 256, (101, 97, 3), dtype=np.uint8)
    return images + odd + [(noise, np.array([[10, 12, 30, 40], [60, 50, 37, 51]]))]


@pytest.mark.parametrize("kernel, sigma", [(31, 0.0), (29, 0.0), (41, 0.0), (61, 0.0), (31, 4.5)])
def test_half_resolution_filter_is_within_3_grey_levels_of_the_exact_one(scenes, kernel, sigma):
    assert gaussian.gaussian_filter(kernel, sigma).decimated
    worst, mean = 0, []
    for image, _ in scenes:
        fast = gaussian.gaussian_blur(image, kernel, sigma).astype(int)
        exact = gaussian.gaussian_blur(image, kernel, sigma, exact=True).astype(int)
        assert fast.shape == image.shape
        diff = np.abs(fast - exact)
        worst, mean = max(worst, int(diff.max())), mean + [diff.mean()]
    assert worst <= 3
    assert np.mean(mean) < 0.3


def test_exact_filter_is_opencvs_gaussian_with_a_mirror_border(scenes):
    for image, _ in scenes[:3]:
        reference = cv2.GaussianBlur(image, (31, 31), 0, borderType=cv2.BORDER_REFLECT)
        exact = gaussian.gaussian_blur(image, 31, exact=True)
        assert np.abs(exact.astype(int) - reference).max() <= 2  # float taps against fixed point


def test_weak_blurs_always_run_the_exact_filter(scenes):
    image = scenes[0][0]
    for kernel in (3, 9, 15, 27):  # sigma below 4.5 under OpenCV's rule
        assert not gaussian.gaussian_filter(kernel).decimated
        np.testing.assert_array_equal(gaussian.gaussian_blur(image, kernel),
                                      gaussian.gaussian_blur(image, kernel, exact=True))


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("share", [0.0, 1e9])  # always the shared grid / always one crop per face
def test_blurred_regions_equal_those_regions_of_a_whole_image_blur(scenes, monkeypatch, exact, share):
    monkeypatch.setattr(gaussian, "WHOLE_IMAGE_SHARE", share)
    for image, boxes in scenes:
        height, width = image.shape[:2]
        rects = [(r.x1, r.y1, r.x2, r.y2) for _, r in face_regions(boxes.tolist(), width, height) if r]
        blur = gaussian.gaussian_filter(31, exact=exact)
        whole = blur.blur(image)
        for (x1, y1, x2, y2), pixels in zip(rects, blur.blur_regions(image, rects)):
            np.testing.assert_array_equal(pixels, whole[y1:y2, x1:x2])


def test_blur_of_each_face_is_fullblurs_image_there(scenes):
    """The two methods share one filter: inside a face box, blur gives fullblur's pixels."""
    for image, boxes in scenes:
        height, width = image.shape[:2]
        blurred = Blur(kernel=31, region="box", mask_scale=1.0).anonymize(image, boxes).image
        full = FullBlur(kernel=31).anonymize(image, boxes).image
        for _status, region in face_regions(boxes.tolist(), width, height):
            if region is not None:
                np.testing.assert_array_equal(blurred[region.slices], full[region.slices])


def test_overlapping_faces_do_not_depend_on_their_order(scenes):
    image = scenes[0][0]
    boxes = np.array([[20, 20, 60, 60], [50, 40, 60, 60]])
    forward = Blur().anonymize(image, boxes).image
    backward = Blur().anonymize(image, boxes[::-1]).image
    np.testing.assert_array_equal(forward, backward)
