"""The workers' journals: one line per finished image, so that an interrupted run resumes.

Each worker process appends to its own file under ``.anonymize_parts/`` (no
locking needed); at the end the parent merges them into one ``records.jsonl``
in annotation order, so every run leaves the same bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from safefakes.data.images import write_text_atomic

PARTS_DIR = ".anonymize_parts"
RECORDS = "records.jsonl"


def open_journal(parts: Path):
    """A new journal file of this process, opened for appending."""
    parts.mkdir(parents=True, exist_ok=True)
    return open(parts / f"journal-{os.getpid()}-{os.urandom(4).hex()}.jsonl", "a", encoding="utf-8")


def read_journals(parts: Path) -> dict[str, tuple[dict, str]]:
    """name -> (record, its line) of every image an earlier run finished."""
    records: dict[str, tuple[dict, str]] = {}
    if not parts.is_dir():
        return records
    for path in sorted(parts.glob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn by a kill: that image is redone
                # Records of another format (an older version) are ignored: those images are redone.
                if isinstance(rec, dict) and "image" in rec and "statuses" in rec and not rec.get("error"):
                    # Re-serialized: a line torn before its newline may still parse.
                    records[rec["image"]] = (rec, json.dumps(rec, separators=(",", ":")) + "\n")
    return records


def merge_journals(parts: Path, records: dict[str, tuple[dict, str | None]], order: list[str]) -> None:
    """Replace the per-process journals by one file in annotation order (same bytes on every run)."""
    if not parts.is_dir():
        return
    old = [p for p in parts.glob("*.jsonl") if p.name != RECORDS]
    lines = [records[name][1] for name in order if name in records and records[name][1] is not None]
    write_text_atomic(parts / RECORDS, "".join(lines))
    for path in old:
        path.unlink(missing_ok=True)
