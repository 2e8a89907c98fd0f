"""Run the benchmarks: ``python -m benchmarks [NAME ...] [--quick]``.

Each ``benchmarks/bench_<name>.py`` has ``run(quick: bool) -> None``, which
measures its target next to a baseline in the same process and prints the
ratio. Results are also written under ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*",
                        help=f"benchmarks to run (default: all of {', '.join(names)})")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    for name in args.names or names:
        print(f"== benchmark {name} ==", flush=True)
        t0 = time.perf_counter()
        module = importlib.import_module(f"benchmarks.bench_{name}")
        module.run(quick=args.quick)
        print(f"== {name} done in {time.perf_counter() - t0:.1f} s ==\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
