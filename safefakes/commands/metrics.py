"""``safefakes metrics``: image metrics and identity leakage of an anonymized split."""

from __future__ import annotations

import argparse
import logging

# The library's defaults, from a module that imports nothing heavy.
from safefakes.commands import at_least
from safefakes.evaluation.settings import DEFAULT_BATCH_SIZE, DEFAULT_CROP_SIZE, DEFAULT_MIN_SIZE, MetricsSettings

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "metrics",
        help="L1, L2, SSIM, LPIPS, FID and identity leakage of an anonymized split",
        description="Compare every anonymized face with its original: L1, L2, SSIM, LPIPS "
                    "(AlexNet), FID (Inception pool features) and the re-identification rates.",
    )
    p.add_argument("original", metavar="ORIGINAL_SPLIT", help="the split that was anonymized")
    p.add_argument("anonymized", metavar="ANONYMIZED_SPLIT",
                   help="the anonymized split (with manifest.csv; without one, as written by another tool, "
                        "every annotated face is compared)")
    p.add_argument("--json", required=True, metavar="FILE", help="where to write image_metrics.json")
    p.add_argument("--per-face", metavar="CSV", help="also write per-face l1, l2, ssim, lpips")
    p.add_argument("--lpips-weights", metavar="FILE", default=MetricsSettings.lpips_weights,
                   help="torchvision alexnet-owt-7be5be79.pth (default: the torch cache)")
    p.add_argument("--inception-weights", metavar="FILE", default=MetricsSettings.inception_weights,
                   help="pytorch-fid pt_inception-2015-12-05-6726825d.pth (default: the torch cache)")
    p.add_argument("--allow-random-init", action="store_true", default=MetricsSettings.allow_random_init,
                   help="use a seeded random initialisation when weights are missing "
                        "(recorded as backbone_weights: random-init; not comparable to published numbers)")
    p.add_argument("--min-size", type=int, default=DEFAULT_MIN_SIZE, metavar="PX",
                   help=f"skip faces narrower or lower than this (default {DEFAULT_MIN_SIZE})")
    p.add_argument("--crop-size", type=int, default=DEFAULT_CROP_SIZE, metavar="PX",
                   help=f"side of the square face crops (default {DEFAULT_CROP_SIZE})")
    p.add_argument("--max-faces", type=int, metavar="N", default=MetricsSettings.max_faces,
                   help="measure a seeded sample of at most N faces (default: every face)")
    p.add_argument("--distribution-faces", type=int, metavar="N", default=MetricsSettings.distribution_faces,
                   help="FID and KID (Inception, the slow part on a CPU) on a seeded sample of at most N "
                        "faces (default: the faces of --max-faces)")
    p.add_argument("--batch-size", type=at_least(1), default=DEFAULT_BATCH_SIZE, metavar="N")
    p.add_argument("--device", metavar="DEV", help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--leakage", choices=("auto", "dlib", "synthetic-identity", "none"), default="auto",
                   help="identity-leakage recognizer (default auto: synthetic-identity when the "
                        "original split has identity vectors, else dlib)")
    p.add_argument("--recognizer-crops", metavar="DIR",
                   help="split with identity vectors the synthetic recognizer learns from "
                        "(default: a 'crops' folder next to ORIGINAL_SPLIT, else cross-fitting on the originals)")
    p.add_argument("--recognizer", metavar="FILE",
                   help="a synthetic recognizer trained once by `safefakes train-recognizer` "
                        "(saves retraining it for every anonymized split; overrides --recognizer-crops)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --max-faces sample and the synthetic recognizer")
    p.set_defaults(func=run)

    r = subparsers.add_parser(
        "train-recognizer",
        help="train the synthetic identity recognizer once, for `metrics --recognizer`",
        description="Train the learned identity recognizer of the synthetic set (a small CNN from a "
                    "32 px face crop to the identity vector) on a split with identity vectors, "
                    "usually the `crops` split of `safefakes synth`, and save it.",
    )
    r.add_argument("crops", metavar="CROPS_SPLIT", help="split with identities.json vectors (people disjoint "
                                                        "from the splits it will measure)")
    r.add_argument("out", metavar="FILE", help="where to write the recognizer (.pt)")
    r.add_argument("--seed", type=int, default=0, help="seed of the initialisation and batches (default 0)")
    r.set_defaults(func=run_train_recognizer)


def run_train_recognizer(args: argparse.Namespace) -> int:
    from safefakes.evaluation.leakage import save_recognizer, train_recognizer_on_split

    save_recognizer(train_recognizer_on_split(args.crops, args.seed), args.out)
    log.info("recognizer trained on %s: %s", args.crops, args.out)
    return 0


def run(args: argparse.Namespace) -> int:
    from safefakes.data.images import atomic_path
    from safefakes.evaluation.image_metrics import measure_split, write_metrics_json

    # The flags through the study's settings type: the same checks as a config's metrics block.
    result = measure_split(args.original, args.anonymized, MetricsSettings.from_args(args), leakage=args.leakage,
                           recognizer=args.recognizer, recognizer_crops=args.recognizer_crops, seed=args.seed,
                           device=args.device, batch_size=args.batch_size)
    summary = result.summary
    write_metrics_json(summary, args.json)
    if args.per_face:
        with atomic_path(args.per_face) as tmp:
            result.per_face.to_csv(tmp, index=False)
    log.info("%s: %d faces, l1 %.4f, lpips %s, fid %s, reid %s (%s)", args.anonymized,
             summary["n_faces"], summary["l1"] or 0, summary["lpips"], summary["fid"],
             summary["reid_rate"], summary["leakage_source"])
    return 0
