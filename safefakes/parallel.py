"""Process pools that fork safely from a process that has already used OpenCV.

A child forked while OpenCV's thread pool runs inherits the pool's locks but
not its threads, and hangs at its first OpenCV call (seen in the test suite:
a serial run followed by a parallel one deadlocked now and then). Joining
OpenCV's threads around the fork avoids it; they start again lazily.
"""

from __future__ import annotations

import multiprocessing
import sys
from contextlib import contextmanager
from typing import Iterator


def fork_context() -> multiprocessing.context.BaseContext:
    """"fork" where there is one: spawn re-imports the caller's main module, which
    breaks Snakemake scripts and other scripts without a ``__main__`` guard."""
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


@contextmanager
def opencv_threads_joined() -> Iterator[None]:
    """Run the body (which starts worker processes) with OpenCV's thread pool joined."""
    cv2 = sys.modules.get("cv2")
    if cv2 is None:
        yield
        return
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # joins the pool's threads
    try:
        yield
    finally:
        cv2.setNumThreads(threads)
