"""Check that a scale-reduced paper run went through the paper-only code paths.

    python tests/paper/check_paper_run.py RESULTS FIXTURES

Snakemake's exit status already says that every planned job ran; this checks
what the jobs ran on and with: the imported WIDER FACE tree, the imported FDF /
CelebA / PIPA crop sets (PIPA's twice: with dlib's 68 points for Sun2018, with
Keypoint R-CNN's 7 for DeepPrivacy, whose acceptance rules keep the
astronaut's heads and drop the faceless ones), the weight files (VGG-16 into
DSFD, LPIPS' AlexNet, FID's Inception, Keypoint R-CNN) instead of a random
initialisation, the paper presets (640 px full-width DSFD, GANs at 128 px and
full width), DSFD's multi-scale test, the detector view of every train split
(the original-trained detector, one scale with the flip), and that the tables and figures of a
study came out, Fig. 6 with a curve of two or more detector lengths for the
original and DeepPrivacy, Figs. 5 (with both its detectors) and 8 and the
face-size table (a row group for every anonymized split).
Exits 1 with one line per problem.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pandas as pd
import torch
import yaml

from safefakes.data.crops import DROP_NO_LANDMARKS
from safefakes.plots.study import FIGURES
from safefakes.plots.style import main_setting, seed_curves

GANS = ("deepprivacy", "ciagan", "sun2018")
# The keypoints each GAN learns with (rules/common.smk, GAN_KEYPOINTS).
GAN_KEYPOINTS = {"deepprivacy": "deepprivacy7", "ciagan": "dlib68", "sun2018": "dlib68"}
# The imported crop sets the run's GANs train on (tests/paper/overrides.yaml).
CROP_SOURCES = ("fdf", "celeba", "pipa")
# Each GAN's crop sources (DeepPrivacy: PIPA for the smaller set of Fig. 7, FDF for the full one).
GAN_SOURCES = {"deepprivacy": {"pipa", "fdf"}, "ciagan": {"celeba"}, "sun2018": {"pipa"}}
KEYPOINT_RCNN = "keypointrcnn_resnet50_fpn_coco-fc266e95.pth"
PIPA_FACELESS = "300 40 100 100"  # the faceless "head" of every fixture photo (tests/fixtures/pipa.py)
# Fig. 6: mAP against detector training length, a curve for each method of the experiment.
FIG6, FIG6_EXPERIMENT, DET_ITERS = "map_vs_detector_iterations", "detector_length", "det_iters"
OVERRIDES = Path(__file__).with_name("overrides.yaml")


def load_torch(path: Path) -> dict:
    # Paper-width checkpoints are large: map them instead of reading them whole.
    return torch.load(path, map_location="cpu", weights_only=False, mmap=True)


def check(results: Path, fixtures: Path) -> list[str]:
    problems: list[str] = []
    weights = fixtures / "weights"

    def expect(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    # -- data: the WIDER FACE import and the three crop-set importers ---------------------------
    for split, folder in (("train", "WIDER_train"), ("val", "WIDER_val")):
        images = results / "data" / "widerface" / split / "images"
        expect(images.is_symlink() and images.resolve() == (fixtures / "widerface" / folder / "images").resolve(),
               f"{images} does not link to the fixture's {folder}/images")
    for name in ("wider_face_val.mat", "wider_easy_val.mat", "wider_medium_val.mat", "wider_hard_val.mat"):
        expect((results / "data" / "widerface" / "val" / name).is_file(), f"val split lacks {name}")
    imported = {}  # crops/{source}~{keypoints} -> its crops.json
    for meta in sorted((results / "crops").glob("*~*/crops.json")):
        imported[meta.parent.name] = json.loads(meta.read_text())
        source, layout = meta.parent.name.split("~", 1)
        data = imported[meta.parent.name]
        expect(data.get("source") == source, f"{meta}: source {data.get('source')!r}, not {source}")
        expect(data.get("keypoint_layout") == layout,
               f"{meta}: keypoints {data.get('keypoint_layout')!r}, not {layout}")
        expect((data.get("n_faces") or 0) > 0, f"{meta}: no faces")
    expect({name.split("~", 1)[0] for name in imported} == set(CROP_SOURCES),
           f"crop sets imported: {sorted(imported)} (want each of {CROP_SOURCES})")
    problems += check_pipa_keypoint_rcnn(results / "crops" / "pipa~deepprivacy7", fixtures)

    # -- GANs: paper presets, trained and used --------------------------------------------------
    models = sorted((results / "anonymizers").glob("*/faces~*/anon_iters~*/model.pt"))
    expect({m.parts[-4] for m in models} == set(GANS), f"GAN models trained: {sorted({m.parts[-4] for m in models})}")
    trained_sources: dict[str, set] = {}
    for model in models:
        state = load_torch(model)
        cfg = state["model_config"]
        expect(cfg.get("resolution") == 128 and cfg.get("width") == 1.0,
               f"{model}: resolution {cfg.get('resolution')}, width {cfg.get('width')} (paper: 128, 1.0)")
        # Each GAN trained on an imported crop set carrying the keypoints it needs.
        gan, faces = model.parts[-4], int(model.parts[-3].split("~", 1)[1])
        trained_on = state.get("source") or {}
        want = GAN_KEYPOINTS.get(gan)
        expect(trained_on.get("source") in CROP_SOURCES,
               f"{model}: trained on {trained_on.get('source')!r}, not an imported crop set")
        expect(state.get("keypoint_layout") == want and trained_on.get("keypoint_layout") == want,
               f"{model}: trained with {state.get('keypoint_layout')!r} keypoints from a "
               f"{trained_on.get('keypoint_layout')!r} crop set (needs {want})")
        expect((trained_on.get("n_faces") or 0) >= faces,
               f"{model}: its crop set holds {trained_on.get('n_faces')} faces, fewer than {faces}")
        trained_sources.setdefault(gan, set()).add(trained_on.get("source"))
    expect(trained_sources == GAN_SOURCES, f"GANs trained on {trained_sources} (want {GAN_SOURCES})")
    for record in sorted((results / "runs").glob("anonymizer~*/faces~*/anon_iters~*/train/anonymization.json")):
        method = record.parts[-5].split("~", 1)[1]
        data = json.loads(record.read_text())
        if method in GANS:
            keypoints = json.loads(data["keypoints"])
            want = "keypointrcnn" if method == "deepprivacy" else "dlib68"
            expect(keypoints["source"] == want, f"{record}: keypoints from {keypoints['source']}, not {want}")
            if method == "deepprivacy":
                krcnn = (weights / "keypointrcnn_resnet50_fpn_coco-fc266e95.pth").resolve()
                expect(Path(keypoints["weights"]).resolve() == krcnn,
                       f"{record}: Keypoint R-CNN weights {keypoints['weights']}")

    # -- the detector: paper preset with the VGG-16 file, multi-scale test -----------------------
    runs = sorted((results / "runs").glob("anonymizer~*/faces~*/anon_iters~*/det_iters~*/seed~*"))
    expect(len(runs) > 0, "no detector run")
    for run in runs:
        state = load_torch(run / "detector.pt")
        cfg = state["config"]
        expect(cfg["input_size"] == 640 and cfg["width"] == 1.0,
               f"{run}: detector input {cfg['input_size']} px, width {cfg['width']} (paper: 640, 1.0)")
        expect(state.get("backbone_weights") == "vgg16_reducedfc.pth (caffe)",
               f"{run}: backbone weights {state.get('backbone_weights')!r}")
        trained = json.loads((run / "detector_work" / "train_info.json").read_text())
        expect(trained["amp"] == (trained["device"].startswith("cuda") and cfg["amp"]),
               f"{run}: mixed precision {trained['amp']} on {trained['device']} (on only on CUDA)")
        info = json.loads((run / "predictions" / "detect_info.json").read_text())
        expect(info["multiscale"] is True, f"{run}: predicted without DSFD's multi-scale test")
        scores = json.loads((run / "map.json").read_text())
        # A subset without faces in the tiny val split has no AP (None); the others are in [0, 1].
        aps = [scores[s] for s in ("easy", "medium", "hard") if scores[s] is not None]
        expect(len(aps) > 0 and all(0.0 <= ap <= 1.0 for ap in aps), f"{run}: map.json {scores}")

    # -- image metrics with the weight files -----------------------------------------------------
    metrics = sorted((results / "runs").glob("anonymizer~*/faces~*/anon_iters~*/image_metrics.json"))
    expect(len(metrics) > 0, "no image metrics")
    for path in metrics:
        files = json.loads(path.read_text())["backbone_files"]
        expect(Path(files["lpips_alexnet"]).name == "alexnet-owt-7be5be79.pth"
               and Path(files["fid_inception"]).name == "pt_inception-2015-12-05-6726825d.pth",
               f"{path}: backbones {files}")

    # -- the detector view: the original-trained detector on every train split ---------------------
    points = sorted({run.parent.parent for run in runs})
    for point in points:
        view = point / "detector_view.json"
        expect(view.is_file(), f"{point}: no detector_view.json")
        if not view.is_file():
            continue
        data = json.loads(view.read_text())
        original = point.parts[-3] == "anonymizer~original"
        expect((data.get("retention") is None) == original,
               f"{view}: retention {'present' if data.get('retention') else 'missing'} "
               f"({'the original has none' if original else 'an anonymized split has one'})")
        info = json.loads((point / "view_predictions" / "detect_info.json").read_text())
        expect(info["multiscale"] is False and info["flip"] is True,
               f"{point}: the view predicted with multiscale={info['multiscale']}, flip={info['flip']}; the paper "
               "preset's detector_view asks for one scale with the flip")
        expect(Path(info["checkpoint"]).parts[-6:] == ("anonymizer~original", "faces~0", "anon_iters~0",
                                                       f"det_iters~{max_det_iters(runs)}", "seed~0", "detector.pt"),
               f"{point}: the view's detector is {info['checkpoint']}, not the original's longest seed-0 run")

    # -- tables and figures ----------------------------------------------------------------------
    with open(results / "tables" / "map.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    expect(len(rows) == len(runs), f"map.csv has {len(rows)} rows for {len(runs)} detector runs")
    expect({r["anonymizer"] for r in rows} == {"original", "blur", "blackout", "pixelate", "fullblur", *GANS},
           f"map.csv methods: {sorted({r['anonymizer'] for r in rows})}")
    expect((results / "tables" / "correlation.csv").is_file(), "no correlation table")
    expect(all(r.get("view_recall_ge16") is not None for r in rows), "map.csv lacks the detector view's columns")
    figures = {p.stem for p in (results / "figures" / "study").glob("*.png")}
    for name in ("map_by_method", FIG6, "map_vs_training_faces", "map_vs_anonymizer_iterations", "metrics_vs_map"):
        expect(name in figures, f"figure {name} missing (drawn: {sorted(figures)})")
    problems += check_fig6(results)
    expect((results / "figures" / "methods_side_by_side.png").is_file(), "no methods_side_by_side.png")
    problems += check_paper_outputs(results)
    return problems


def check_paper_outputs(results: Path) -> list[str]:
    """Fig. 5 (the full-image-blur and DeepPrivacy detectors side by side), Fig. 8 (DeepPrivacy's failure
    cases) and the face-size table: written, and the table has a row per anonymized split and width bin."""
    problems = []
    for name in ("detections_side_by_side", "failure_cases_deepprivacy"):
        for suffix in (".png", ".pdf"):
            path = results / "figures" / f"{name}{suffix}"
            if not path.is_file() or path.stat().st_size == 0:
                problems.append(f"{path} missing or empty")
    log = results / "logs" / "report" / "detection_examples.log"
    drawn = [line.split(" -> ", 1)[0].split(", ") for line in
             (log.read_text().splitlines() if log.is_file() else []) if " -> " in line]
    if not drawn or sorted(drawn[-1]) != ["deepprivacy", "fullblur"]:
        problems.append(f"Fig. 5 did not draw both the full-image-blur and DeepPrivacy detectors ({log})")
    table = results / "tables" / "face_sizes.csv"
    if not table.is_file() or not (results / "tables" / "face_sizes.md").is_file():
        return problems + [f"{table} or face_sizes.md missing"]
    sizes = pd.read_csv(table)
    splits = {p.parts[-4:-1] for p in (results / "runs").glob("anonymizer~*/faces~*/anon_iters~*/train")}
    have = {(f"anonymizer~{a}", f"faces~{f}", f"anon_iters~{i}")
            for a, f, i in sizes[["anonymizer", "faces", "anon_iters"]].drop_duplicates().itertuples(index=False)}
    if have != splits:
        problems.append(f"face_sizes.csv has the splits {sorted(have)}, the run {sorted(splits)}")
    return problems


def max_det_iters(runs: list[Path]) -> int:
    return max(int(run.parent.name.split("~", 1)[1]) for run in runs)


def check_pipa_keypoint_rcnn(crops: Path, fixtures: Path) -> list[str]:
    """PIPA imported with Keypoint R-CNN's points for DeepPrivacy: the fixture's weights ran and its
    acceptance rules kept astronaut heads and dropped faceless ones for want of keypoints."""
    if not (crops / "crops.json").is_file():
        return [f"{crops} was not imported (DeepPrivacy's PIPA set with Keypoint R-CNN's points)"]
    problems = []
    meta = json.loads((crops / "crops.json").read_text())
    keypoints = meta.get("keypoints") or {}
    if keypoints.get("source") != "keypointrcnn" or Path(keypoints.get("weights") or "").name != KEYPOINT_RCNN:
        problems.append(f"{crops}: keypoints from {keypoints} (want Keypoint R-CNN with {KEYPOINT_RCNN})")
    # Instance i of PIPA's index is origin '#i'; the faceless heads are the fixture's fixed box.
    lines = [line.split() for line in (fixtures / "pipa" / "annotations" / "index.txt").read_text().splitlines()]
    faceless = {i for i, parts in enumerate(lines) if " ".join(parts[2:6]) == PIPA_FACELESS}
    with open(crops / "faces.csv", newline="") as fh:
        kept = [int(row["origin"].rsplit("#", 1)[1]) for row in csv.DictReader(fh)]
    with open(crops / "drops.csv", newline="") as fh:
        dropped = {int(row["origin"].rsplit("#", 1)[1]): row["reason"] for row in csv.DictReader(fh)}
    heads = [i for i in kept if i not in faceless]
    no_points = [i for i, reason in dropped.items() if reason == DROP_NO_LANDMARKS and i in faceless]
    if not heads or not no_points:
        problems.append(f"{crops}: kept {len(heads)} astronaut heads, dropped {len(no_points)} faceless heads "
                        f"for want of keypoints (want some of each; dropped: {meta.get('dropped')})")
    return problems


def check_fig6(results: Path) -> list[str]:
    """Fig. 6's files exist and the curves it draws (the plot's own selection from map.csv) have a point
    with an AP at each detector length of the overrides' ``detector_length`` experiment for each of its
    methods (the original and DeepPrivacy)."""
    experiment = yaml.safe_load(OVERRIDES.read_text())["experiments"][FIG6_EXPERIMENT]
    lengths = sorted(experiment[DET_ITERS])
    problems = [] if len(lengths) >= 2 else [f"{OVERRIDES}: Fig. 6 needs two detector lengths, has {lengths}"]
    for suffix in (".png", ".pdf"):
        path = results / "figures" / "study" / f"{FIG6}{suffix}"
        if not path.is_file() or path.stat().st_size == 0:
            problems.append(f"{FIGURES[FIG6][0]}: {path} missing or empty")
    table = pd.read_csv(results / "tables" / "map.csv")
    curves = seed_curves(main_setting(table, vary=DET_ITERS), DET_ITERS)
    for method in experiment["methods"]:
        points = curves[curves["anonymizer"] == method]
        points = points[points[["easy", "medium", "hard"]].notna().any(axis=1)]
        if sorted(points[DET_ITERS]) != lengths:
            problems.append(f"Fig. 6: {method} has points at detector lengths {sorted(points[DET_ITERS])} "
                            f"(want {lengths})")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(Path(argv[0]), Path(argv[1]))
    for p in problems:
        print(f"check_paper_run: {p}", file=sys.stderr)
    if not problems:
        print("check_paper_run: the paper path ran (data importers, weight files, paper presets, "
              "multi-scale test, tables and figures)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
