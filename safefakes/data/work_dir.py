"""A training's work folder: checkpoints of an interrupted run, resumed only by the same run.

A training (detector or GAN) keeps its periodic checkpoints in a work folder
so that a killed job resumes instead of starting over. Resuming is only right
when the checkpoints come from the same settings, code and data: the folder
records them in ``run.json`` (the stamp), and a folder with another stamp, or
none, is emptied first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping

from safefakes.data.images import write_text_atomic

STAMP = "run.json"


def prepare_work_dir(work: str | Path, stamp: Mapping[str, Any]) -> Path:
    """Make ``work`` hold checkpoints of this run only (``stamp``: settings, code version, inputs).

    Returns the folder. The checkpoints of an earlier run with the same stamp
    are kept (the training resumes them); anything else in the folder is removed.
    """
    work = Path(work)
    stamp = json.loads(json.dumps(stamp))  # compare as stored (tuples become lists)
    path = work / STAMP
    if work.exists():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            previous = None
        if previous != stamp:
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        write_text_atomic(path, json.dumps(stamp, indent=1) + "\n")
    return work
