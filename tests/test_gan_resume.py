"""Every GAN: a training interrupted mid-way and resumed ends with the weights of an uninterrupted one.

Bit for bit on the CPU: the models, the optimisers, the EMA generator, and the
losses CSV continues without gaps or duplicates. The crop order, the extra
critic batches, flips and latents all come from the seed or the saved RNG.
"""

from __future__ import annotations

import csv

import pytest
import torch
from builders import tiny_crop_set

from safefakes.anonymizers.gan.ciagan import CIAGAN
from safefakes.anonymizers.gan.dataset import open_crop_dataset
from safefakes.anonymizers.gan.deepprivacy import DeepPrivacy, DeepPrivacyConfig
from safefakes.anonymizers.gan.sun2018 import Sun2018
from safefakes.anonymizers.gan.trainer import TrainConfig, Trainer

torch.set_num_threads(1)

METHODS = {
    "deepprivacy": lambda: DeepPrivacy(DeepPrivacyConfig(resolution=16, width=1 / 64)),
    "ciagan": lambda: CIAGAN({"resolution": 16, "width": 0.125, "n_identities": 8, "mlp_layers": 2,
                              "res_blocks": 1, "identity_width": 8, "identity_dim": 16}),
    "sun2018": lambda: Sun2018({"resolution": 16, "width": 0.0625, "d_lr_scale": 0.1}),
}


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    return tiny_crop_set(tmp_path_factory.mktemp("resume_crops"))


def _config() -> TrainConfig:
    # Two critic steps: their extra batches must come from the seed too.
    return TrainConfig(images=40, batch_size=8, lr=1e-3, betas=(0.5, 0.999), ema_halflife_images=16,
                       critic_steps=2, checkpoint_every=16, sample_every=16, log_every=8, progress_bar=False,
                       device="cpu", seed=3)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_resume_gives_bit_identical_weights(name, crops, tmp_path):
    method = METHODS[name]()
    data = open_crop_dataset(crops, method.resolution, method.keypoint_layout)
    whole = Trainer(METHODS[name](), data, tmp_path / "whole", _config())
    whole.train()
    first = Trainer(METHODS[name](), data, tmp_path / "parts", _config())
    first.train(stop_after_images=24)  # "interrupted" between two periodic checkpoints
    assert first.images_shown == 24
    second = Trainer(METHODS[name](), data, tmp_path / "parts", _config())
    second.train(resume=True)
    assert second.images_shown == 40
    for net in ("G", "D", "G_ema"):
        a, b = getattr(whole, net).state_dict(), getattr(second, net).state_dict()
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (net, key)
    sa, sb = whole.opt_g.state_dict()["state"], second.opt_g.state_dict()["state"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"]) for k in sa)
    rows = list(csv.DictReader((tmp_path / "parts" / "losses.csv").open()))
    assert [int(r["images"]) for r in rows] == [8, 16, 24, 32, 40]


def test_resume_on_other_crops_is_refused_naming_both_and_a_copy_elsewhere_continues(crops, tmp_path, caplog):
    import dataclasses
    import logging
    import shutil

    from safefakes.data.fingerprint import DATA_SHA256
    from safefakes.data.images import read_image, write_image
    from safefakes.errors import SafeFakesError

    method = METHODS["deepprivacy"]()
    data = open_crop_dataset(crops, method.resolution, method.keypoint_layout)
    first = Trainer(METHODS["deepprivacy"](), data, tmp_path / "run", _config())
    first.train(stop_after_images=24)
    # Another crop set of the same size, names and settings: one crop's pixels differ.
    other = tmp_path / "other_crops"
    shutil.copytree(crops, other)
    image = read_image(other / "images/0--Test/img_005.jpg").copy()
    image[:8] = 255 - image[:8]
    write_image(other / "images/0--Test/img_005.jpg", image)
    again = Trainer(METHODS["deepprivacy"](), open_crop_dataset(other, method.resolution, method.keypoint_layout),
                    tmp_path / "run", _config())
    with pytest.raises(SafeFakesError, match="trained on other data") as err:
        again.train(resume=True)
    message = str(err.value)
    assert f"the checkpoint's crops {crops} (fingerprint " in message
    assert f"not the crops given, {other} (fingerprint " in message
    assert str(tmp_path / "run") in message and again.images_shown == 0
    # The same bytes in another folder are the same data: the run continues.
    moved = tmp_path / "moved_crops"
    shutil.copytree(crops, moved)
    same = Trainer(METHODS["deepprivacy"](), open_crop_dataset(moved, method.resolution, method.keypoint_layout),
                   tmp_path / "run", _config())
    same.train(resume=True)
    assert same.images_shown == 40
    # A checkpoint written before fingerprints existed: accepted, with a warning that names it and the data.
    state = torch.load(tmp_path / "run" / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert state["source"][DATA_SHA256] == same.source[DATA_SHA256]
    del state["source"][DATA_SHA256]
    old = tmp_path / "old"
    old.mkdir()
    torch.save(state, old / "old.pt")
    longer = Trainer(METHODS["deepprivacy"](), data, tmp_path / "longer",
                     dataclasses.replace(_config(), images=48))
    with caplog.at_level(logging.WARNING):
        longer.train(start_from=old / "old.pt")
    assert any("records no fingerprint of its training data" in r.getMessage() and str(crops) in r.getMessage()
               for r in caplog.records)
    assert longer.images_shown == 48


def test_resume_of_a_finished_run_on_other_crops_is_refused_not_trained_over(crops, tmp_path):
    """Issue 28 sweep: --resume on a finished folder with another crop set retrained it from scratch (rc 0)."""
    import dataclasses
    import shutil

    from safefakes.data.images import read_image, write_image
    from safefakes.errors import SafeFakesError

    method = METHODS["sun2018"]()
    data = open_crop_dataset(crops, method.resolution, method.keypoint_layout)
    config = dataclasses.replace(_config(), images=16, checkpoint_every=1000)  # no periodic checkpoint
    Trainer(METHODS["sun2018"](), data, tmp_path / "run", config).train()
    final = tmp_path / "run" / "checkpoint.pt"
    before = final.read_bytes()
    other = tmp_path / "other_crops"
    shutil.copytree(crops, other)
    image = read_image(other / "images/0--Test/img_005.jpg").copy()
    image[:8] = 255 - image[:8]
    write_image(other / "images/0--Test/img_005.jpg", image)
    again = Trainer(METHODS["sun2018"](), open_crop_dataset(other, method.resolution, method.keypoint_layout),
                    tmp_path / "run", config)
    with pytest.raises(SafeFakesError, match="trained on other data"):
        again.train(resume=True)
    assert final.read_bytes() == before
    # On its own crops, a finished run resumed is done: same weights; a longer one continues it.
    same = Trainer(METHODS["sun2018"](), data, tmp_path / "run", config)
    same.train(resume=True)
    assert same.images_shown == 16
    longer = Trainer(METHODS["sun2018"](), data, tmp_path / "run", dataclasses.replace(config, images=24))
    longer.train(resume=True)
    assert longer.images_shown == 24


@pytest.mark.parametrize("content", [b"", b"garbage" * 40, "text"])
def test_a_start_checkpoint_that_is_not_one_is_an_error_naming_it(crops, tmp_path, content):
    """Issue 28 sweep: --start-from garbage.pt ended in an UnpicklingError traceback and left the folder."""
    from safefakes.errors import SafeFakesError

    start = tmp_path / "garbage.pt"
    if isinstance(content, bytes):
        start.write_bytes(content)
    else:
        torch.save({"not": "a checkpoint"}, start)
    method = METHODS["sun2018"]()
    trainer = Trainer(method, open_crop_dataset(crops, method.resolution, method.keypoint_layout), tmp_path / "run",
                      _config())
    with pytest.raises(SafeFakesError, match="garbage.pt: not a"):
        trainer.train(start_from=start)
    assert not (tmp_path / "run").exists()
