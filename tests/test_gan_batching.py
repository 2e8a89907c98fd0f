"""GAN anonymization of several images at once gives the bytes of one image at a time."""

from __future__ import annotations

import csv

import numpy as np
import torch
from test_deepprivacy import crop_dir, trained  # noqa: F401 - fixtures

from safefakes.anonymizers.gan.anonymizer import GANAnonymizer
from safefakes.data.anonymized import Status

torch.set_num_threads(1)


def _images(n: int):
    rng = np.random.default_rng(5)
    items = []
    for k in range(n):
        image = rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)
        faces = rng.integers(1, 4)
        boxes = np.array([[rng.integers(0, 50), rng.integers(0, 35), rng.integers(14, 28), rng.integers(14, 28)]
                          for _ in range(faces)])
        if k == 1:
            boxes = np.vstack([boxes, [[5, 5, 4, 4]]])  # too small: left as is, in both paths
        kps = np.zeros((len(boxes), 7, 3))
        kps[:, :, 0] = boxes[:, :1] + boxes[:, 2:3] * rng.random((len(boxes), 7))
        kps[:, :, 1] = boxes[:, 1:2] + boxes[:, 3:4] * rng.random((len(boxes), 7))
        kps[:, :, 2] = 1
        items.append((image, boxes, kps, k))
    return items


def test_batched_images_give_the_bytes_of_one_at_a_time(trained):  # noqa: F811
    anonymizer = GANAnonymizer(trained / "checkpoint.pt", device="cpu", batch_size=4)  # batches span images
    items = _images(5)
    one_by_one = [anonymizer.anonymize(im, b, kp, np.random.default_rng(seed)) for im, b, kp, seed in items]
    together = anonymizer.anonymize_many([(im, b, kp, np.random.default_rng(seed)) for im, b, kp, seed in items])
    assert len(together) == 5
    for (image, *_), a, b in zip(items, one_by_one, together):
        assert a.statuses == b.statuses
        np.testing.assert_array_equal(a.image, b.image)
        assert not np.array_equal(b.image, image)  # faces were replaced
    assert together[1].statuses[-1] == Status.TOO_SMALL


def test_the_engine_gives_the_same_split_batched_or_not(trained, tmp_path):  # noqa: F811
    from builders import make_split, tree
    from test_apply import FACES

    from safefakes.engine.split import anonymize_split

    class OneAtATime(GANAnonymizer):
        batches_images = False

    make_split(tmp_path / "in", FACES)
    checkpoint = trained / "checkpoint.pt"
    batched = anonymize_split(tmp_path / "in", tmp_path / "batched", GANAnonymizer(checkpoint, device="cpu"),
                              workers=1, progress=False)
    single = anonymize_split(tmp_path / "in", tmp_path / "single", OneAtATime(checkpoint, device="cpu"),
                             workers=1, progress=False)
    assert batched.complete and single.complete
    assert tree(tmp_path / "batched") == tree(tmp_path / "single")
    statuses = {row["status"] for row in csv.DictReader((tmp_path / "batched" / "manifest.csv").open())}
    assert statuses & {Status.ANONYMIZED, Status.NO_KEYPOINTS_FALLBACK}
