"""Importing WIDER FACE from its official folder layout."""

from __future__ import annotations

import numpy as np
import pytest

from safefakes.data.images import write_image
from safefakes.data.split import Split
from safefakes.data.wider_files import ImageFaces, write_annotations
from safefakes.errors import InputError
from safefakes.importers.widerface import import_split


def _fake_wider(root):
    img = np.full((40, 50, 3), 128, np.uint8)
    train = [ImageFaces("0--Parade/0_a.jpg", [[1, 2, 20, 20]]), ImageFaces("1--Handshaking/1_b.jpg", [])]
    val = [ImageFaces("0--Parade/0_v.jpg", [[3, 3, 30, 32], [1, 1, 4, 4]])]
    for folder, items in (("WIDER_train", train), ("WIDER_val", val)):
        for im in items:
            write_image(root / folder / "images" / im.name, img)
    write_annotations(root / "wider_face_split" / "wider_face_train_bbx_gt.txt", train)
    write_annotations(root / "wider_face_split" / "wider_face_val_bbx_gt.txt", val)
    split = Split(root / "tmpval", val)
    split.save_metadata(root / "eval_tools" / "ground_truth", with_mat=True)
    return root


def test_import_both_splits(tmp_path):
    root = _fake_wider(tmp_path / "WIDER")
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert import_split(root, "train", tmp_path / "out" / "train") == 2
    assert import_split(root, "val", tmp_path / "out" / "val") == 1
    train = Split.load(tmp_path / "out" / "train")
    assert [im.name for im in train.images] == ["0--Parade/0_a.jpg", "1--Handshaking/1_b.jpg"]
    assert train.image_path("0--Parade/0_a.jpg").is_file()
    val = Split.load(tmp_path / "out" / "val")
    assert val.ground_truth is not None and val.ground_truth.n_faces == 2
    # The user's folder is untouched.
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_missing_pieces_are_named(tmp_path):
    root = _fake_wider(tmp_path / "WIDER")
    (root / "eval_tools" / "ground_truth" / "wider_hard_val.mat").unlink()
    with pytest.raises(InputError, match="missing eval_tools/ground_truth/wider_hard_val.mat"):
        import_split(root, "val", tmp_path / "val")
    root2 = _fake_wider(tmp_path / "W2")
    (root2 / "WIDER_train" / "images" / "0--Parade" / "0_a.jpg").unlink()
    with pytest.raises(InputError, match="missing under.*0--Parade/0_a.jpg"):
        import_split(root2, "train", tmp_path / "train")
    assert not (tmp_path / "train").exists()
    with pytest.raises(InputError, match="WIDER FACE folder not found"):
        import_split(tmp_path / "nowhere", "train", tmp_path / "t")
