"""The synthetic dataset: format, determinism, geometry, identities, CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import safefakes.data.synthetic as synthetic
from safefakes.data.images import image_size, read_image
from safefakes.data.split import Split
from safefakes.data.synthetic import (
    LAYOUT,
    LEFT_EAR,
    LEFT_EYE,
    LEFT_SHOULDER,
    NOSE_TIP,
    RIGHT_EAR,
    RIGHT_EYE,
    RIGHT_SHOULDER,
    VECTOR_SIZE,
    Identity,
    generate,
    identity_distance,
    identity_for,
    identity_vector,
)
from safefakes.data.synthetic.face import CHIN, JAW, MOUTH, Placement, Pose, draw_head, draw_torso
from safefakes.data.synthetic.identity import CONTINUOUS, HAIR_STYLES
from safefakes.data.synthetic.scene import render_scene
from safefakes.data.wider_files import MAT_FILES, read_ground_truth

SIZE = (128, 96)  # W, H: not square, so a swapped W/H shows up
CROP = 48
TINY = dict(train_images=5, val_images=4, crops=12, image_size=SIZE, crop_size=CROP)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth") / "data"
    summary = generate(out, seed=3, workers=1, **TINY)
    return out, summary


def test_same_seed_gives_same_bytes_whatever_the_worker_count(tiny, tmp_path):
    out, _ = tiny
    again = tmp_path / "again"
    generate(again, seed=3, workers=2, **TINY)
    a, b = _files(out), _files(again)
    assert sorted(a) == sorted(b)
    assert any(k.endswith(".jpg") for k in a) and any(k.endswith(".mat") for k in a)
    for name in a:
        assert a[name] == b[name], f"{name} differs between workers=1 and workers=2"


def test_different_seed_gives_different_images(tiny, tmp_path):
    out, _ = tiny
    other = tmp_path / "other"
    generate(other, seed=4, workers=1, **TINY)
    a, b = _files(out / "train"), _files(other / "train")
    assert sorted(a) == sorted(b)  # names come from the sizes, not the seed
    differing = [k for k in a if k.endswith(".jpg") and a[k] != b[k]]
    assert len(differing) == 5


def test_each_split_is_a_complete_split_folder(tiny):
    out, summary = tiny
    assert sorted(p.name for p in out.iterdir()) == ["crops", "train", "val"]  # no .partial left
    expected = {"train": 5, "val": 4, "crops": 12}
    for name, n in expected.items():
        split = Split.load(out / name)
        assert len(split) == n == summary[name]["images"]
        assert split.n_faces == summary[name]["faces"]
        assert split.keypoint_layout == LAYOUT == "synthetic72"
        for im in split.images:
            assert im.event and "/" in im.name
            w, h = image_size(split.image_path(im.name))
            assert (w, h) == ((CROP, CROP) if name == "crops" else SIZE)
            assert 1 <= len(im) <= 8
            assert split.keypoints[im.name].shape == (len(im), 72, 3)
            assert split.identities[im.name].shape == (len(im),)
            for ident in split.identities[im.name]:
                assert split.identity_vectors[int(ident)].shape == (VECTOR_SIZE,)
            assert read_image(split.image_path(im.name)).shape == (h, w, 3)


def test_attributes_use_the_wider_label_ranges(tiny):
    out, _ = tiny
    limits = {"blur": 2, "expression": 1, "illumination": 1, "invalid": 0, "occlusion": 2, "pose": 1}
    for name in ("train", "val", "crops"):
        for im in Split.load(out / name).images:
            for attr, top in limits.items():
                values = im.attribute(attr)
                assert values.min() >= 0 and values.max() <= top, (name, im.name, attr, values)
            assert (im.boxes[:, 2] > 0).all() and (im.boxes[:, 3] > 0).all()
            if name == "crops":
                assert (im.attribute("blur") == 0).all() and (im.attribute("occlusion") == 0).all()


def test_val_mat_files_match_the_annotations(tiny):
    out, _ = tiny
    val = Split.load(out / "val")
    for f in MAT_FILES.values():
        # No creation time in the header: the same seed gives the same bytes on any day.
        assert b"Created on" not in (out / "val" / f).read_bytes()[:116]
    assert not (out / "train" / MAT_FILES["face"]).exists()
    gt = read_ground_truth(out / "val")
    assert gt.n_faces == val.n_faces
    by_key = {im.key: im for im in gt.images}
    assert len(by_key) == len(val)
    for im in val.images:
        g = by_key[f"{im.event}/{im.stem}"]
        np.testing.assert_array_equal(g.boxes, im.boxes.astype(float))
        h = im.boxes[:, 3]
        for subset, min_h in (("easy", 50), ("medium", 30), ("hard", 10)):
            np.testing.assert_array_equal(np.sort(g.kept[subset]), np.flatnonzero(h > min_h))


def test_visible_keypoints_lie_in_or_near_their_face_box(tiny):
    out, _ = tiny
    for name in ("train", "val", "crops"):
        split = Split.load(out / name)
        W, H = (CROP, CROP) if name == "crops" else SIZE
        for im in split.images:
            kps = split.keypoints[im.name]
            for (x, y, w, h), kp in zip(im.boxes, kps):
                vis = kp[:, 2] > 0
                assert vis[:68].sum() >= 10, f"{im.name}: almost no visible landmarks"
                # Visible points are in the image.
                assert (kp[vis, 0] >= 0).all() and (kp[vis, 0] <= W - 1).all()
                assert (kp[vis, 1] >= 0).all() and (kp[vis, 1] <= H - 1).all()
                face = kp[:68][vis[:68]]
                mx, my = 0.12 * w + 1.5, 0.12 * h + 1.5  # integer boxes and antialiasing
                assert (face[:, 0] >= x - mx).all() and (face[:, 0] <= x + w + mx).all(), im.name
                assert (face[:, 1] >= y - my).all() and (face[:, 1] <= y + h + my).all(), im.name
                ears = kp[[LEFT_EAR, RIGHT_EAR]]
                assert (np.abs(ears[:, 0] - (x + w / 2)) <= 0.9 * w + 2).all()
                assert (np.abs(ears[:, 1] - (y + h / 2)) <= 0.6 * h + 2).all()
                shoulders = kp[[LEFT_SHOULDER, RIGHT_SHOULDER], 1]
                assert (shoulders > y + 0.8 * h).all()


def test_landmarks_follow_dlib_order_and_sides():
    ident = identity_for(0, 1)
    img = np.zeros((200, 200, 3), np.uint8)
    place = Placement(100, 70, 30)
    box, kp = draw_head(img, ident, Pose(), place)
    shoulders = draw_torso(img, ident, Pose(), place)
    assert kp.shape == (70, 3) and (kp[:, 2] == 1).all()
    assert len(synthetic.KEYPOINT_NAMES) == 72 and synthetic.KEYPOINT_NAMES[NOSE_TIP] == "nose_bridge_3"
    # The person's left is the image's right in a frontal face.
    assert kp[LEFT_EYE, 0].mean() > kp[RIGHT_EYE, 0].mean()
    assert kp[LEFT_EAR, 0] > box[0] + box[2] - 3 and kp[RIGHT_EAR, 0] < box[0] + 3
    assert shoulders[0, 0] > shoulders[1, 0]
    # Top to bottom: eyes, nose tip, mouth, chin; jaw runs left to right.
    assert kp[RIGHT_EYE, 1].mean() < kp[NOSE_TIP, 1] < kp[MOUTH, 1].mean() < kp[CHIN, 1]
    jaw = kp[JAW]
    assert (jaw[:8, 0] < jaw[8, 0]).all() and (jaw[9:, 0] > jaw[8, 0]).all()
    assert np.argmax(jaw[:, 1]) == 8 and np.all(np.diff(jaw[:8, 1]) > 0)
    assert abs(kp[CHIN, 1] - (box[1] + box[3])) < 1.0
    # dlib eye order: corner, upper lid, upper lid, corner, lower lid, lower lid.
    eye = kp[RIGHT_EYE]
    assert eye[0, 0] < eye[1, 0] < eye[2, 0] < eye[3, 0]
    assert eye[1, 1] < eye[5, 1] and eye[2, 1] < eye[4, 1]
    assert np.abs(img[70:100, 85:115].astype(int) - img[70, 100].astype(int)).max() > 40  # features drawn


def test_yaw_turns_features_and_hides_the_far_side():
    ident = identity_for(0, 2)
    img = np.zeros((200, 200, 3), np.uint8)
    place = Placement(100, 90, 30)
    _, front = draw_head(img.copy(), ident, Pose(), place)
    box, turned = draw_head(img.copy(), ident, Pose(yaw=math.radians(55)), place)
    # Yaw > 0 turns the face towards the image's right: the nose moves right.
    assert turned[NOSE_TIP, 0] > front[NOSE_TIP, 0] + 10
    assert turned[NOSE_TIP, 0] > box[0] + 0.6 * box[2]
    # The far side (the person's left, on the image right) hides: ear and outer jaw.
    assert turned[LEFT_EAR, 2] == 0 and turned[RIGHT_EAR, 2] == 1
    assert (turned[13:17, 2] == 0).all() and (turned[0:4, 2] == 1).all()
    # The far eye is foreshortened.
    width = lambda kp, eye: kp[eye, 0].max() - kp[eye, 0].min()  # noqa: E731
    assert width(turned, LEFT_EYE) < 0.8 * width(front, LEFT_EYE)


def test_face_heights_span_6px_to_a_third_of_the_image_log_uniformly():
    people = [(k, identity_for(0, k)) for k in range(12)]
    heights = []
    for i in range(30):
        _, records = render_scene(np.random.default_rng(i), (192, 192), people, i)
        assert 1 <= len(records) <= 8
        heights += [int(r.box[3]) for r in records]
    h = np.array(heights)
    assert h.min() >= 5 and h.max() <= 64 * 1.3
    assert h.min() <= 9 and h.max() >= 40
    # Log-uniform on [6, 64]: the median is near sqrt(6 * 64) = 19.6 and
    # about a third of the faces are taller than 30 px.
    assert 13 <= np.median(h) <= 28
    assert 0.15 <= (h > 30).mean() <= 0.5


def test_crops_use_people_disjoint_from_train_and_val(tiny):
    out, _ = tiny
    det = set()
    for name in ("train", "val"):
        for ids in Split.load(out / name).identities.values():
            det.update(int(i) for i in ids)
    crops = Split.load(out / "crops")
    crop_ids = [int(ids[0]) for ids in crops.identities.values()]
    assert det and crop_ids
    assert det.isdisjoint(crop_ids)
    counts = np.bincount(np.unique(crop_ids, return_inverse=True)[1])
    # 5-10 crops per person; only the last person may be cut short by the total.
    assert (counts[:-1] >= 5).all() and (counts <= 10).all()
    vectors = crops.identity_vectors
    det_vectors = Split.load(out / "train").identity_vectors
    for cid in set(crop_ids):
        for _did, dv in det_vectors.items():
            assert identity_distance(vectors[cid], dv) > 0


def test_crops_leave_room_for_a_deepprivacy_crop(tiny):
    out, _ = tiny
    crops = Split.load(out / "crops")
    for im in crops.images:
        assert len(im) == 1
        x, y, w, h = im.boxes[0]
        side = max(w, h) * (1 + 2 * 0.35)
        cx, cy = x + w / 2, y + h / 2
        assert cx - side / 2 >= -1 and cy - side / 2 >= -1, im.name
        assert cx + side / 2 <= CROP + 1 and cy + side / 2 <= CROP + 1, im.name
        assert h >= 0.3 * CROP


def test_identity_vector_and_distance():
    low = Identity({n: 0.0 for n in CONTINUOUS}, 0)
    high = Identity({n: 1.0 for n in CONTINUOUS}, 1)
    v = identity_vector(low)
    assert v.shape == (VECTOR_SIZE,) == (len(CONTINUOUS) + len(HAIR_STYLES),)
    assert v[len(CONTINUOUS):].tolist() == [1, 0, 0, 0, 0]
    # Opposite ends everywhere and a different hair style: the largest distance.
    assert identity_distance(low, high) == pytest.approx(1.0)
    assert identity_distance(low, low) == 0.0
    # One parameter across its whole range: 1 / sqrt(18 + 2).
    one = Identity({**low.u, "skin_tone": 1.0}, 0)
    assert identity_distance(low, one) == pytest.approx(1 / math.sqrt(20))
    a, b = identity_for(0, 1), identity_for(0, 2)
    assert identity_distance(a, b) == pytest.approx(identity_distance(identity_vector(b), identity_vector(a)))
    assert 0 < identity_distance(a, b) < 1
    assert identity_for(0, 1) == identity_for(0, 1) and identity_for(1, 1) != identity_for(0, 1)
    with pytest.raises(ValueError):
        identity_distance(np.zeros(3), np.zeros(3))


def test_a_failed_run_never_leaves_a_split_that_looks_complete(tmp_path, monkeypatch):
    out = tmp_path / "data"
    calls = {"n": 0}
    real = synthetic.render_crop

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic, "render_crop", failing)
    with pytest.raises(RuntimeError):
        generate(out, seed=0, workers=1, train_images=2, val_images=2, crops=6, image_size=(64, 64))
    for name in ("train", "val", "crops"):
        assert not (out / name / "annotations.txt").exists()
    monkeypatch.setattr(synthetic, "render_crop", real)
    generate(out, seed=0, workers=1, train_images=2, val_images=2, crops=6, image_size=(64, 64))
    assert sorted(p.name for p in out.iterdir()) == ["crops", "train", "val"]
    assert len(Split.load(out / "crops")) == 6


def test_bad_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="image_size"):
        generate(tmp_path, image_size=(16, 16), train_images=1, val_images=1, crops=1)
    with pytest.raises(ValueError, match="train_images"):
        generate(tmp_path, train_images=0)


def test_cli_writes_the_splits_and_a_preview(tmp_path, capsys):
    from safefakes.cli import main

    out = tmp_path / "cli"
    preview = tmp_path / "sheet.png"
    code = main(["synth", str(out), "--seed", "1", "--train-images", "3", "--val-images", "2",
                 "--crops", "5", "--image-size", "96", "64", "--workers", "1", "--preview", str(preview)])
    assert code == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "train 3 images" in line and "val 2 images" in line and "crops 5" in line
    assert len(Split.load(out / "train")) == 3 and image_size(out / "train" / "images" /
                                                              Split.load(out / "train").images[0].name) == (96, 64)
    sheet = read_image(preview)
    assert preview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sheet.shape[0] > 64 and sheet.shape[1] >= 3 * 96
    # Boxes are drawn in pure green on the sheet.
    green = (sheet[..., 1] == 255) & (sheet[..., 0] == 0) & (sheet[..., 2] == 0)
    assert green.sum() > 10


def test_cli_defaults_match_the_library():
    import argparse

    from safefakes.commands import synth

    parser = argparse.ArgumentParser()
    synth.add_parser(parser.add_subparsers())
    args = parser.parse_args(["synth", "x"])
    assert args.train_images == synthetic.DEFAULT_TRAIN_IMAGES
    assert args.val_images == synthetic.DEFAULT_VAL_IMAGES
    assert args.crops == synthetic.DEFAULT_CROPS
    assert tuple(args.image_size) == synthetic.DEFAULT_IMAGE_SIZE
    assert args.crop_size == synthetic.DEFAULT_CROP_SIZE
    assert args.seed == 0 and args.workers is None
