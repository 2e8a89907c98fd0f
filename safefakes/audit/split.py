"""The privacy audit: does an anonymized split really hide every face it should?

``audit_split(ORIGINAL, ANONYMIZED)`` checks, and names every image and face
that fails:

1. the run is complete (``anonymization.done``, ``manifest.csv``,
   ``input_hashes.csv``, ``anonymization.json`` present) and its annotations
   are the original's; every image the annotations list is in the output
   (faceless ones too), and the output holds no other image, anywhere in it
   (an original copied in would otherwise pass unseen);
2. every annotated face of the original has exactly one manifest row with its
   box, and the manifest has no other rows;
3. every status is one the run may give: faces left as is are exactly those
   below the run's minimum size (``min_size`` of ``anonymization.json`` unless
   overridden), degenerate / outside statuses are true of their boxes,
   ``original_not_anonymized`` only in a run of the ``original`` method, and no
   face is ``unreadable_image``;
4. survival: no face the manifest says was changed still holds the
   original's detail (``safefakes.audit.survival``: normalised correlation of
   the band-passed luma inside the box's inner ellipse, over shifts of up to 4
   px, with the share of the face's own detail reproduced: straight lines
   across the box, an occluder's edge, do not count) above ``max_survival``;
5. optionally (``reid=True``) identity: the changed faces' recognizer
   descriptors do not match their originals' more often than the
   recognizer's measured chance level (dlib on photographs, the synthetic
   recognizer where the split has identity vectors). A recognizer matches
   some unrelated faces (dlib about 5 % of honestly blurred ones), so a
   match alone is no leak: the rate of matches is read against the rate the
   same outputs reach against the other faces' originals
   (``safefakes.evaluation.leakage.identification_rates``), and only an
   excess whose 95 % interval lies above 0 fails, naming every matched face.
   A single judged face has no chance level: a match fails it;
6. every input file the run read is unchanged (SHA-256 of ``input_hashes.csv``).

An audit that had faces to judge and could judge none of them fails (it
would claim what it never checked), and an ORIGINAL that holds a run's
records (``manifest.csv``, ``anonymization.json``) is refused: the two
folders were given the wrong way round.

A split written by another tool (no ``manifest.csv``, no run records) is
audited as *external*: every annotated face is taken as meant to be
anonymized, checks 1 (but for its annotations and images), 2, 3 and 6 do not
apply, and 4 and 5 judge every face.

About check 4 (calibrated by ``python -m benchmarks audit``, see docs/audit.md, and
on the default study's 627 judged train faces): a face re-encoded as JPEG at
quality 50 to 100 with 4:4:4 or 4:2:0 chroma, pasted in place or shifted by
2-3 px, scored at least 0.842 on skimage's photos; on the study's faces, pasted
in place or shifted by 1-3 px, p1 0.75-0.79 at quality 50, 0.85-0.90 at 70,
0.93-0.99 at 95
(17 of 2,508 at quality 50 and 4 at 70 under 0.75: faint faces beside an
occluder's straight edge, whose own detail JPEG removes). Blur, black boxes,
full-image blur and pixelation scored at most 0.015 on the photos; on the
study's faces p99 0.11 (blur), 0.18 (black box), 0.64 (pixelation, 2 over
0.75), and its GANs p99 0.72-0.74 (DeepPrivacy 4 and 5 over, Sun2018 5: faces of
16-28 px whose eyes and mouth the GAN put where the original's were). Hence
the threshold 0.75. Faces that cannot be judged are
counted, not failed: those under ``min_checked_size`` px (16: below it, the
measure of a black box and of a leak overlap), and featureless ones, whose
detail is under ``min_detail`` grey levels RMS (a flat patch: no method has
anything to remove, and JPEG noise dominates what is there).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from safefakes.anonymizers.regions import is_degenerate, is_outside, is_too_small
from safefakes.audit.survival import face_detail, survival, survival_of_copies
from safefakes.data.anonymized import (
    COMPLETE_MARKER,
    INPUT_HASHES,
    MANIFEST,
    RUN_FILE,
    Status,
    anonymization_record,
    read_input_hashes,
    read_manifest,
    read_run,
    sha256_file,
    unaccounted_images,
)
from safefakes.data.boxes import clip_box
from safefakes.data.images import decode_image, image_size, write_text_atomic
from safefakes.data.split import ANNOTATIONS, IMAGES, Split
from safefakes.data.wider_files import read_annotations, unsafe_name_problem
from safefakes.engine.settings import SURVIVAL_POLICIES, AuditSettings
from safefakes.errors import InputError, SafeFakesError
from safefakes.evaluation.face_pairs import crop_faces
from safefakes.evaluation.leakage import (
    DLIB,
    DLIB_MATCH_DISTANCE,
    RECOGNIZER_CROP,
    SYNTHETIC,
    SYNTHETIC_FALSE_MATCH_RATE,
    DlibDescriber,
    find_recognizer_crops,
    identification_rates,
    load_recognizer,
    train_recognizer_on_split,
)
from safefakes.parallel import fork_context, opencv_threads_joined

DEFAULT_MAX_SURVIVAL = 0.75
DEFAULT_MIN_DETAIL = 4.0
DEFAULT_MIN_CHECKED_SIZE = 16
#: Faces smaller than this are not described by the identity check (dlib's
#: landmarks need about this much; the synthetic recognizer's crops are 32 px).
DEFAULT_MIN_REID_SIZE = 32
#: Survival at or above this is a face left as it was (JPEG re-encoding only), never a method's weak
#: result: ``survival_verdict`` never merely records it.
UNTOUCHED = 0.98
EXTERNAL = "external"
KNOWN_STATUSES = {
    Status.ANONYMIZED, Status.TOO_SMALL, Status.NO_KEYPOINTS_FALLBACK, Status.NO_LANDMARKS_BLACKED_OUT,
    Status.DEGENERATE_BOX, Status.OUTSIDE_IMAGE, Status.WHOLE_IMAGE, Status.ORIGINAL, Status.UNREADABLE,
}


@dataclass(frozen=True)
class AuditFailure:
    check: str  # "run", "manifest", "status", "survival", "reid", "input_unchanged", "output", "judged"
    image: str | None
    face_index: int | None
    message: str
    value: float | None = None  # the measured score (survival) where the check has one

    def __str__(self) -> str:
        where = self.image or "-"
        if self.face_index is not None:
            where += f" face {self.face_index}"
        return f"[{self.check}] {where}: {self.message}"


@dataclass
class AuditReport:
    original_dir: str
    anonymized_dir: str
    method: str
    kind: str  # "run" (written by safefakes anonymize) or "external" (no manifest.csv)
    max_survival: float
    min_detail: float
    min_checked_size: int
    min_size: float
    search_copies: bool = False  # survival also searched mirrored and rescaled copies of each face
    n_images: int = 0
    n_faces: int = 0
    n_survival_checked: int = 0
    n_too_small_to_check: int = 0
    n_featureless: int = 0
    n_left_as_is: int = 0  # statuses under which the face was not changed (too small, degenerate, ...)
    reid: str | None = None  # the recognizer of the identity check, None when not asked for
    n_reid_checked: int = 0
    n_reid_matched: int = 0  # judged faces the recognizer matches with their originals
    reid_rate: float | None = None  # n_reid_matched / n_reid_checked
    reid_chance: float | None = None  # the rate the same outputs reach against other faces' originals
    reid_excess_low: float | None = None  # the 95 % interval of reid_rate - reid_chance
    reid_excess_high: float | None = None
    n_reid_not_judged: int = 0
    reid_not_judged_reason: str = ""
    n_input_files_checked: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    failures: list[AuditFailure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        data = asdict(self)
        data["passed"] = self.passed
        return data

    def _limits(self) -> str:
        """What the survival check does not see: said where the verdict is read, not only in the docs."""
        copies = "" if self.search_copies else "mirrored or rescaled (0.9 / 1.1) copies of a face, "
        then = ("the identity check may catch them" if self.reid is not None
                else "--reid judges identity instead and may catch them")
        return (f"{copies}copies sampled down and up again (as pixelation of a small face is) and faces moved "
                f"by more than 4 px pass the survival check; {then}")

    def format(self, max_failures: int = 50) -> str:
        lines = [
            f"Privacy audit of {self.anonymized_dir}",
            f"  original split:  {self.original_dir}",
            f"  method:          {self.method}" + (" (external split: no manifest.csv, every face judged)"
                                                   if self.kind == EXTERNAL else ""),
            f"  images / faces:  {self.n_images} / {self.n_faces}",
            "  statuses:        " + (", ".join(f"{k} {v}" for k, v in sorted(self.status_counts.items())) or "-"),
            f"  survival check:  {self.n_survival_checked} changed faces judged (fail above "
            f"{self.max_survival:g}); not judged: {self.n_too_small_to_check} under "
            f"{self.min_checked_size} px, {self.n_featureless} featureless (detail < {self.min_detail:g} "
            f"grey levels), {self.n_left_as_is} left as is by their status",
            "  not searched:    " + self._limits(),
        ]
        if self.reid is not None:
            reason = f" ({self.reid_not_judged_reason})" if self.reid_not_judged_reason else ""
            lines.append(f"  identity check:  {self.n_reid_checked} faces judged with {self.reid}; "
                         f"not judged: {self.n_reid_not_judged}{reason}")
            if self.reid_rate is not None:
                lines.append(f"                   {self.n_reid_matched} matched their original "
                             f"({100 * self.reid_rate:.1f} %)" + _chance_text(self))
        if self.kind != EXTERNAL:
            lines += [f"  minimum face size: {self.min_size:g} px",
                      f"  input files re-hashed: {self.n_input_files_checked}"]
        if self.passed and self.method == "original":
            # The study's baseline: nothing was to be changed, so its audit passes; the verdict says what it means.
            lines.append("PASSED: every check passed; method original: no face was anonymized (the study's "
                         "baseline): this split is NOT anonymized")
        elif self.passed:
            lines.append("PASSED: every check passed")
        else:
            by_check = Counter(f.check for f in self.failures)
            lines.append(f"FAILED: {len(self.failures)} problem(s) (" +
                         ", ".join(f"{k}: {v}" for k, v in sorted(by_check.items())) + ")")
            for failure in self.failures[:max_failures]:
                lines.append(f"  {failure}")
            if len(self.failures) > max_failures:
                lines.append(f"  ... and {len(self.failures) - max_failures} more (use --json for all)")
        return "\n".join(lines)


def audit_split(
    original_dir: str | Path,
    anonymized_dir: str | Path,
    *,
    max_survival: float = DEFAULT_MAX_SURVIVAL,
    min_detail: float = DEFAULT_MIN_DETAIL,
    min_size: float | None = None,
    min_checked_size: int = DEFAULT_MIN_CHECKED_SIZE,
    reid: bool = False,
    recognizer: str | Path | None = None,
    min_reid_size: int = DEFAULT_MIN_REID_SIZE,
    search_copies: bool = False,
    workers: int = 1,
) -> AuditReport:
    """Audit ``anonymized_dir`` (written by ``anonymize_split``, or by another tool) against ``original_dir``.

    min_size: the minimum face size the run was meant to use (default: the
        ``min_size`` recorded in its anonymization.json, 0 if none).
    reid: also run the identity check (dlib, or the synthetic recognizer when
        the original split has identity vectors: from ``recognizer``, a file of
        ``safefakes train-recognizer``, else trained on a ``crops`` split next
        to the original).
    search_copies: the survival check also searches each face mirrored and
        rescaled by 0.9 and 1.1 (``survival_of_copies``). Off by default: more
        copies searched is more chances for an honest output to resemble one
        (on the default study's GAN outputs of 16-23 px faces, 11-17 of 235
        over the threshold instead of 3-5), and the report says what is not searched.
    workers: processes for the per-image checks.
    """
    original_dir, anonymized_dir = Path(original_dir), Path(anonymized_dir)
    if not 0.0 <= float(max_survival) <= 1.0:  # NaN fails too
        raise SafeFakesError(f"max_survival (--max-survival) must be between 0 and 1, got "
                             f"{max_survival}: survival is a share of the original's detail, so above 1 the check "
                             "would be off; the default is 0.75")
    refuse_anonymized_original(original_dir, anonymized_dir)
    original = Split.load(original_dir, sidecars=reid)
    external = not (anonymized_dir / MANIFEST).exists() and not (anonymized_dir / RUN_FILE).exists()
    run = {} if external else read_run(anonymized_dir)
    described = run.get("anonymizer", {})
    method = EXTERNAL if external else str(described.get("method", "?"))
    if min_size is None:
        min_size = float(described.get("min_size", 0.0))
    report = AuditReport(str(original_dir), str(anonymized_dir), method, EXTERNAL if external else "run",
                         float(max_survival), float(min_detail), int(min_checked_size), float(min_size),
                         bool(search_copies))
    fail = report.failures.append

    # 1. the run's records
    if not external:
        for name in (COMPLETE_MARKER, MANIFEST, INPUT_HASHES):
            if not (anonymized_dir / name).exists():
                fail(AuditFailure("run", None, None, f"{name} missing: the anonymization run is incomplete"))
    _check_annotations(original, anonymized_dir, external, fail)
    _check_unlisted_images(original, anonymized_dir, fail)

    # 2. the manifest covers every annotated face, and only those
    jobs = _face_jobs(original, anonymized_dir, external, report, fail)

    # 3 and 4, per image
    settings = dict(original_images=original_dir / IMAGES, anonymized_images=anonymized_dir / IMAGES,
                    method=method, min_size=float(min_size), max_survival=float(max_survival),
                    min_detail=float(min_detail), min_checked=int(min_checked_size), external=external,
                    search_copies=bool(search_copies))
    status_counts: Counter = Counter()
    for result in _map(_audit_image, [(settings, job) for job in jobs], workers):
        report.failures.extend(result["failures"])
        report.n_survival_checked += result["checked"]
        report.n_too_small_to_check += result["too_small"]
        report.n_featureless += result["featureless"]
        report.n_left_as_is += result["left"]
        status_counts.update(result["statuses"])
    report.status_counts = dict(sorted(status_counts.items()))

    # 5. the identity check
    if reid:
        _reid_check(original, anonymized_dir, jobs, int(min_reid_size), recognizer, report)

    # Faces meant to be changed, none of them judged: a pass would claim what was never checked
    # (the original given as ANONYMIZED and the output as ORIGINAL has only featureless "originals").
    unjudged = report.n_too_small_to_check + report.n_featureless
    if unjudged and report.n_survival_checked + report.n_reid_checked == 0:
        fail(AuditFailure(
            "judged", None, None,
            f"{unjudged} face(s) were to be anonymized but the audit could judge none of them "
            f"({report.n_too_small_to_check} under {min_checked_size} px, {report.n_featureless} featureless in "
            f"{original_dir}): check that ORIGINAL is the split the run read and ANONYMIZED its output, or "
            "lower --min-checked-size / --min-detail if the faces really are that small or flat"))

    # 6. the input files are unchanged
    if not external and (anonymized_dir / INPUT_HASHES).exists():
        for rel, digest in read_input_hashes(anonymized_dir).items():
            report.n_input_files_checked += 1
            path = original_dir / rel
            problem = unsafe_name_problem(rel)
            if problem:  # a name in a data file is never followed outside the original's folder
                fail(AuditFailure("input_unchanged", rel, None, f"{INPUT_HASHES}: {problem}"))
            elif not path.exists():
                fail(AuditFailure("input_unchanged", rel, None, f"input file {path} no longer exists"))
            elif sha256_file(path) != digest:
                fail(AuditFailure("input_unchanged", rel, None,
                                  f"input file {path} was modified since the anonymization read it (SHA-256 differs)"))
    return report


def _chance_text(report: AuditReport) -> str:
    if report.reid_chance is None:
        return "; one face: no chance level to read it against, a match fails"
    if report.reid_excess_low is None:
        return f"; chance {100 * report.reid_chance:.1f} %"
    verdict = "a leak" if report.reid_excess_low > 0 else "no excess over chance"
    return (f"; the recognizer's chance level {100 * report.reid_chance:.1f} %, excess "
            f"{100 * report.reid_excess_low:+.1f} to {100 * report.reid_excess_high:+.1f} points (95 %): {verdict}")


def write_report_json(report: AuditReport, path: str | Path) -> None:
    write_text_atomic(path, json.dumps(report.to_dict(), indent=2) + "\n")


@dataclass(frozen=True)
class SurvivalVerdict:
    """An audit read under a survival policy: the failures that stop, and those only recorded."""

    fatal: list[AuditFailure]
    recorded: list[AuditFailure]

    @property
    def passed(self) -> bool:
        return not self.fatal

    def warning(self, report: AuditReport) -> str:
        """The lines that name the recorded faces ("" when none)."""
        if not self.recorded:
            return ""
        return "\n  ".join([f"WARNING: {len(self.recorded)} of {report.n_survival_checked} checked faces keep "
                             "their detail under this method (recorded, not failed: survival policy record):",
                             *map(str, self.recorded)])


def survival_verdict(report: AuditReport, policy: str = AuditSettings.survival) -> SurvivalVerdict:
    """Read ``report`` under the study's survival policy (``audit.survival``, ``safefakes audit --survival``).

    ``fail``: every failure stops. ``record``: a face whose detail survives a
    method that did change it (survival under ``UNTOUCHED``: the study's fixed
    settings on small faces, e.g. 8 x 8 pixelation of a 16 px face) is only
    recorded (listed in audit.json and the log); a face left as it was
    (survival at or above ``UNTOUCHED``, or not measured) and every other
    check still stop.
    """
    if policy not in SURVIVAL_POLICIES:
        raise SafeFakesError(f"the survival policy must be one of {', '.join(SURVIVAL_POLICIES)}, got {policy!r}")
    recorded = []
    if policy == "record":
        recorded = [f for f in report.failures if f.check == "survival" and f.value is not None and f.value < UNTOUCHED]
    return SurvivalVerdict([f for f in report.failures if f not in recorded], recorded)


# --------------------------------------------------------------------------- #
def _check_annotations(original: Split, anonymized_dir: Path, external: bool, fail) -> None:
    """The output's annotations are the original's, and it holds every image they list."""
    ann_copy = anonymized_dir / ANNOTATIONS
    if not ann_copy.exists():
        fail(AuditFailure("run", None, None, f"{ann_copy} is missing"))
    elif external:
        # Another tool may format the file its own way: compare what it says.
        theirs = {im.name: im.boxes.tolist() for im in read_annotations(ann_copy)}
        ours = {im.name: im.boxes.tolist() for im in original.images}
        if theirs != ours:
            fail(AuditFailure("run", None, None, f"{ann_copy} lists other images or boxes than the original's "
                                                 "annotations: audit a split against the one it was made from"))
    elif ann_copy.read_bytes() != (original.root / ANNOTATIONS).read_bytes():
        fail(AuditFailure("run", None, None, f"{ann_copy} differs from the original's annotations"))
    for im in original.images:
        if not (anonymized_dir / IMAGES / im.name).is_file():
            fail(AuditFailure("output", im.name, None,
                              f"{anonymized_dir / IMAGES / im.name} is missing: the output must hold every "
                              "image the annotations list"))


def refuse_anonymized_original(original_dir: Path, anonymized_dir: Path) -> None:
    """An ORIGINAL holding a run's records is an output: the audit's two arguments look swapped."""
    record = anonymization_record(original_dir)
    if record is not None:
        raise InputError(
            record, f"ORIGINAL {original_dir} holds an anonymization record ({record.name}): it is an anonymized "
                    f"output, not an original, so the arguments look swapped",
            hint=f"run `safefakes audit ORIGINAL ANONYMIZED` with the folder the run read first, e.g. "
                 f"`safefakes audit {anonymized_dir} {original_dir}` if these are the two folders")


def _check_unlisted_images(original: Split, anonymized_dir: Path, fail) -> None:
    """Every image anywhere in the output is one the annotations list (an original copied in is not)."""
    listed = {f"{IMAGES}/{im.name}" for im in original.images}
    for rel in unaccounted_images(anonymized_dir, listed):
        path = anonymized_dir / rel
        if path.is_symlink() and path.is_dir():
            fail(AuditFailure("output", rel, None, f"{path} is a symbolic link to a folder: the audit cannot "
                                                   "account for what it holds; replace it by the files themselves"))
        else:
            fail(AuditFailure("output", rel, None,
                              f"{path} is an image that no annotation lists, so the audit cannot account for it "
                              f"(an original copied in?): remove it, or add it to {ANNOTATIONS} and anonymize "
                              "the split again"))


def _face_jobs(original: Split, anonymized_dir: Path, external: bool, report: AuditReport, fail) -> list:
    """(image, [(face index, box, status), ...]) per image, after checking the manifest's rows."""
    by_face: dict[tuple[str, int], dict] = {}
    if not external and (anonymized_dir / MANIFEST).exists():
        for row in read_manifest(anonymized_dir / MANIFEST):
            key = (row["image"], row["face_index"])
            if key in by_face:
                fail(AuditFailure("manifest", key[0], key[1], "listed more than once in manifest.csv"))
            by_face[key] = row
    expected = set()
    jobs = []
    for im in original.images:
        report.n_images += 1
        faces = []
        for i, box in enumerate(im.boxes):
            report.n_faces += 1
            expected.add((im.name, i))
            box = [int(v) for v in box]
            if external:
                faces.append((i, box, Status.ANONYMIZED))
                continue
            row = by_face.get((im.name, i))
            if row is None:
                fail(AuditFailure("manifest", im.name, i, "annotated face missing from manifest.csv"))
                continue
            if [row["x"], row["y"], row["w"], row["h"]] != box:
                fail(AuditFailure("manifest", im.name, i, f"manifest box {row['x']} {row['y']} {row['w']} "
                                  f"{row['h']} is not the annotated {' '.join(str(v) for v in box)}"))
                continue
            faces.append((i, box, row["status"]))
        jobs.append((im.name, faces))
    for key in sorted(set(by_face) - expected):
        fail(AuditFailure("manifest", key[0], key[1], "manifest row for a face that is not annotated"))
    return jobs


def _map(fn, items: list, workers: int):
    if workers <= 1 or len(items) < 2:
        return map(fn, items)
    with opencv_threads_joined():
        pool = fork_context().Pool(min(workers, len(items)))
    try:
        return list(pool.imap(fn, items, chunksize=max(1, len(items) // (workers * 8))))
    finally:
        pool.close()
        pool.join()


def _read_pair(settings: dict, name: str, fail) -> tuple[np.ndarray, np.ndarray] | None:
    """The original and the output image, or None (with a failure) when they cannot be compared."""
    src_path = settings["original_images"] / name
    dst_path = settings["anonymized_images"] / name
    if not dst_path.is_file():
        return None  # reported once by _check_annotations
    try:
        original = decode_image(src_path.read_bytes(), src_path)
    except (InputError, OSError) as exc:
        fail(AuditFailure("input_unchanged", name, None, f"the original image cannot be read: {exc}"))
        return None
    try:
        anonymized = decode_image(dst_path.read_bytes(), dst_path)
    except (InputError, OSError) as exc:
        fail(AuditFailure("output", name, None, str(exc)))
        return None
    if anonymized.shape != original.shape:
        fail(AuditFailure("output", name, None, f"size {anonymized.shape[1]}x{anonymized.shape[0]} differs from "
                                                f"the original's {original.shape[1]}x{original.shape[0]}"))
        return None
    return original, anonymized


def _audit_image(item: tuple) -> dict:
    settings, (name, faces) = item
    out = {"failures": [], "checked": 0, "too_small": 0, "featureless": 0, "left": 0, "statuses": Counter()}
    fail = out["failures"].append
    if not faces:
        return out
    src_path = settings["original_images"] / name
    try:
        width, height = image_size(src_path)
    except InputError as exc:
        fail(AuditFailure("input_unchanged", name, None, f"the original image cannot be read: {exc}"))
        return out
    for i, box, status in faces:
        out["statuses"][status] += 1
        if not settings["external"]:
            problem = _status_problem(np.asarray(box, dtype=np.float64), status, width, height, settings)
            if problem:
                fail(AuditFailure("status", name, i, problem))
    changed = [(i, box) for i, box, status in faces if status in Status.CHANGED]
    out["left"] = len(faces) - len(changed)
    if not changed:
        return out
    pair = _read_pair(settings, name, fail)  # a missing output is reported by _check_annotations
    if pair is None:
        return out
    original, anonymized = pair
    for i, box in changed:
        clipped = clip_box(np.asarray(box, dtype=np.float64), width, height)
        if clipped is None:
            out["left"] += 1  # nothing of it inside the image
            continue
        if min(clipped[2] - clipped[0], clipped[3] - clipped[1]) < settings["min_checked"]:
            out["too_small"] += 1
            continue
        if face_detail(original, clipped) < settings["min_detail"]:
            out["featureless"] += 1
            continue
        out["checked"] += 1
        if settings["search_copies"]:
            kept, found = survival_of_copies(original, anonymized, clipped)
        else:
            kept, found = survival(original, anonymized, clipped), "as is"
        if kept > settings["max_survival"]:
            how = "maybe re-encoded or shifted" if found == "as is" else f"{found}, maybe re-encoded or shifted"
            fail(AuditFailure("survival", name, i,
                              f"the original face is still there: survival {kept:.2f} > {settings['max_survival']:g} "
                              f"(its detail is in the output, {how})", value=round(kept, 4)))
    return out


def _reid_check(original: Split, anonymized_dir: Path, jobs: list, min_reid_size: int,
                recognizer: str | Path | None, report: AuditReport) -> None:
    """Fail every changed face whose recognizer descriptor still matches its original's."""
    settings = dict(original_images=original.root / IMAGES, anonymized_images=anonymized_dir / IMAGES)
    synthetic = original.identities is not None and original.identity_vectors is not None
    pairs = []  # (name, face index, original image, output image, clipped box)
    for name, faces in jobs:
        changed = [(i, box) for i, box, status in faces if status in Status.CHANGED]
        big = [(i, box) for i, box in changed if min(box[2], box[3]) >= min_reid_size]
        report.n_reid_not_judged += len(changed) - len(big)
        if not big:
            continue
        pair = _read_pair(settings, name, lambda failure: None)  # unreadable pairs failed above
        if pair is None:
            report.n_reid_not_judged += len(big)
            continue
        height, width = pair[0].shape[:2]
        for i, box in big:
            clipped = clip_box(np.asarray(box, dtype=np.float64), width, height)
            if clipped is None:
                report.n_reid_not_judged += 1
            else:
                pairs.append((name, i, pair[0], pair[1], clipped))
    if report.n_reid_not_judged:
        report.reid_not_judged_reason = f"smaller than {min_reid_size} px, outside the image or unreadable"
    if synthetic:
        report.reid = SYNTHETIC
        described = _synthetic_descriptors(original, pairs, recognizer, report)
    else:
        report.reid = DLIB
        described = _dlib_descriptors(pairs)
    if described is None:
        return
    probes, gallery, own, limit, scale = described
    report.n_reid_checked = len(probes)
    if not len(probes):
        return
    rates = identification_rates(probes, gallery, own, limit, scale)
    distances = np.linalg.norm(probes - gallery[own], axis=1) / scale
    matched = distances < limit
    report.n_reid_matched = int(matched.sum())
    report.reid_rate = rates["reid_rate"]
    if len(probes) > 1:
        report.reid_chance = rates["reid_chance"]
        report.reid_excess_low, report.reid_excess_high = rates["reid_excess_low"], rates["reid_excess_high"]
        if not report.reid_excess_low > 0:  # matches at the recognizer's chance level: no leak shown
            return
        why = (f"; the split's outputs match their originals {100 * report.reid_rate:.1f} % of the time, "
               f"over the recognizer's chance level {100 * report.reid_chance:.1f} % (excess "
               f"{100 * report.reid_excess_low:+.1f} to {100 * report.reid_excess_high:+.1f} points, 95 %)")
    else:
        why = " (a single face judged: no chance level to read the match against)"
    for (name, i, *_), hit, distance in zip(pairs, matched, distances):
        if hit:
            report.failures.append(AuditFailure(
                "reid", name, i, f"the recognizer ({report.reid}) still matches the original: distance "
                                 f"{distance:.3f} < {limit:.3f}{why}"))


def _dlib_descriptors(pairs: list) -> tuple | None:
    """(probes, gallery, own, match distance, scale): each output face against every original face judged."""
    if not pairs:
        return np.zeros((0, 128)), np.zeros((0, 128)), np.zeros(0, dtype=np.int64), DLIB_MATCH_DISTANCE, 1.0
    describer = DlibDescriber()
    originals = np.stack([describer.describe(o, np.array([box]))[0] for _, _, o, _, box in pairs])
    outputs = np.stack([describer.describe(a, np.array([box]))[0] for _, _, _, a, box in pairs])
    return outputs, originals, np.arange(len(pairs)), DLIB_MATCH_DISTANCE, 1.0


def _synthetic_descriptors(original: Split, pairs: list, recognizer: str | Path | None,
                           report: AuditReport) -> tuple | None:
    """(probes, gallery, own, match distance, scale): each output face's estimate against the identities'
    vectors, at the leakage module's match distance; None when there are too few identities."""
    identities = [int(original.identities[name][i]) for name, i, *_ in pairs]
    used = sorted(set(identities))
    if len(used) < 2:
        report.n_reid_not_judged += len(pairs)
        report.reid_not_judged_reason = "fewer than 2 identities among the faces: no match distance to calibrate"
        return None
    if recognizer is not None:
        model = load_recognizer(recognizer)
    else:
        crops = find_recognizer_crops(original.root)
        if crops is None:
            raise InputError(original.root, "--reid on a synthetic split needs its recognizer",
                             hint="pass --recognizer FILE (safefakes train-recognizer), or keep the 'crops' "
                                  "split of `safefakes synth` next to the original")
        model = train_recognizer_on_split(crops)
    originals = np.stack([crop_faces(o, np.array([b]), RECOGNIZER_CROP)[0] for _, _, o, _, b in pairs])
    outputs = np.stack([crop_faces(a, np.array([b]), RECOGNIZER_CROP)[0] for _, _, _, a, b in pairs])
    gallery = model.standardize(np.stack([original.identity_vectors[k] for k in used]))
    own = np.searchsorted(used, identities)
    scale = float(np.sqrt(gallery.shape[1]))
    # The match distance, as the leakage metric calibrates it: the originals' impostor distances at 5 %.
    d = np.linalg.norm(model.describe(originals)[:, None, :] - gallery[None], axis=2) / scale
    limit = float(np.quantile(d[np.arange(len(used))[None, :] != own[:, None]], SYNTHETIC_FALSE_MATCH_RATE))
    return model.describe(outputs), gallery, own, limit, scale


def _status_problem(box: np.ndarray, status: str, width: int, height: int, settings: dict) -> str | None:
    min_size = settings["min_size"]
    if status not in KNOWN_STATUSES:
        return f"unknown status {status!r}"
    if status == Status.UNREADABLE:
        return "the image could not be read when anonymizing; it is not in the anonymized split"
    if is_degenerate(box):
        return None if status == Status.DEGENERATE_BOX else f"degenerate box recorded as {status!r}"
    if status == Status.DEGENERATE_BOX:
        return "recorded as degenerate but the box has a positive width and height"
    if is_outside(box, width, height):
        return None if status == Status.OUTSIDE_IMAGE else f"box outside the image recorded as {status!r}"
    if status == Status.OUTSIDE_IMAGE:
        return f"recorded as outside the image but the box overlaps the {width}x{height} image"
    if status == Status.ORIGINAL:
        if settings["method"] == "original":
            return None
        return f"left un-anonymized (status {status!r}) in a run of method {settings['method']!r}"
    small = is_too_small(box, min_size)
    if status == Status.TOO_SMALL and not small:
        return (f"left as is as too small, but min(w, h) = {min(box[2], box[3]):g} is not below the "
                f"minimum size {min_size:g}")
    if small and status not in (Status.TOO_SMALL, Status.WHOLE_IMAGE):
        # Not a leak, but the run did not follow the minimum size it records.
        return (f"min(w, h) = {min(box[2], box[3]):g} is below the minimum size {min_size:g}, "
                f"yet recorded as {status!r} instead of {Status.TOO_SMALL!r}")
    return None
