"""Write every input of the scale-reduced paper run (``tests/paper/overrides.yaml``) under one folder.

    python tests/paper/build_fixtures.py build/paper-test/fixtures

writes ``widerface/`` (the WIDER FACE tree), ``fdf/``, ``celeba/``, ``pipa/``
(the crop sources) and ``weights/`` (the four pretrained files), all seeded.
A folder already built by the same code with the same sizes is kept
(``fixtures.json`` records what built it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: the fixtures package

from fixtures import weights, widerface  # noqa: E402
from fixtures.celeba import write_celeba  # noqa: E402
from fixtures.fdf import write_fdf  # noqa: E402
from fixtures.pipa import write_pipa  # noqa: E402

# Sizes: each crop set survives its importer's drop rules with at least the faces
# the overrides ask of it. FDF (its own 7 points, nothing dropped): 6 + 2 faces for
# the 8-face set. CelebA: identities of 4, 3, 3 and 1 images, every fifth faceless
# (dlib drops it), and min_identity_images 3 leaves the fourth out: 8 faces with
# dlib's landmarks for CIAGAN's 7. PIPA: one real head a photo (plus a faceless
# one, and a box outside the photo every fourth) -> 7 heads, with dlib's points for
# Sun2018's 6 faces and with Keypoint R-CNN's for DeepPrivacy's 5 (the fixture's
# Keypoint R-CNN finds the astronaut's heads: tests/fixtures/keypoint_rcnn.py).
SIZES = {"train_images": 4, "val_images": 2, "image_size": [160, 120], "fdf": [6, 2],
         "celeba": [4, 3, 3, 1], "pipa": 7}
STAMP = "fixtures.json"


def code_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted([*(HERE.parent / "fixtures").glob("*.py"), Path(__file__)]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build(out: Path, seed: int = 0) -> dict:
    stamp = {"sizes": SIZES, "seed": seed, "code": code_hash()}
    if (out / STAMP).exists() and json.loads((out / STAMP).read_text()) == stamp:
        return stamp
    (out / STAMP).unlink(missing_ok=True)
    widerface.write_widerface(out / "widerface", train_images=SIZES["train_images"],
                              val_images=SIZES["val_images"], image_size=tuple(SIZES["image_size"]), seed=seed)
    for name in ("fdf", "celeba", "pipa"):
        shutil.rmtree(out / name, ignore_errors=True)  # the writers add to a folder, never clear it
    write_fdf(out / "fdf", *SIZES["fdf"], seed=seed + 1)
    write_celeba(out / "celeba", SIZES["celeba"], seed=seed + 2)
    write_pipa(out / "pipa", SIZES["pipa"], seed=seed + 3)
    weights.write_all(out / "weights", seed=seed)
    (out / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
    return stamp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write the fixtures into")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    build(args.out, args.seed)
    print(f"paper-run fixtures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
