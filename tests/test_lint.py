"""Ruff (pyflakes, import order, bugbear; pyproject.toml's [tool.ruff]) finds nothing: `make lint` is clean."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_ruff_finds_nothing():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"ruff check found problems (fix them, or run `ruff check --fix`):\n{proc.stdout}"
