"""Sun2018: training, the discriminator's learning rate, privacy, the blurred-box option, the fallback."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from builders import face_keypoints, tiny_crop_set, write_landmark_split

from safefakes.anonymizers.gan.dataset import open_crop_dataset
from safefakes.anonymizers.gan.sun2018 import Sun2018, Sun2018Anonymizer, _ScaledConv2d, box_regions
from safefakes.anonymizers.gan.trainer import TrainConfig, Trainer
from safefakes.data.anonymized import Status

torch.set_num_threads(1)

TINY = {"resolution": 16, "width": 0.0625, "d_lr_scale": 0.1}


def _train_config(images: int) -> TrainConfig:
    return TrainConfig(images=images, batch_size=8, lr=1e-3, betas=(0.5, 0.999), ema_halflife_images=16,
                       checkpoint_every=16, sample_every=16, log_every=8, progress_bar=False, device="cpu", seed=5)


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    return tiny_crop_set(tmp_path_factory.mktemp("sun_crops"))


def _train(crops: Path, out: Path, images: int = 32, **model) -> tuple[Path, Trainer]:
    method = Sun2018({**TINY, **model})
    data = open_crop_dataset(crops, method.resolution, method.keypoint_layout)
    trainer = Trainer(method, data, out, _train_config(images))
    return trainer.train(), trainer


@pytest.fixture(scope="module")
def trained(crops, tmp_path_factory) -> tuple[Path, Trainer]:
    return _train(crops, tmp_path_factory.mktemp("sun_run"))


def _finite_losses(path: Path) -> list[dict]:
    rows = list(csv.DictReader(open(path.parent / "losses.csv")))
    assert rows
    for row in rows:
        for key in ("d_loss", "d_global", "d_local", "g_loss", "g_adv", "l1"):
            assert math.isfinite(float(row[key])), (key, row)
    return rows


# --------------------------------------------------------------------------- #
# Training
# --------------------------------------------------------------------------- #
def test_short_training_has_finite_losses_and_samples(trained):
    path, _ = trained
    assert path.exists()
    _finite_losses(path)
    assert (path.parent / "samples" / "latest.png").exists()


def test_blurred_box_input_trains_too(crops, tmp_path):
    path, trainer = _train(crops, tmp_path / "blur", images=16, input="blur")
    _finite_losses(path)
    batch = trainer.data.batch(torch.arange(2))
    cond = trainer.method.condition(batch)
    hole = batch["mask"].expand_as(cond) < 0.5
    assert (cond[hole] != -1).any()  # not black: the blurred face
    torch.testing.assert_close(cond[~hole], batch["image"][~hole])  # the context is untouched


def test_generator_output_keeps_the_known_pixels(trained):
    _, trainer = trained
    batch = trainer.data.batch(torch.arange(4))
    with torch.no_grad():
        fake = trainer.method.generate(trainer.G_ema, batch, trainer.method.latent(4))
    known = batch["mask"].expand_as(fake) > 0.5
    torch.testing.assert_close(fake[known], batch["condition"][known], rtol=0, atol=0)


def test_discriminator_learning_rate_is_scaled():
    """Adam on a layer with lr scale s moves the effective weights s times as far as a plain layer."""
    torch.manual_seed(0)
    plain = torch.nn.Conv2d(2, 3, 3, 1, 1)
    scaled = _ScaledConv2d(2, 3, 3, 1, 1, scale=0.1)
    with torch.no_grad():
        scaled.weight.copy_(plain.weight / 0.1)
        scaled.bias.copy_(plain.bias / 0.1)
    x = torch.randn(4, 2, 5, 5)
    torch.testing.assert_close(scaled(x), plain(x))
    steps = []
    for layer in (plain, scaled):
        opt = torch.optim.Adam(layer.parameters(), lr=1e-2)
        w0 = (layer.weight * getattr(layer, "lr_scale", 1.0)).detach().clone()
        layer(x).pow(2).sum().backward()
        opt.step()
        steps.append((layer.weight * getattr(layer, "lr_scale", 1.0)).detach() - w0)
    torch.testing.assert_close(steps[1], 0.1 * steps[0], rtol=1e-3, atol=1e-7)


def test_local_discriminator_region_is_the_box_with_context():
    mask = torch.ones(2, 1, 16, 16)
    mask[0, :, 4:12, 6:10] = 0  # rows 4..11, columns 6..9
    rois = box_regions(mask, context=0.25)
    torch.testing.assert_close(rois[0], torch.tensor([0.0, 5.0, 2.0, 11.0, 14.0]))
    torch.testing.assert_close(rois[1], torch.tensor([1.0, 0.0, 0.0, 16.0, 16.0]))  # nothing to inpaint


# --------------------------------------------------------------------------- #
# Anonymization
# --------------------------------------------------------------------------- #
BOX = (20, 16, 28, 32)


def _scene(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (72, 72, 3), dtype=np.uint8)


def test_privacy_box_pixels_never_reach_the_generator(trained):
    path, _ = trained
    anon = Sun2018Anonymizer(path, device="cpu")
    image = _scene()
    other = (2, 2, 16, 18)
    boxes = np.array([BOX, other])
    kps = np.stack([face_keypoints(BOX), face_keypoints(other)])
    before = anon.anonymize(image, boxes, kps, np.random.default_rng(3))
    assert before.statuses == [Status.ANONYMIZED] * 2
    changed = image.copy()
    for x, y, w, h in boxes:
        changed[y:y + h, x:x + w] = np.random.default_rng(9).integers(0, 256, (h, w, 3))
    after = anon.anonymize(changed, boxes, kps, np.random.default_rng(3))
    assert np.array_equal(before.image, after.image)
    # Only the boxes are written.
    outside = np.ones(image.shape[:2], bool)
    for x, y, w, h in boxes:
        outside[y:y + h, x:x + w] = False
    assert np.array_equal(before.image[outside], image[outside])


def test_blurred_box_option_is_less_private(crops, tmp_path):
    path, _ = _train(crops, tmp_path / "blur", images=8, input="blur")
    anon = Sun2018Anonymizer(path, device="cpu")
    assert anon.describe()["input"] == "blur"
    image = _scene()
    boxes, kps = np.array([BOX]), face_keypoints(BOX)[None]
    before = anon.anonymize(image, boxes, kps, np.random.default_rng(3))
    assert before.statuses == [Status.ANONYMIZED]
    x, y, w, h = BOX
    changed = image.copy()
    changed[y:y + h, x:x + w] = 0
    after = anon.anonymize(changed, boxes, kps, np.random.default_rng(3))
    assert not np.array_equal(before.image, after.image)  # the blurred face reaches the generator
    outside = np.ones(image.shape[:2], bool)
    outside[y:y + h, x:x + w] = False
    assert np.array_equal(before.image[outside], image[outside])


def test_faces_without_landmarks_run_with_empty_maps(trained):
    path, _ = trained
    anon = Sun2018Anonymizer(path, device="cpu")
    image = _scene()
    boxes = np.array([BOX])
    with_kp = anon.anonymize(image, boxes, face_keypoints(BOX)[None], np.random.default_rng(0))
    without = anon.anonymize(image, boxes, face_keypoints(BOX, visible=False)[None], np.random.default_rng(0))
    none = anon.anonymize(image, boxes, None, np.random.default_rng(0))
    assert with_kp.statuses == [Status.ANONYMIZED]
    assert without.statuses == none.statuses == [Status.NO_KEYPOINTS_FALLBACK]
    assert np.array_equal(without.image, none.image)
    x, y, w, h = BOX
    blob = without.image[y:y + h, x:x + w]
    assert not np.array_equal(blob, image[y:y + h, x:x + w])  # replaced ...
    assert blob.max() > 0  # ... by generated pixels, not blacked out
    assert not np.array_equal(blob, with_kp.image[y:y + h, x:x + w])  # the landmarks matter


def test_dataset_engine_records_the_fallback_in_the_manifest(trained, tmp_path):
    from safefakes.data.anonymized import read_manifest
    from safefakes.engine.split import anonymize_split

    path, _ = trained
    split = write_landmark_split(tmp_path / "split", [[BOX], [(10, 8, 30, 34), (44, 40, 20, 22), (1, 60, 6, 6)]],
                        [[0], [1, 2, 3]], size=72, landmarks=[[True], [True, False, False]])
    report = anonymize_split(split, tmp_path / "out", Sun2018Anonymizer(path, device="cpu"), workers=1,
                             progress=False)
    assert report.complete
    rows = read_manifest(tmp_path / "out" / "manifest.csv")
    assert [r["status"] for r in rows] == [Status.ANONYMIZED, Status.ANONYMIZED, Status.NO_KEYPOINTS_FALLBACK,
                                           Status.TOO_SMALL]
    assert {r["method"] for r in rows} == {"sun2018"}


# --------------------------------------------------------------------------- #
# Stage I: landmarks generated for faces without detected ones
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def staged(crops, tmp_path_factory) -> tuple[Path, Trainer]:
    return _train(crops, tmp_path_factory.mktemp("sun_stage1"), images=96, missing_landmarks="generate",
                  landmark_weight=10.0)


def test_stage_one_learns_where_the_landmarks_are(staged):
    _, trainer = staged
    rows = _finite_losses(trainer.out / "losses.csv")
    errors = [float(r["landmark_l1"]) for r in rows]
    # The crops' landmarks sit in the middle third: a net that has learned
    # nothing (sigmoid(0) = 0.5 everywhere) is about 0.1 crop units off; the
    # first logged error starts near that and training brings it down.
    assert errors[-1] < errors[0]
    batch = trainer.data.load(range(8))
    from safefakes.anonymizers.gan.dataset import to_batch

    b = to_batch(batch, torch.device("cpu"))
    with torch.no_grad():
        predicted = trainer.G_ema.landmark_net(b["condition"], b["mask"])
    kp = b["keypoints"]
    visible = kp[..., 2] > 0
    mean_error = (predicted - kp[..., :2]).abs()[visible].mean().item()
    centre_error = (0.5 - kp[..., :2]).abs()[visible].mean().item()
    assert mean_error < centre_error


def test_stage_one_fills_in_only_the_faces_without_landmarks(staged):
    path, trainer = staged
    method = trainer.method
    anon = Sun2018Anonymizer(path, device="cpu")
    image = _scene()
    boxes = np.array([BOX])
    with_kp = anon.anonymize(image, boxes, face_keypoints(BOX)[None], np.random.default_rng(0))
    none = anon.anonymize(image, boxes, None, np.random.default_rng(0))
    # The manifest still says the detector found no landmarks (the method's fallback ran) ...
    assert none.statuses == [Status.NO_KEYPOINTS_FALLBACK]
    assert with_kp.statuses == [Status.ANONYMIZED]
    # ... and the face was painted from generated landmarks, not from empty maps.
    G = anon.G
    crop = torch.zeros(1, 3, method.resolution, method.resolution)
    mask = torch.ones(1, 1, method.resolution, method.resolution)
    mask[..., 4:12, 4:12] = 0
    batch = {"condition": crop, "mask": mask, "keypoints": torch.zeros(1, 68, 3)}
    filled = method.keypoints(G, batch, crop)
    assert bool((filled[..., 2] == 1).all())
    assert torch.allclose(filled[..., :2], G.landmark_net(crop, mask))
    given = {**batch, "keypoints": torch.cat([torch.rand(1, 68, 2), torch.ones(1, 68, 1)], -1)}
    assert torch.equal(method.keypoints(G, given, crop), given["keypoints"])  # detected landmarks are kept
    x, y, w, h = BOX
    assert not np.array_equal(none.image[y:y + h, x:x + w], image[y:y + h, x:x + w])


def test_the_inpainting_stage_alone_keeps_empty_maps(trained):
    _, trainer = trained
    assert trainer.G.landmark_net is None
    batch = {"keypoints": torch.zeros(2, 68, 3), "mask": torch.ones(2, 1, 16, 16)}
    assert torch.equal(trainer.method.keypoints(trainer.G, batch, torch.zeros(2, 3, 16, 16)), batch["keypoints"])


def test_an_unknown_missing_landmarks_mode_is_refused():
    with pytest.raises(ValueError, match="missing_landmarks"):
        Sun2018({**TINY, "missing_landmarks": "guess"})
