"""The privacy audit of an anonymized split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from safefakes.engine.split import anonymize_split
from safefakes.engine.audit import audit_split
from safefakes.anonymizers.registry import build_anonymizer
from safefakes.commands import anonymize as anonymize_command
from safefakes.data.images import read_image, write_image
from builders import make_split

FACES = {
    "0--A/a0.jpg": [[20, 16, 40, 48], [90, 30, 30, 36]],
    "0--A/a1.jpg": [],
    "0--A/a2.jpg": [[10, 10, 6, 6], [60, 20, 44, 50], [150, 10, 0, 10]],
    "1--B/b0.jpg": [[100, 40, 40, 44], [300, 10, 20, 20]],
}


@pytest.fixture()
def dirs(tmp_path) -> tuple[Path, Path]:
    make_split(tmp_path / "orig", FACES, seed=5)
    return tmp_path / "orig", tmp_path / "anon"


@pytest.mark.parametrize("method", ["blur", "blackout", "pixelate", "fullblur"])
def test_a_proper_run_passes(dirs, method):
    orig, anon = dirs
    anonymize_split(orig, anon, build_anonymizer(method), workers=1, progress=False)
    report = audit_split(orig, anon)
    assert report.passed, report.format()
    assert report.n_faces == 7 and report.n_difference_checked >= 3
    assert report.n_input_files_checked == 5  # annotations.txt + 4 images


def test_a_face_left_unanonymized_is_caught(dirs):
    orig, anon = dirs
    anonymize_split(orig, anon, build_anonymizer("blackout"), workers=1, progress=False)
    # Put face 1 of a0 back as it was, keeping face 0 black: a leak the manifest hides.
    out = read_image(anon / "images/0--A/a0.jpg").copy()
    out[30:66, 90:120] = read_image(orig / "images/0--A/a0.jpg")[30:66, 90:120]
    write_image(anon / "images/0--A/a0.jpg", out)
    # And an image whose file is simply the original.
    (anon / "images/0--A/a2.jpg").write_bytes((orig / "images/0--A/a2.jpg").read_bytes())
    report = audit_split(orig, anon)
    assert not report.passed
    leaks = {(f.image, f.face_index) for f in report.failures if f.check == "difference"}
    assert leaks == {("0--A/a0.jpg", 1), ("0--A/a2.jpg", 1)}
    assert "0--A/a0.jpg face 1" in report.format()


def test_a_modified_original_is_caught(dirs):
    orig, anon = dirs
    anonymize_split(orig, anon, build_anonymizer("blur"), workers=1, progress=False)
    img = read_image(orig / "images/1--B/b0.jpg").copy()
    img[0, 0] = 255 - img[0, 0]
    write_image(orig / "images/1--B/b0.jpg", img)
    report = audit_split(orig, anon)
    assert [(f.check, f.image) for f in report.failures] == [("input_unchanged", "images/1--B/b0.jpg")]


def test_manifest_gaps_and_wrong_statuses_are_caught(dirs):
    orig, anon = dirs
    anonymize_split(orig, anon, build_anonymizer("blackout", min_size=8), workers=1, progress=False)
    lines = (anon / "manifest.csv").read_text().splitlines()
    # drop the row of 1--B/b0.jpg face 0; mark a big face of a0 as too small
    kept = [ln for ln in lines if not ln.startswith("1--B/b0.jpg,0,")]
    kept = [ln.replace("0--A/a0.jpg,0,20,16,40,48,blackout,anonymized",
                       "0--A/a0.jpg,0,20,16,40,48,blackout,too_small_left_as_is") for ln in kept]
    (anon / "manifest.csv").write_text("\n".join(kept) + "\n")
    report = audit_split(orig, anon)
    found = {(f.check, f.image, f.face_index) for f in report.failures}
    assert ("manifest", "1--B/b0.jpg", 0) in found
    assert ("status", "0--A/a0.jpg", 0) in found
    (anon / "manifest.csv").write_text("\n".join(lines) + "\n")
    assert audit_split(orig, anon).passed
    # the run used min_size 8; auditing for min_size 4 flags the 6 px face that was left as is
    strict = audit_split(orig, anon, min_size=4)
    assert [(f.check, f.image, f.face_index) for f in strict.failures] == [("status", "0--A/a2.jpg", 0)]


def test_incomplete_run_fails(dirs):
    orig, anon = dirs
    anonymize_split(orig, anon, build_anonymizer("blur"), workers=1, progress=False)
    (anon / "anonymization.done").unlink()
    report = audit_split(orig, anon)
    assert [f.check for f in report.failures] == ["run"]


def test_audit_command_exit_codes_and_json(dirs, tmp_path, capsys):
    orig, anon = dirs
    anonymize_split(orig, anon, build_anonymizer("pixelate"), workers=1, progress=False)
    parser = argparse.ArgumentParser()
    anonymize_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["audit", str(orig), str(anon), "--json", str(tmp_path / "audit.json")])
    assert args.func(args) == 0
    assert "PASSED" in capsys.readouterr().out
    assert json.loads((tmp_path / "audit.json").read_text())["passed"] is True

    (anon / "images/0--A/a0.jpg").write_bytes((orig / "images/0--A/a0.jpg").read_bytes())
    assert args.func(args) == 1
    printed = capsys.readouterr().out
    assert "FAILED" in printed and "0--A/a0.jpg face 0" in printed
    data = json.loads((tmp_path / "audit.json").read_text())
    assert data["passed"] is False and {f["image"] for f in data["failures"]} == {"0--A/a0.jpg"}
