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
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: the fixtures package

from fixtures import weights, widerface  # noqa: E402
from paper import crop_sources  # noqa: E402

# Sizes: each crop source holds at least the largest set the overrides ask of it.
SIZES = {"train_images": 4, "val_images": 2, "image_size": [160, 120], "fdf": 8, "celeba": 7, "pipa": 6}
STAMP = "fixtures.json"


def code_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted([*(HERE.parent / "fixtures").glob("*.py"), HERE / "crop_sources.py", Path(__file__)]):
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
    crop_sources.write_fdf(out / "fdf", SIZES["fdf"], seed=seed + 1)
    crop_sources.write_celeba(out / "celeba", SIZES["celeba"], seed=seed + 2)
    crop_sources.write_pipa(out / "pipa", SIZES["pipa"], seed=seed + 3)
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
