"""``safefakes train-anonymizer`` and ``safefakes crops``: GAN training data and training."""

from __future__ import annotations

import argparse
import os

from safefakes.anonymizers.gan.settings import DEFAULT_PRESET, GAN_PRESETS
from safefakes.anonymizers.registry import GAN, methods_of_kind
from safefakes.commands import at_least, positive_number


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train-anonymizer", help="train a GAN anonymizer on a face-crop set",
        description="Train a GAN anonymizer on a crop set (see `safefakes crops`). Writes OUT_DIR/checkpoint.pt "
                    "(for `safefakes anonymize --checkpoint`), losses.csv, samples/*.png and periodic checkpoints.")
    p.add_argument("crops", metavar="CROPS", help="crop set folder")
    p.add_argument("out_dir", metavar="OUT_DIR", help="training folder")
    p.add_argument("--method", default="deepprivacy", choices=methods_of_kind(GAN),
                   help="the GAN (default deepprivacy)")
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=GAN_PRESETS,
                   help=f"model and schedule sizes (default {DEFAULT_PRESET}; mini: 32 px, a few minutes on 2 CPU "
                        "cores; paper: 128 px, GPU)")
    p.add_argument("--faces", type=at_least(1), default=None, help="train on the first N faces of the crop set")
    p.add_argument("--iterations", type=at_least(1), default=None,
                   help="training length in images shown (as DeepPrivacy counts); default: the preset's")
    p.add_argument("--batch-size", type=at_least(1), default=None)
    p.add_argument("--resolution", type=int, default=None, help="model resolution (power of two)")
    p.add_argument("--width", type=positive_number, default=None, help="channel multiplier")
    p.add_argument("--progressive", action=argparse.BooleanOptionalAction, default=None,
                   help="progressive growing (default: the preset's)")
    p.add_argument("--critic-steps", type=at_least(1), default=None,
                   help="critic updates per generator update (default: the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=False,
                   help="continue from the newest checkpoint in OUT_DIR (refused when its settings differ "
                        "or it is already past --iterations); --no-resume: start over")
    p.add_argument("--start-from", metavar="CHECKPOINT", default=None,
                   help="continue the final checkpoint.pt of a shorter run with the same settings "
                        "(a run to N images is the start of a longer one)")
    p.add_argument("--device", default="auto", help="auto (CUDA when visible), cpu, cuda, cuda:1 ...")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--threads", type=at_least(1), default=None,
                   help="CPU threads for torch (default: torch's; 1 is fastest on a busy shared machine)")
    p.add_argument("--workers", type=at_least(0), default=None,
                   help="DataLoader processes reading crops ahead (default: the preset's; 0: none)")
    p.add_argument("--no-progress", "--quiet", dest="progress", action="store_false", help="hide the progress bar")
    p.set_defaults(func=train_anonymizer)

    c = subparsers.add_parser("crops", help="build or import face-crop sets (GAN training data)",
                              description="Build a face-crop set from a WIDER-format split, or import FDF, "
                                          "CelebA or PIPA as distributed, with the keypoints a GAN needs "
                                          "(computed at import where the dataset lacks them; faces without are "
                                          "dropped and recorded in drops.csv and crops.json). Parallel and "
                                          "resumable: an interrupted import continues from OUT_DIR.partial. "
                                          "--faces N takes a deterministic (nested) subset.")
    sub = c.add_subparsers(dest="crops_command", metavar="SOURCE")
    sub.required = True
    b = sub.add_parser("build", help="from a WIDER-format split")
    b.add_argument("split", metavar="SPLIT")
    b.add_argument("--min-size", type=at_least(0), default=24, help="smallest face side kept, px (default 24)")
    b.add_argument("--crop-size", type=at_least(8), default=128)
    fdf = sub.add_parser("import-fdf", help="from FDF (DeepPrivacy's dataset; its own 7 points)")
    fdf.add_argument("root", metavar="FDF_ROOT", help="folder with train/ and val/ (FDF's layout)")
    fdf.add_argument("--subsets", nargs="+", default=["train"], choices=["train", "val"],
                     help="train (1,421,253 faces), val (50,000) or both (the paper's 1.47M); default train")
    fdf.add_argument("--imsize", type=int, default=128)
    fdf.add_argument("--keypoints", default="deepprivacy7", choices=["deepprivacy7", "dlib68"],
                     help="deepprivacy7: FDF's own seven points (default); dlib68: computed with dlib")
    celeba = sub.add_parser("import-celeba", help="from CelebA (CIAGAN's identities, dlib landmarks)")
    celeba.add_argument("root", metavar="CELEBA_ROOT",
                        help="folder with img_celeba/ (or img_align_celeba/) and CelebA's Anno/ files")
    celeba.add_argument("--keypoints", default="dlib68", choices=["dlib68", "deepprivacy7", "celeba5"],
                        help="dlib68 (CIAGAN, default), deepprivacy7, or celeba5: CelebA's own five points")
    celeba.add_argument("--min-identity-images", type=int, default=30,
                        help="keep identities with at least this many images (CIAGAN: 30)")
    celeba.add_argument("--max-identities", type=int, default=1200,
                        help="at most this many identities, lowest ids first (CIAGAN: 1200; 0: all)")
    celeba.add_argument("--crop-size", type=at_least(8), default=128)
    pipa = sub.add_parser("import-pipa", help="from PIPA (head boxes and identities; keypoints computed)")
    pipa.add_argument("root", metavar="PIPA_ROOT")
    pipa.add_argument("--keypoints", required=True, choices=["dlib68", "deepprivacy7"],
                      help="dlib68 for Sun2018 (faces dlib finds), deepprivacy7 for DeepPrivacy")
    pipa.add_argument("--index", default=None, help="the annotation file (default: ROOT/annotations/index.txt)")
    pipa.add_argument("--min-size", type=at_least(0), default=24)
    pipa.add_argument("--crop-size", type=at_least(8), default=128)
    for s in (fdf, celeba, pipa):
        s.add_argument("--keypoint-weights", default=None,
                       help="Keypoint R-CNN weights for --keypoints deepprivacy7 (else dlib's face points)")
    for s in (b, fdf, celeba, pipa):
        s.add_argument("out_dir", metavar="OUT_DIR", help="the crop set folder to write (must not exist)")
        s.add_argument("--faces", type=at_least(1), default=None, help="a deterministic subset of N faces")
        s.add_argument("--seed", type=int, default=0, help="seed of the subset order")
        s.add_argument("--workers", type=at_least(1), default=os.cpu_count() or 1,
                       help="processes cutting crops and finding landmarks (default: all cores)")
        s.add_argument("--no-progress", "--quiet", dest="progress", action="store_false",
                       help="hide the progress bar")
        s.set_defaults(func=crops)


#: ``safefakes crops`` sub-command -> crop source (``safefakes.importers.sources``).
CROP_COMMANDS = {"build": "widerface", "import-fdf": "fdf", "import-celeba": "celeba", "import-pipa": "pipa"}


def crops(args: argparse.Namespace) -> int:
    from safefakes.data import crops as cs
    from safefakes.importers.sources import crop_set_options, make_crop_set

    source = CROP_COMMANDS[args.crops_command]
    # Each option of the source that this sub-command has a flag for (the flags are named as the options).
    options = {name: getattr(args, name) for name in crop_set_options(source) if hasattr(args, name)}
    if source == "celeba":
        options["max_identities"] = options["max_identities"] or None  # 0: all
    table = make_crop_set(source, args.split if source == "widerface" else args.root, args.out_dir, **options)
    meta = cs.read_crop_source(args.out_dir)
    dropped = ", ".join(f"{n} {reason}" for reason, n in sorted(meta.get("dropped", {}).items())) or "none"
    print(f"{args.out_dir}: {len(table)} face crops of {meta.get('found')} examined; dropped: {dropped}")
    return 0


def train_anonymizer(args: argparse.Namespace) -> int:
    import torch

    from safefakes.anonymizers.gan.train import train_gan

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {key: value for key, value in (
        ("resolution", args.resolution), ("width", args.width), ("batch_size", args.batch_size),
        ("progressive", args.progressive), ("critic_steps", args.critic_steps)) if value is not None}
    if args.no_amp:
        overrides["amp"] = False
    result = train_gan(args.method, args.crops, args.out_dir, faces=args.faces, images=args.iterations,
                       preset=args.preset, overrides=overrides, seed=args.seed, device=args.device,
                       resume=args.resume, progress=args.progress, start_from=args.start_from,
                       workers=args.workers)
    print(f"{result.checkpoint} ({result.images_shown} images shown, {result.n_faces} faces)")
    return 0