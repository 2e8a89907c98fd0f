"""The conda environment and pyproject.toml pin the same packages."""

from __future__ import annotations

import re
import tomllib

import yaml
from conftest import REPO


def _pins(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*", spec)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_conda_env_pins_match_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pyproject = _pins(project["dependencies"])
    env = yaml.safe_load((REPO / "envs" / "safefakes.yaml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda = _pins([s for s in pip_section if not s.startswith("-")])
    assert pyproject, "pyproject.toml pins nothing"
    assert all(re.fullmatch(r"[^=<>~!]+==[^=]+", d.replace(" ", "")) for d in project["dependencies"]), \
        "every runtime dependency must be an exact pin"
    assert conda == pyproject
    assert "python=3.11" in env["dependencies"]
