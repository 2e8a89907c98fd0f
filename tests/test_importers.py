"""FDF, CelebA and PIPA imported from tiny copies in their published layouts (tests/fixtures)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from fixtures.celeba import write_celeba
from fixtures.fdf import write_fdf
from fixtures.pipa import write_pipa

from safefakes.anonymizers.gan.dataset import open_crop_dataset
from safefakes.data.crops import (
    DROP_NO_LANDMARKS,
    DROP_OUTSIDE,
    DROP_TOO_SMALL,
    read_crop_source,
    read_crop_table,
    read_drops,
)
from safefakes.data.split import Split
from safefakes.errors import InputError
from safefakes.importers import import_celeba, import_fdf, import_pipa
from safefakes.importers.celeba import celeba_face_box

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def fdf(tmp_path_factory):
    return write_fdf(tmp_path_factory.mktemp("fdf") / "fdf", n_train=6, n_val=3)


@pytest.fixture(scope="module")
def celeba(tmp_path_factory):
    # identities 1..4 with 4, 2, 5, 1 images: three have 2 or more
    return write_celeba(tmp_path_factory.mktemp("celeba") / "celeba", [4, 2, 5, 1])


@pytest.fixture(scope="module")
def pipa(tmp_path_factory):
    return write_pipa(tmp_path_factory.mktemp("pipa") / "pipa", n_photos=4)


def test_fdf_train_and_val_with_its_own_seven_points(fdf, tmp_path):
    table = import_fdf(fdf, tmp_path / "both", subsets=["train", "val"], imsize=128, workers=2)
    assert len(table) == 9 and table.keypoint_layout == "deepprivacy7" and table.keypoints.shape == (9, 7, 3)
    meta = read_crop_source(tmp_path / "both")
    assert meta["subsets"] == ["train", "val"] and meta["found"] == 9 and meta["dropped"] == {}
    origins = {row.split(",")[1] for row in (tmp_path / "both" / "faces.csv").read_text().splitlines()[1:]}
    assert "fdf/val/2.png" in origins and "fdf/train/5.png" in origins
    # FDF's [0, 1] landmarks came back in pixels: the nose lies inside its face box
    for i in range(len(table)):
        x, y, w, h = table.boxes[i]
        nose = table.keypoints[i, 0]
        assert nose[2] == 1 and x <= nose[0] <= x + w and y <= nose[1] <= y + h
    train_only = import_fdf(fdf, tmp_path / "train", subsets=["train"])
    assert len(train_only) == 6
    with pytest.raises(InputError, match="10 faces asked for, but FDF's train\\+val holds 9"):
        import_fdf(fdf, tmp_path / "too_many", subsets=["train", "val"], faces=10)


def test_fdf_with_dlib_landmarks_drops_the_faces_dlib_cannot_find(fdf, tmp_path):
    table = import_fdf(fdf, tmp_path / "dlib", subsets=["train"], keypoints="dlib68")
    meta = read_crop_source(tmp_path / "dlib")
    assert meta["found"] == 6 and meta["dropped"] == {DROP_NO_LANDMARKS: 2}  # images 2 and 5 are faceless
    assert len(table) == 4 and table.keypoints.shape == (4, 68, 3) and (table.keypoints[..., 2] == 1).all()
    assert sorted(d["origin"] for d in read_drops(tmp_path / "dlib")) == ["fdf/train/2.png", "fdf/train/5.png"]


def test_fdf_bad_input_names_the_file(fdf, tmp_path):
    root = tmp_path / "broken"
    shutil.copytree(fdf, root)
    (root / "train" / "landmarks.npy").unlink()
    with pytest.raises(InputError, match=r"train/landmarks.npy: FDF landmarks not found"):
        import_fdf(root, tmp_path / "out")
    np.save(root / "train" / "landmarks.npy", np.zeros((4, 7, 2), np.float32))
    with pytest.raises(InputError, match=r"landmarks.npy: 4 landmark sets for the 6 boxes"):
        import_fdf(root, tmp_path / "out")
    shutil.rmtree(root / "val" / "images")
    with pytest.raises(InputError, match=r"val/images/128: FDF images folder not found"):
        import_fdf(root, tmp_path / "out", subsets=["val"])
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_celeba_ciagan_selection_with_dlib_landmarks(celeba, tmp_path):
    table = import_celeba(celeba, tmp_path / "ciagan", keypoints="dlib68", min_identity_images=2,
                          max_identities=2, workers=2)
    meta = read_crop_source(tmp_path / "ciagan")
    # identities 1 and 2 (the two lowest ids with >= 2 images): images 1-6; image 5 is faceless
    assert meta["identities"] == 2 and meta["available_faces"] == 6 and meta["images"] == "img_celeba"
    assert meta["dropped"] == {DROP_NO_LANDMARKS: 1} and len(table) == 5
    assert sorted(set(table.identities.tolist())) == [1, 2]
    assert table.keypoint_layout == "dlib68" and table.keypoints.shape == (5, 68, 3)
    # the 68 points lie in the crop and around the face box (jaw wider than the eyes)
    for i in range(len(table)):
        kp, (x, _, w, _) = table.keypoints[i], table.boxes[i]
        assert (kp[:, 2] == 1).all()
        assert x - 0.3 * w <= kp[30, 0] <= x + 1.3 * w and kp[0, 0] < kp[36, 0] < kp[45, 0] < kp[16, 0]
    # CIAGAN trains on it
    data = open_crop_dataset(tmp_path / "ciagan", 32, "dlib68")
    sample = data[0]
    assert sample["keypoints"].shape == (68, 3) and sample["keypoints"][:, 2].sum() > 50


def test_celeba_aligned_and_its_own_five_points(celeba, tmp_path):
    root = tmp_path / "aligned"
    shutil.copytree(celeba, root, ignore=shutil.ignore_patterns("img_celeba"))
    table = import_celeba(root, tmp_path / "out", min_identity_images=1)
    assert len(table) == 12 and table.keypoint_layout == "celeba5"
    assert read_crop_source(tmp_path / "out")["images"] == "img_align_celeba"
    # aligned images are copied byte for byte
    first = (tmp_path / "out" / "faces.csv").read_text().splitlines()[1].split(",")
    assert (tmp_path / "out" / "images" / first[0]).read_bytes() == (root / "Img" / "img_align_celeba" /
                                                                     first[1].split("/")[-1]).read_bytes()
    # CelebA's five points cannot give CIAGAN's 68: a clear error, not empty maps
    with pytest.raises(InputError, match="celeba5 keypoints cannot give the dlib68 points"):
        open_crop_dataset(tmp_path / "out", 32, "dlib68")
    assert celeba_face_box(np.array([[0, 0], [10, 0], [5, 10]], float)).tolist() == [-6, -7.5, 22, 23]


def test_celeba_bad_annotations_name_the_file_and_line(celeba, tmp_path):
    root = tmp_path / "bad"
    shutil.copytree(celeba, root)
    ids = root / "Anno" / "identity_CelebA.txt"
    lines = ids.read_text().splitlines()
    ids.write_text("\n".join(lines[:3] + ["999999.jpg 4"] + lines[3:]) + "\n")
    with pytest.raises(InputError, match=r"identity_CelebA.txt:4: 999999.jpg has an identity but is not in the"):
        import_celeba(root, tmp_path / "out")
    ids.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(InputError, match=r"identity_CelebA.txt: 1 listed images have no identity \(e.g. 000001"):
        import_celeba(root, tmp_path / "out")
    ids.write_text("\n".join(lines) + "\n")
    lm = root / "Anno" / "list_landmarks_celeba.txt"
    rows = lm.read_text().splitlines()
    lm.write_text("\n".join(rows[:4] + ["000003.jpg 1 2 3"] + rows[5:]) + "\n")
    with pytest.raises(InputError, match=r"list_landmarks_celeba.txt:5: expected an image name and 10 numbers"):
        import_celeba(root, tmp_path / "out")
    lm.write_text("\n".join(rows[:-1]) + "\n")
    with pytest.raises(InputError, match=r"list_landmarks_celeba.txt:1: the first line declares '12' images"):
        import_celeba(root, tmp_path / "out")
    lm.write_text("\n".join(rows) + "\n")
    (root / "Anno" / "list_bbox_celeba.txt").unlink()
    with pytest.raises(InputError, match="list_bbox_celeba.txt: CelebA annotation file not found"):
        import_celeba(root, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_pipa_for_sun2018_keeps_the_faces_dlib_finds(pipa, tmp_path):
    table = import_pipa(pipa, tmp_path / "sun", keypoints="dlib68", min_size=20, workers=2)
    meta = read_crop_source(tmp_path / "sun")
    # 4 photos: 4 real heads, 4 faceless ones, 1 box outside its photo
    assert meta["found"] == 9 and len(table) == 4
    assert meta["dropped"] == {DROP_NO_LANDMARKS: 4, DROP_OUTSIDE: 1}
    assert table.keypoints.shape == (4, 68, 3) and (table.keypoints[..., 2] == 1).all()
    assert sorted(table.identities.tolist()) == [0, 2, 4, 6]  # the real heads' identities
    assert Split.load(tmp_path / "sun").keypoint_layout == "dlib68"


def test_pipa_for_deepprivacy_carries_seven_points(pipa, tmp_path):
    table = import_pipa(pipa, tmp_path / "dp", keypoints="deepprivacy7", min_size=61)
    meta = read_crop_source(tmp_path / "dp")
    assert meta["keypoints"]["source"] == "dlib68-fallback"  # no Keypoint R-CNN weights given
    # the box outside the photo is 60 px: too small is checked first
    assert meta["dropped"] == {DROP_TOO_SMALL: 1, DROP_NO_LANDMARKS: 4} and len(table) == 4
    assert table.keypoint_layout == "deepprivacy7" and table.keypoints.shape[1:] == (7, 3)
    assert (table.keypoints[:, :5, 2] == 1).all()  # nose, eyes, ears from the face
    data = open_crop_dataset(tmp_path / "dp", 32, "deepprivacy7")
    assert data[0]["keypoints"][:5, 2].sum() == 5


def test_pipa_bad_input(pipa, tmp_path):
    root = tmp_path / "bad"
    shutil.copytree(pipa, root)
    index = root / "annotations" / "index.txt"
    lines = index.read_text().splitlines()
    index.write_text("\n".join(lines[:2] + ["1 2 3 4 5 6 7 1"] + lines[2:]) + "\n")
    with pytest.raises(InputError, match=r"index.txt:3: photo 1_2.jpg is listed but not found"):
        import_pipa(root, tmp_path / "out", keypoints="dlib68")
    index.write_text("\n".join(lines[:1] + ["1 2 3 x 5 6 7 1"]) + "\n")
    with pytest.raises(InputError, match=r"index.txt:2: not a number"):
        import_pipa(root, tmp_path / "out", keypoints="dlib68")
    index.unlink()
    with pytest.raises(InputError, match=r"index.txt: PIPA annotation file not found"):
        import_pipa(root, tmp_path / "out", keypoints="dlib68")
    assert not (tmp_path / "out").exists()


def test_a_crop_set_without_keypoints_cannot_train_a_gan_that_needs_them(tmp_path):
    from safefakes.data.crops import Crop, CropList, write_crop_set

    img = np.full((32, 32, 3), 100, np.uint8)
    write_crop_set(tmp_path / "plain", CropList([Crop(img, np.array([8, 8, 16, 16]), None)]), {"source": "t"},
                   None, "t")
    assert read_crop_table(tmp_path / "plain").keypoints is None
    with pytest.raises(InputError, match="no keypoints; this GAN needs dlib68.*--keypoints dlib68"):
        open_crop_dataset(tmp_path / "plain", 16, "dlib68")
    assert len(open_crop_dataset(tmp_path / "plain", 16, None)) == 1


def test_crops_command_imports_and_trains_sun2018_on_the_result(pipa, tmp_path, capsys):
    import argparse

    from safefakes.commands import gan

    parser = argparse.ArgumentParser()
    gan.add_parser(parser.add_subparsers())
    out = tmp_path / "sun"
    args = parser.parse_args(["crops", "import-pipa", str(pipa), str(out), "--keypoints", "dlib68", "--min-size",
                              "20", "--workers", "2", "--quiet"])
    assert args.func(args) == 0
    assert "4 face crops of 9 examined; dropped: 1 box_outside_image, 4 no_landmarks_found" in capsys.readouterr().out
    run = tmp_path / "run"
    args = parser.parse_args(["train-anonymizer", str(out), str(run), "--method", "sun2018", "--iterations", "8",
                              "--batch-size", "4", "--resolution", "16", "--width", "0.015625", "--quiet",
                              "--device", "cpu", "--threads", "1", "--workers", "1"])
    assert args.func(args) == 0
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["source"]["source"] == "pipa" and state["source"]["keypoint_layout"] == "dlib68"
    assert state["source"]["faces_used"] == 4 and state["train_config"]["workers"] == 1


# --------------------------------------------------------------------------- #
# One dispatch from a source name to its crop set, for the study and the command
# --------------------------------------------------------------------------- #
def _crop_set_bytes(folder) -> dict:
    """Every file of a crop set but crops.json (which names its own folder), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "crops.json"}


class _Wildcards(dict):
    __getattr__ = dict.__getitem__


def _study_crop_set(tmp_path, out, source, entry, keypoints=None, split=None):
    """Run the workflow's crop-set adapter as Snakemake would."""
    import runpy
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    scripts = Path(__file__).resolve().parents[1] / "workflow_scripts"
    sys.path.insert(0, str(scripts))
    try:
        wildcards = _Wildcards({} if source == "widerface" else {"source": source, "keypoints": keypoints})
        job = SimpleNamespace(input=[str(split)] if split else [], output=[str(out)],
                              log=[str(tmp_path / f"{out.name}.log")], threads=1, wildcards=wildcards,
                              params=SimpleNamespace(entry=entry, keypoint_weights=None))
        runpy.run_path(str(scripts / "crop_set.py"), init_globals={"snakemake": job})
    finally:
        sys.path.remove(str(scripts))


def test_the_study_and_the_crops_command_write_one_crop_set_through_make_crop_set(fdf, tmp_path):
    import argparse

    from safefakes.commands import gan
    from safefakes.importers.sources import make_crop_set

    direct = make_crop_set("fdf", fdf, tmp_path / "direct", subsets=["train"], keypoints="deepprivacy7")
    assert len(direct) == 6
    import_fdf(fdf, tmp_path / "plain", subsets=["train"], keypoints="deepprivacy7")
    assert _crop_set_bytes(tmp_path / "direct") == _crop_set_bytes(tmp_path / "plain")
    entry = {"source": "fdf", "faces": 3, "path": str(fdf), "min_size": 32, "subsets": ["train"],
             "min_identity_images": 1, "max_identities": None}
    _study_crop_set(tmp_path, tmp_path / "study", "fdf", entry, keypoints="deepprivacy7")
    parser = argparse.ArgumentParser()
    gan.add_parser(parser.add_subparsers())
    args = parser.parse_args(["crops", "import-fdf", str(fdf), str(tmp_path / "cli"), "--workers", "1", "--quiet"])
    assert args.func(args) == 0
    assert _crop_set_bytes(tmp_path / "study") == _crop_set_bytes(tmp_path / "cli") == _crop_set_bytes(
        tmp_path / "direct")
    assert read_crop_source(tmp_path / "study")["found"] == 6  # the entry's faces are drawn at training


def test_a_split_cut_into_crops_by_the_study_is_the_commands(tmp_path):
    import argparse

    from builders import make_split

    from safefakes.commands import gan

    split = tmp_path / "split"
    make_split(split, {"0--A/a.jpg": [[10, 10, 40, 44], [70, 12, 36, 40]], "0--A/b.jpg": [[20, 20, 50, 50]]},
               seed=1)
    _study_crop_set(tmp_path, tmp_path / "study", "widerface", {"source": "widerface", "faces": 2, "path": None,
                                                                 "min_size": 32}, split=split)
    parser = argparse.ArgumentParser()
    gan.add_parser(parser.add_subparsers())
    args = parser.parse_args(["crops", "build", str(split), str(tmp_path / "cli"), "--min-size", "32",
                              "--workers", "1", "--quiet"])
    assert args.func(args) == 0
    assert len(read_crop_table(tmp_path / "cli")) == 3
    assert _crop_set_bytes(tmp_path / "study") == _crop_set_bytes(tmp_path / "cli")


def test_make_crop_set_refuses_what_a_source_does_not_take(celeba, tmp_path):
    from safefakes.errors import SafeFakesError
    from safefakes.importers.sources import CROP_SOURCES, ENTRY_OPTIONS, crop_set_options, make_crop_set

    with pytest.raises(SafeFakesError, match="unknown crop source 'lfw'; choose one of widerface, fdf, celeba"):
        make_crop_set("lfw", celeba, tmp_path / "out")
    with pytest.raises(SafeFakesError, match="crop source pipa takes no option imsize"):
        make_crop_set("pipa", celeba, tmp_path / "out", imsize=64)
    assert not (tmp_path / "out").exists()
    # The study's crop_sets keys each source takes are options of its writer.
    assert set(ENTRY_OPTIONS) == set(CROP_SOURCES)
    assert all(set(keys) <= set(crop_set_options(source)) for source, keys in ENTRY_OPTIONS.items())
    # celeba5: CelebA's own five points, nothing computed.
    root = tmp_path / "aligned"
    shutil.copytree(celeba, root, ignore=shutil.ignore_patterns("img_celeba"))
    assert make_crop_set("celeba", root, tmp_path / "c5", keypoints="celeba5").keypoint_layout == "celeba5"
