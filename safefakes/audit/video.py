"""The audit of anonymized videos: sampled frames, each judged as a photo is.

A video of an ``anonymize-images`` output (its record in
``OUTPUT/.safefakes/videos/<name>.json``, its input hash in
``input_hashes.csv``), or two video files given as they are (an original and
its anonymized copy, written by this tool or another), is read frame by frame
through ffmpeg (``safefakes.video.io``). Every ``every``-th frame (default:
about two a second, ``default_every``) of the original and the same frame of
the copy go through ``face_audit.check_pair``: the audit's own finder on both,
survival and, with ``reid``, dlib's recognizer for every face, and the report
names each failing face by its frame index. A frame between two samples is
not looked at: ``--every 1`` checks them all.
"""

from __future__ import annotations

from pathlib import Path

from safefakes.audit.faces import (
    DEFAULT_MAX_SURVIVAL,
    DEFAULT_MIN_CHECKED_SIZE,
    DEFAULT_MIN_DETAIL,
    AuditFinder,
    CheckSettings,
    FolderAuditReport,
    audit_finder,
    check_pair,
    check_settings,
    dlib_describer,
)
from safefakes.errors import InputError, SafeFakesError
from safefakes.evaluation.leakage import DlibDescriber
from safefakes.video.io import VIDEO_SUFFIXES, is_video_name, probe, read_frames

#: Frames checked a second by default: a face must stay uncovered for half a second to be sure to be sampled.
DEFAULT_CHECKS_PER_SECOND = 2.0


def default_every(fps: float) -> int:
    """Every how many frames one is checked by default: about ``DEFAULT_CHECKS_PER_SECOND`` a second."""
    if not fps or fps <= 0:
        return 1
    return max(1, int(round(fps / DEFAULT_CHECKS_PER_SECOND)))


def check_video_pair(name: str, src: Path, dst: Path, finder: AuditFinder, settings: CheckSettings,
                     describer: DlibDescriber | None, every: int | None, report: FolderAuditReport) -> None:
    """Judge every ``every``-th frame of ``dst`` against ``src``; record problems and faces in ``report``."""
    try:
        before_info = probe(src)
    except InputError as exc:
        report.problems.append(str(exc))
        return
    try:
        after_info = probe(dst)
    except InputError as exc:
        report.problems.append(f"{exc} (the anonymized copy of {src})")
        return
    if (after_info.width, after_info.height) != (before_info.width, before_info.height):
        report.problems.append(f"{dst}: frames of {after_info.width}x{after_info.height}, the original's are "
                               f"{before_info.width}x{before_info.height}: not a copy the audit can compare")
        return
    if after_info.frames != before_info.frames:
        report.problems.append(f"{dst}: {after_info.frames} frames, the original has {before_info.frames}: frames "
                               "were dropped or added, so the audit cannot pair them (rerun anonymize-images)")
        return
    step = every or default_every(before_info.fps)
    report.n_videos += 1
    report.frame_steps[name] = step
    pairs = zip(read_frames(src, step, before_info), read_frames(dst, step, after_info))
    try:
        for (index, before), (_, after) in pairs:
            checks, new = check_pair(name, before, after, finder, settings, describer, frame=index)
            report.faces.extend(checks)
            report.new_faces.extend(new)
            report.n_frames += 1
    except InputError as exc:
        report.problems.append(str(exc))


def audit_video_files(
    original: str | Path,
    anonymized: str | Path,
    *,
    reid: bool = False,
    threshold: float | None = None,
    upsample: int | None = None,
    max_side: int | None = None,
    weights: str | Path | None = None,
    max_survival: float = DEFAULT_MAX_SURVIVAL,
    min_detail: float = DEFAULT_MIN_DETAIL,
    min_checked_size: int = DEFAULT_MIN_CHECKED_SIZE,
    search_copies: bool = False,
    every: int | None = None,
    finder: AuditFinder | None = None,
) -> FolderAuditReport:
    """Audit one anonymized video file against its original (no run records: only the frames are judged)."""
    original, anonymized = Path(original), Path(anonymized)
    for path, role in ((original, "ORIGINAL"), (anonymized, "ANONYMIZED")):
        if not is_video_name(path):
            raise InputError(path, f"{role} is not a video file ({', '.join(VIDEO_SUFFIXES)})",
                             hint="give two videos (the original, then its anonymized copy) or two folders")
        if not path.is_file():
            raise InputError(path, f"{role} video not found",
                             hint="give the video the anonymization read first, then the one it wrote")
    if original.resolve() == anonymized.resolve():
        raise SafeFakesError(f"{original} is given as both ORIGINAL and ANONYMIZED: give the original video first, "
                             "then its anonymized copy")
    settings = check_settings(max_survival, min_detail, min_checked_size, search_copies)
    finder = finder or audit_finder({}, threshold, upsample, max_side, weights)
    report = FolderAuditReport(original, anonymized, finder.describe(), bool(reid), settings)
    describer = dlib_describer() if reid else None
    check_video_pair(original.name, original, anonymized, finder, settings, describer, every, report)
    return report

