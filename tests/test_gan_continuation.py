"""A longer GAN training continues a shorter one: the training-length sweep is one run."""

from __future__ import annotations

import pytest
import torch
from test_deepprivacy import RES, _config, _method, crop_dir  # noqa: F401 - crop_dir is a fixture

from safefakes.anonymizers.gan.dataset import open_crop_dataset
from safefakes.anonymizers.gan.trainer import FINAL_CHECKPOINT, Trainer
from safefakes.errors import SafeFakesError

torch.set_num_threads(1)


def test_a_longer_run_continues_a_shorter_one_bit_for_bit(crop_dir, tmp_path):  # noqa: F811
    data = open_crop_dataset(crop_dir, RES, "deepprivacy7")
    cfg = dict(critic_steps=2, sample_every=12)
    whole = Trainer(_method(), data, tmp_path / "whole", _config(images=40, **cfg))
    whole.train()
    # the short run ends normally: its final sample grid and losses are written
    short = Trainer(_method(), data, tmp_path / "short", _config(images=20, **cfg))
    short.train()
    longer = Trainer(_method(), data, tmp_path / "longer", _config(images=40, **cfg))
    longer.train(start_from=tmp_path / "short" / FINAL_CHECKPOINT)
    assert longer.images_shown == 40
    for name in ("G", "D", "G_ema"):
        a, b = getattr(whole, name).state_dict(), getattr(longer, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    # a run of another trajectory is refused, naming the file and the setting
    other = Trainer(_method(), data, tmp_path / "other", _config(images=40, batch_size=2, **cfg))
    with pytest.raises(SafeFakesError, match=r"short/checkpoint.pt: cannot continue.*batch_size"):
        other.train(start_from=tmp_path / "short" / FINAL_CHECKPOINT)
    shorter = Trainer(_method(), data, tmp_path / "shorter", _config(images=12, **cfg))
    with pytest.raises(SafeFakesError, match="already 20 images, more than the 12"):
        shorter.train(start_from=tmp_path / "short" / FINAL_CHECKPOINT)


@pytest.mark.parametrize("change, fragment", [
    ({"batch_size": 2}, "batch_size"), ({"seed": 7}, "seed"), ({"images": 12}, "already 20 images"),
    ("faces", "training faces"),
])
def test_resume_with_other_settings_is_refused(crop_dir, tmp_path, change, fragment):  # noqa: F811
    data = open_crop_dataset(crop_dir, RES, "deepprivacy7")
    first = Trainer(_method(), data, tmp_path / "run", _config(images=40))
    first.train(stop_after_images=20)
    if change == "faces":
        again = Trainer(_method(), open_crop_dataset(crop_dir, RES, "deepprivacy7", faces=8), tmp_path / "run",
                        _config(images=40), source={"faces_used": 8})
    else:
        again = Trainer(_method(), data, tmp_path / "run", _config(**{"images": 40, **change}))
    with pytest.raises(SafeFakesError, match=fragment):
        again.train(resume=True)
    assert again.images_shown == 0
    # the same settings continue
    same = Trainer(_method(), data, tmp_path / "run", _config(images=40))
    same.train(resume=True)
    assert same.images_shown == 40
