"""A split anonymized by another tool, imported into the study as one more method (issue 19)."""

from __future__ import annotations

import shutil

import pytest
from builders import make_split

from safefakes.anonymizers.registry import EXTERNAL, KINDS, build_anonymizer
from safefakes.audit.split import audit_split
from safefakes.data.anonymized import MANIFEST
from safefakes.data.images import read_image, write_image
from safefakes.engine.split import anonymize_split
from safefakes.errors import InputError, SafeFakesError
from safefakes.importers.external import SOURCE_FILE, import_external_split

FACES = {"0--A/a0.jpg": [[20, 16, 40, 48]], "0--A/a1.jpg": [], "1--B/b0.jpg": [[60, 20, 44, 50]]}


@pytest.fixture()
def splits(tmp_path):
    make_split(tmp_path / "train", FACES, seed=3)
    anonymize_split(tmp_path / "train", tmp_path / "run", build_anonymizer("pixelate"), workers=1, progress=False)
    # What another tool leaves: its images only (no annotations, no manifest).
    shutil.copytree(tmp_path / "run" / "images", tmp_path / "theirs" / "images")
    return tmp_path / "train", tmp_path / "theirs"


def test_an_external_split_is_imported_and_audited_like_a_method(splits, tmp_path):
    train, theirs = splits
    assert EXTERNAL in KINDS
    assert import_external_split(train, theirs, tmp_path / "point" / "train") == 3
    out = tmp_path / "point" / "train"
    assert (out / "annotations.txt").read_bytes() == (train / "annotations.txt").read_bytes()
    assert not (out / MANIFEST).exists() and (out / SOURCE_FILE).exists()
    assert sorted(p.relative_to(out / "images").as_posix() for p in (out / "images").rglob("*.jpg")) == \
        sorted(FACES)
    report = audit_split(train, out)
    assert report.passed and report.kind == "external" and report.n_survival_checked == 2, report.format()
    with pytest.raises(SafeFakesError, match="exists"):
        import_external_split(train, theirs, out)


def test_an_external_split_that_is_not_the_original_is_refused(splits, tmp_path):
    train, theirs = splits
    (theirs / "annotations.txt").write_text((train / "annotations.txt").read_text().replace("60 20 44", "61 20 44"))
    with pytest.raises(InputError, match="boxes of 1--B/b0.jpg differ"):
        import_external_split(train, theirs, tmp_path / "out")
    (theirs / "annotations.txt").unlink()
    (theirs / "images/0--A/a1.jpg").unlink()
    with pytest.raises(InputError, match="a1.jpg: missing"):
        import_external_split(train, theirs, tmp_path / "out")
    write_image(theirs / "images/0--A/a1.jpg", read_image(train / "images/0--A/a1.jpg")[:50])
    with pytest.raises(InputError, match="differs from the original"):
        import_external_split(train, theirs, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.*"))
