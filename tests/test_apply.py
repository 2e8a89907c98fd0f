"""The dataset engine (anonymize_split / anonymize_folder) and the anonymize commands."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
from builders import make_split, tree
from PIL import Image

import safefakes.engine.pool as pool
import safefakes.engine.worker as worker
from safefakes.anonymizers.base import AnonymizedImage, Anonymizer
from safefakes.anonymizers.registry import AnonymizerSpec, build_anonymizer
from safefakes.commands import anonymize as anonymize_command
from safefakes.data.anonymized import MANIFEST_COLUMNS, Status, read_input_hashes
from safefakes.data.images import read_image
from safefakes.data.split import Split
from safefakes.data.wider_files import ImageFaces
from safefakes.engine.journal import PARTS_DIR
from safefakes.engine.report import AnonymizationError
from safefakes.engine.split import anonymize_split
from safefakes.errors import InputError, SafeFakesError

FACES = {
    "0--A/a0.jpg": [[20, 16, 40, 48], [90, 30, 30, 36]],
    "0--A/a1.jpg": [],  # no face: copied byte for byte
    "0--A/a2.jpg": [[10, 10, 6, 6], [60, 20, 44, 50], [150, 10, 0, 10]],  # tiny, normal, degenerate
    "1--B/b0.jpg": [[140, 60, 40, 40]],  # partly outside
    "1--B/b1.jpg": [[40, 30, 50, 56], [200, 200, 10, 10]],  # second wholly outside
}


def is_black(region: np.ndarray) -> bool:
    """Black after JPEG: only faint ringing near the box edges."""
    return float(region.mean()) < 2.5 and float(np.percentile(region, 95)) <= 8


def manifest_rows(folder: Path) -> list[dict]:
    with open(folder / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture()
def split_dir(tmp_path) -> Path:
    make_split(tmp_path / "in", FACES)
    return tmp_path / "in"


def test_split_is_anonymized_with_a_complete_manifest(split_dir, tmp_path):
    before = tree(split_dir)
    out = tmp_path / "out"
    report = anonymize_split(split_dir, out, build_anonymizer("blackout", min_size=8), workers=1, progress=False)
    assert report.complete and report.n_images == 5 and report.n_faces == 8
    assert tree(split_dir) == before, "the input split is never written to"

    rows = manifest_rows(out)
    assert list(rows[0]) == ["image", "face_index", "x", "y", "w", "h", "method", "status"]
    got = {(r["image"], int(r["face_index"])): r for r in rows}
    expected = {(n, i) for n, boxes in FACES.items() for i in range(len(boxes))}
    assert set(got) == expected and len(rows) == len(expected)
    assert got[("0--A/a2.jpg", 0)]["status"] == Status.TOO_SMALL
    assert got[("0--A/a2.jpg", 2)]["status"] == Status.DEGENERATE_BOX
    assert got[("1--B/b1.jpg", 1)]["status"] == Status.OUTSIDE_IMAGE
    assert got[("1--B/b0.jpg", 0)]["status"] == Status.ANONYMIZED
    assert [got[("0--A/a0.jpg", 1)][k] for k in "xywh"] == ["90", "30", "30", "36"]
    assert {r["method"] for r in rows} == {"blackout"}

    # black is black inside each anonymized box; the tiny face is as it was
    a0 = read_image(out / "images/0--A/a0.jpg")
    assert is_black(a0[16:64, 20:60]) and is_black(a0[30:66, 90:120])
    a2_in, a2_out = read_image(split_dir / "images/0--A/a2.jpg"), read_image(out / "images/0--A/a2.jpg")
    assert np.abs(a2_in[10:16, 10:16].astype(int) - a2_out[10:16, 10:16]).mean() < 3
    b0 = read_image(out / "images/1--B/b0.jpg")
    assert is_black(b0[60:100, 140:160])  # the part inside the image

    # faceless image copied byte for byte, annotations copied, records present
    assert (out / "images/0--A/a1.jpg").read_bytes() == (split_dir / "images/0--A/a1.jpg").read_bytes()
    assert (out / "annotations.txt").read_bytes() == (split_dir / "annotations.txt").read_bytes()
    run = json.loads((out / "anonymization.json").read_text())
    assert run["anonymizer"]["method"] == "blackout" and run["seed"] == 0 and run["jpeg_quality"] == 95
    assert (out / "anonymization.done").exists()
    with open(out / "input_hashes.csv", newline="") as fh:
        hashes = {r["file"]: r["sha256"] for r in csv.DictReader(fh)}
    assert hashes["images/0--A/a0.jpg"] == hashlib.sha256(before["images/0--A/a0.jpg"]).hexdigest()
    assert hashes["annotations.txt"] == hashlib.sha256(before["annotations.txt"]).hexdigest()


def test_parallel_and_serial_runs_give_the_same_bytes(split_dir, tmp_path):
    anonymize_split(split_dir, tmp_path / "serial", build_anonymizer("blur"), workers=1, progress=False)
    anonymize_split(split_dir, tmp_path / "parallel", AnonymizerSpec("blur"), workers=2, progress=False)
    assert tree(tmp_path / "serial") == tree(tmp_path / "parallel")


def test_resume_after_an_interruption_gives_identical_bytes(split_dir, tmp_path, monkeypatch):
    anonymize_split(split_dir, tmp_path / "whole", build_anonymizer("pixelate"), workers=1, progress=False)

    real = worker._process
    calls = []

    def dies_on_third(task):
        calls.append(task[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(worker, "_process", dies_on_third)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        anonymize_split(split_dir, out, build_anonymizer("pixelate"), workers=1, progress=False)
    assert not (out / "anonymization.done").exists() and not (out / "manifest.csv").exists()
    # a killed worker's temporary file must not survive into the result
    (out / "images/1--B").mkdir(parents=True, exist_ok=True)
    (out / "images/1--B/.b0.jpg.x1y2.part").write_bytes(b"half")
    monkeypatch.setattr(worker, "_process", real)

    report = anonymize_split(split_dir, out, build_anonymizer("pixelate"), workers=1, progress=False)
    assert report.n_resumed == 2 and report.complete
    assert tree(out) == tree(tmp_path / "whole")


def test_output_holding_a_different_run_is_refused(split_dir, tmp_path):
    out = tmp_path / "out"
    anonymize_split(split_dir, out, build_anonymizer("blur"), workers=1, progress=False)
    with pytest.raises(SafeFakesError, match="different anonymization run.*kernel"):
        anonymize_split(split_dir, out, build_anonymizer("blur", kernel=11), workers=1, progress=False)
    with pytest.raises(SafeFakesError, match="different anonymization run.*seed"):
        anonymize_split(split_dir, out, build_anonymizer("blur"), seed=1, workers=1, progress=False)
    # the same run again is fine (nothing to redo)
    report = anonymize_split(split_dir, out, build_anonymizer("blur"), workers=1, progress=False)
    assert report.n_resumed == 5

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(SafeFakesError, match="not empty"):
        anonymize_split(split_dir, other, build_anonymizer("blur"), workers=1, progress=False)
    with pytest.raises(SafeFakesError, match="overlaps the input"):
        anonymize_split(split_dir, split_dir / "anon", build_anonymizer("blur"), workers=1, progress=False)


def test_corrupt_image_is_recorded_and_fails_the_run(split_dir, tmp_path):
    (split_dir / "images/0--A/a2.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    out = tmp_path / "out"
    with pytest.raises(AnonymizationError, match="a2.jpg") as info:
        anonymize_split(split_dir, out, build_anonymizer("blur"), workers=2, progress=False)
    assert info.value.report.failed_images.keys() == {"0--A/a2.jpg"}
    assert not (out / "anonymization.done").exists(), "a failed run never looks complete"
    assert not (out / "images/0--A/a2.jpg").exists(), "no un-anonymized copy of the bad image"
    statuses = {(r["image"], r["face_index"]): r["status"] for r in manifest_rows(out)}
    assert [statuses[("0--A/a2.jpg", str(i))] for i in range(3)] == [Status.UNREADABLE] * 3
    assert statuses[("0--A/a0.jpg", "0")] == Status.ANONYMIZED

    # after fixing the image, the same command finishes the split
    make_split(tmp_path / "fixed", FACES)
    (split_dir / "images/0--A/a2.jpg").write_bytes((tmp_path / "fixed/images/0--A/a2.jpg").read_bytes())
    report = anonymize_split(split_dir, out, build_anonymizer("blur"), workers=1, progress=False)
    assert report.complete and report.n_resumed == 4
    assert (out / "anonymization.done").exists()


def test_grayscale_and_rgba_inputs(tmp_path):
    root = tmp_path / "in"
    (root / "images/0--A").mkdir(parents=True)
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(60, 200, (64, 80), dtype=np.uint8), "L").save(root / "images/0--A/g.jpg")
    rgba = rng.integers(60, 200, (64, 80, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(root / "images/0--A/c.png")
    faces = [ImageFaces("0--A/g.jpg", [[10, 10, 30, 30]]), ImageFaces("0--A/c.png", [[20, 5, 40, 40]])]
    Split(root, faces).save_metadata()
    out = tmp_path / "out"
    blackout = build_anonymizer("blackout", region="box", mask_scale=1.0)
    report = anonymize_split(root, out, blackout, workers=1, progress=False)
    assert report.status_counts == {Status.ANONYMIZED: 2}
    g, c = read_image(out / "images/0--A/g.jpg"), read_image(out / "images/0--A/c.png")
    assert g.shape == (64, 80, 3) and is_black(g[10:40, 10:40])
    assert c.shape == (64, 80, 3) and c[5:45, 20:60].max() == 0  # PNG output is lossless
    assert (c[:, :20] == rgba[:, :20, :3]).all()


def test_fullblur_changes_images_without_faces(split_dir, tmp_path):
    out = tmp_path / "out"
    anonymize_split(split_dir, out, build_anonymizer("fullblur"), workers=1, progress=False)
    src, dst = read_image(split_dir / "images/0--A/a1.jpg"), read_image(out / "images/0--A/a1.jpg")
    assert (np.abs(src.astype(int) - dst).mean(axis=2) > 1).mean() > 0.5


def test_original_method_copies_every_file(split_dir, tmp_path):
    out = tmp_path / "out"
    report = anonymize_split(split_dir, out, build_anonymizer("original"), workers=1, progress=False)
    assert report.status_counts == {Status.ORIGINAL: 8}
    for name in FACES:
        assert (out / "images" / name).read_bytes() == (split_dir / "images" / name).read_bytes()


class _RecordsKeypoints(Anonymizer):
    name = "records_keypoints"
    needs_keypoints = "test5"
    seen: list = []

    def anonymize(self, image, boxes, keypoints=None, rng=None):
        type(self).seen.append(None if keypoints is None else np.asarray(keypoints).shape)
        return AnonymizedImage(255 - image, [Status.ANONYMIZED] * len(boxes))


def test_keypoints_come_from_the_split_or_a_provider(tmp_path):
    root = tmp_path / "in"
    split = make_split(root, {"0--A/a.jpg": [[10, 10, 40, 40], [60, 20, 30, 30]]})
    split.keypoints = {"0--A/a.jpg": np.ones((2, 5, 3))}
    split.keypoint_layout = "test5"
    split.save_metadata()
    _RecordsKeypoints.seen = []
    anonymize_split(root, tmp_path / "o1", _RecordsKeypoints(), workers=1, progress=False)
    assert _RecordsKeypoints.seen == [(2, 5, 3)]
    assert (tmp_path / "o1/keypoints.json").read_bytes() == (root / "keypoints.json").read_bytes()

    def provider(image, name, boxes):
        return np.zeros((len(boxes), 7, 3))

    _RecordsKeypoints.seen = []
    anonymize_split(root, tmp_path / "o2", _RecordsKeypoints(), keypoints=provider, workers=1, progress=False)
    assert _RecordsKeypoints.seen == [(2, 7, 3)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    anonymize_command.add_parser(sub)
    return parser


def test_anonymize_command(split_dir, tmp_path, capsys):
    out = tmp_path / "out"
    args = _parser().parse_args(["anonymize", str(split_dir), str(out), "--method", "pixelate", "--blocks", "4",
                                 "--region", "ellipse", "--workers", "1", "--no-progress"])
    assert args.func(args) == 0
    assert "pixelate" in capsys.readouterr().out
    run = json.loads((out / "anonymization.json").read_text())
    assert run["anonymizer"] == {"method": "pixelate", "blocks": 4, "region": "ellipse",
                                 "mask_scale": 1.6, "min_size": 0.0}
    bad = _parser().parse_args(["anonymize", str(split_dir), str(tmp_path / "x"), "--method", "fullblur",
                                "--blocks", "4"])
    with pytest.raises(SafeFakesError, match="does not take option"):
        bad.func(bad)


def test_anonymize_images_finds_and_blurs_the_astronaut(tmp_path):
    from skimage import data

    photo = data.astronaut()
    (tmp_path / "photos/sub").mkdir(parents=True)
    Image.fromarray(photo).save(tmp_path / "photos/sub/astronaut.jpg", quality=95)
    out = tmp_path / "out"
    args = _parser().parse_args(["anonymize-images", str(tmp_path / "photos"), str(out), "--method", "blackout",
                                 "--detector", "cnn", "--upsample", "0", "--workers", "1", "--no-progress"])
    assert args.func(args) == 0
    rows = manifest_rows(out / ".safefakes")
    assert len(rows) == 1 and rows[0]["image"] == "sub/astronaut.jpg" and rows[0]["status"] == Status.ANONYMIZED
    x, y, w, h = (int(rows[0][k]) for k in "xywh")
    # her face is around x 180-250, y 80-160 in skimage's astronaut
    assert 150 < x + w / 2 < 280 and 70 < y + h / 2 < 170 and 50 < w < 160
    result = read_image(out / "sub/astronaut.jpg")
    assert is_black(result[y:y + h, x:x + w])
    source = read_image(tmp_path / "photos/sub/astronaut.jpg")
    assert np.abs(result[300:, :].astype(int) - source[300:, :]).mean() < 1  # the rest is kept


def _dies_on_b0(task):
    if task[0] == "1--B/b0.jpg":
        raise RuntimeError("worker died")
    return _REAL_PROCESS(task)


_REAL_PROCESS = worker._process


def test_parallel_run_that_dies_resumes_to_identical_bytes(split_dir, tmp_path, monkeypatch):
    anonymize_split(split_dir, tmp_path / "whole", build_anonymizer("blur"), workers=1, progress=False)
    out = tmp_path / "resumed"
    monkeypatch.setattr(worker, "_process", _dies_on_b0)  # forked workers see the patched module
    with pytest.raises(RuntimeError, match="worker died"):
        anonymize_split(split_dir, out, build_anonymizer("blur"), workers=2, progress=False,
                        start_method="fork")
    assert not (out / "anonymization.done").exists() and not (out / "manifest.csv").exists()
    monkeypatch.setattr(worker, "_process", _REAL_PROCESS)
    report = anonymize_split(split_dir, out, build_anonymizer("blur"), workers=2, progress=False)
    assert report.complete
    assert tree(out) == tree(tmp_path / "whole")


def test_a_run_killed_mid_chunk_resumes_to_identical_bytes(split_dir, tmp_path, monkeypatch):
    """Records are journaled per chunk: a hard kill loses the unfinished chunk's records, and
    the rerun redoes those images (written atomically, deterministic) to the same bytes."""
    anonymize_split(split_dir, tmp_path / "whole", build_anonymizer("blur"), workers=1, progress=False)
    out = tmp_path / "killed"
    names = list(FACES)
    monkeypatch.setattr(pool, "chunks", lambda n, workers: [(i, min(i + 2, n)) for i in range(0, n, 2)])
    real = worker._process
    calls = []

    def killed_on_fourth(task):
        calls.append(task[0])
        if len(calls) == 4:
            os._exit(17)  # like SIGKILL: no finally, no flush
        return real(task)

    monkeypatch.setattr(worker, "_process", killed_on_fourth)
    child = multiprocessing.get_context("fork").Process(
        target=anonymize_split, args=(split_dir, out, build_anonymizer("blur")),
        kwargs={"workers": 1, "progress": False})
    child.start()
    child.join(60)
    assert child.exitcode == 17
    journaled = [json.loads(line)["image"] for path in sorted((out / PARTS_DIR).glob("*.jsonl"))
                 for line in path.read_text().splitlines()]
    assert journaled == names[:2], "only the finished chunk is journaled"
    assert (out / "images" / names[2]).exists(), "the third image was written but not journaled"
    assert not (out / "anonymization.done").exists() and not (out / "manifest.csv").exists()

    monkeypatch.setattr(worker, "_process", real)
    report = anonymize_split(split_dir, out, build_anonymizer("blur"), workers=1, progress=False)
    assert report.n_resumed == 2 and report.complete
    assert tree(out) == tree(tmp_path / "whole")


def test_chunks_are_contiguous_and_cover_every_image():
    for n, workers in [(1, 1), (5, 2), (400, 2), (12_880, 2), (100, 16)]:
        chunks = pool.chunks(n, workers)
        assert chunks[0][0] == 0 and chunks[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
        assert all(0 < stop - start <= pool.MAX_CHUNK for start, stop in chunks)


def test_conventional_methods_do_not_parse_the_keypoints(split_dir, tmp_path):
    """The sidecars of a split are copied and hashed; only a method that uses keypoints parses them."""
    (split_dir / "keypoints.json").write_text('{"layout": "x", "faces": \n')  # broken: parsing would fail
    with pytest.raises(InputError, match="keypoints.json"):
        Split.load(split_dir)
    out = tmp_path / "out"
    anonymize_split(split_dir, out, build_anonymizer("blur"), workers=1, progress=False)
    assert (out / "keypoints.json").read_bytes() == (split_dir / "keypoints.json").read_bytes()
    hashes = read_input_hashes(out)
    assert hashes["keypoints.json"] == hashlib.sha256((split_dir / "keypoints.json").read_bytes()).hexdigest()


def test_manifest_quotes_awkward_image_names_like_the_csv_module(tmp_path):
    """manifest.csv is written without csv.writer (it is the engine's longest serial step):
    names with a comma or a quote must still read back as themselves."""
    faces = {'0--A/with, comma.jpg': [[20, 16, 40, 48], [90, 30, 30, 36]],
             '0--A/a "quoted" name.jpg': [[10, 10, 30, 30]],
             "0--A/plain.jpg": [[5, 5, 20, 20]]}
    make_split(tmp_path / "in", faces)
    anonymize_split(tmp_path / "in", tmp_path / "out", build_anonymizer("blackout"), workers=1, progress=False)
    with open(tmp_path / "out" / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(MANIFEST_COLUMNS)
    assert [(r[0], r[1], r[2:6]) for r in rows[1:]] == [
        (name, str(i), [str(v) for v in box]) for name, boxes in faces.items() for i, box in enumerate(boxes)]
    assert {r[-1] for r in rows[1:]} == {Status.ANONYMIZED}
