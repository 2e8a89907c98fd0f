"""The code version of a rule: the import closure of its script, computed from the source."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import REPO

from safefakes.anonymizers.registry import METHODS, method_entry
from safefakes.code_version import code_version, import_closure

SCRIPTS = REPO / "workflow_scripts"


def closure(script: str, *extra: str) -> set[str]:
    return set(import_closure([SCRIPTS / script, *extra], REPO))


def test_each_branch_closure_holds_what_it_runs_and_not_the_other_branches():
    blur = closure("anonymize.py", method_entry("blur").module)
    assert {"safefakes.anonymizers.gaussian", "safefakes.anonymizers.blur", "safefakes.anonymizers.face_region",
            "safefakes.anonymizers.registry", "safefakes.engine.split", "safefakes.data.anonymized"} <= blur
    # The registry names modules, it does not import them: no other method in a method's branch ...
    assert not {m for m in blur if m.startswith("safefakes.anonymizers.gan.")}
    assert not {"safefakes.anonymizers.blackout", "safefakes.anonymizers.pixelate"} & blur
    blackout = closure("anonymize.py", method_entry("blackout").module)
    assert "safefakes.anonymizers.gaussian" not in blackout
    deepprivacy = closure("anonymize_gan.py", method_entry("deepprivacy").module)
    assert {"safefakes.anonymizers.gan.deepprivacy", "safefakes.anonymizers.gan.anonymizer"} <= deepprivacy
    assert "safefakes.keypoints.provider" in deepprivacy
    # ... and neither the other GANs nor the conventional methods in a GAN's branch.
    assert not {"safefakes.anonymizers.gan.ciagan", "safefakes.anonymizers.blur",
                "safefakes.anonymizers.gaussian"} & deepprivacy
    detector = closure("train_detector.py")
    assert {"safefakes.data.split", "safefakes.data.wider_files", "safefakes.detector.loss"} <= detector
    assert not {m for m in detector if m.startswith(("safefakes.anonymizers", "safefakes.engine"))}
    assert "safefakes.commands.synth" not in set().union(*(closure(p.name) for p in SCRIPTS.glob("[a-z]*.py")))


def test_the_hash_follows_a_module_in_the_closure_only(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "safefakes", root / "safefakes", ignore=shutil.ignore_patterns("__pycache__"))
    script = root / "anonymize.py"
    shutil.copy(SCRIPTS / "anonymize.py", script)
    entries = [script, "safefakes.anonymizers.blur"]
    before = code_version(entries, root)
    inside = root / "safefakes" / "anonymizers" / "gaussian.py"
    inside.write_text(inside.read_text() + "\n# changed\n")
    after = code_version(entries, root)
    assert after != before
    for outside in ("detector/loss.py", "anonymizers/gan/deepprivacy.py"):
        path = root / "safefakes" / outside
        path.write_text(path.read_text() + "\n# changed\n")
        assert code_version(entries, root) == after, outside


def test_a_missing_module_is_an_error(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("from safefakes.nowhere import thing\n")
    with pytest.raises(ValueError, match="safefakes.nowhere"):
        import_closure([script], REPO)


def test_imports_inside_functions_are_followed(tmp_path):
    root = tmp_path / "repo"
    pkg = root / "safefakes"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from safefakes import b\n    return b\n")
    (pkg / "b.py").write_text("X = 1\n")
    assert import_closure(["safefakes.a"], root) == ["safefakes", "safefakes.a", "safefakes.b"]
    assert Path(root / "safefakes" / "b.py").exists()


def test_a_change_to_one_method_changes_that_method_s_code_version_only(tmp_path):
    # Every method of the registry: its job's code is its script and its module; touching
    # the module changes that method's version and no other method's.
    root = tmp_path / "repo"
    shutil.copytree(REPO / "safefakes", root / "safefakes", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("anonymize.py", "anonymize_gan.py"):
        shutil.copy(SCRIPTS / name, root / name)

    def versions() -> dict[str, str]:
        return {m: code_version([root / ("anonymize_gan.py" if e.kind == "gan" else "anonymize.py"), e.module], root)
                for m, e in METHODS.items()}

    before = versions()
    assert len(set(before.values())) == len(METHODS)
    for method, entry in METHODS.items():
        path = root / Path(*entry.module.split(".")).with_suffix(".py")
        text = path.read_text()
        path.write_text(text + "\n# changed\n")
        try:
            after = versions()
        finally:
            path.write_text(text)
        assert {m for m in METHODS if after[m] != before[m]} == {method}, method
