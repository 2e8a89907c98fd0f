"""Face-crop sets: built from a split, imported from FDF, CelebA and PIPA files written here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from safefakes.data.crops import (
    build_crop_set,
    celeba_face_box,
    import_celeba,
    import_fdf,
    import_pipa,
    read_crop_source,
    subset_order,
)
from safefakes.data.images import read_image, write_image
from safefakes.data.split import Split
from safefakes.data.wider import ImageFaces
from safefakes.errors import InputError

torch.set_num_threads(1)


def _face_image(h, w, boxes, seed=0):
    """Grey noise with a bright square per face, so a crop's content can be checked."""
    img = np.random.default_rng(seed).integers(0, 60, (h, w, 3), dtype=np.uint8)
    for x, y, bw, bh in boxes:
        img[y:y + bh, x:x + bw] = 220
    return img


def _kp72(box):
    """synthetic72 points: all at the face centre, the nose tip 5 px right of it."""
    x, y, w, h = box
    kp = np.zeros((72, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = x + w / 2, y + h / 2, 1
    kp[30, 0] += 5
    return kp


@pytest.fixture
def tiny_split(tmp_path: Path) -> Path:
    root = tmp_path / "split"
    faces = {"e/a.jpg": [[20, 30, 40, 40], [100, 10, 8, 8]], "e/b.jpg": [[50, 50, 60, 50]]}
    for i, (name, boxes) in enumerate(faces.items()):
        write_image(root / "images" / name, _face_image(160, 200, boxes, i))
    images = [ImageFaces(n, np.array(b)) for n, b in faces.items()]
    kps = {n: np.stack([_kp72(b) for b in bs]) for n, bs in faces.items()}
    ids = {"e/a.jpg": np.array([7, 8]), "e/b.jpg": np.array([9])}
    Split(root, images, kps, "synthetic72", ids).save_metadata()
    return root


def test_build_crop_set_from_a_split(tiny_split, tmp_path):
    out = tmp_path / "crops"
    cs = build_crop_set(tiny_split, out, min_size=20, crop_size=64)
    assert cs.n_faces == 2  # the 8 px face is below min_size
    loaded = Split.load(out)
    assert loaded.keypoint_layout == "synthetic72"
    assert sorted(int(v[0]) for v in loaded.identities.values()) == [7, 9]
    for im in loaded.images:
        assert len(im) == 1
        img = read_image(loaded.image_path(im.name))
        assert img.shape == (64, 64, 3)
        x, y, w, h = im.boxes[0]
        # the square is 2x the face's larger side, so the face fills about half of it, centred
        assert 30 <= max(w, h) <= 34 and abs(x + w / 2 - 32) <= 2 and abs(y + h / 2 - 32) <= 2
        assert img[y + 3:y + h - 3, x + 3:x + w - 3].mean() > 200  # the bright face is inside its box
        kp = loaded.keypoints[im.name][0]
        assert kp[0, :2] == pytest.approx([x + w / 2, y + h / 2], abs=1.5)
    meta = read_crop_source(out)
    assert meta["source"] == "split" and meta["n_faces"] == 2 and meta["available_faces"] == 2


def test_subsets_are_deterministic_and_nested(tiny_split, tmp_path):
    small = build_crop_set(tiny_split, tmp_path / "one", min_size=20, faces=1)
    full = build_crop_set(tiny_split, tmp_path / "two", min_size=20)
    origins = json.loads((tmp_path / "two" / "crops.json").read_text())["origins"]
    assert json.loads((tmp_path / "one" / "crops.json").read_text())["origins"] == origins[:1]
    assert small.n_faces == 1 and full.n_faces == 2
    assert subset_order(10, 3, seed=4).tolist() == subset_order(10, None, seed=4)[:3].tolist()
    with pytest.raises(InputError, match="--faces 5"):
        build_crop_set(tiny_split, tmp_path / "too_many", min_size=20, faces=5)


def _write_fdf(root: Path, n: int = 3, imsize: int = 32) -> np.ndarray:
    base = root / "train"
    (base / "images" / str(imsize)).mkdir(parents=True)
    (base / "bounding_box").mkdir()
    boxes = np.array([[8, 8, 24, 26], [4, 6, 20, 22], [10, 9, 28, 30]])[:n]
    for i in range(n):
        Image.fromarray(_face_image(imsize, imsize, [[*boxes[i, :2], *(boxes[i, 2:] - boxes[i, :2])]], i)).save(
            base / "images" / str(imsize) / f"{i}.png")
    torch.save(torch.from_numpy(boxes), base / "bounding_box" / f"{imsize}.torch")
    lm = np.random.default_rng(0).uniform(0.2, 0.8, (n, 7, 2)).astype(np.float32)
    np.save(base / "landmarks.npy", lm)
    return lm


def test_import_fdf(tmp_path):
    lm = _write_fdf(tmp_path / "fdf")
    cs = import_fdf(tmp_path / "fdf", tmp_path / "crops", imsize=32)
    assert cs.n_faces == 3
    loaded = Split.load(tmp_path / "crops")
    assert loaded.keypoint_layout == "deepprivacy7"
    origins = json.loads((tmp_path / "crops" / "crops.json").read_text())["origins"]
    expected_boxes = {0: [8, 8, 16, 18], 1: [4, 6, 16, 16], 2: [10, 9, 18, 21]}
    for im, origin in zip(loaded.images, origins):
        index = int(Path(origin).stem)
        assert im.boxes[0].tolist() == expected_boxes[index]
        kp = loaded.keypoints[im.name][0]
        assert kp[:, :2] == pytest.approx(lm[index] * 32, abs=0.01)
        assert (kp[:, 2] == 1).all()
        assert int(loaded.identities[im.name][0]) == -1
    assert read_crop_source(tmp_path / "crops")["source"] == "fdf"


def test_import_fdf_names_the_missing_file(tmp_path):
    _write_fdf(tmp_path / "fdf")
    (tmp_path / "fdf" / "train" / "landmarks.npy").unlink()
    with pytest.raises(InputError, match="landmarks.npy"):
        import_fdf(tmp_path / "fdf", tmp_path / "crops", imsize=32)


def _write_celeba(root: Path) -> None:
    (root / "img_align_celeba").mkdir(parents=True)
    for i in (1, 2):
        write_image(root / "img_align_celeba" / f"{i:06d}.jpg", _face_image(218, 178, [[50, 80, 80, 100]], i))
    (root / "identity_CelebA.txt").write_text("000001.jpg 2880\n000002.jpg 2937\n")
    (root / "list_landmarks_align_celeba.txt").write_text(
        "2\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y\n"
        "000001.jpg  69  109  106  113   77  142   73  152  108  154\n"
        "000002.jpg  69  110  107  112   81  135   70  151  108  153\n")


def test_import_celeba(tmp_path):
    _write_celeba(tmp_path / "celeba")
    cs = import_celeba(tmp_path / "celeba", tmp_path / "crops")
    loaded = Split.load(tmp_path / "crops")
    assert cs.n_faces == 2 and loaded.keypoint_layout == "celeba5"
    by_id = {int(loaded.identities[n][0]): n for n in loaded.identities}
    assert sorted(by_id) == [2880, 2937]
    kp = loaded.keypoints[by_id[2880]][0]
    assert kp[:, :2].tolist() == [[69, 109], [106, 113], [77, 142], [73, 152], [108, 154]]
    x, y, w, h = loaded[by_id[2880]].boxes[0]
    # the derived box holds every landmark with a margin, and the aligned face (about 50-130 x 75-180)
    assert x < 69 - 10 and x + w > 108 + 10 and y < 109 - 15 and y + h > 154 + 10
    assert 40 <= x <= 55 and 70 <= y <= 85 and 125 <= x + w <= 140 and 170 <= y + h <= 190
    # the aligned images are crops already: copied byte for byte
    src = (tmp_path / "celeba" / "img_align_celeba" / "000001.jpg").read_bytes()
    assert (tmp_path / "crops" / "images" / by_id[2880]).read_bytes() == src
    assert celeba_face_box(np.array([[0, 0], [10, 0], [5, 10]], float)).tolist() == [-6, -7.5, 22, 23]


def test_import_celeba_reports_the_bad_line(tmp_path):
    _write_celeba(tmp_path / "celeba")
    (tmp_path / "celeba" / "identity_CelebA.txt").write_text("000001.jpg 2880\n000002.jpg\n")
    with pytest.raises(InputError) as err:
        import_celeba(tmp_path / "celeba", tmp_path / "crops")
    assert err.value.line == 2 and err.value.path.name == "identity_CelebA.txt"


def _write_pipa(root: Path) -> None:
    (root / "train").mkdir(parents=True)
    (root / "annotations").mkdir()
    write_image(root / "train" / "72157600_111.jpg", _face_image(300, 400, [[100, 50, 60, 70], [10, 10, 12, 12]]))
    write_image(root / "train" / "72157600_222.jpg", _face_image(300, 400, [[200, 100, 80, 80]], 1))
    (root / "annotations" / "index.txt").write_text(
        "72157600 111 100 50 60 70 5 0\n72157600 111 10 10 12 12 6 0\n72157600 222 200 100 80 80 5 0\n")


def test_import_pipa(tmp_path):
    _write_pipa(tmp_path / "pipa")
    cs = import_pipa(tmp_path / "pipa", tmp_path / "crops", min_size=20, crop_size=64)
    loaded = Split.load(tmp_path / "crops")
    assert cs.n_faces == 2  # the 12 px head is below min_size
    assert loaded.keypoints is None
    assert sorted(int(v[0]) for v in loaded.identities.values()) == [5, 5]
    for im in loaded.images:
        x, y, w, h = im.boxes[0]
        img = read_image(loaded.image_path(im.name))
        assert img[y + 3:y + h - 3, x + 3:x + w - 3].mean() > 200
        assert abs(x + w / 2 - 32) <= 2 and 30 <= max(w, h) <= 34


def test_import_pipa_names_a_missing_photo(tmp_path):
    _write_pipa(tmp_path / "pipa")
    (tmp_path / "pipa" / "train" / "72157600_222.jpg").unlink()
    with pytest.raises(InputError, match="72157600_222.jpg") as err:
        import_pipa(tmp_path / "pipa", tmp_path / "crops")
    assert err.value.line == 3
