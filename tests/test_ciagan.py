"""CIAGAN: training, what it replaces and keeps, target identities, the no-landmark fallback, privacy."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from builders import face_keypoints, tiny_crop_set, write_landmark_split

from safefakes.anonymizers.gan import landmarks as lm
from safefakes.anonymizers.gan.ciagan import CIAGAN, CiaganAnonymizer, trained_identity_slots
from safefakes.anonymizers.gan.dataset import open_crop_dataset
from safefakes.anonymizers.gan.geometry import square_box
from safefakes.anonymizers.gan.trainer import TrainConfig, Trainer
from safefakes.data.anonymized import Status
from safefakes.data.images import read_image

torch.set_num_threads(1)

TINY = {"resolution": 16, "width": 0.125, "n_identities": 8, "mlp_layers": 2, "res_blocks": 1,
        "identity_width": 8, "identity_dim": 16}


def _train_config(images: int, **kw) -> TrainConfig:
    base = dict(images=images, batch_size=8, lr=1e-3, betas=(0.5, 0.999), ema_halflife_images=16,
                checkpoint_every=16, sample_every=16, log_every=8, progress_bar=False, device="cpu", seed=3)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    return tiny_crop_set(tmp_path_factory.mktemp("ciagan_crops"))


@pytest.fixture(scope="module")
def trained(crops, tmp_path_factory) -> tuple[Path, Trainer]:
    method = CIAGAN(TINY)
    data = open_crop_dataset(crops, method.resolution, method.keypoint_layout)
    out = tmp_path_factory.mktemp("ciagan_run")
    trainer = Trainer(method, data, out, _train_config(48))
    return trainer.train(), trainer


def _state(trainer: Trainer) -> dict:
    return {**{f"G.{k}": v for k, v in trainer.G.state_dict().items()},
            **{f"D.{k}": v for k, v in trainer.D.state_dict().items()},
            **{f"E.{k}": v for k, v in trainer.G_ema.state_dict().items()}}


# --------------------------------------------------------------------------- #
# Training
# --------------------------------------------------------------------------- #
def test_short_training_has_finite_losses_samples_and_an_identity_bank(trained):
    path, trainer = trained
    assert path.name == "checkpoint.pt" and path.exists()
    rows = list(csv.DictReader(open(path.parent / "losses.csv")))
    assert len(rows) >= 2
    for row in rows:
        for key in ("d_loss", "d_real", "d_fake", "siamese", "g_loss", "g_adv", "g_identity"):
            assert math.isfinite(float(row[key])), (key, row)
    assert (path.parent / "samples" / "latest.png").exists()
    # The crop set holds identities 0..3: each got a slot and a centroid.
    bank = trainer.D.bank
    assert sorted(bank.identity[bank.identity >= 0].tolist()) == [0, 1, 2, 3]
    assert (bank.count[bank.identity >= 0] > 0).all()
    state = torch.load(path, map_location="cpu", weights_only=False)
    assert sorted(trained_identity_slots(state, TINY["n_identities"]).tolist()) == \
        sorted(bank.slot_of(torch.arange(4)).tolist())


def test_generator_has_no_skip_connections_so_identity_changes_the_face(trained):
    _, trainer = trained
    method = trainer.method
    batch = trainer.data.batch(torch.arange(4))
    with torch.no_grad():
        a = method.generate(trainer.G_ema, batch, method.identity_onehot(torch.tensor([0, 0, 0, 0])))
        b = method.generate(trainer.G_ema, batch, method.identity_onehot(torch.tensor([5, 5, 5, 5])))
    _, _, mask = method.inputs(batch)
    inside = mask.expand_as(a) > 0
    assert (a - b).abs()[inside].mean() > 1e-3  # another target identity, another face
    torch.testing.assert_close(a[~inside], b[~inside], rtol=0, atol=0)  # outside the mask: the input
    torch.testing.assert_close(a[~inside], batch["image"][~inside], rtol=0, atol=0)


def test_l1_weight_zero_is_the_published_generator_loss_and_positive_adds_the_mask_l1(crops):
    from safefakes.anonymizers.gan.ciagan import PRESETS, CiaganConfig, mask_l1

    plain = CIAGAN(TINY)
    data = open_crop_dataset(crops, plain.resolution, plain.keypoint_layout)
    batch = data.batch(torch.arange(4))
    torch.manual_seed(0)
    G, D = plain.make_generator(), plain.make_discriminator()
    D.bank.update(D.siamese(batch["image"]).detach(), batch["identity"])  # known targets: identity loss > 0
    D.eval()  # spectral norm's power iteration would move the critic between the two calls
    z = plain.identity_onehot(D.bank.slot_of(batch["identity"]).clamp_min(0))
    loss0, stats0 = plain.generator_loss(G, D, batch, z)
    assert "l1" not in stats0
    assert loss0.item() == pytest.approx(stats0["g_adv"] + TINY.get("identity_weight", 1.0) * stats0["g_identity"])
    with_l1 = CIAGAN({**TINY, "l1_weight": 5.0})
    loss1, stats1 = with_l1.generator_loss(G, D, batch, z)
    fake = plain.generate(G, batch, z)
    real, _, mask = plain.inputs(batch)
    l1 = mask_l1(fake, real, mask)
    inside = mask.bool().expand_as(fake)
    assert inside.any() and torch.allclose(l1, (fake - real).abs()[inside].mean())
    assert l1.item() > 0
    assert torch.allclose(loss1, loss0 + 5.0 * l1) and stats1["l1"] == pytest.approx(l1.item())
    # the departure is mini-only: the paper preset (and the default) keep CIAGAN's loss
    assert PRESETS["paper"]["model"].get("l1_weight", 0.0) == 0.0 and CiaganConfig().l1_weight == 0.0
    assert PRESETS["mini"]["model"]["l1_weight"] > 0


# --------------------------------------------------------------------------- #
# Anonymization
# --------------------------------------------------------------------------- #
BOX = (20, 16, 28, 32)


def _scene(seed: int = 1, size: int = 72) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def _polygon_mask(kp: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The CIAGAN polygon drawn in image pixels (independent of the anonymizer's crop-space mask)."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(lm.ciagan_polygon(kp)).astype(np.int32)], 1)
    return mask.astype(bool)


def _grown(mask: np.ndarray, px: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def _shrunk(mask: np.ndarray, px: int) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def _margin(box) -> int:
    """Pixels of slack for resampling between crop and image: one crop pixel and one more."""
    _, _, side = square_box(np.asarray(box, float), 72, 72)
    return int(math.ceil(side / TINY["resolution"])) + 1


def test_output_differs_from_the_input_only_inside_the_jaw_mask(trained):
    path, _ = trained
    anon = CiaganAnonymizer(path, device="cpu")
    image = _scene()
    kp = face_keypoints(BOX)
    result = anon.anonymize(image, np.array([BOX]), kp[None], np.random.default_rng(0))
    assert result.statuses == [Status.ANONYMIZED]
    changed = (result.image != image).any(2)
    poly = _polygon_mask(kp, image.shape[:2])
    assert changed.any()
    assert not changed[~_grown(poly, _margin(BOX))].any()  # all else is the input, pixel for pixel
    assert changed[_shrunk(poly, _margin(BOX))].mean() > 0.9
    # CIAGAN keeps the forehead: box pixels above the brows are the input's.
    x, y, w, h = BOX
    forehead = np.zeros_like(changed)
    forehead[y:int(y + 0.12 * h), x:x + w] = True
    assert not changed[forehead].any()
    assert (image == _scene()).all()  # the input was not modified


def test_same_seed_same_output_other_seed_other_identity(trained):
    path, _ = trained
    anon = CiaganAnonymizer(path, device="cpu")
    image, boxes, kp = _scene(), np.array([BOX]), face_keypoints(BOX)[None]
    a = anon.anonymize(image, boxes, kp, np.random.default_rng(7)).image
    b = anon.anonymize(image, boxes, kp, np.random.default_rng(7)).image
    assert np.array_equal(a, b)
    targets = {int(np.random.default_rng(s).integers(0, len(anon.identity_slots))) for s in range(8)}
    assert len(targets) > 1  # the seeds below do pick different identities
    outs = [anon.anonymize(image, boxes, kp, np.random.default_rng(s)).image for s in range(8)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])


def test_privacy_pixels_that_are_replaced_never_reach_the_generator(trained):
    path, _ = trained
    anon = CiaganAnonymizer(path, device="cpu")
    image = _scene()
    other = (2, 2, 16, 18)
    boxes = np.array([BOX, other])
    kps = np.stack([face_keypoints(BOX), face_keypoints(other)])
    before = anon.anonymize(image, boxes, kps, np.random.default_rng(3)).image
    # New pixels inside both faces' masks (shrunk by the resampling slack, so
    # surely inside the replaced region): the output must not change at all.
    inner = _shrunk(_polygon_mask(kps[0], image.shape[:2]), _margin(BOX)) | \
        _shrunk(_polygon_mask(kps[1], image.shape[:2]), _margin(other))
    assert inner.sum() > 50
    changed_input = image.copy()
    changed_input[inner] = 255 - changed_input[inner]
    after = anon.anonymize(changed_input, boxes, kps, np.random.default_rng(3)).image
    assert np.array_equal(before, after)
    # What CIAGAN does see (by design): box pixels outside its mask, e.g. the forehead.
    x, y, w, h = BOX
    forehead_changed = image.copy()
    forehead_changed[y:int(y + 0.12 * h), x:x + w] = 0
    seen = anon.anonymize(forehead_changed, boxes, kps, np.random.default_rng(3)).image
    poly = _polygon_mask(kps[0], image.shape[:2])
    assert not np.array_equal(seen[poly], before[poly])


def test_faces_without_landmarks_are_blacked_out_and_recorded(trained):
    path, _ = trained
    anon = CiaganAnonymizer(path, device="cpu")
    image = _scene()
    small = (2, 2, 11, 12)
    boxes = np.array([BOX, small])
    kps = np.stack([face_keypoints(BOX), face_keypoints(small, visible=False)])
    result = anon.anonymize(image, boxes, kps, np.random.default_rng(0))
    assert result.statuses == [Status.ANONYMIZED, Status.NO_LANDMARKS_BLACKED_OUT]
    assert (result.image[2:14, 2:13] == 0).all()
    # No keypoints at all: every face is blacked out over its whole box.
    none = anon.anonymize(image, boxes, None, np.random.default_rng(0))
    assert none.statuses == [Status.NO_LANDMARKS_BLACKED_OUT] * 2
    x, y, w, h = BOX
    assert (none.image[y:y + h, x:x + w] == 0).all()
    outside = np.ones(image.shape[:2], bool)
    outside[y:y + h, x:x + w] = False
    outside[2:14, 2:13] = False
    assert np.array_equal(none.image[outside], image[outside])


def test_faces_under_10_px_are_left_as_is_and_recorded(trained):
    # As the paper does for all three GANs: CIAGAN too leaves faces under 10 px.
    path, _ = trained
    anon = CiaganAnonymizer(path, device="cpu")
    assert anon.min_size == 10
    image = _scene()
    tiny = (2, 2, 9, 14)
    boxes = np.array([BOX, tiny])
    kps = np.stack([face_keypoints(BOX), face_keypoints(tiny)])
    result = anon.anonymize(image, boxes, kps, np.random.default_rng(0))
    assert result.statuses == [Status.ANONYMIZED, Status.TOO_SMALL]
    assert np.array_equal(result.image[2:16, 2:11], image[2:16, 2:11])


def test_dataset_engine_records_the_fallback_in_the_manifest(trained, tmp_path):
    from safefakes.data.anonymized import read_manifest
    from safefakes.engine.split import anonymize_split

    path, _ = trained
    split = write_landmark_split(tmp_path / "split", [[BOX], [(10, 8, 30, 34), (44, 40, 20, 22)]], [[0], [1, 2]],
                        size=72, landmarks=[[True], [True, False]])
    report = anonymize_split(split, tmp_path / "out", CiaganAnonymizer(path, device="cpu"), workers=1,
                             progress=False)
    assert report.complete
    rows = read_manifest(tmp_path / "out" / "manifest.csv")
    assert [r["status"] for r in rows] == [Status.ANONYMIZED, Status.ANONYMIZED, Status.NO_LANDMARKS_BLACKED_OUT]
    assert {r["method"] for r in rows} == {"ciagan"}
    out = read_image(tmp_path / "out" / "images" / "0--Test" / "img_001.jpg")
    assert out[42:60, 46:62].max() < 40  # the blacked box (JPEG leaves a little noise)


# --------------------------------------------------------------------------- #
# The identity network's loss and bank
# --------------------------------------------------------------------------- #
def test_contrastive_loss_values():
    from safefakes.anonymizers.gan.identity import batch_contrastive_loss, contrastive_loss

    a = torch.zeros(3, 2)
    b = torch.tensor([[2.0, 0.0], [1.0, 0.0], [5.0, 0.0]])
    # same person at distance 2: 0.5 * 4; different at 1 (margin 3): 0.5 * 2^2; different at 5: 0
    torch.testing.assert_close(contrastive_loss(a, b, torch.tensor([1, 0, 0]), margin=3.0),
                               torch.tensor((2.0 + 2.0 + 0.0) / 3))
    torch.testing.assert_close(contrastive_loss(a, b, torch.tensor([1, 0, 0]), 3.0, torch.tensor([1.0, 0, 0])),
                               torch.tensor(2.0))
    emb = torch.tensor([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0]])
    ids = torch.tensor([4, 4, -1])  # the unknown identity takes part in no pair
    torch.testing.assert_close(batch_contrastive_loss(emb, ids), torch.tensor(0.5))


def test_identity_bank_assigns_slots_in_order_and_tracks_means():
    from safefakes.anonymizers.gan.identity import IdentityBank

    bank = IdentityBank(slots=2, dim=1, momentum=0.5)
    bank.update(torch.tensor([[2.0], [4.0], [8.0], [1.0]]), torch.tensor([7, 7, 3, -1]))
    assert bank.identity.tolist() == [7, 3]
    assert bank.centroid.flatten().tolist() == [3.0, 8.0] and bank.count.tolist() == [2, 1]
    bank.update(torch.tensor([[5.0], [0.0]]), torch.tensor([7, 9]))  # 9: no free slot, ignored
    assert bank.identity.tolist() == [7, 3]
    assert bank.centroid.flatten().tolist() == [4.0, 8.0]
    assert bank.slot_of(torch.tensor([3, 9, 7])).tolist() == [1, -1, 0]
