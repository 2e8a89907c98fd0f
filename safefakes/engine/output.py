"""The output folder of a run: refusing the wrong one, and writing the final records.

A folder that holds a different run (other method, options, seed, JPEG
settings or input annotations) is refused; so is a non-empty folder that holds
no run. A split keeps its records beside its images (the anonymized-split
format); a photo run keeps them in ``.safefakes/`` (``records`` below).
The completion marker is removed first and written last, so a folder
never looks complete before its run says so.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from safefakes.anonymizers.base import Anonymizer
from safefakes.data.anonymized import COMPLETE_MARKER, INPUT_HASHES, MANIFEST, RUN_FILE, read_run
from safefakes.data.images import refuse_links, write_bytes_atomic, write_text_atomic
from safefakes.engine.journal import PARTS_DIR, merge_journals
from safefakes.engine.report import AnonymizationError, SplitReport
from safefakes.errors import InputError, SafeFakesError

SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")


def prepare_output(input_dir: Path, output_dir: Path, run: dict, resume: bool,
                   output_may_be_inside: bool = False, records: Path | None = None) -> None:
    """Check (or create) the output folder for ``run``.

    output_may_be_inside: the inputs are named files under ``input_dir`` (not
    the whole folder), so an output folder inside it is no overlap; one at or
    above it still is.
    records: the folder of the run's records (``anonymization.json``, the
    journals, later the manifest); None = ``output_dir`` itself (a split).
    A photo run keeps them in ``output_dir/.safefakes`` and words its errors
    for photos.
    """
    records = output_dir if records is None else records
    photos = records != output_dir
    what = "the anonymized photos" if photos else "the anonymized split"
    check_overlap(input_dir, output_dir, output_may_be_inside)
    dst = output_dir.resolve()
    if dst.exists() and not dst.is_dir():
        raise InputError(output_dir, "output path exists and is not a folder")
    if photos and (output_dir / RUN_FILE).is_file():
        raise SafeFakesError(
            f"output folder {output_dir} holds an anonymize-images output of an earlier version, with its records "
            f"({RUN_FILE}, {MANIFEST}, ...) beside the photos; this version keeps them in "
            f"{output_dir / records.name}/. `safefakes audit` still reads that folder as it is; to anonymize "
            "again, choose a new output folder (or delete this one)"
        )
    run_path = records / RUN_FILE
    run = json.loads(json.dumps(run))  # compare as stored (tuples become lists)
    if run_path.exists():
        previous = read_run(output_dir)
        if previous != run:
            diff = sorted(k for k in set(previous) | set(run) if previous.get(k) != run.get(k))
            details = "; ".join(f"{k}: there {previous.get(k)!r}, now {run.get(k)!r}" for k in diff)
            raise SafeFakesError(
                f"output folder {output_dir} holds a different anonymization run ({details}); "
                "choose another output folder, or delete this one to replace it"
            )
        if not resume:
            shutil.rmtree(records / PARTS_DIR, ignore_errors=True)
    elif dst.exists() and any(p for p in dst.iterdir() if not (photos and _empty_folder(p, records.name))):
        found = sorted(p.name for p in dst.iterdir())
        listed = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise SafeFakesError(
            f"output folder {output_dir} is not empty (it holds {listed}) and no earlier run of this tool wrote "
            f"it; choose an empty or new folder, so that no other file is mixed in with {what}"
        )
    refuse_links(output_dir)
    records.mkdir(parents=True, exist_ok=True)
    # Whatever follows, the folder must not look complete until this run says so.
    (records / COMPLETE_MARKER).unlink(missing_ok=True)
    # Temporary files of a killed worker (atomic_path's ".<name>.<random>.part").
    for tmp in output_dir.rglob(".*.part"):
        tmp.unlink(missing_ok=True)
    if not run_path.exists():
        write_text_atomic(run_path, json.dumps(run, indent=2, sort_keys=True) + "\n")


def _empty_folder(path: Path, name: str) -> bool:
    """``path`` is the empty folder ``name`` (the records folder of a run killed before its first record)."""
    return path.name == name and path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def check_overlap(input_dir: Path, output_dir: Path, output_may_be_inside: bool = False) -> None:
    """Refuse an output folder at, above or (unless ``output_may_be_inside``) inside the input folder."""
    src, dst = input_dir.resolve(), output_dir.resolve()
    if dst == src or dst in src.parents or (src in dst.parents and not output_may_be_inside):
        raise SafeFakesError(
            f"output folder {output_dir} overlaps the input folder {input_dir}; "
            "the input is never written to: choose a separate output folder"
        )


def finish_output(
    output_dir: Path,
    instance: Anonymizer,
    records: dict[str, tuple[dict, str | None]],
    order: list[str],
    annotated: dict[str, np.ndarray] | None,
    extra_hashes: dict[str, str],
    image_prefix: str,
    columns: tuple[str, ...],
    n_resumed: int,
    t0: float,
    records_dir: Path | None = None,
) -> SplitReport:
    """Merge the journals, write ``input_hashes.csv`` and ``manifest.csv``, then the completion marker.

    annotated: image -> boxes of a split run (its records hold statuses only);
    None for a plain-folder run, whose records carry the boxes found and their scores.
    records_dir: where the records go (as ``prepare_output`` was given); None = ``output_dir``.
    """
    where = output_dir if records_dir is None else records_dir
    merge_journals(where / PARTS_DIR, records, order)
    lines, failed, counts, hashes = [",".join(columns) + "\n"], {}, Counter(), dict(extra_hashes)
    method, with_score = instance.name, "score" in columns
    for name in order:
        rec = records[name][0]
        if rec.get("sha256"):
            hashes[image_prefix + name] = rec["sha256"]
        if rec.get("error"):
            failed[name] = rec["error"]
        statuses = rec["statuses"]
        if not statuses:
            continue
        counts.update(statuses)
        boxes = rec["boxes"] if annotated is None else annotated[name].tolist()
        image = csv_field(name)
        if with_score:
            scores = rec.get("scores") or [""] * len(statuses)
            lines.extend(f"{image},{i},{x},{y},{w},{h},{score},{method},{status}\n"
                         for i, ((x, y, w, h), score, status) in enumerate(zip(boxes, scores, statuses)))
        else:
            lines.extend(f"{image},{i},{x},{y},{w},{h},{method},{status}\n"
                         for i, ((x, y, w, h), status) in enumerate(zip(boxes, statuses)))
    hash_buf = io.StringIO()
    hash_writer = csv.writer(hash_buf, lineterminator="\n")
    hash_writer.writerow(("file", "sha256"))
    hash_writer.writerows(sorted(hashes.items()))
    write_text_atomic(where / INPUT_HASHES, hash_buf.getvalue())
    write_text_atomic(where / MANIFEST, "".join(lines))
    n_faces = len(lines) - 1
    report = SplitReport(output_dir, instance.name, len(order), n_faces, n_resumed,
                         dict(sorted(counts.items())), failed, time.perf_counter() - t0)
    if failed:
        listed = "; ".join(f"{name}: {msg}" for name, msg in list(failed.items())[:10])
        more = f" (and {len(failed) - 10} more, see {where / MANIFEST})" if len(failed) > 10 else ""
        raise AnonymizationError(
            f"{len(failed)} image(s) could not be anonymized and were left out of {output_dir}: "
            f"{listed}{more}. The output is marked incomplete (no {COMPLETE_MARKER}); replace or remove "
            "these images and rerun the same command (finished images are kept)",
            report,
        )
    marker = {"images": len(order), "faces": n_faces, "status_counts": report.status_counts}
    write_text_atomic(where / COMPLETE_MARKER, json.dumps(marker, indent=2, sort_keys=True) + "\n")
    return report


def check_jpeg(quality: int, subsampling: str) -> None:
    if not 1 <= int(quality) <= 100:
        raise SafeFakesError(f"JPEG quality must be 1..100, got {quality}")
    if subsampling not in SUBSAMPLINGS:
        raise SafeFakesError(f"JPEG subsampling must be one of {', '.join(SUBSAMPLINGS)}, got {subsampling!r}")


def csv_field(text: str) -> str:
    """``text`` as one CSV field (quoted only when it must be, as csv.writer's QUOTE_MINIMAL does)."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def copy_if_changed(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    if not dst.exists() or dst.read_bytes() != data:
        write_bytes_atomic(dst, data)
