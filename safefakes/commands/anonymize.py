"""``safefakes anonymize``, ``anonymize-images`` and ``audit``: anonymize data, then check it."""

from __future__ import annotations

import argparse
import sys

FORMATTER = argparse.ArgumentDefaultsHelpFormatter
SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")
# CLI flag dest -> factory option name; only flags the user gives are passed,
# so a method's own default applies otherwise and a flag the method does not
# take is an error, not silently ignored.
METHOD_OPTIONS = ("region", "mask_scale", "min_size", "kernel", "exact", "blocks", "checkpoint", "device")


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
        help="find faces with dlib in a plain folder of photos and anonymize them",
        description="Find the faces in every .jpg/.jpeg/.png under INPUT_DIR with dlib's CNN or HOG face "
                    "detector and write anonymized copies under OUTPUT_DIR with the same relative paths, "
                    "plus manifest.csv (one row per face found, with its detector score).",
    )
    p.add_argument("input_dir", metavar="INPUT_DIR", help="folder of photos (searched recursively)")
    p.add_argument("output_dir", metavar="OUTPUT_DIR", help="new folder for the anonymized copies")
    _method_arguments(p)
    p.add_argument("--detector", choices=("cnn", "hog"), default="cnn",
                   help="dlib face detector: cnn (MMOD, accurate, slow on CPU) or hog (fast, frontal faces)")
    p.add_argument("--threshold", type=float, default=0.0,
                   help="drop detections scoring below this; with hog a negative value finds more faces")
    p.add_argument("--upsample", type=int, default=1,
                   help="upsample each photo this many times (x2 each) to find smaller faces")
    _engine_arguments(p)
    p.set_defaults(func=run_anonymize_images)

    p = subparsers.add_parser(
        "audit", formatter_class=FORMATTER,
        help="check that an anonymized split hides every face it should",
        description="Check an anonymized split against its original: no face the manifest marks as "
                    "changed still holds the original's detail (re-encoded, re-saved or shifted by a few "
                    "pixels), no face is missing from the manifest, faces left as is are exactly those "
                    "below the minimum size, every image is there, and the original's files are "
                    "unchanged. A split written by another tool (no manifest.csv) is audited with every "
                    "annotated face taken as meant to be anonymized. Exits 1 when any check fails.",
    )
    p.add_argument("original", metavar="ORIGINAL", help="the original split folder")
    p.add_argument("anonymized", metavar="ANONYMIZED", help="the anonymized split folder")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the full report as JSON to FILE")
    p.add_argument("--max-survival", type=float, default=0.75,
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
                        "photos; the synthetic recognizer on a split with identity vectors)")
    p.add_argument("--recognizer", metavar="FILE", default=None,
                   help="--reid on the synthetic set: a recognizer from `safefakes train-recognizer` "
                        "(default: trained on the 'crops' split next to ORIGINAL)")
    p.add_argument("--workers", type=int, default=1, help="processes for the per-image checks")
    p.set_defaults(func=run_audit)


def _method_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", required=True, default=argparse.SUPPRESS,
                   help="anonymization method: blur, blackout, pixelate, fullblur, original (no change, "
                        "the study's baseline), or a GAN method registered in safefakes.anonymizers.registry")
    s = argparse.SUPPRESS
    p.add_argument("--region", choices=("box", "ellipse"), default=s,
                   help="region changed per face: the box or the ellipse inscribed in it (default: box)")
    p.add_argument("--mask-scale", type=float, default=s,
                   help="grow each face region about its centre by this factor, >= 1 (default: 1.0)")
    p.add_argument("--min-size", type=float, default=s,
                   help="faces with min(w, h) below this many pixels are left as is and recorded as "
                        "too_small_left_as_is (default: the method's own; 0 = every face for the "
                        "conventional methods)")
    p.add_argument("--kernel", type=int, default=s,
                   help="Gaussian kernel size (odd) of blur and fullblur, fixed whatever the face size (default: 31)")
    p.add_argument("--exact", action="store_true", default=s,
                   help="blur, fullblur: run the full-resolution filter; by default blurs with sigma >= 4.5 "
                        "(kernel >= 29) are computed on a half-resolution grid, within 3 grey levels of it "
                        "and about 3x faster (default: off)")
    p.add_argument("--blocks", type=int, default=s,
                   help="pixelate: blocks per side each face is reduced to (default: 8)")
    p.add_argument("--checkpoint", default=s, help="GAN methods: the generator checkpoint file (default: none)")
    p.add_argument("--device", default=s,
                   help="GAN methods: torch device, e.g. cpu or cuda:0 (default: the method's own, e.g. auto)")


def _engine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of the per-image random generators")
    p.add_argument("--workers", type=int, default=0, help="worker processes; 0 = all cores")
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
    from safefakes.engine.folder import anonymize_folder

    report = anonymize_folder(args.input_dir, args.output_dir, _spec(args), detector=args.detector,
                              threshold=args.threshold, upsample=args.upsample, **_engine_kwargs(args))
    print(report.summary())
    return 0


def run_audit(args: argparse.Namespace) -> int:
    from safefakes.engine.audit import audit_split, write_report_json

    report = audit_split(args.original, args.anonymized, max_survival=args.max_survival,
                         min_detail=args.min_detail, min_size=getattr(args, "min_size", None),
                         min_checked_size=args.min_checked_size, reid=args.reid, recognizer=args.recognizer,
                         workers=args.workers)
    print(report.format())
    if args.json:
        write_report_json(report, args.json)
    sys.stdout.flush()
    return 0 if report.passed else 1
