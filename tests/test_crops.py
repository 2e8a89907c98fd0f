"""Face-crop sets: the format (table, records, resumable parallel writing) and the build from a split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from safefakes.data import crops as crops_module
from safefakes.data.crops import (
    DROP_OUTSIDE,
    Crop,
    CropList,
    Dropped,
    build_crop_set,
    read_crop_source,
    read_crop_table,
    read_drops,
    subset_order,
    write_crop_set,
)
from safefakes.data.images import read_image, write_image
from safefakes.data.split import Split
from safefakes.data.wider_files import ImageFaces
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
    assert len(cs) == 2  # the 8 px face is below min_size
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
    # the memory-mapped table says what the split files say
    table = read_crop_table(out)
    assert isinstance(table.boxes, np.memmap) and table.keypoint_layout == "synthetic72"
    for i in range(len(table)):
        im = loaded[table.name(i)]
        assert table.boxes[i].tolist() == im.boxes[0].tolist()
        np.testing.assert_allclose(table.keypoints[i], loaded.keypoints[im.name][0], atol=0.006)
        assert table.identities[i] == loaded.identities[im.name][0]


def test_subsets_are_deterministic_and_nested(tiny_split, tmp_path):
    small = build_crop_set(tiny_split, tmp_path / "one", min_size=20, faces=1)
    full = build_crop_set(tiny_split, tmp_path / "two", min_size=20)
    origins = (tmp_path / "two" / "faces.csv").read_text().splitlines()
    assert (tmp_path / "one" / "faces.csv").read_text().splitlines() == origins[:2]
    assert len(small) == 1 and len(full) == 2
    assert subset_order(10, 3, seed=4).tolist() == subset_order(10, None, seed=4)[:3].tolist()
    with pytest.raises(InputError, match="--faces 5"):
        build_crop_set(tiny_split, tmp_path / "too_many", min_size=20, faces=5)


def _crops(n: int) -> list:
    """n candidates; every third is dropped (its box lies outside), the rest carry 5 keypoints."""
    out = []
    for i in range(n):
        if i % 3 == 1:
            out.append(Dropped(DROP_OUTSIDE, f"src/{i}"))
            continue
        img = _face_image(40, 40, [[10, 10, 20, 20]], i)
        kp = np.column_stack([np.full(5, 10.0 + i % 7), np.arange(5) + 12.0, np.ones(5)])
        out.append(Crop(img, np.array([10, 10, 20, 20]), kp, i, f"src/{i}"))
    return out


def test_dropped_candidates_are_recorded_and_leave_gaps_not_another_subset(tmp_path):
    table = write_crop_set(tmp_path / "set", CropList(_crops(10)), {"source": "test"}, "celeba5", "t", chunk=4)
    assert len(table) == 7
    assert [table.name(i) for i in range(3)] == ["t/0000000.jpg", "t/0000002.jpg", "t/0000003.jpg"]
    meta = read_crop_source(tmp_path / "set")
    assert meta["found"] == 10 and meta["kept"] == 7 and meta["dropped"] == {DROP_OUTSIDE: 3}
    assert [d["origin"] for d in read_drops(tmp_path / "set")] == ["src/1", "src/4", "src/7"]
    assert table.keypoints.shape == (7, 5, 3) and table.identities.tolist() == [0, 2, 3, 5, 6, 8, 9]
    assert sorted(p.name for p in (tmp_path / "set" / "images" / "t").iterdir())[:2] == ["0000000.jpg",
                                                                                       "0000002.jpg"]
    assert not (tmp_path / "set.partial").exists()
    # a subset: the first kept faces, only as many chunks made as needed, no stray image
    sub = write_crop_set(tmp_path / "sub", CropList(_crops(10)), {"source": "test"}, "celeba5", "t", faces=3,
                         chunk=4)
    assert [sub.name(i) for i in range(3)] == [table.name(i) for i in range(3)]
    assert len(list((tmp_path / "sub" / "images" / "t").iterdir())) == 3
    with pytest.raises(InputError, match="--faces 8 asked for, but the source gives only 7"):
        write_crop_set(tmp_path / "many", CropList(_crops(10)), {"source": "test"}, "celeba5", "t", faces=8)
    # the work done stays: asking for fewer faces then finishes from it, without making a crop again
    again = _FailingAfter(_crops(10), fail_at=-1)
    assert len(write_crop_set(tmp_path / "many", again, {"source": "test"}, "celeba5", "t", faces=7)) == 7
    assert again.calls == []
    with pytest.raises(InputError, match="exists already"):
        write_crop_set(tmp_path / "set", CropList(_crops(10)), {"source": "test"}, "celeba5", "t")


class _Interrupted(Exception):
    pass


class _FailingAfter(CropList):
    """Raises at candidate ``fail_at``: an import killed half-way."""

    def __init__(self, crops, fail_at: int) -> None:
        super().__init__(crops)
        self.fail_at, self.calls = fail_at, []

    def crop(self, k):
        self.calls.append(k)
        if k == self.fail_at:
            raise _Interrupted
        return super().crop(k)


def test_an_interrupted_import_resumes_and_gives_the_same_set(tmp_path):
    whole = write_crop_set(tmp_path / "whole", CropList(_crops(12)), {"source": "test"}, "celeba5", "t", chunk=4)
    first = _FailingAfter(_crops(12), fail_at=9)
    with pytest.raises(_Interrupted):
        write_crop_set(tmp_path / "set", first, {"source": "test"}, "celeba5", "t", chunk=4)
    assert not (tmp_path / "set").exists()  # nothing that looks complete
    assert (tmp_path / "set.partial").is_dir()
    # other settings: refused, naming what differs
    with pytest.raises(InputError, match=r"other settings \(seed\)"):
        write_crop_set(tmp_path / "set", CropList(_crops(12)), {"source": "test", "seed": 3}, "celeba5", "t",
                       chunk=4)
    second = _FailingAfter(_crops(12), fail_at=-1)
    table = write_crop_set(tmp_path / "set", second, {"source": "test"}, "celeba5", "t", chunk=4)
    assert min(second.calls) == 8  # the two finished chunks were not made again
    assert [table.name(i) for i in range(len(table))] == [whole.name(i) for i in range(len(whole))]
    for name in ("annotations.txt", "keypoints.json", "identities.json", "faces.csv", "drops.csv"):
        assert (tmp_path / "set" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    for i in range(len(table)):
        assert table.image_path(i).read_bytes() == whole.image_path(i).read_bytes()


def test_parallel_writing_gives_the_bytes_of_serial_writing(tiny_split, tmp_path):
    serial = build_crop_set(tiny_split, tmp_path / "serial", min_size=5, crop_size=32, workers=1)
    parallel = build_crop_set(tiny_split, tmp_path / "parallel", min_size=5, crop_size=32, workers=2)
    assert len(serial) == len(parallel) == 3
    for name in ("annotations.txt", "keypoints.json", "identities.json", "faces.csv"):
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "parallel" / name).read_bytes()
    for i in range(3):
        assert serial.image_path(i).read_bytes() == parallel.image_path(i).read_bytes()
    assert crops_module._ACTIVE is None


def test_a_killed_build_leaves_no_temporary_file_or_stray_crop_in_the_final_set(tmp_path):
    whole = write_crop_set(tmp_path / "whole", CropList(_crops(12)), {"source": "test"}, "celeba5", "t", chunk=4)
    with pytest.raises(_Interrupted):
        write_crop_set(tmp_path / "set", _FailingAfter(_crops(12), fail_at=9), {"source": "test"}, "celeba5", "t",
                       chunk=4)
    # What a kill -9 leaves: the temporary file of an image being written, one of a chunk's table being
    # written, and a crop whose chunk never finished (made by a worker that ran ahead).
    work = tmp_path / "set.partial"
    images = work / "images" / "t"
    (images / ".0000009.jpg.k1ll3d.part").write_bytes(b"half a jpeg")
    (work / ".crops.json.x.part").write_text("{", encoding="utf-8")
    (images / "0000099.jpg").write_bytes((images / "0000000.jpg").read_bytes())
    write_crop_set(tmp_path / "set", CropList(_crops(12)), {"source": "test"}, "celeba5", "t", chunk=4)

    def files(root: Path) -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    assert files(tmp_path / "set") == files(tmp_path / "whole")
    assert not [p for p in (tmp_path / "set").rglob("*") if p.name.endswith((".part", ".tmp.npz"))]
    assert len(read_crop_table(tmp_path / "set")) == len(whole)
