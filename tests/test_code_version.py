"""The code version of a rule: the import closure of its script, computed from the source."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import REPO

from safefakes.code_version import code_version, import_closure

SCRIPTS = REPO / "workflow_scripts"


def closure(script: str, *extra: str) -> set[str]:
    return set(import_closure([SCRIPTS / script, *extra], REPO))


def test_each_branch_closure_holds_what_it_runs_and_not_the_other_branches():
    conventional = closure("anonymize.py", "safefakes.anonymizers.conventional")
    assert {"safefakes.anonymizers.gaussian", "safefakes.anonymizers.conventional",
            "safefakes.anonymizers.registry", "safefakes.engine.split", "safefakes.data.anonymized"} <= conventional
    # The registry and the GAN package dispatch by name: no GAN module in the conventional branch ...
    assert not {m for m in conventional if m.startswith("safefakes.anonymizers.gan.")}
    deepprivacy = closure("anonymize_gan.py", "safefakes.anonymizers.gan.deepprivacy",
                          "safefakes.anonymizers.gan.anonymizer")
    assert "safefakes.anonymizers.gan.deepprivacy" in deepprivacy
    assert "safefakes.keypoints.provider" in deepprivacy
    # ... and neither the other GANs nor the conventional methods in a GAN's branch.
    assert not {"safefakes.anonymizers.gan.ciagan", "safefakes.anonymizers.conventional",
                "safefakes.anonymizers.gaussian"} & deepprivacy
    detector = closure("train_detector.py")
    assert {"safefakes.data.split", "safefakes.data.wider", "safefakes.detector.loss"} <= detector
    assert not {m for m in detector if m.startswith(("safefakes.anonymizers", "safefakes.engine"))}
    assert "safefakes.commands.synth" not in set().union(*(closure(p.name) for p in SCRIPTS.glob("[a-z]*.py")))


def test_the_hash_follows_a_module_in_the_closure_only(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "safefakes", root / "safefakes", ignore=shutil.ignore_patterns("__pycache__"))
    script = root / "anonymize.py"
    shutil.copy(SCRIPTS / "anonymize.py", script)
    entries = [script, "safefakes.anonymizers.conventional"]
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
