"""``safefakes train-detector`` and ``safefakes detect``: the DSFD face detector."""

from __future__ import annotations

import argparse
import json
import logging

from safefakes.commands import unit_interval
from safefakes.detector.config import DEFAULT_PRESET, PRESETS, PredictSettings

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train-detector",
        help="train the DSFD face detector on a split",
        description="Train DSFD (VGG-16) on a WIDER-format split. Without options it trains the mini "
                    "configuration of the default study (a few minutes on 2 CPU cores); --preset paper "
                    "selects the paper's (640 px, batch 4, lr 2.5e-4). Re-running the same command "
                    "resumes from OUT_DIR/checkpoint.pt.",
    )
    p.add_argument("train_split", metavar="TRAIN_SPLIT", help="split folder (images/ + annotations.txt)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder for checkpoint.pt, losses.csv, train_info.json")
    p.add_argument("--iterations", type=positive_int, default=None,
                   help="training iterations (default: the preset's)")
    p.add_argument("--preset", choices=PRESETS, default=DEFAULT_PRESET,
                   help=f"size and schedule (default: {DEFAULT_PRESET})")
    p.add_argument("--config", metavar="YAML", default=None,
                   help="YAML file of DetectorConfig settings overriding the preset (top level or under 'detector:')")
    p.add_argument("--backbone-weights", metavar="FILE", default=None,
                   help="ImageNet VGG-16: torchvision vgg16 .pth or SSD vgg16_reducedfc.pth")
    p.add_argument("--allow-random-init", action="store_true",
                   help="train from a deterministic random initialisation when no backbone weights are given")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue from OUT_DIR/checkpoint.pt when there is one; --no-resume starts over")
    p.add_argument("--no-progress", "--quiet", dest="progress", action="store_false", help="hide the progress bar")
    p.set_defaults(func=train_handler)

    d = subparsers.add_parser(
        "detect",
        help="detect faces in a split with a trained DSFD",
        description="Write PRED_DIR/<event>/<image>.txt in the official WIDER FACE layout (boxes sorted "
                    "by score), ready for `safefakes evaluate`. Default: one scale plus its horizontal flip.",
    )
    d.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint.pt written by train-detector")
    d.add_argument("split", metavar="SPLIT", help="split folder to detect faces in")
    d.add_argument("pred_dir", metavar="PRED_DIR", help="output folder")
    # Every default is PredictSettings' (the study's `predict` block has the same ones).
    default = PredictSettings()
    d.add_argument("--multiscale", action=argparse.BooleanOptionalAction, default=default.multiscale,
                   help="DSFD's multi-scale test (slower)")
    d.add_argument("--flip", action=argparse.BooleanOptionalAction, default=default.flip,
                   help="add the horizontally flipped pass; --no-flip skips it")
    d.add_argument("--threshold", "--score-threshold", dest="threshold", type=unit_interval,
                   default=default.score_threshold,
                   help=f"lowest detection score kept, 0-1 (default {default.score_threshold})")
    d.add_argument("--nms-iou", "--nms", dest="nms_iou", type=unit_interval, default=default.nms_iou,
                   help="IoU above which non-maximum suppression drops the weaker of two boxes "
                        f"(default {default.nms_iou})")
    d.add_argument("--max-boxes", type=int, default=default.max_boxes,
                   help=f"most boxes per image (default {default.max_boxes})")
    d.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    d.add_argument("--no-progress", "--quiet", dest="progress", action="store_false", help="hide the progress bar")
    d.set_defaults(func=detect_handler)


def positive_int(text: str) -> int:
    """An argparse type: a whole number, 1 or more (--iterations 0 wrote an untrained checkpoint)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give 1 or more")
    return value


def train_handler(args: argparse.Namespace) -> int:
    import dataclasses

    from safefakes.detector.config import load_config
    from safefakes.detector.train import train_detector

    config = load_config(args.config, args.preset)
    changes = {}
    if args.backbone_weights:
        changes["backbone_weights"] = args.backbone_weights
    if args.allow_random_init:
        changes["allow_random_init"] = True
    if changes:
        config = dataclasses.replace(config, **changes)
    ckpt = train_detector(args.train_split, args.out_dir, config, iterations=args.iterations,
                          resume=args.resume, device=args.device, progress=args.progress)
    log.info("checkpoint: %s", ckpt)
    return 0


def detect_handler(args: argparse.Namespace) -> int:
    from safefakes.detector.predict import detect_split

    settings = PredictSettings.from_args(args, score_threshold=args.threshold)
    summary = detect_split(args.checkpoint, args.split, args.pred_dir, **settings.kwargs(), device=args.device,
                           progress=args.progress)
    log.info("detections: %s", json.dumps(summary))
    return 0
