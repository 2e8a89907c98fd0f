"""Shared helpers of the benchmarks: timing and result files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).resolve().parent / "results"


def best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls, in seconds (least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def child_env() -> dict[str, str]:
    """The environment of a benchmark's child process: this repository importable as ``benchmarks``."""
    root = str(Path(__file__).resolve().parents[1])
    return dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))


def thread_pairing(child_argv: Callable[[int, str], list[str]]) -> dict:
    """What 2 cores do with one job on 2 threads against two 1-thread jobs at once.

    ``child_argv(threads, name)`` gives the arguments after ``python -m`` of a
    fresh process that runs one job on ``threads`` torch threads (``name``: its
    own output folder) and prints ``{"rate": work per second}`` as its last
    line. Measured: one job on 1 thread (the baseline), one on 2, then two
    1-thread jobs side by side (the study's way on 2 cores).
    """
    env = child_env()

    def rates(specs: list[tuple[int, str]]) -> list[float]:
        procs = [subprocess.Popen([sys.executable, "-m", *child_argv(threads, name)], stdout=subprocess.PIPE,
                                  text=True, env=env) for threads, name in specs]
        outs = [p.communicate()[0] for p in procs]
        if any(p.returncode for p in procs):
            raise RuntimeError("a benchmark job failed")
        return [float(json.loads(o.strip().splitlines()[-1])["rate"]) for o in outs]

    (one,) = rates([(1, "t1")])
    (two,) = rates([(2, "t2")])
    t0 = time.perf_counter()
    pair = rates([(1, "pa"), (1, "pb")])
    return {"one_thread_per_s": round(one, 3), "two_threads_per_s": round(two, 3),
            "two_one_thread_jobs_per_s_each": [round(r, 3) for r in pair],
            "speedup_two_threads_vs_one": round(two / one, 3),
            "throughput_two_jobs_vs_one_two_thread_job": round(sum(pair) / two, 3),
            "pair_wall_s": round(time.perf_counter() - t0, 1), "load_average": os.getloadavg()[0]}


def describe_pairing(what: str, unit: str, r: dict) -> str:
    """One line of a ``thread_pairing`` result."""
    pair = " + ".join(f"{x:.2f}" for x in r["two_one_thread_jobs_per_s_each"])
    return (f"{what} on 2 cores: 1 thread {r['one_thread_per_s']:.2f} {unit}/s, 2 threads "
            f"{r['two_threads_per_s']:.2f} {unit}/s (x{r['speedup_two_threads_vs_one']:.2f}); two 1-thread jobs "
            f"at once {pair} {unit}/s: x{r['throughput_two_jobs_vs_one_two_thread_job']:.2f} the two-thread "
            f"job's throughput (load average {r['load_average']:.1f})")
