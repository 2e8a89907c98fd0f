"""The ``safefakes`` command: one sub-command per module in ``safefakes.commands``.

Command modules import their heavy dependencies (torch, dlib) inside the
handler, so that ``safefakes --help`` and ``safefakes evaluate`` start fast.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys

from safefakes import __version__
from safefakes.commands import anonymize, detector, detector_view, evaluate, gan, metrics, synth, tables
from safefakes.errors import SafeFakesError

# Each module has ``add_parser(subparsers)``, which registers one or more
# sub-commands and sets ``func`` (args -> exit code) on each.
COMMANDS = (synth, evaluate, metrics, tables, gan, anonymize, detector, detector_view,)
_STORAGE_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safefakes",
        description="Anonymize face datasets and measure what it costs a face detector.",
    )
    parser.add_argument("--version", action="version", version=f"safefakes {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except SafeFakesError as exc:
        print(f"safefakes {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # What the file system refused (a read-only folder, a full disk): one line, not a traceback.
        if exc.errno not in _STORAGE_ERRORS:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        print(f"safefakes {args.command}: error: cannot write{where}: {exc.strerror or exc} "
              "(free some space or choose a folder you can write to, then rerun the same command: "
              "finished work is kept)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"safefakes {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
