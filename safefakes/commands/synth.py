"""``safefakes synth``: generate the embedded synthetic face dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from safefakes.commands import at_least


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    # Defaults are repeated here as literals so that --help does not import
    # the generator (numpy, cv2); a test keeps them equal to the library's.
    p = subparsers.add_parser(
        "synth",
        help="generate the synthetic face dataset (train, val, crops)",
        description="Write OUT_DIR/train, OUT_DIR/val (with the four wider_*_val.mat files) and "
                    "OUT_DIR/crops (single-face crops of people disjoint from train and val), "
                    "deterministic by seed.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="folder to write the three splits into")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed; same seed and sizes give identical files (default: %(default)s)")
    p.add_argument("--train-images", type=at_least(1), default=400, metavar="N",
                   help="detection images in train (default: %(default)s)")
    p.add_argument("--val-images", type=at_least(1), default=150, metavar="N",
                   help="detection images in val (default: %(default)s)")
    p.add_argument("--crops", type=at_least(1), default=1500, metavar="N",
                   help="single-face crops for the anonymizers (default: %(default)s)")
    p.add_argument("--image-size", type=at_least(32), nargs=2, default=[192, 192], metavar=("W", "H"),
                   help="size of the detection images in pixels (default: 192 192)")
    p.add_argument("--crop-size", type=at_least(32), default=64, metavar="PX",
                   help="side of the square crops in pixels (default: %(default)s)")
    p.add_argument("--workers", type=at_least(1), default=None, metavar="N",
                   help="worker processes (default: all CPU cores); the output does not depend on it")
    p.add_argument("--preview", type=Path, default=None, metavar="FILE.png",
                   help="also write a contact sheet of train images with their boxes and a row of crops "
                        "(default: no preview)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from safefakes.data.synthetic import generate, write_preview
    from safefakes.errors import InputError

    if args.out_dir.exists() and not args.out_dir.is_dir():
        raise InputError(args.out_dir, "a file, not a folder", hint="give a new folder for the three splits")
    summary = generate(
        args.out_dir,
        seed=args.seed,
        train_images=args.train_images,
        val_images=args.val_images,
        crops=args.crops,
        image_size=tuple(args.image_size),
        crop_size=args.crop_size,
        workers=args.workers,
    )
    if args.preview is not None:
        write_preview(args.out_dir, args.preview)
    t, v, c = summary["train"], summary["val"], summary["crops"]
    print(f"synthetic dataset in {args.out_dir}: train {t['images']} images / {t['faces']} faces, "
          f"val {v['images']} images / {v['faces']} faces, crops {c['images']} crops of "
          f"{c['identities']} people, seed {summary['seed']}, {summary['seconds']:.1f} s"
          + (f"; preview {args.preview}" if args.preview is not None else ""))
    return 0
