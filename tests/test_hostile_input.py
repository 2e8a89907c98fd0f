"""Bad and hostile input in every command that reads a split (issue 19).

Each test plants one case a new user (or an attacker) could hand the tools and
checks that it is refused with a message naming the file and line, and that
nothing outside the named folders is read or written.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from builders import make_split, tree

from safefakes import cli
from safefakes.anonymizers.registry import build_anonymizer
from safefakes.audit.split import audit_split
from safefakes.data.images import read_image
from safefakes.data.split import Split
from safefakes.data.wider_files import (
    parse_annotations,
    parse_prediction,
    prediction_path,
    read_ground_truth,
    unsafe_name_problem,
    write_predictions,
)
from safefakes.engine.split import anonymize_split
from safefakes.errors import InputError, SafeFakesError
from safefakes.evaluation.image_metrics import PairCounts, iter_image_pairs
from safefakes.evaluation.wider_ap import evaluate_folder

FACES = {"0--A/a0.jpg": [[20, 16, 40, 48]], "0--A/a1.jpg": []}


def _record(name: str) -> str:
    return f"{name}\n1\n20 16 40 48 0 0 0 0 0 0\n"


# --------------------------------------------------------------------------- #
# Image names that leave their folder
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name, fragment", [
    ("/tmp/victim.jpg", "absolute image path"),
    ("C:/data/victim.jpg", "absolute image path"),
    ("../../orig/images/0--A/a0.jpg", "climbs out"),
    ("0--A/../../x.jpg", "climbs out"),
    ("0--A//a0.jpg", "empty or '.' component"),
    ("./0--A/a0.jpg", "empty or '.' component"),
    ("..\\..\\x.jpg", "climbs out"),
])
def test_names_that_leave_the_images_folder_are_refused_with_their_line(name, fragment):
    text = _record("0--A/ok.jpg") + _record(name)
    with pytest.raises(InputError) as info:
        parse_annotations(text, "ann.txt")
    assert info.value.line == 4 and fragment in str(info.value)
    assert unsafe_name_problem(name.replace("\\", "/")) is not None


def test_ordinary_names_are_safe():
    for name in ("0--Parade/0_Parade_marchingband_1_5.jpg", "a.jpg", "e/.hidden.jpg", "e/x..y.jpg"):
        assert unsafe_name_problem(name) is None, name


def test_anonymize_does_not_overwrite_a_file_named_by_an_absolute_path(tmp_path):
    make_split(tmp_path / "orig", FACES, seed=1)
    victim = tmp_path / "victim" / "photo.jpg"
    victim.parent.mkdir()
    victim.write_bytes((tmp_path / "orig/images/0--A/a0.jpg").read_bytes())
    before = victim.read_bytes()
    with open(tmp_path / "orig/annotations.txt", "a") as fh:
        fh.write(_record(str(victim)))
    with pytest.raises(InputError) as info:
        anonymize_split(tmp_path / "orig", tmp_path / "anon", build_anonymizer("blur"), workers=1, progress=False)
    assert "annotations.txt:7" in str(info.value) and "absolute image path" in str(info.value)
    assert victim.read_bytes() == before
    assert not (tmp_path / "anon").exists()


def test_anonymize_does_not_overwrite_the_input_through_dot_dot(tmp_path):
    make_split(tmp_path / "orig", FACES, seed=1)
    before = tree(tmp_path / "orig")
    with open(tmp_path / "orig/annotations.txt", "a") as fh:
        fh.write(_record("../../orig/images/0--A/a0.jpg"))
    before["annotations.txt"] = (tmp_path / "orig/annotations.txt").read_bytes()
    with pytest.raises(InputError, match="climbs out"):
        anonymize_split(tmp_path / "orig", tmp_path / "anon", build_anonymizer("blur"), workers=1, progress=False)
    assert tree(tmp_path / "orig") == before


def test_every_split_reader_refuses_such_names(tmp_path):
    make_split(tmp_path / "orig", FACES, seed=1)
    with open(tmp_path / "orig/annotations.txt", "a") as fh:
        fh.write(_record("../elsewhere/x.jpg"))
    for sidecars in (True, False):
        with pytest.raises(InputError, match="climbs out"):
            Split.load(tmp_path / "orig", sidecars=sidecars)


@pytest.mark.parametrize("event, stem", [("..", "x"), ("e", "../../x"), ("/abs", "x"), ("e", ""), ("e/..", "x")])
def test_prediction_files_stay_inside_their_folder(tmp_path, event, stem):
    with pytest.raises(InputError):
        prediction_path(tmp_path / "pred", event, stem)
    assert prediction_path(tmp_path / "pred", "0--A", "a0") == tmp_path / "pred/0--A/a0.txt"


def test_symlinks_in_images_are_read_but_never_written_through(tmp_path):
    make_split(tmp_path / "orig", FACES, seed=1)
    # An input image that is a link: read like any file.
    real = tmp_path / "elsewhere" / "a1.jpg"
    real.parent.mkdir()
    (tmp_path / "orig/images/0--A/a1.jpg").rename(real)
    (tmp_path / "orig/images/0--A/a1.jpg").symlink_to(real)
    anonymize_split(tmp_path / "orig", tmp_path / "anon", build_anonymizer("blur"), workers=1, progress=False)
    assert not (tmp_path / "anon/images/0--A/a1.jpg").is_symlink()
    assert np.array_equal(read_image(tmp_path / "anon/images/0--A/a1.jpg"), read_image(real))
    # A link planted in the output folder between two runs: the rerun refuses to write through it.
    target = tmp_path / "target"
    target.mkdir()
    out_event = tmp_path / "anon/images/0--A"
    for f in out_event.iterdir():
        f.unlink()
    out_event.rmdir()
    out_event.symlink_to(target, target_is_directory=True)
    with pytest.raises(SafeFakesError, match="symbolic link"):
        anonymize_split(tmp_path / "orig", tmp_path / "anon", build_anonymizer("blur"), workers=1, progress=False)
    assert list(target.iterdir()) == []


# --------------------------------------------------------------------------- #
# metrics: pairs that do not belong together, and splits from other tools
# --------------------------------------------------------------------------- #
def _blurred_external(orig: Path, out: Path, annotations: str | None = None) -> None:
    anonymize_split(orig, out.parent / "run", build_anonymizer("blur"), workers=1, progress=False)
    shutil.copytree(out.parent / "run" / "images", out / "images")
    (out / "annotations.txt").write_text(annotations or (orig / "annotations.txt").read_text())


def test_metrics_refuse_a_pair_whose_boxes_differ(tmp_path):
    make_split(tmp_path / "orig", FACES, seed=1)
    moved = (tmp_path / "orig/annotations.txt").read_text().replace("20 16 40 48", "21 16 40 48")
    _blurred_external(tmp_path / "orig", tmp_path / "ext", moved)
    with pytest.raises(InputError) as info:
        list(iter_image_pairs(tmp_path / "orig", tmp_path / "ext", min_size=8))
    assert "0--A/a0.jpg face 0 has box 21 16 40 48, the original 20 16 40 48" in str(info.value)


def test_metrics_take_a_split_without_manifest_as_every_face_anonymized(tmp_path):
    make_split(tmp_path / "orig", FACES, seed=1)
    _blurred_external(tmp_path / "orig", tmp_path / "ext")
    counts = PairCounts()
    pairs = list(iter_image_pairs(tmp_path / "orig", tmp_path / "ext", min_size=8, counts=counts))
    assert [(p.name, p.face_indices.tolist()) for p in pairs] == [("0--A/a0.jpg", [0])]
    assert counts.paired == 1 and counts.not_anonymized == 0
    assert not np.array_equal(pairs[0].original, pairs[0].anonymized)


# --------------------------------------------------------------------------- #
# Images: 16-bit PNGs and decompression bombs
# --------------------------------------------------------------------------- #
def test_a_16_bit_png_is_converted_by_bit_depth_not_by_its_maximum(tmp_path):
    from PIL import Image

    # A dark photo: background 1028/65535 (4/255), brightest pixel 18247 (71/255).
    arr = np.full((20, 30), 1028, dtype=np.uint16)
    arr[5:10, 5:10] = 18247
    path = tmp_path / "dark16.png"
    Image.fromarray(arr).save(path)
    assert Image.open(path).mode.startswith("I")
    rgb = read_image(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (20, 30, 3)
    assert rgb[0, 0].tolist() == [4, 4, 4] and rgb[6, 6].tolist() == [71, 71, 71]


def test_a_decompression_bomb_says_so_and_how_to_raise_the_limit(tmp_path, monkeypatch):
    from PIL import Image

    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200), (10, 20, 30)).save(path)
    monkeypatch.setenv("SAFEFAKES_MAX_IMAGE_PIXELS", "20000")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after the test
    with pytest.raises(InputError) as info:
        read_image(path)
    message = str(info.value)
    assert "big.png" in message and "pixel limit" in message and "SAFEFAKES_MAX_IMAGE_PIXELS" in message
    assert "corrupt" not in message
    monkeypatch.setenv("SAFEFAKES_MAX_IMAGE_PIXELS", "100000")
    assert read_image(path).shape == (200, 300, 3)


# --------------------------------------------------------------------------- #
# evaluate: the official ground truth's own negative width
# --------------------------------------------------------------------------- #
def test_ground_truth_written_as_prediction_files_scores_as_officially(wider_val_gt_dir, tmp_path, caplog):
    gt = read_ground_truth(wider_val_gt_dir)
    preds = {im.key: np.column_stack([im.boxes, np.linspace(1, 0.5, len(im.boxes))]) for im in gt.images}
    assert sum(int((p[:, 2] < 0).sum()) for p in preds.values()) == 1  # 39_Ice_Skating_iceskiing_39_583
    write_predictions(tmp_path / "pred", preds)
    with caplog.at_level("WARNING"):
        result = evaluate_folder(tmp_path / "pred", wider_val_gt_dir)
    assert {s: round(v, 6) for s, v in result.aps.items()} == {"easy": 0.999921, "medium": 0.999952,
                                                                 "hard": 0.999908}
    assert "1 predicted box(es)" in caplog.text and "negative width" in caplog.text


# --------------------------------------------------------------------------- #
# Storage trouble, empty annotations, stale outputs
# --------------------------------------------------------------------------- #
def test_a_read_only_output_folder_is_one_line_not_a_traceback(tmp_path, capsys):
    import os

    make_split(tmp_path / "orig", FACES, seed=1)
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    try:
        if os.access(tmp_path / "ro", os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        code = cli.main(["anonymize", str(tmp_path / "orig"), str(tmp_path / "ro" / "out"), "--method", "blur",
                         "--workers", "1", "--no-progress"])
    finally:
        os.chmod(tmp_path / "ro", 0o755)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "cannot write" in err and "Permission denied" in err


@pytest.mark.parametrize("code, text", [(errno.ENOSPC, "No space left on device"),
                                         (errno.EROFS, "Read-only file system")])
def test_a_full_disk_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch, code, text):
    make_split(tmp_path / "orig", FACES, seed=1)

    def full(*args, **kwargs):
        raise OSError(code, text, str(tmp_path / "anon" / "manifest.csv"))

    monkeypatch.setattr("safefakes.engine.output.write_text_atomic", full)
    exit_code = cli.main(["anonymize", str(tmp_path / "orig"), str(tmp_path / "anon"), "--method", "blur",
                          "--workers", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert exit_code == 2 and "Traceback" not in err
    assert text in err and "anon" in err and len(err.strip().splitlines()) == 1


def test_empty_annotations_warn(tmp_path, caplog):
    (tmp_path / "orig" / "images").mkdir(parents=True)
    (tmp_path / "orig" / "annotations.txt").write_text("")
    with caplog.at_level("WARNING"):
        report = anonymize_split(tmp_path / "orig", tmp_path / "anon", build_anonymizer("blur"), workers=1,
                                 progress=False)
    assert report.n_images == 0
    assert "lists no image" in caplog.text and "annotations.txt" in caplog.text


def test_a_changed_input_image_is_redone_on_rerun(tmp_path):
    make_split(tmp_path / "orig", FACES, seed=1)
    anonymize_split(tmp_path / "orig", tmp_path / "anon", build_anonymizer("blur"), workers=1, progress=False)
    stale = (tmp_path / "anon/images/0--A/a0.jpg").read_bytes()
    # The user replaces an input photo, then reruns the same command.
    make_split(tmp_path / "other", FACES, seed=2)
    shutil.copyfile(tmp_path / "other/images/0--A/a0.jpg", tmp_path / "orig/images/0--A/a0.jpg")
    report = anonymize_split(tmp_path / "orig", tmp_path / "anon", build_anonymizer("blur"), workers=1,
                             progress=False)
    assert report.n_resumed == 1  # the unchanged faceless image only
    fresh = (tmp_path / "anon/images/0--A/a0.jpg").read_bytes()
    assert fresh != stale
    anonymize_split(tmp_path / "other", tmp_path / "ref", build_anonymizer("blur"), workers=1, progress=False)
    assert fresh == (tmp_path / "ref/images/0--A/a0.jpg").read_bytes()
    assert audit_split(tmp_path / "orig", tmp_path / "anon").passed


def test_a_negative_width_prediction_is_scored_with_a_warning(tmp_path, caplog):
    from safefakes.data.wider_files import GroundTruth, GroundTruthImage, write_ground_truth

    boxes = np.array([[10, 10, 40, 40], [60, 10, -3, 40]], dtype=np.float64)  # like the official GT's quirk
    kept = {s: np.array([0, 1]) for s in ("easy", "medium", "hard")}
    write_ground_truth(tmp_path / "gt", GroundTruth(["0--A"], [GroundTruthImage("0--A", "img", boxes, kept)]))
    write_predictions(tmp_path / "pred", {"0--A/img": np.column_stack([boxes, [0.9, 0.8]])})
    with caplog.at_level("WARNING"):
        result = evaluate_folder(tmp_path / "pred", tmp_path / "gt")
    # the positive box matches; the negative one overlaps nothing, as in the official tool
    assert result.aps["easy"] == pytest.approx(0.5)
    assert "1 predicted box(es)" in caplog.text


def test_a_link_inside_a_gan_training_folder_is_refused(tmp_path):
    from builders import tiny_crop_set

    from safefakes.anonymizers.gan.train import train_gan

    crops = tiny_crop_set(tmp_path / "crops")
    out = tmp_path / "train"
    out.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (out / "samples").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SafeFakesError, match="symbolic link inside the output folder"):
        train_gan("deepprivacy", crops, out, images=8, overrides={"batch_size": 4}, device="cpu", progress=False)
    assert list(outside.iterdir()) == []


def test_a_manifest_that_is_not_utf8_is_an_error_naming_it(tmp_path, capsys):
    orig = tmp_path / "orig"
    make_split(orig, {"0--A/a0.jpg": [[20, 16, 40, 48]]})
    anon = tmp_path / "anon"
    anonymize_split(orig, anon, build_anonymizer("blur"), workers=1, progress=False)
    manifest = anon / "manifest.csv"
    manifest.write_bytes(manifest.read_bytes().replace(b"0--A/a0.jpg", "0--A/\xe9t\xe9.jpg".encode("latin-1")))
    with pytest.raises(InputError, match="not UTF-8 text") as err:
        audit_split(orig, anon)
    assert err.value.path == manifest
    assert cli.main(["audit", str(orig), str(anon)]) == 2
    assert f"{manifest}: not UTF-8 text" in capsys.readouterr().err


def test_a_detector_setting_of_the_wrong_type_names_the_file_key_and_line(tmp_path, capsys):
    split = make_split(tmp_path / "train", FACES).root
    config = tmp_path / "det.yaml"
    config.write_text("iterations: 1\nlr: fast\n", encoding="utf-8")
    out = tmp_path / "det"
    argv = ["train-detector", str(split), str(out), "--config", str(config), "--allow-random-init",
            "--device", "cpu", "--no-progress"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{config}:2: detector setting 'lr': expected a number, found 'fast'" in err
    assert "Traceback" not in err and not out.exists()


def test_a_prediction_box_too_large_for_arithmetic_is_refused(tmp_path):
    path = tmp_path / "0--A" / "a0.txt"
    with pytest.raises(InputError, match="out of range") as err:
        parse_prediction("a0\n1\n1e308 1e308 1e308 1e308 0.9\n", path)
    assert err.value.path == path and err.value.line == 3


def test_a_huge_box_in_annotations_is_refused_naming_file_line_and_fix(tmp_path):
    path = tmp_path / "annotations.txt"
    with pytest.raises(InputError, match="expected integers for a face line, found '1e308'") as err:
        parse_annotations("0--A/a0.jpg\n1\n1e308 1e308 1e308 1e308 0 0 0 0 0 0\n", path)
    assert err.value.path == path and err.value.line == 3 and "whole number" in err.value.hint


@pytest.mark.parametrize("command", ["anonymize", "anonymize-images"])
def test_negative_workers_are_refused_before_anything_is_written(tmp_path, capsys, command):
    split = make_split(tmp_path / "orig", FACES)
    source = split.root if command == "anonymize" else split.root / "images"
    out = tmp_path / "out"
    method = ["--method", "blur"] if command == "anonymize" else []
    argv = [command, str(source), str(out), "--workers", "-1", *method]
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert "argument --workers: -1 processes" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "out-preview").exists()


class _FullDisk(io.FileIO):
    """A file whose every write fails as on a full disk (write() names no file)."""

    code = errno.ENOSPC

    def write(self, data):
        raise OSError(self.code, os.strerror(self.code))


def _full_disk_open(file, mode="r", *args, **kwargs):
    if "w" in mode:
        return _FullDisk(file, "w")
    return open(file, mode, *args, **kwargs)


def test_a_full_disk_names_the_image_it_could_not_write(tmp_path, capsys, monkeypatch):
    from safefakes.engine import worker

    split = make_split(tmp_path / "orig", FACES)
    out = tmp_path / "out"
    monkeypatch.setattr(worker, "open", _full_disk_open, raising=False)
    assert cli.main(["anonymize", str(split.root), str(out), "--method", "blur", "--workers", "1",
                     "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out / 'images' / '0--A' / 'a0.jpg'}: No space left on device" in err
    assert not list(out.rglob("*.part"))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG])
def test_an_atomic_write_that_fails_names_the_final_path(tmp_path, monkeypatch, code):
    from safefakes.data import images

    monkeypatch.setattr(_FullDisk, "code", code)
    monkeypatch.setattr(images, "open", _full_disk_open, raising=False)
    target = tmp_path / "dir" / "table.csv"
    with pytest.raises(OSError) as err:
        images.write_text_atomic(target, "a,b\n")
    assert err.value.errno == code and err.value.filename == str(target)
    assert list(target.parent.iterdir()) == []


@pytest.mark.parametrize("damage", ["original", "truncated"])
def test_an_output_replaced_by_hand_is_redone_on_rerun(tmp_path, damage):
    make_split(tmp_path / "orig", FACES, seed=1)
    anonymize_split(tmp_path / "orig", tmp_path / "anon", build_anonymizer("blur"), workers=1, progress=False)
    output = tmp_path / "anon/images/0--A/a0.jpg"
    done = output.read_bytes()
    # The user copies the original over an output (or a copy of it failed half-way), then reruns.
    if damage == "original":
        shutil.copyfile(tmp_path / "orig/images/0--A/a0.jpg", output)
    else:
        output.write_bytes(done[: len(done) // 2])
    report = anonymize_split(tmp_path / "orig", tmp_path / "anon", build_anonymizer("blur"), workers=1,
                             progress=False)
    assert report.n_resumed == 1  # the untouched faceless image only
    assert output.read_bytes() == done
    assert audit_split(tmp_path / "orig", tmp_path / "anon").passed


def test_a_detector_learning_rate_written_1e_3_is_the_number_yaml_reads_as_text(tmp_path):
    from safefakes.detector.config import load_config

    config = tmp_path / "det.yaml"
    config.write_text("lr: 1e-3\n", encoding="utf-8")
    assert load_config(config).lr == 0.001


def test_a_full_disk_while_journaling_names_the_journal(tmp_path, capsys, monkeypatch):
    from safefakes.engine import worker

    def full_journal(parts: Path):
        parts.mkdir(parents=True, exist_ok=True)
        return io.TextIOWrapper(_FullDisk(parts / "journal-test.jsonl", "w"), encoding="utf-8")

    split = make_split(tmp_path / "orig", FACES)
    out = tmp_path / "out"
    monkeypatch.setattr(worker, "open_journal", full_journal)
    assert cli.main(["anonymize", str(split.root), str(out), "--method", "blur", "--workers", "1",
                     "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out / '.anonymize_parts' / 'journal-test.jsonl'}: No space left on device" in err


def test_a_detector_config_that_is_not_utf8_names_the_file(tmp_path, capsys):
    """Issue 28 sweep: a UnicodeDecodeError traceback."""
    split = make_split(tmp_path / "train", FACES).root
    config = tmp_path / "det.yaml"
    config.write_bytes(b"lr: 0.1 \xff\n")
    out = tmp_path / "det"
    assert cli.main(["train-detector", str(split), str(out), "--config", str(config), "--allow-random-init",
                     "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{config}: not UTF-8 text" in err and "save the file as UTF-8" in err, err
    assert "Traceback" not in err and not out.exists()


def test_annotations_that_are_a_folder_and_an_unknown_device_are_errors_not_tracebacks(tmp_path):
    """Issue 28 sweep: IsADirectoryError and torch's RuntimeError ended in tracebacks."""
    from safefakes.data.wider_files import read_annotations
    from safefakes.devices import resolve_device

    (tmp_path / "annotations.txt").mkdir()
    with pytest.raises(InputError, match="a folder where the annotation file should be"):
        read_annotations(tmp_path / "annotations.txt")
    with pytest.raises(SafeFakesError, match="'tpu' is not a device torch knows"):
        resolve_device("tpu")


def test_a_non_utf8_table_and_synth_into_a_file_are_errors_naming_them(tmp_path, capsys):
    """Issue 28 sweep: both ended in tracebacks."""
    table = tmp_path / "g.csv"
    table.write_bytes(b"\xff\xfe garbage,\n1,2\n")
    assert cli.main(["correlate", str(table), "--out", str(tmp_path / "corr")]) != 0
    assert "g.csv: not a CSV table: not UTF-8 text" in capsys.readouterr().err
    (tmp_path / "DS").write_text("a file")
    assert cli.main(["synth", str(tmp_path / "DS"), "--train-images", "2"]) != 0
    err = capsys.readouterr().err
    assert "DS: a file, not a folder" in err and "Traceback" not in err
