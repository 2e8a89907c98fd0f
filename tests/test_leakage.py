"""Identity leakage: the rates by hand, dlib on an identical split, the synthetic recognizer's ordering."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from builders import blur, make_anonymized, make_identity_split

from safefakes.data.anonymized import Status
from safefakes.errors import InputError
from safefakes.evaluation.leakage import (
    DLIB,
    SYNTHETIC,
    DlibDescriber,
    collect_synthetic_faces,
    compute_leakage,
    identification_rates,
    load_identity_faces,
    load_recognizer,
    save_recognizer,
    synthetic_leakage_from_faces,
    train_identity_recognizer,
    train_recognizer_on_split,
)

torch.set_num_threads(1)
# Fewer steps than the default keep the tests fast; the drawn faces are easy to recognise.
STEPS = 200


def test_rates_by_hand():
    gallery = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    probes = np.array([[0.1, 0.0], [0.9, 0.05], [0.6, 0.6]])
    r = identification_rates(probes, gallery, np.array([0, 1, 2]), threshold=0.5)
    # distances to the own original: 0.1, 0.112, 0.721 -> two within 0.5
    assert r["reid_rate"] == pytest.approx(2 / 3)
    # the third probe is as close to gallery[1] as to its own: a tie is a miss
    assert r["top1_rate"] == pytest.approx(2 / 3)
    assert r["mean_distance"] == pytest.approx((0.1 + np.hypot(0.1, 0.05) + np.hypot(0.6, 0.4)) / 3)
    # scale divides every distance
    assert identification_rates(probes, gallery, np.array([0, 1, 2]), 0.5, scale=0.1)["reid_rate"] == 0
    # every probe the same descriptor (e.g. black boxes): at most one lucky hit, here none
    same = np.zeros((3, 2)) + 0.5
    assert identification_rates(same, gallery, np.array([0, 1, 2]), 10.0)["top1_rate"] == 0
    assert identification_rates(np.zeros((0, 2)), gallery, np.zeros(0), 0.5)["reid_rate"] is None


def test_dlib_on_an_identical_split(tmp_path):
    original = make_identity_split(tmp_path / "orig", n_images=2, faces_per_image=2, size=56)
    same = make_anonymized(original, tmp_path / "same", lambda c, n: c, status=Status.ORIGINAL)
    r = compute_leakage(original.root, same, min_size=16)
    assert r["leakage_source"] == DLIB and r["n_leakage_faces"] == 4
    assert r["reid_rate"] == 1.0 and r["top1_rate"] == 1.0
    assert r["leakage_mean_distance"] == pytest.approx(0.0, abs=1e-6)
    assert r["leakage_threshold"] == 0.6


def test_dlib_descriptors_and_no_pkg_resources_warning():
    code = ("import warnings; warnings.simplefilter('error');"
            "from safefakes.evaluation.leakage import DlibDescriber; DlibDescriber()")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
    img = np.full((80, 80, 3), 128, np.uint8)
    d = DlibDescriber().describe(img, np.array([[10, 10, 70, 70], [20, 20, 60, 60]]))
    assert d.shape == (2, 128) and np.isfinite(d).all()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The generator's layout: train (the faces to anonymize) next to crops (other people)."""
    root = tmp_path_factory.mktemp("synthetic")
    original = make_identity_split(root / "train", n_images=16, faces_per_image=3, size=40, with_identities=True)
    make_identity_split(root / "crops", n_images=60, faces_per_image=1, size=40, seed=7, with_identities=True,
               n_identities=20)
    return root, original


@pytest.fixture(scope="module")
def recognizer(synthetic):
    root, _ = synthetic
    training = load_identity_faces(root / "crops")
    assert training.crops.shape == (60, 32, 32, 3) and len(np.unique(training.identity)) == 20
    return train_identity_recognizer(training.crops, training.vector_rows(), seed=0, steps=STEPS)


def test_synthetic_recognizer_orders_the_methods(synthetic, recognizer):
    root, original = synthetic
    rates = {}
    for name, transform, status in (("original", lambda c, n: c, Status.ORIGINAL),
                                    ("blur", blur(31), Status.ANONYMIZED),
                                    ("blackout", lambda c, n: c * 0, Status.ANONYMIZED)):
        anon = make_anonymized(original, root / name, transform, status=status)
        faces = collect_synthetic_faces(original.root, anon, min_size=16)
        rates[name] = synthetic_leakage_from_faces(faces, recognizer=recognizer)
    r = rates["original"]
    assert r["leakage_source"] == SYNTHETIC and r["n_leakage_faces"] == 48 and r["n_identities"] == 48
    assert r["reid_rate"] == r["original_reid_rate"] > 0.5
    assert r["top1_rate"] > 0.3  # far above chance, 1/48
    assert rates["original"]["reid_rate"] > rates["blur"]["reid_rate"] >= rates["blackout"]["reid_rate"]
    assert rates["original"]["top1_rate"] > rates["blur"]["top1_rate"] >= rates["blackout"]["top1_rate"]
    assert rates["blackout"]["reid_rate"] < 0.15 and rates["blackout"]["top1_rate"] < 0.1
    # the threshold is calibrated on the originals only
    assert rates["blur"]["leakage_threshold"] == r["leakage_threshold"]


def test_compute_leakage_finds_the_crops_set(synthetic):
    root, original = synthetic
    anon = make_anonymized(original, root / "blackout_auto", lambda c, n: c * 0)
    r = compute_leakage(original.root, anon, min_size=16, recognizer_steps=STEPS)
    assert r["leakage_source"] == SYNTHETIC
    assert r["leakage_recognizer"] == str((root / "crops").resolve())  # next to train
    assert r["original_top1_rate"] > 0.3 and r["top1_rate"] < 0.1


def test_a_saved_recognizer_measures_like_a_fresh_one(synthetic, tmp_path):
    root, original = synthetic
    anon = make_anonymized(original, root / "blur_saved", blur(9))
    fresh = compute_leakage(original.root, anon, min_size=16, recognizer_steps=STEPS,
                            recognizer_crops=root / "crops")
    recognizer = train_recognizer_on_split(root / "crops", steps=STEPS)
    save_recognizer(recognizer, tmp_path / "recognizer.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["recognizer.pt"]  # no temporary left behind
    loaded = load_recognizer(tmp_path / "recognizer.pt")
    faces = collect_synthetic_faces(original.root, anon, min_size=16)
    np.testing.assert_array_equal(loaded.describe(faces.crops), recognizer.describe(faces.crops))
    from_file = compute_leakage(original.root, anon, min_size=16, recognizer=tmp_path / "recognizer.pt")
    assert from_file == fresh
    assert from_file["leakage_recognizer"] == str(root / "crops")


def test_a_bad_recognizer_file_is_named(tmp_path):
    bad = tmp_path / "recognizer.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(InputError, match="recognizer.pt.*cannot read") as err:
        load_recognizer(bad)
    assert "train-recognizer" in str(err.value)
    torch.save({"format": "something else"}, bad)
    with pytest.raises(InputError, match="not a safefakes-identity-recognizer-1 file"):
        load_recognizer(bad)
    with pytest.raises(InputError, match="no such recognizer file"):
        load_recognizer(tmp_path / "missing.pt")


def test_cross_fitted_recognizer_without_a_crops_set(synthetic):
    root, original = synthetic
    anon = make_anonymized(original, root / "blackout_cf", lambda c, n: c * 0)
    faces = collect_synthetic_faces(original.root, anon, min_size=16)
    assert faces.crops.shape == (48, 32, 32, 3) and faces.anonymized.shape == (48, 32, 32, 3)
    r = synthetic_leakage_from_faces(faces, None, steps=STEPS)
    assert r["leakage_recognizer"] == "cross-fitted on the originals"
    assert r["original_top1_rate"] > 0.15 and r["top1_rate"] < 0.1


def test_too_few_faces_are_reported_not_guessed(tmp_path):
    original = make_identity_split(tmp_path / "orig", n_images=1, faces_per_image=2, size=40, with_identities=True)
    anon = make_anonymized(original, tmp_path / "a", blur(9))
    r = compute_leakage(original.root, anon, min_size=16)
    assert r["leakage_source"] == SYNTHETIC and r["reid_rate"] is None and r["n_leakage_faces"] == 2
    assert r["leakage_recognizer"] == "cross-fitted on the originals"
    with pytest.raises(ValueError, match="unknown leakage source"):
        compute_leakage(original.root, anon, source="face++")


def test_chance_level_by_hand():
    from safefakes.evaluation.leakage import identification_rates

    # Two identities at 0 and 10 (one dimension); three faces of the first, one of the second.
    # Every probe sits at 0, as a black box's constant estimate would: it "re-identifies" the
    # three faces of identity 0 (3/4) but only by chance: identity 0 is 3/4 of the faces.
    gallery = np.array([[0.0], [10.0]])
    own = np.array([0, 0, 0, 1])
    rates = identification_rates(np.zeros((4, 1)), gallery, own, threshold=1.0)
    assert rates["reid_rate"] == 0.75 and rates["reid_chance"] == 0.75
    assert rates["top1_rate"] == 0.75 and rates["top1_chance"] == 0.75
    # Per-face excess 1/4, 1/4, 1/4, -3/4: mean 0, sd 1/2, half-width 1.959964 * 0.5 / 2.
    assert rates["reid_excess_low"] == pytest.approx(-0.489991, abs=1e-6)
    assert rates["reid_excess_high"] == pytest.approx(0.489991, abs=1e-6)

    # Probes at their own identity: every face re-identified, chance still 3/4 * 3/4 + 1/4 * 1/4.
    informed = identification_rates(gallery[own], gallery, own, threshold=1.0)
    assert informed["reid_rate"] == 1.0
    assert informed["reid_chance"] == pytest.approx(0.75 * 0.75 + 0.25 * 0.25)
    assert informed["reid_excess_low"] > 0


def test_trait_leakage_tells_the_face_from_its_surroundings():
    """Estimates that carry only the context traits (skin, hair) of each face, the face traits drawn
    afresh, as an in-painter that matches the surroundings would: the context part re-identifies far
    above chance, the face part at chance; the whole vector sits between."""
    from safefakes.data.synthetic.identity import CONTEXT_TRAITS, FACE_TRAITS, VECTOR_SIZE, trait_columns
    from safefakes.evaluation.leakage import trait_leakage

    context, face = trait_columns(CONTEXT_TRAITS), trait_columns(FACE_TRAITS)
    assert sorted([*context, *face]) == list(range(VECTOR_SIZE))  # the two parts split the vector
    assert len(context) == 4 + 5  # four continuous traits and the one-hot hair style
    rng = np.random.default_rng(0)
    people = rng.normal(size=(60, VECTOR_SIZE))
    own = np.repeat(np.arange(60), 5)
    originals = people[own] + 0.3 * rng.normal(size=(len(own), VECTOR_SIZE))
    painted = rng.normal(size=originals.shape)
    painted[:, context] = originals[:, context]
    leak = trait_leakage(originals, painted, people, own)
    assert leak["reid_context_excess_low"] > 0.5
    assert leak["reid_face_excess_low"] < 0 < leak["reid_face_excess_high"]
    assert leak["reid_face_rate"] == pytest.approx(leak["reid_face_chance"], abs=0.05)
    # vectors of another layout (a real recognizer's descriptors): no parts to tell apart
    assert set(trait_leakage(originals[:, :5], painted[:, :5], people[:, :5], own).values()) == {None}
