"""DeepPrivacy: training (finite losses, bit-identical resume), the anonymizer, privacy by construction."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from safefakes.anonymizers.gan.anonymizer import GANAnonymizer
from safefakes.anonymizers.gan.dataset import open_crop_dataset
from safefakes.anonymizers.gan.deepprivacy import DeepPrivacy, DeepPrivacyConfig
from safefakes.anonymizers.gan.trainer import TrainConfig, Trainer, latest_checkpoint, progressive_phase
from safefakes.data.anonymized import Status
from safefakes.data.crops import Crop, CropList, write_crop_set
from safefakes.data.images import read_image
from safefakes.errors import InputError, MissingWeightsError

torch.set_num_threads(1)
RES = 16


def _crop(i: int) -> Crop:
    """A 48 px crop: coloured background, a skin ellipse 'face' with dark eyes, seven keypoints."""
    rng = np.random.default_rng(i)
    img = np.zeros((48, 48, 3), np.uint8)
    img[:] = rng.integers(30, 200, 3)
    cx, cy = 24 + int(rng.integers(-2, 3)), 24
    cv2.ellipse(img, (cx, cy), (9, 12), 0, 0, 360, (220, 180, 150), -1)
    for ex in (cx - 4, cx + 4):
        cv2.circle(img, (ex, cy - 3), 1, (20, 20, 20), -1)
    kp = np.array([[cx, cy + 2, 1], [cx + 4, cy - 3, 1], [cx - 4, cy - 3, 1], [cx + 9, cy, 1], [cx - 9, cy, 1],
                   [cx + 14, 44, 1], [cx - 14, 44, 1]], float)
    return Crop(img, np.array([cx - 9, cy - 12, 18, 24]), kp, i % 3, f"test/{i}")


@pytest.fixture(scope="module")
def crop_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dp") / "crops"
    write_crop_set(out, CropList(_crop(i) for i in range(12)), {"source": "test"}, "deepprivacy7", "test")
    return out


def _method() -> DeepPrivacy:
    return DeepPrivacy(DeepPrivacyConfig(resolution=RES, width=1 / 64))


def _config(**kw) -> TrainConfig:
    base = dict(images=48, batch_size=4, checkpoint_every=16, sample_every=24, log_every=8, progress_bar=False,
                ema_halflife_images=20)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(crop_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dp") / "run"
    data = open_crop_dataset(crop_dir, RES, "deepprivacy7")
    Trainer(_method(), data, out, _config()).train()
    return out


def test_short_training_run_has_finite_losses_and_writes_its_outputs(trained):
    rows = list(csv.DictReader((trained / "losses.csv").open()))
    assert [int(r["images"]) for r in rows] == [8, 16, 24, 32, 40, 48]
    for r in rows:
        for key in ("d_loss", "g_loss", "wasserstein", "gp", "drift"):
            assert np.isfinite(float(r[key])), (key, r)
    grid = read_image(trained / "samples" / "latest.png")
    # rows: condition, two EMA samples, real; 8 columns of 16 px with 2 px gaps
    assert grid.shape == (4 * 18 + 2, 8 * 18 + 2, 3)
    state = torch.load(trained / "checkpoint.pt", weights_only=False)
    assert state["images_shown"] == 48 and state["method"] == "deepprivacy"
    assert {"generator", "discriminator", "ema_generator", "opt_g", "opt_d", "rng"} <= set(state)
    assert not torch.equal(state["generator"]["to_rgb.16.weight"], state["ema_generator"]["to_rgb.16.weight"])
    assert latest_checkpoint(trained).name == "images_000000048.pt"


def test_progressive_schedule_and_training():
    # start 8 px: stable 0-100, fade to 16 over 100-200, stable 200-300, fade to 32 over 300-400 ...
    assert progressive_phase(50, 32, 8, 100) == (8, 1.0)
    assert progressive_phase(150, 32, 8, 100) == (16, 0.5)
    assert progressive_phase(250, 32, 8, 100) == (16, 1.0)
    assert progressive_phase(325, 32, 8, 100) == (32, 0.25)
    assert progressive_phase(10_000, 32, 8, 100) == (32, 1.0)
    m = _method()
    G, D = m.make_generator(), m.make_discriminator()
    batch = {"condition": torch.zeros(2, 3, 8, 8), "mask": torch.ones(2, 1, 8, 8), "keypoints": torch.rand(2, 7, 3)}
    for net in (G, D):
        net.current_resolution, net.alpha = 8, 0.5
    out = m.generate(G, batch, m.latent(2))
    assert out.shape == (2, 3, 8, 8)
    assert D(out, batch["condition"], batch["mask"], batch["keypoints"]).shape == (2,)


def test_generator_architecture():
    m = _method()
    G = m.make_generator()
    assert m.latent(3).shape == (3, 32, 4, 4)
    cond = torch.rand(1, 3, RES, RES) * 2 - 1
    mask = torch.ones(1, 1, RES, RES)
    mask[..., 4:12, 4:12] = 0
    kp = torch.tensor([[[0.5, 0.5, 1.0]] * 7])
    z = m.latent(1, torch.Generator().manual_seed(0))
    out = G(cond * mask, mask, kp, z)
    # outside the box the condition comes through unchanged; inside, the pose and the latent matter
    assert torch.equal(out[..., mask[0, 0] > 0], (cond * mask)[..., mask[0, 0] > 0])
    kp2 = kp.clone()
    kp2[..., 2] = 0
    assert not torch.equal(G(cond * mask, mask, kp2, z), out)
    assert not torch.equal(G(cond * mask, mask, kp, m.latent(1)), out)


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    boxes = np.array([[20, 20, 30, 36], [90, 30, 40, 40], [5, 100, 6, 8], [70, 90, 0, 10], [100, 70, 20, 24]])
    kps = np.zeros((5, 7, 3))
    kps[0] = [[35, 40, 1], [40, 32, 1], [30, 32, 1], [48, 36, 1], [22, 36, 1], [55, 58, 1], [15, 58, 1]]
    kps[1] = [[110, 50, 1]] * 7  # face 4 has none: the fallback
    return img, boxes, kps


def test_anonymizer_statuses_and_only_boxes_change(trained):
    anon = GANAnonymizer(trained / "checkpoint.pt", device="cpu")
    assert anon.needs_keypoints == "deepprivacy7" and anon.describe()["images_shown"] == 48
    img, boxes, kps = _scene()
    before = img.copy()
    res = anon.anonymize(img, boxes, kps, np.random.default_rng(1))
    assert np.array_equal(img, before)  # the input is not modified
    assert res.statuses == [Status.ANONYMIZED, Status.ANONYMIZED, Status.TOO_SMALL, Status.DEGENERATE_BOX,
                            Status.NO_KEYPOINTS_FALLBACK]
    changed = (res.image != img).any(-1)
    allowed = np.zeros(changed.shape, bool)
    for i in (0, 1, 4):
        x, y, w, h = boxes[i]
        allowed[y:y + h, x:x + w] = True
    assert not (changed & ~allowed).any()
    for i in (0, 1, 4):
        x, y, w, h = boxes[i]
        assert changed[y:y + h, x:x + w].mean() > 0.9
    again = anon.anonymize(img, boxes, kps, np.random.default_rng(1))
    assert np.array_equal(again.image, res.image)
    other = anon.anonymize(img, boxes, kps, np.random.default_rng(2))
    assert not np.array_equal(other.image, res.image)


def test_privacy_the_generator_never_sees_the_face(trained):
    """Change every original pixel inside the boxes: the anonymized image stays identical."""
    anon = GANAnonymizer(trained / "checkpoint.pt", device="cpu")
    img, boxes, kps = _scene()
    other = img.copy()
    for i in (0, 1, 4):  # the faces that are replaced
        x, y, w, h = boxes[i]
        other[y:y + h, x:x + w] = np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)
    a = anon.anonymize(img, boxes, kps, np.random.default_rng(7))
    b = anon.anonymize(other, boxes, kps, np.random.default_rng(7))
    assert np.array_equal(a.image, b.image)


def test_anonymizer_checkpoint_errors(tmp_path, trained):
    with pytest.raises(MissingWeightsError, match="missing.pt"):
        GANAnonymizer(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"x": 1}, bad)
    with pytest.raises(InputError, match="not a safefakes GAN checkpoint"):
        GANAnonymizer(bad)
    from safefakes.anonymizers.gan.deepprivacy import build_deepprivacy

    assert build_deepprivacy(checkpoint=str(trained / "checkpoint.pt"), device="cpu").name == "deepprivacy"


def test_train_anonymizer_command(crop_dir, tmp_path):
    from safefakes.commands import gan

    parser = argparse.ArgumentParser()
    gan.add_parser(parser.add_subparsers())
    out = tmp_path / "cli"
    args = parser.parse_args(["train-anonymizer", str(crop_dir), str(out), "--iterations", "8", "--batch-size", "4",
                              "--resolution", "16", "--width", "0.015625", "--faces", "10", "--quiet",
                              "--device", "cpu", "--threads", "1", "--no-progressive", "--critic-steps", "1"])
    assert args.func(args) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["images_shown"] == 8 and state["model_config"]["resolution"] == 16
    assert state["train_config"]["progressive"] is False and state["train_config"]["critic_steps"] == 1
    assert state["source"]["faces_used"] == 10 and state["source"]["source"] == "test"
    crops_out = tmp_path / "crops2"
    args = parser.parse_args(["crops", "build", str(crop_dir), str(crops_out), "--min-size", "10", "--faces", "3"])
    assert args.func(args) == 0
    assert len(list((crops_out / "images").rglob("*.jpg"))) == 3


def test_anonymize_split_end_to_end_passes_the_audit(trained, tmp_path):
    """Through the registry and the dataset engine, with oracle keypoints; then the privacy audit."""
    from safefakes.anonymizers.registry import AnonymizerSpec
    from safefakes.audit.split import audit_split
    from safefakes.data.anonymized import read_manifest
    from safefakes.data.images import write_image
    from safefakes.data.split import Split
    from safefakes.data.wider_files import ImageFaces
    from safefakes.engine.split import anonymize_split
    from safefakes.keypoints import make_keypoint_provider

    root = tmp_path / "split"
    img, boxes, _ = _scene()
    boxes = boxes[[0, 1, 2, 4]]
    write_image(root / "images" / "e" / "a.jpg", img)
    write_image(root / "images" / "e" / "b.jpg", img[::-1].copy())
    kps = np.zeros((4, 72, 3))
    kps[:2, :, :2] = boxes[:2, None, :2] + boxes[:2, None, 2:] / 2
    kps[:2, :, 2] = 1
    Split(root, [ImageFaces("e/a.jpg", boxes), ImageFaces("e/b.jpg", boxes[:1])],
          {"e/a.jpg": kps, "e/b.jpg": kps[:1]}, "synthetic72").save_metadata()
    spec = AnonymizerSpec("deepprivacy", {"checkpoint": str(trained / "checkpoint.pt"), "device": "cpu"})
    provider = make_keypoint_provider("oracle-deepprivacy7", split=root)
    anonymize_split(root, tmp_path / "anon", spec, seed=3, workers=1, keypoints=provider, progress=False)
    statuses = [row["status"] for row in read_manifest(tmp_path / "anon" / "manifest.csv")]
    assert sorted(statuses) == sorted([Status.ANONYMIZED] * 3 + [Status.TOO_SMALL, Status.NO_KEYPOINTS_FALLBACK])
    report = audit_split(root, tmp_path / "anon")
    assert report.passed, report


def test_progressive_training_grows_to_full_resolution(crop_dir, tmp_path):
    data = open_crop_dataset(crop_dir, RES, "deepprivacy7")
    tr = Trainer(_method(), data, tmp_path / "prog",
                 _config(images=56, progressive=True, progressive_start=4, progressive_images=8, log_every=4))
    tr.train()
    rows = list(csv.DictReader((tmp_path / "prog" / "losses.csv").open()))
    seen = [(int(r["resolution"]), float(r["alpha"])) for r in rows]
    assert seen[0] == (4, 1.0) and seen[-1] == (16, 1.0)
    assert any(res == 8 and 0 < a < 1 for res, a in seen)  # a fade-in happened
    assert all(np.isfinite(float(r["d_loss"])) and np.isfinite(float(r["g_loss"])) for r in rows)


def test_safefakes_anonymize_command_with_a_checkpoint(trained, tmp_path):
    """`safefakes anonymize ... --method deepprivacy --checkpoint FILE`, then `safefakes audit`."""
    from safefakes.cli import main
    from safefakes.data.anonymized import read_manifest
    from safefakes.data.images import write_image
    from safefakes.data.split import Split
    from safefakes.data.wider_files import ImageFaces

    root = tmp_path / "split"
    img, boxes, _ = _scene()
    write_image(root / "images" / "e" / "a.jpg", img)
    Split(root, [ImageFaces("e/a.jpg", boxes[[0, 1, 2]])]).save_metadata()
    out = tmp_path / "anon"
    assert main(["anonymize", str(root), str(out), "--method", "deepprivacy", "--checkpoint",
                 str(trained / "checkpoint.pt"), "--device", "cpu", "--workers", "1", "--no-progress"]) == 0
    statuses = [r["status"] for r in read_manifest(out / "manifest.csv")]
    # no keypoints.json: DeepPrivacy's documented fallback (empty pose maps); the 6 px face is too small
    assert statuses == [Status.NO_KEYPOINTS_FALLBACK, Status.NO_KEYPOINTS_FALLBACK, Status.TOO_SMALL]
    assert main(["audit", str(root), str(out)]) == 0


def test_lower_resolution_batches_keep_the_box_black_and_unknown():
    from safefakes.anonymizers.gan.trainer import _resize_batch

    mask = torch.ones(1, 1, 8, 8)
    mask[..., 2:5, 2:5] = 0  # 2..4: touches the 2x2 cells 1 and 2 at half resolution
    image = torch.full((1, 3, 8, 8), 0.5)
    batch = {"image": image, "condition": image * mask - (1 - mask), "mask": mask, "keypoints": torch.zeros(1, 7, 3)}
    small = _resize_batch(batch, 4)
    expected = torch.ones(4, 4)
    expected[1:3, 1:3] = 0
    assert torch.equal(small["mask"][0, 0], expected)
    assert (small["condition"][0, :, 1:3, 1:3] == -1).all() and (small["condition"][0, :, 0, :] == 0.5).all()
    assert (small["image"] == 0.5).all()


def test_safefakes_anonymize_command_with_a_keypoint_source(trained, tmp_path):
    """`--keypoints oracle-deepprivacy7` feeds the split's own points to the GAN: no fallback."""
    from safefakes.cli import main
    from safefakes.data.anonymized import read_manifest
    from safefakes.data.images import write_image
    from safefakes.data.split import Split
    from safefakes.data.wider_files import ImageFaces

    root = tmp_path / "split"
    img, boxes, kps = _scene()
    write_image(root / "images" / "e" / "a.jpg", img)
    Split(root, [ImageFaces("e/a.jpg", boxes[[0, 1, 2]])], {"e/a.jpg": kps[[0, 1, 2]]},
          "deepprivacy7").save_metadata()
    out = tmp_path / "anon"
    assert main(["anonymize", str(root), str(out), "--method", "deepprivacy", "--checkpoint",
                 str(trained / "checkpoint.pt"), "--device", "cpu", "--workers", "1", "--no-progress",
                 "--keypoints", "oracle-deepprivacy7"]) == 0
    statuses = [r["status"] for r in read_manifest(out / "manifest.csv")]
    assert statuses == [Status.ANONYMIZED, Status.ANONYMIZED, Status.TOO_SMALL]


def test_l1_weight_zero_is_the_published_generator_loss_and_positive_adds_the_box_l1(crop_dir):
    from safefakes.anonymizers.gan.deepprivacy import PRESETS, box_l1

    data = open_crop_dataset(crop_dir, RES, "deepprivacy7")
    batch = data.batch(torch.arange(4))
    torch.manual_seed(0)
    plain = _method()
    G, D = plain.make_generator(), plain.make_discriminator()
    z = plain.latent(4, torch.Generator().manual_seed(3))
    loss0, stats0 = plain.generator_loss(G, D, batch, z)
    fake = plain.generate(G, batch, z)
    assert torch.allclose(loss0, -D(fake, batch["condition"], batch["mask"], batch["keypoints"]).mean())
    assert "l1" not in stats0
    with_l1 = DeepPrivacy(DeepPrivacyConfig(resolution=RES, width=1 / 64, l1_weight=5.0))
    loss1, stats1 = with_l1.generator_loss(G, D, batch, z)
    l1 = box_l1(fake, batch["image"], batch["mask"])
    box = (1 - batch["mask"]).bool().expand_as(fake)
    assert torch.allclose(l1, (fake - batch["image"]).abs()[box].mean())
    assert torch.allclose(loss1, loss0 + 5.0 * l1) and stats1["l1"] == pytest.approx(l1.item())
    # the departure is mini-only: the paper preset (and the default) keep DeepPrivacy's loss
    assert PRESETS["paper"]["model"]["l1_weight"] == 0.0 and DeepPrivacyConfig().l1_weight == 0.0
    assert PRESETS["mini"]["model"]["l1_weight"] > 0
