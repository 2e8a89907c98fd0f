"""The scale-reduced paper run's fixtures go through the study's real importers and weight loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fixtures import keypoint_rcnn, weights, widerface
from fixtures.celeba import write_celeba
from fixtures.fdf import write_fdf
from fixtures.pipa import write_pipa
from paper.build_fixtures import SIZES

from safefakes.data.crops import DROP_NO_LANDMARKS, read_crop_source
from safefakes.data.split import Split
from safefakes.data.wider_files import read_annotations, read_ground_truth
from safefakes.importers import import_celeba, import_fdf, import_pipa
from safefakes.importers.widerface import import_split


def test_widerface_tree_imports_and_matches_its_ground_truth(tmp_path):
    root = widerface.write_widerface(tmp_path / "wider", train_images=3, val_images=2, image_size=(96, 64))
    for rel in ("WIDER_train/images", "WIDER_val/images", "wider_face_split/wider_face_train_bbx_gt.txt",
                "wider_face_split/wider_face_val_bbx_gt.txt", "eval_tools/ground_truth/wider_hard_val.mat"):
        assert (root / rel).exists(), rel
    assert import_split(root, "train", tmp_path / "train") == 3
    assert import_split(root, "val", tmp_path / "val") == 2
    val = read_annotations(root / "wider_face_split/wider_face_val_bbx_gt.txt")
    gt = {im.key: im.boxes for im in read_ground_truth(root / "eval_tools/ground_truth").images}
    assert sorted(gt) == sorted(f"{im.event}/{im.stem}" for im in val)
    for im in val:
        assert np.array_equal(gt[f"{im.event}/{im.stem}"], im.boxes)
    assert Split.load(tmp_path / "train").n_faces == sum(len(im) for im in read_annotations(
        root / "wider_face_split/wider_face_train_bbx_gt.txt"))


# The keypoints each GAN learns with (rules/common.smk, GAN_KEYPOINTS).
GAN_KEYPOINTS = {"deepprivacy": "deepprivacy7", "ciagan": "dlib68", "sun2018": "dlib68"}


def _overrides_crop_sets() -> dict[tuple[str, str], int]:
    """(source, keypoints) -> the most faces a GAN of tests/paper/overrides.yaml takes from that import."""
    overrides = yaml.safe_load((Path(__file__).parent / "paper" / "overrides.yaml").read_text())
    by_faces = {e["faces"]: e for e in overrides["crop_sets"]}
    needed: dict[tuple[str, str], int] = {}
    for gan, keypoints in GAN_KEYPOINTS.items():
        sizes = {overrides["anonymizers"][gan]["faces"]}
        for experiment in overrides["experiments"].values():
            if gan in experiment["methods"]:
                sizes.update(experiment.get("faces", []))
        for faces in sizes:
            key = (by_faces[faces]["source"], keypoints)
            needed[key] = max(needed.get(key, 0), faces)
    return needed


def test_the_overrides_import_each_source_with_the_keypoints_of_the_gans_that_use_it():
    # PIPA twice, as in the preset: Keypoint R-CNN's points for DeepPrivacy, dlib's for Sun2018.
    assert _overrides_crop_sets() == {("pipa", "deepprivacy7"): 5, ("pipa", "dlib68"): 6, ("fdf", "deepprivacy7"): 8,
                                      ("celeba", "dlib68"): 7}


@pytest.mark.slow
def test_paper_crop_sets_survive_the_importers_with_the_faces_the_overrides_ask(tmp_path):
    """Each crop set of tests/paper/overrides.yaml, imported as the workflow does, holds its faces.

    PIPA with Keypoint R-CNN (a minute of CPU for its 15 heads) is left to the next test on two of
    its photos and to the paper run on all: the fixture keeps one head a photo there too.
    """
    needed = _overrides_crop_sets()
    entry = {e["source"]: e for e in yaml.safe_load(
        (Path(__file__).parent / "paper" / "overrides.yaml").read_text())["crop_sets"]}
    # The crop sources as tests/paper/build_fixtures.py writes them (its sizes, without the weight files).
    write_fdf(tmp_path / "fx" / "fdf", *SIZES["fdf"], seed=1)
    write_celeba(tmp_path / "fx" / "celeba", SIZES["celeba"], seed=2)
    write_pipa(tmp_path / "fx" / "pipa", SIZES["pipa"], seed=3)
    tables = {
        ("fdf", "deepprivacy7"): import_fdf(tmp_path / "fx" / "fdf", tmp_path / "fdf", subsets=entry["fdf"]["subsets"]),
        ("celeba", "dlib68"): import_celeba(tmp_path / "fx" / "celeba", tmp_path / "celeba", keypoints="dlib68",
                                            min_identity_images=entry["celeba"]["min_identity_images"],
                                            max_identities=entry["celeba"]["max_identities"]),
        ("pipa", "dlib68"): import_pipa(tmp_path / "fx" / "pipa", tmp_path / "pipa", keypoints="dlib68",
                                        min_size=entry["pipa"]["min_size"]),
    }
    assert set(tables) == set(needed) - {("pipa", "deepprivacy7")}
    for (source, keypoints), table in tables.items():
        assert table.keypoint_layout == keypoints
        # Some faces are dropped (faceless crops, CelebA's excluded identity) and enough stay.
        assert needed[source, keypoints] <= len(table), (source, len(table))
    # CelebA: identities 1-3 (>= 3 images), the faceless 5th and 10th images dropped; identity 4 left out.
    celeba = tables["celeba", "dlib68"]
    assert len(celeba) == 8 and sorted(set(celeba.identities.tolist())) == [1, 2, 3]
    # PIPA: one real head a photo; the faceless heads and the boxes outside the photo are dropped.
    assert len(tables["pipa", "dlib68"]) == SIZES["pipa"]
    assert len(tables["fdf", "deepprivacy7"]) == sum(SIZES["fdf"])
    # With Keypoint R-CNN PIPA keeps at most one head a photo, enough for DeepPrivacy's set.
    assert needed["pipa", "deepprivacy7"] <= SIZES["pipa"]


def test_seeded_values_are_reproducible_and_shaped_like_trained_weights():
    state = {"conv.weight": torch.zeros(8, 4, 3, 3), "bn.running_var": torch.zeros(8), "bn.weight": torch.zeros(8),
             "bn.num_batches_tracked": torch.tensor(0)}
    a, b, c = weights.seeded_values(state, 0), weights.seeded_values(state, 0), weights.seeded_values(state, 1)
    assert all(torch.equal(a[k], b[k]) for k in state) and not torch.equal(a["conv.weight"], c["conv.weight"])
    assert float(a["conv.weight"].std()) == pytest.approx((2 / 36) ** 0.5, rel=0.3)
    assert (a["bn.running_var"] > 0).all() and a["bn.num_batches_tracked"].dtype == torch.int64


@pytest.mark.slow
def test_weight_files_load_through_the_studys_loaders(tmp_path):
    from safefakes.detector.backbone import load_vgg16_weights
    from safefakes.detector.model import DSFD
    from safefakes.evaluation.backbones import load_fid_inception, load_lpips_alex
    from safefakes.keypoints.deepprivacy7 import build_keypoint_rcnn

    files = weights.write_all(tmp_path / "w", seed=3)
    assert {p.name for p in files.values()} == {weights.VGG16_REDUCEDFC, weights.ALEXNET, weights.FID_INCEPTION,
                                               weights.KEYPOINT_RCNN}

    vgg = torch.load(files["detector.backbone_weights"], weights_only=True)
    # SSD's file: 13 convolutions at torchvision's indices, conv6 / conv7 at 31 / 33.
    assert sorted(vgg, key=lambda k: (int(k.split(".")[0]), k)) == [
        f"{i}.{p}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, 31, 33) for p in ("bias", "weight")]
    assert tuple(vgg["31.weight"].shape) == (1024, 512, 3, 3) and tuple(vgg["33.weight"].shape) == (1024, 1024, 1, 1)
    model = DSFD(width=1.0)
    assert load_vgg16_weights(model, files["detector.backbone_weights"]) == "vgg16_reducedfc.pth (caffe)"
    assert torch.equal(model.state_dict()["fc6.weight"], vgg["31.weight"])

    alex = torch.load(files["metrics.lpips_weights"], weights_only=True)
    lpips_model, record = load_lpips_alex(files["metrics.lpips_weights"])
    assert record["trunk"] == str(files["metrics.lpips_weights"])
    assert torch.equal(lpips_model.net.slice1[0].weight, alex["features.0.weight"])
    assert tuple(alex["classifier.6.weight"].shape) == (1000, 4096)

    inception, record = load_fid_inception(files["metrics.inception_weights"])
    assert record == str(files["metrics.inception_weights"])
    assert tuple(torch.load(files["metrics.inception_weights"], weights_only=True)["fc.weight"].shape) == (1008, 2048)

    krcnn = torch.load(files["anonymizers.deepprivacy.keypoint_weights"], weights_only=True)
    assert not any(k.endswith("num_batches_tracked") for k in krcnn)
    model = build_keypoint_rcnn(files["anonymizers.deepprivacy.keypoint_weights"])
    key = "roi_heads.keypoint_predictor.kps_score_lowres.weight"
    assert torch.equal(model.state_dict()[key], krcnn[key]) and krcnn[key].shape[1] == 17


def test_keypoint_rcnns_planted_position_code_puts_deepprivacys_points_in_their_cells():
    """Whatever the RoI features (content, scale), each of the seven heatmaps peaks in its planted cell."""
    from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
    from torchvision.models.detection.roi_heads import heatmaps_to_keypoints

    heads, predictor = KeypointRCNNHeads(256, [512] * 8), KeypointRCNNPredictor(512, 17)
    state = {f"{keypoint_rcnn.HEAD}.{k}": v for k, v in heads.state_dict().items()}
    state.update({f"roi_heads.keypoint_predictor.{k}": v for k, v in predictor.state_dict().items()})
    state = weights.seeded_values(state, 0)
    keypoint_rcnn.plant_position_code(state)
    heads.load_state_dict({k.removeprefix(f"{keypoint_rcnn.HEAD}."): v for k, v in state.items()
                           if k.startswith(keypoint_rcnn.HEAD)})
    predictor.load_state_dict({k.removeprefix("roi_heads.keypoint_predictor."): v for k, v in state.items()
                               if k.startswith("roi_heads.keypoint_predictor.")})
    torch.manual_seed(0)
    features = torch.randn(3, 256, 14, 14) * torch.tensor([1.0, 30.0, 1000.0]).view(3, 1, 1, 1)
    boxes = torch.tensor([[10.0, 20.0, 150.0, 160.0], [0.0, 0.0, 68.0, 136.0], [100.0, 50.0, 372.0, 186.0]])
    with torch.no_grad():
        points, _ = heatmaps_to_keypoints(predictor(heads(features)), boxes)
    for k, (cx, cy) in enumerate(keypoint_rcnn.POINT_CELLS.values()):
        size = boxes[:, 2:] - boxes[:, :2]
        want = boxes[:, :2] + (torch.tensor([cx, cy]) + 0.5) / keypoint_rcnn.GRID * size
        # within a quarter of a cell of the cell's centre
        assert ((points[:, k, :2] - want).abs() <= size / keypoint_rcnn.GRID / 4 + 1).all(), (k, points[:, k], want)


@pytest.mark.slow
def test_fixture_keypoint_rcnn_keeps_the_astronauts_heads_and_drops_the_faceless_ones(tmp_path):
    """DeepPrivacy's PIPA import with the fixture's Keypoint R-CNN file, through the library unchanged:
    its score threshold and the rule that the nose and both eyes lie in the head box decide."""
    path = weights.write_keypoint_rcnn(tmp_path / weights.KEYPOINT_RCNN, seed=0)  # as build_fixtures writes it
    pipa = write_pipa(tmp_path / "pipa", 2, seed=3)  # the paper fixture's first two photos
    table = import_pipa(pipa, tmp_path / "dp", keypoints="deepprivacy7", keypoint_weights=path, min_size=24,
                        workers=2)
    meta = read_crop_source(tmp_path / "dp")
    assert meta["keypoints"]["source"] == "keypointrcnn" and meta["keypoints"]["weights"] == str(path)
    # Index lines 0 and 2 are the astronaut's heads, 1 and 3 the faceless patches.
    assert meta["found"] == 4 and meta["dropped"] == {DROP_NO_LANDMARKS: 2} and len(table) == 2
    origins = {row.split(",")[1].rsplit("#", 1)[1] for row in (tmp_path / "dp" / "faces.csv").read_text().split()[1:]}
    assert origins == {"0", "2"}
    for i in range(len(table)):  # DeepPrivacy's rule, seen in the crop: nose and eyes inside the head box
        x, y, w, h = table.boxes[i]
        face = table.keypoints[i, :3]
        assert ((face[:, 0] >= x) & (face[:, 0] <= x + w) & (face[:, 1] >= y) & (face[:, 1] <= y + h)).all()
