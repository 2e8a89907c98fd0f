"""Training DSFD: checkpoints, bit-identical resume on the CPU, an overfit run, the commands."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from builders import make_face_split, plain_config

from safefakes.data.wider_files import read_prediction, read_predictions
from safefakes.detector import train as train_module
from safefakes.detector.predict import detect_split
from safefakes.detector.train import build_detector, load_checkpoint, train_detector
from safefakes.errors import InputError
from safefakes.machine import FIELDS, machine_record

torch.set_num_threads(1)

FACES = [[(4, 6, 20), (34, 30, 26)], [(40, 4, 16)], [(8, 30, 28), (44, 44, 14)]]


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory):
    return make_face_split(tmp_path_factory.mktemp("det") / "train", FACES, size=64)


def tiny_config(**kw):
    base = dict(input_size=48, batch_size=2, lr=0.01, warmup_iterations=2, lr_steps=[0.5, 0.75],
                checkpoint_every=100, photometric=True, data_anchor_sampling=0.5, min_crop=0.5, flip=0.5)
    base.update(kw)
    return plain_config(**base)


def _losses(path):
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def test_checkpoint_round_trip(tiny_split, tmp_path):
    # No step inside 2 iterations; the last weights (the average has its own test).
    config = tiny_config(lr_steps=[0.9], ema_decay=0.0)
    ckpt_path = train_detector(tiny_split, tmp_path / "run", config, iterations=2, progress=False)
    ckpt = load_checkpoint(ckpt_path)
    assert ckpt["iteration"] == 2 and ckpt["total_iterations"] == 2
    assert ckpt["backbone_weights"] == "random-init"
    assert ckpt["data_order"] == {"seed": 0, "next_sample": 4, "n_images": 3}
    assert set(ckpt["rng"]) >= {"torch"}  # the data draws from per-sample generators only
    assert ckpt["optimizer"]["state"]  # momentum buffers saved
    model, restored = build_detector(ckpt)
    assert restored == config
    for key, value in model.state_dict().items():
        assert torch.equal(value, ckpt["model"][key])
    info = json.loads((tmp_path / "run" / "train_info.json").read_text())
    assert info["backbone_weights"] == "random-init" and info["iterations"] == 2
    rows = _losses(tmp_path / "run" / "losses.csv")
    assert [int(r["iteration"]) for r in rows] == [1, 2]
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    # warm-up from lr / 10: 0.001 at iteration 1, then 0.0055
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.001, 0.0055])
    # A finished run is not trained again.
    mtime = ckpt_path.stat().st_mtime_ns
    assert train_detector(tiny_split, tmp_path / "run", config, iterations=2, progress=False) == ckpt_path
    assert ckpt_path.stat().st_mtime_ns == mtime


def test_same_seed_same_threads_same_machine_trains_the_same_bytes(tiny_split, tmp_path):
    # The reproducibility the study claims, and only that: one machine, one thread count.
    # (Another CPU's kernels may sum in another order: see safefakes.machine.)
    config = tiny_config(seed=7)
    first, second = (load_checkpoint(train_detector(tiny_split, tmp_path / name, config, iterations=3,
                                                    progress=False)) for name in ("a", "b"))

    def weight_bytes(ckpt):
        return b"".join(key.encode() + value.numpy().tobytes() for key, value in ckpt["model"].items())

    assert weight_bytes(first) == weight_bytes(second)
    assert first["machine"] == second["machine"] == machine_record()
    assert first["machine"]["threads"] == 1 and first["earlier_machines"] == []
    # Another seed: other weights (the comparison above can fail).
    other = load_checkpoint(train_detector(tiny_split, tmp_path / "c", tiny_config(seed=8), iterations=3,
                                           progress=False))
    assert weight_bytes(other) != weight_bytes(first)


@pytest.mark.parametrize("averaged", [False, True], ids=["last-weights", "weight-average"])
def test_resume_after_interruption_is_bit_identical(tiny_split, tmp_path, monkeypatch, averaged):
    config = tiny_config(checkpoint_every=2, batch_norm=averaged, ema_decay=0.9 if averaged else 0.0)
    straight = load_checkpoint(train_detector(tiny_split, tmp_path / "straight", config, iterations=4,
                                              progress=False))

    real_loss = train_module.progressive_anchor_loss
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # iteration 3, after the checkpoint of iteration 2
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(train_module, "progressive_anchor_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_detector(tiny_split, tmp_path / "resumed", config, iterations=4, progress=False)
    monkeypatch.setattr(train_module, "progressive_anchor_loss", real_loss)
    assert load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["iteration"] == 2

    resumed = load_checkpoint(train_detector(tiny_split, tmp_path / "resumed", config, iterations=4,
                                             progress=False))
    assert resumed["iteration"] == 4
    for key, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    assert bool(straight["ema"]) == averaged
    if averaged:
        assert straight["ema"]["updates"] == resumed["ema"]["updates"] == 4
        for key, value in straight["ema"]["weights"].items():
            assert torch.equal(value, resumed["ema"]["weights"][key]), key
    # Every optimizer buffer (AdamW's moments and step in the mini preset, SGD's momentum otherwise).
    for pid, state in straight["optimizer"]["state"].items():
        assert state, pid
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(resumed["optimizer"]["state"][pid][name])), name
    assert straight["scheduler"]["last_epoch"] == resumed["scheduler"]["last_epoch"] == 4
    assert _losses(tmp_path / "straight" / "losses.csv") == _losses(tmp_path / "resumed" / "losses.csv")


def test_weight_average_is_what_the_detector_runs_with(tiny_split, tmp_path):
    from safefakes.detector.train import WeightAverage

    ckpt = load_checkpoint(train_detector(tiny_split, tmp_path / "run", tiny_config(ema_decay=0.5, batch_norm=True),
                                          iterations=3, progress=False))
    model, _ = build_detector(ckpt)
    weights = model.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in ckpt["ema"]["weights"].items())
    assert not torch.equal(weights["vgg.0.weight"], ckpt["model"]["vgg.0.weight"])
    # Batch-norm statistics are the trained model's, not averaged.
    assert torch.equal(weights["vgg.1.running_mean"], ckpt["model"]["vgg.1.running_mean"])

    # The average by hand: decay min(d, (1 + t) / (10 + t)) at update t.
    layer = torch.nn.Linear(1, 1, bias=False)
    average = WeightAverage(layer, decay=0.5)
    expected = layer.weight.item()
    for t, value in enumerate((2.0, -1.0, 4.0), start=1):
        with torch.no_grad():
            layer.weight.fill_(value)
        average.update(layer)
        decay = min(0.5, (1 + t) / (10 + t))
        expected = decay * expected + (1 - decay) * value
        assert average.state["weight"].item() == pytest.approx(expected)


def test_resume_refuses_a_different_run_length(tiny_split, tmp_path):
    config = tiny_config()
    train_detector(tiny_split, tmp_path / "run", config, iterations=1, progress=False)
    with pytest.raises(InputError, match="1-iteration run"):
        train_detector(tiny_split, tmp_path / "run", config, iterations=3, progress=False)
    # --no-resume starts over
    ckpt = train_detector(tiny_split, tmp_path / "run", config, iterations=3, resume=False, progress=False)
    assert load_checkpoint(ckpt)["iteration"] == 3


def _best_iou(box, dets: np.ndarray) -> float:
    """The highest IoU of one x y w h box with any of (N, 4) x y w h boxes (0 for none)."""
    x, y, w, h = box
    ix = np.clip(np.minimum(x + w, dets[:, 0] + dets[:, 2]) - np.maximum(x, dets[:, 0]), 0, None)
    iy = np.clip(np.minimum(y + h, dets[:, 1] + dets[:, 3]) - np.maximum(y, dets[:, 1]), 0, None)
    inter = ix * iy
    union = w * h + dets[:, 2] * dets[:, 3] - inter
    return float((inter / union).max()) if len(dets) else 0.0


def test_overfit_a_few_images_then_detect_them(tmp_path):
    from safefakes.evaluation.wider_ap import evaluate_folder

    faces = [[(6, 8, 34), (54, 50, 22)], [(50, 6, 36), (10, 60, 16)], [(20, 30, 40)], [(60, 60, 30), (8, 4, 18)]]
    split = make_face_split(tmp_path / "faces", faces, size=96, seed=3)
    # DSFD's SGD, as in the paper: its learning rate is this test's (the mini preset trains with AdamW).
    config = plain_config(input_size=96, width=0.125, batch_size=4, optimizer="sgd", lr=0.01,
                          warmup_iterations=10, lr_steps=[0.8], grad_clip=10.0, checkpoint_every=1000)
    ckpt = train_detector(split, tmp_path / "run", config, iterations=120, progress=False)
    summary = detect_split(ckpt, split, tmp_path / "pred")
    assert summary["images"] == 4 and summary["backbone_weights"] == "random-init"
    preds = read_predictions(tmp_path / "pred")
    assert sorted(preds) == [f"0--Test/img_{i:02d}" for i in range(4)]
    name, dets = read_prediction(tmp_path / "pred" / "0--Test" / "img_00.txt")
    assert name == "img_00" and (np.diff(dets[:, 4]) <= 0).all()  # sorted by score
    aps = evaluate_folder(tmp_path / "pred", split).to_dict()
    assert aps["hard"] > 0.9 and aps["medium"] > 0.9, aps
    # DSFD's multi-scale test finds them too: every face has a detection at IoU >= 0.5. Its AP depends
    # on how the extra scales' false boxes rank, which varies with the CPU, seed and thread count
    # (measured, hard AP: 1.0 in 9 of 10 runs of seeds 0-4 at one and two threads, 0.875 in one; 0.778
    # on another machine), so its bound only says that the faces rank above most false boxes.
    multi = detect_split(ckpt, split, tmp_path / "pred_ms", multiscale=True)
    assert multi["multiscale"] is True
    preds_ms = read_predictions(tmp_path / "pred_ms")
    for i, image_faces in enumerate(faces):
        dets = preds_ms[f"0--Test/img_{i:02d}"]
        for x, y, side in image_faces:
            assert _best_iou((x, y, side, side), dets[:, :4]) >= 0.5, (i, x, y)
    aps_ms = evaluate_folder(tmp_path / "pred_ms", split).to_dict()
    assert aps_ms["hard"] > 0.5, aps_ms


def test_commands_train_and_detect(tiny_split, tmp_path, capsys):
    from safefakes.cli import main

    cfg = tmp_path / "det.yaml"
    cfg.write_text(json.dumps({"detector": tiny_config().to_dict()}))  # JSON is YAML
    out = tmp_path / "run"
    assert main(["train-detector", str(tiny_split), str(out), "--iterations", "1", "--config", str(cfg),
                 "--quiet"]) == 0
    assert main(["detect", str(out / "checkpoint.pt"), str(tiny_split), str(tmp_path / "pred"), "--no-flip",
                 "--score-threshold", "0.2", "--max-boxes", "5", "--quiet"]) == 0
    preds = read_predictions(tmp_path / "pred")
    assert len(preds) == 3 and all(len(d) <= 5 and (d[:, 4] >= 0.2).all() for d in preds.values())
    # map.json names the machines that trained and ran the detector.
    assert main(["evaluate", str(tmp_path / "pred"), "--gt", str(tiny_split),
                 "--json", str(tmp_path / "map.json")]) == 0
    scores = json.loads((tmp_path / "map.json").read_text())
    assert set(scores) == {"easy", "medium", "hard", "machine"}
    assert scores["machine"]["train"] == load_checkpoint(out / "checkpoint.pt")["machine"]
    assert scores["machine"]["predict"] == machine_record()
    assert set(scores["machine"]["predict"]) == set(FIELDS)
    assert scores["machine"]["predict"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    # The paper preset needs ImageNet weights: a clear error, exit status 2.
    assert main(["train-detector", str(tiny_split), str(tmp_path / "paper"), "--preset", "paper",
                 "--iterations", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "detector.backbone_weights" in err and "vgg16" in err


def test_optimizer_setting():
    import torch

    from safefakes.detector.config import DetectorConfig, mini_config, paper_config
    from safefakes.detector.model import DSFD
    from safefakes.detector.train import make_optimizer
    from safefakes.errors import InputError

    model = DSFD(width=0.125)
    # The paper trains DSFD with SGD; the mini preset with AdamW (measured in its comment).
    assert isinstance(make_optimizer(model, paper_config()), torch.optim.SGD)
    adamw = make_optimizer(model, mini_config())
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.param_groups[0]["betas"] == (0.9, 0.999) and adamw.param_groups[0]["lr"] == 0.003
    with pytest.raises(InputError, match="optimizer 'adam'"):
        DetectorConfig.from_dict({"optimizer": "adam"}, base=mini_config())


def test_resume_on_another_split_is_refused_naming_both(tiny_split, tmp_path, monkeypatch, caplog):
    import logging
    import shutil

    from safefakes.cli import main
    from safefakes.data.fingerprint import DATA_SHA256

    config = tiny_config(checkpoint_every=1)
    run = tmp_path / "run"
    real_loss, calls = train_module.progressive_anchor_loss, {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # after the checkpoint of iteration 2 of 4
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(train_module, "progressive_anchor_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_detector(tiny_split, run, config, iterations=4, progress=False)
    monkeypatch.setattr(train_module, "progressive_anchor_loss", real_loss)
    # Same names, same boxes; one image's bytes differ (e.g. an anonymized copy of the split).
    other = tmp_path / "other"
    shutil.copytree(tiny_split, other)
    data = bytearray((other / "images/0--Test/img_01.jpg").read_bytes())
    data[-10] ^= 0xFF
    (other / "images/0--Test/img_01.jpg").write_bytes(bytes(data))

    def refused() -> str:
        before = (run / "checkpoint.pt").read_bytes()
        with pytest.raises(InputError, match="trained on other data") as err:
            train_detector(other, run, config, iterations=4, progress=False)
        assert (run / "checkpoint.pt").read_bytes() == before
        return str(err.value)

    message = refused()  # an unfinished run
    assert message.startswith(f"{run / 'checkpoint.pt'}: ") and "--no-resume" in message
    assert f"the split {tiny_split} (fingerprint " in message
    assert f"not the split given, {other} (fingerprint " in message
    # The same bytes elsewhere are the same data: the run resumes and finishes.
    moved = tmp_path / "moved"
    shutil.copytree(tiny_split, moved)
    ckpt = load_checkpoint(train_detector(moved, run, config, iterations=4, progress=False))
    assert ckpt["iteration"] == 4
    assert json.loads((run / "train_info.json").read_text())[DATA_SHA256] == ckpt[DATA_SHA256]
    refused()  # a finished run used to hand back its checkpoint for any split
    cfg = tmp_path / "det.yaml"
    cfg.write_text(json.dumps({"detector": config.to_dict()}))
    assert main(["train-detector", str(other), str(run), "--iterations", "4", "--config", str(cfg), "--quiet"]) == 2
    # A checkpoint written before fingerprints existed resumes, with a warning naming it and both splits.
    del ckpt[DATA_SHA256]
    torch.save(ckpt, run / "checkpoint.pt")
    with caplog.at_level(logging.WARNING):
        train_detector(other, run, config, iterations=4, progress=False)
    assert any("records no fingerprint" in r.getMessage() and str(other) in r.getMessage() for r in caplog.records)


def test_a_link_inside_the_output_folder_is_refused(tiny_split, tmp_path):
    from safefakes.errors import SafeFakesError

    run = tmp_path / "run"
    run.mkdir()
    outside = tmp_path / "outside.csv"
    outside.write_text("mine\n")
    (run / "losses.csv").symlink_to(outside)
    with pytest.raises(SafeFakesError, match="symbolic link inside the output folder"):
        train_detector(tiny_split, run, tiny_config(), iterations=1, progress=False)
    assert outside.read_text() == "mine\n"
