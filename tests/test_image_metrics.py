"""Image metrics on tiny drawn splits: zero for identical splits, growing with stronger anonymization.

The drawn splits come from ``builders`` (shared with the leakage and plot tests).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from builders import blur, make_anonymized, make_identity_split, run_command

from safefakes.commands import metrics as metrics_command
from safefakes.data.anonymized import Status
from safefakes.data.split import Split
from safefakes.errors import InputError, MissingWeightsError
from safefakes.evaluation import backbones
from safefakes.evaluation.backbones import Backbones, load_backbones
from safefakes.evaluation.face_pairs import PairCounts, crop_faces, iter_image_pairs, read_manifest
from safefakes.evaluation.fid import GaussianStats, frechet_distance
from safefakes.evaluation.image_metrics import compute_image_metrics, measure_split, write_metrics_json
from safefakes.evaluation.pixel_metrics import pixel_distances, ssim_pairs
from safefakes.evaluation.reference_features import ReferenceFeatures, compute_reference_features
from safefakes.evaluation.settings import MetricsSettings

torch.set_num_threads(1)


# --------------------------------------------------------------------------- #
# Tiny data
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict:
    """Small checkpoints of the standard architectures, loaded through the real path logic."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(123)
    import torchvision

    alex = folder / backbones.ALEXNET_FILE
    # Only the feature layers, the part LPIPS uses, keeps the file small (10 MB, not 244).
    state = torchvision.models.alexnet(weights=None).state_dict()
    torch.save({k: v for k, v in state.items() if k.startswith("features.")}, alex)
    inception = folder / backbones.INCEPTION_FILE
    torch.save(backbones.build_fid_inception_network().state_dict(), inception)
    return {"lpips_weights": alex, "inception_weights": inception}


@pytest.fixture(scope="module")
def nets(weights) -> Backbones:
    """The networks of the weights fixture, loaded once for the tests that only need outputs."""
    return load_backbones(**weights)


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Split:
    return make_identity_split(tmp_path_factory.mktemp("original"), n_images=2, faces_per_image=2)


# --------------------------------------------------------------------------- #
# Tests
# --------------------------------------------------------------------------- #
def test_identical_splits_score_zero(original, tmp_path, weights):
    same = make_anonymized(original, tmp_path / "same", lambda c, n: c, method="original",
                           status=Status.ORIGINAL)
    result = compute_image_metrics(original.root, same, min_size=16, crop_size=64, **weights)
    s = result.summary
    assert s["n_faces"] == 4
    assert s["l1"] == 0 and s["l2"] == 0
    assert s["ssim"] == pytest.approx(1.0)
    assert s["lpips"] == pytest.approx(0.0, abs=1e-6)
    assert s["fid"] == pytest.approx(0.0, abs=1e-3)
    assert s["backbone_weights"] == "pretrained"
    assert s["backbone_files"]["fid_inception"] == str(weights["inception_weights"])
    assert s["backbone_files"]["lpips_alexnet"] == str(weights["lpips_weights"])
    assert list(result.per_face.columns) == ["image", "face_index", "l1", "l2", "ssim", "lpips"]
    assert len(result.per_face) == 4


def test_metrics_grow_with_blur_strength(original, tmp_path, nets):
    summaries = []
    for kernel in (3, 9, 31):
        anon = make_anonymized(original, tmp_path / f"blur{kernel}", blur(kernel), method="blur")
        summaries.append(compute_image_metrics(original.root, anon, min_size=16, crop_size=64,
                                               backbones=nets).summary)
    for weaker, stronger in zip(summaries, summaries[1:]):
        assert stronger["l1"] > weaker["l1"]
        assert stronger["l2"] > weaker["l2"]
        assert stronger["ssim"] < weaker["ssim"]
        assert stronger["lpips"] > weaker["lpips"]
    assert summaries[-1]["fid"] > summaries[0]["fid"]


def test_kid_intervals_and_the_distribution_sample(original, tmp_path, nets):
    anon = make_anonymized(original, tmp_path / "blur31", blur(31), method="blur")
    full = compute_image_metrics(original.root, anon, min_size=16, crop_size=64, backbones=nets).summary
    assert full["n_kid_faces"] == full["n_distribution_faces"] == full["n_faces"] == 4
    assert full["kid_low"] < full["kid"] < full["kid_high"]
    for metric in ("l1", "l2", "ssim", "lpips"):
        assert full[f"{metric}_low"] < full[metric] < full[f"{metric}_high"]
    # FID and KID on a seeded sample of 3 of the 4 faces; the per-pair metrics keep all 4.
    sample = compute_image_metrics(original.root, anon, min_size=16, crop_size=64, backbones=nets,
                                   distribution_faces=3).summary
    assert sample["n_faces"] == 4 and sample["n_distribution_faces"] == sample["n_kid_faces"] == 3
    assert sample["l1"] == full["l1"] and sample["kid"] != full["kid"]


def test_pixel_and_ssim_move_with_noise_by_hand():
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    shifted = np.clip(clean.astype(int) + 51, 0, 255).astype(np.uint8)
    l1, l2 = pixel_distances(clean, shifted)
    expected = (shifted.astype(float) - clean) / 255.0
    np.testing.assert_allclose(l1, np.abs(expected).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(l2, (expected**2).mean(axis=(1, 2, 3)))
    weak = np.clip(clean + rng.normal(0, 5, clean.shape), 0, 255).astype(np.uint8)
    strong = np.clip(clean + rng.normal(0, 60, clean.shape), 0, 255).astype(np.uint8)
    assert (ssim_pairs(clean, weak) > ssim_pairs(clean, strong)).all()


def test_frechet_distance_of_gaussians_matches_closed_form_and_pytorch_fid():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(0)
    xa = rng.normal(0, 1, (4000, 3))
    xb = rng.normal(0, 1, (4000, 3)) * np.array([1.0, 2.0, 0.5]) + np.array([2.0, 0, 0])
    a, b = GaussianStats(), GaussianStats()
    for chunk in np.array_split(xa, 7):  # running sums over batches
        a.add(chunk)
    b.add(xb)
    mu, cov = a.mean_cov()
    np.testing.assert_allclose(mu, xa.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(cov, np.cov(xa, rowvar=False), atol=1e-10)
    reference = calculate_frechet_distance(xa.mean(0), np.cov(xa, rowvar=False),
                                           xb.mean(0), np.cov(xb, rowvar=False))
    # many samples: the covariance route; unit vs diag(1, 4, 0.25) covariances and a shift of 2
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-6)
    assert frechet_distance(a, b) == pytest.approx(4 + 1 + 0.25, abs=0.3)
    # fewer samples than dimensions: the sample-space route, singular covariances
    ya, yb = rng.normal(0, 1, (5, 8)), rng.normal(1, 2, (4, 8))
    sa, sb = GaussianStats(), GaussianStats()
    sa.add(ya[:2])
    sa.add(ya[2:])
    sb.add(yb)
    assert sa.samples is not None and sb.samples is not None
    reference = calculate_frechet_distance(ya.mean(0), np.cov(ya, rowvar=False),
                                           yb.mean(0), np.cov(yb, rowvar=False))
    assert frechet_distance(sa, sb) == pytest.approx(reference, rel=1e-4)
    assert frechet_distance(sa, sa) == pytest.approx(0.0, abs=1e-9)
    single = GaussianStats()
    single.add(xa[:1])
    assert frechet_distance(single, b) is None


def test_faces_below_min_size_and_left_as_is_are_not_paired(original, tmp_path):
    first = original.images[0].name
    anon = make_anonymized(original, tmp_path / "part", blur(9),
                           statuses={(first, 0): Status.TOO_SMALL})
    counts = PairCounts()
    pairs = list(iter_image_pairs(original.root, anon, min_size=16, counts=counts))
    assert (counts.paired, counts.not_anonymized, counts.too_small) == (3, 1, 0)
    assert [p.face_indices.tolist() for p in pairs] == [[1], [0, 1]]
    np.testing.assert_array_equal(pairs[0].boxes, [[72, 28, 128, 84]])  # x1 y1 x2 y2 of face 1
    counts = PairCounts()
    assert list(iter_image_pairs(original.root, anon, min_size=57, counts=counts)) == []
    assert (counts.paired, counts.not_anonymized, counts.too_small) == (0, 1, 3)


def test_max_faces_draws_one_seeded_sample(original, tmp_path):
    anon = make_anonymized(original, tmp_path / "cap", blur(9))

    def sample(seed):
        counts = PairCounts()
        pairs = list(iter_image_pairs(original.root, anon, min_size=16, counts=counts, max_faces=3, seed=seed))
        assert (counts.paired, counts.over_cap) == (3, 1)
        return [(p.name, i) for p in pairs for i in p.face_indices.tolist()]

    assert sample(0) == sample(0)
    assert len(set(sample(0))) == 3
    assert {tuple(s) for s in (sample(0), sample(1), sample(2), sample(3))} != {tuple(sample(0))}


def test_unrelated_splits_are_an_input_error(original, tmp_path):
    other = make_identity_split(tmp_path / "other", n_images=1, faces_per_image=1, seed=5)
    anon = make_anonymized(other, tmp_path / "anon", blur(5))
    with pytest.raises(InputError, match="split it was made from"):
        list(iter_image_pairs(original.root, anon))


def test_missing_weights_name_the_file_and_random_init_is_recorded(original, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_cache"))
    with pytest.raises(MissingWeightsError) as err:
        backbones.load_fid_inception()
    assert backbones.INCEPTION_FILE in str(err.value)
    assert "metrics.inception_weights" in str(err.value)
    with pytest.raises(MissingWeightsError) as err:
        backbones.load_lpips_alex(tmp_path / "nowhere.pth")
    assert "nowhere.pth" in str(err.value) and "download.pytorch.org" in str(err.value)

    same = make_anonymized(original, tmp_path / "same", lambda c, n: c, status=Status.ORIGINAL)
    # min_size above every face: the models load (and are recorded) without a slow forward pass.
    s = compute_image_metrics(original.root, same, min_size=100, crop_size=32,
                              allow_random_init=True).summary
    assert s["backbone_weights"] == "random-init"
    assert s["backbone_files"]["fid_inception"] == "random-init"
    # Deterministic: two random-init models agree.
    m1, _ = backbones.load_lpips_alex(allow_random_init=True)
    m2, _ = backbones.load_lpips_alex(allow_random_init=True)
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(m1(x, x * 0.5), m2(x, x * 0.5))


def test_torch_cache_is_searched(tmp_path, monkeypatch, weights):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / backbones.ALEXNET_FILE).write_bytes(Path(weights["lpips_weights"]).read_bytes())
    _, files = backbones.load_lpips_alex()
    assert files["trunk"] == str(cache / backbones.ALEXNET_FILE)


def test_wrong_checkpoint_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"something": torch.zeros(1)}, bad)
    with pytest.raises(InputError, match="bad.pth"):
        backbones.load_fid_inception(bad)


def test_manifest_and_crops(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text("image,face_index,x,y,w,h,method,status\na/b.jpg,0,1,2,3,4,blur,anonymized\n"
                    "a/b.jpg,x,1,2,3,4,blur,anonymized\n")
    with pytest.raises(InputError) as err:
        read_manifest(path)
    assert err.value.line == 3
    with pytest.raises(InputError, match="manifest.csv missing"):
        read_manifest(tmp_path / "missing.csv")
    img = np.zeros((20, 20, 3), np.uint8)
    img[5:15, 5:10] = 200
    crops = crop_faces(img, np.array([[5, 5, 10, 15]]), 32)
    assert crops.shape == (1, 32, 32, 3) and crops.min() == 200


def test_command_defaults_match_the_library():
    from safefakes.evaluation import image_metrics

    assert metrics_command.DEFAULT_MIN_SIZE == image_metrics.DEFAULT_MIN_SIZE
    assert metrics_command.DEFAULT_CROP_SIZE == image_metrics.DEFAULT_CROP_SIZE
    assert metrics_command.DEFAULT_BATCH_SIZE == image_metrics.DEFAULT_BATCH_SIZE


def test_metrics_command_writes_json(original, tmp_path, weights):
    anon = make_anonymized(original, tmp_path / "blur", blur(15), method="blur")
    out = tmp_path / "m" / "image_metrics.json"
    code = run_command(metrics_command, ["metrics", str(original.root), str(anon), "--json", str(out),
                 "--lpips-weights", str(weights["lpips_weights"]),
                 "--inception-weights", str(weights["inception_weights"]),
                 "--min-size", "16", "--crop-size", "32", "--per-face", str(tmp_path / "faces.csv")])
    assert code == 0
    data = json.loads(out.read_text())
    for key in ("l1", "l2", "ssim", "lpips", "fid", "n_faces", "backbone_weights", "reid_rate",
                "top1_rate", "leakage_source"):
        assert key in data
    assert data["n_faces"] == 4 and data["leakage_source"] == "dlib"
    assert (tmp_path / "faces.csv").read_text().startswith("image,face_index,l1,l2,ssim,lpips")
    # The command writes what the library's measure_split gives (the study's rule calls it too).
    settings = MetricsSettings(min_size=16, crop_size=32, **{k: str(v) for k, v in weights.items()})
    expected = tmp_path / "expected.json"
    write_metrics_json(measure_split(original.root, anon, settings).summary, expected)
    assert out.read_bytes() == expected.read_bytes()


def test_measure_split_is_the_metrics_then_the_leakage_of_the_same_sample(original, tmp_path, nets):
    from safefakes.evaluation.leakage import compute_leakage

    anon = make_anonymized(original, tmp_path / "blur", blur(15), method="blur")
    settings = MetricsSettings(min_size=16, crop_size=32, max_faces=3)
    got = measure_split(original.root, anon, settings, seed=1, backbones=nets)
    metrics = compute_image_metrics(original.root, anon, min_size=16, crop_size=32, max_faces=3, seed=1,
                                    backbones=nets)
    leakage = compute_leakage(original.root, anon, 16, "auto", 1, max_faces=3)
    assert got.summary == {**metrics.summary, **leakage}
    assert list(got.summary) == list(metrics.summary) + [k for k in leakage if k not in metrics.summary]
    assert got.per_face.equals(metrics.per_face)
    none = measure_split(original.root, anon, settings, seed=1, backbones=nets, leakage="none").summary
    assert none == {**metrics.summary, "reid_rate": None, "top1_rate": None, "leakage_source": "none"}
    write_metrics_json(none, tmp_path / "m.json")
    assert (tmp_path / "m.json").read_text() == json.dumps(none, indent=2) + "\n"


# --------------------------------------------------------------------------- #
# The original's Inception features, computed once for every split
# --------------------------------------------------------------------------- #
def _reference(original, weights, path, **kwargs):
    kwargs.setdefault("min_size", 16)
    kwargs.setdefault("crop_size", 64)
    compute_reference_features(original.root, inception_weights=weights["inception_weights"],
                               **kwargs).save(path)
    return ReferenceFeatures.load(path)


def test_reference_features_give_the_metrics_computed_without_them(original, tmp_path, weights, nets):
    anon = make_anonymized(original, tmp_path / "blur31", blur(31), method="blur")
    for sample in (None, 3):
        reference = _reference(original, weights, tmp_path / f"reference{sample}.npz", distribution_faces=sample)
        assert reference.info["faces"] == (4 if sample is None else 3)
        plain = compute_image_metrics(original.root, anon, min_size=16, crop_size=64, backbones=nets,
                                      distribution_faces=sample).summary
        cached = compute_image_metrics(original.root, anon, min_size=16, crop_size=64, backbones=nets,
                                       distribution_faces=sample, reference=reference).summary
        assert cached["reference_features"] == str(tmp_path / f"reference{sample}.npz")
        assert plain["reference_features"] is None
        for key in ("fid", "kid", "kid_low", "kid_high", "l1", "lpips", "n_distribution_faces"):
            assert cached[key] == pytest.approx(plain[key], rel=1e-6, abs=1e-9), key


def test_faces_missing_from_the_reference_are_measured(original, tmp_path, weights, nets):
    anon = make_anonymized(original, tmp_path / "blur9", blur(9), method="blur")
    # Features of 2 of the 4 faces: the batch of all 4 is measured in full.
    reference = _reference(original, weights, tmp_path / "two.npz", distribution_faces=2)
    plain = compute_image_metrics(original.root, anon, min_size=16, crop_size=64, backbones=nets).summary
    cached = compute_image_metrics(original.root, anon, min_size=16, crop_size=64, backbones=nets,
                                   reference=reference).summary
    assert cached["n_distribution_faces"] == 4
    assert cached["fid"] == pytest.approx(plain["fid"], rel=1e-6)


def test_a_reference_of_other_faces_or_another_network_is_refused(original, tmp_path, weights, nets):
    anon = make_anonymized(original, tmp_path / "blur9", blur(9), method="blur")
    other = make_identity_split(tmp_path / "other", n_images=3, faces_per_image=1)
    for name, split, kwargs in (("other_split", other, {}), ("other_crop", original, {"crop_size": 32})):
        path = tmp_path / f"{name}.npz"
        reference = _reference(split, weights, path, **kwargs)
        with pytest.raises(InputError) as err:
            compute_image_metrics(original.root, anon, min_size=16, crop_size=64, backbones=nets,
                                  reference=reference)
        assert str(path) in str(err.value)
    random_net = _reference(original, {"inception_weights": None}, tmp_path / "random.npz", allow_random_init=True)
    with pytest.raises(InputError, match="fid_inception"):
        compute_image_metrics(original.root, anon, min_size=16, crop_size=64, backbones=nets, reference=random_net)


def test_a_file_that_is_not_reference_features_is_an_input_error(tmp_path):
    np.savez(tmp_path / "foreign.npz", features=np.zeros((2, 2048)))
    with pytest.raises(InputError, match="foreign.npz"):
        ReferenceFeatures.load(tmp_path / "foreign.npz")
    with pytest.raises(InputError, match="not found"):
        ReferenceFeatures.load(tmp_path / "missing.npz")


def test_reference_features_file_bytes_depend_on_its_contents_only(original, tmp_path, weights):
    # The SLURM test compares a cluster run's files with a local run's byte for byte.
    first = _reference(original, weights, tmp_path / "a.npz")
    time.sleep(2.1)  # zip members carry a date (2 s steps): one stamped at writing would differ now
    second = _reference(original, weights, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert second.rows == first.rows and np.array_equal(second.features, first.features)
