"""Running the images: serially in this process, or in a pool of worker processes.

Workers take chunks of contiguous images (at most ``MAX_CHUNK``); images that
an earlier, interrupted run journaled (and whose output exists, and whose
input still has the SHA-256 the journal recorded) are skipped; an input that
changed since is redone.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from typing import Iterable

from tqdm import tqdm

from safefakes.anonymizers.base import Anonymizer
from safefakes.data.anonymized import sha256_file
from safefakes.engine.journal import read_journals
from safefakes.engine.methods import AnonymizerSource, KeypointProvider
from safefakes.engine.worker import STATE, Settings, close_journal, init_worker, process_chunk
from safefakes.errors import SafeFakesError
from safefakes.parallel import fork_context, opencv_threads_joined

#: At most this many images per chunk: a worker takes one chunk (contiguous
#: images in annotation order) at a time and appends the chunk's journal
#: records in one write when it is done.
MAX_CHUNK = 32


class _Bar(tqdm):
    # No monitor thread: a thread alive while the pool forks can leave a
    # lock held forever in the children.
    monitor_interval = 0


def run_images(
    tasks: list[tuple],
    instance: Anonymizer,
    source: AnonymizerSource,
    provider: KeypointProvider | None,
    settings: Settings,
    workers: int | None,
    progress: bool,
    resume: bool,
    start_method: str | None = None,
) -> tuple[dict[str, tuple[dict, str | None]], int]:
    """Process every image not done yet; name -> (record, its journal line or None if it failed)."""
    records: dict[str, tuple[dict, str | None]] = {}
    todo = []
    journal = read_journals(settings.parts) if resume else {}
    output_root = os.fspath(settings.output_images)
    input_root = os.fspath(settings.input_images)
    for task in tasks:
        done = journal.get(task[0])
        if done is not None and not os.path.exists(os.path.join(output_root, task[0])):
            done = None
        if done is not None and done[0].get("sha256") and not _same_input(input_root, task[0], done[0]["sha256"]):
            done = None  # the input image changed since: its output is stale, redo it
        if done is not None and not _same_input(output_root, task[0], done[0].get("output_sha256")):
            done = None  # the output is not what the run wrote (an original copied over it): redo it
        if done is not None:
            records[task[0]] = done
        else:
            todo.append(task)
    n_resumed = len(records)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise SafeFakesError(f"workers must be >= 1, got {workers}")
    workers = min(workers, max(len(todo), 1))
    bar = _Bar(total=len(tasks), initial=n_resumed, unit="img", disable=not progress,
               desc=f"anonymize ({instance.name})", dynamic_ncols=True)
    try:
        for done_chunk in pool_results(todo, instance, source, provider, settings, workers, start_method):
            for rec, line in done_chunk:
                records[rec["image"]] = (rec, line)
            bar.update(len(done_chunk))
    finally:
        bar.close()
    return records, n_resumed


def _same_input(input_root: str, name: str, digest: str | None) -> bool:
    """Whether the file ``name`` under ``input_root`` has the hash ``digest`` (None: unknown, so no)."""
    if not digest:
        return False
    try:
        return sha256_file(os.path.join(input_root, name)) == digest
    except OSError:
        return False  # gone or unreadable: the worker reports it


def default_start_method() -> str:
    """"fork" (fast, works from any script), unless CUDA is up in this process.

    A forked child cannot use a CUDA context made by its parent, so GAN runs
    that already touched the GPU start their workers with "spawn" (which needs
    the caller's script to guard its entry point with ``if __name__ == "__main__"``).
    """
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return "spawn"
    return fork_context().get_start_method()


def chunks(n: int, workers: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of contiguous images: about 8 per worker, at most MAX_CHUNK images each."""
    size = max(1, min(MAX_CHUNK, n // (workers * 8)))
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def pool_results(todo, instance, source, provider, settings, workers, start_method=None) -> Iterable[list]:
    """Lists of (record, journal line) per finished chunk, in any order."""
    if not todo:
        return
    ranges = chunks(len(todo), workers)
    if workers == 1:
        init_worker(instance, provider, settings, todo)
        try:
            for chunk in ranges:
                yield process_chunk(chunk)
        finally:
            close_journal()
            STATE.clear()
        return
    ctx = multiprocessing.get_context(start_method or default_start_method())
    pool_source = source if source is not None else instance
    # Forked workers would otherwise walk (and so copy, page by page) every
    # object of this process in each of their garbage collections.
    gc.freeze()
    try:
        with opencv_threads_joined():
            # The task list travels once per worker (inherited when forked);
            # the chunks are only index ranges into it.
            pool = ctx.Pool(workers, initializer=init_worker,
                            initargs=(pool_source, provider, settings, todo, True))
        with pool:
            try:
                yield from pool.imap_unordered(process_chunk, ranges, chunksize=1)
            except BaseException:
                pool.terminate()
                raise
    finally:
        gc.unfreeze()


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
