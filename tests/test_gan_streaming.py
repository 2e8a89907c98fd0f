"""GAN training streamed from disk: the same batches and weights with 0 or N loader workers, and on resume."""

from __future__ import annotations

import torch
from test_deepprivacy import RES, _config, _method, crop_dir  # noqa: F401 - crop_dir is a fixture

from safefakes.anonymizers.gan.dataset import open_crop_dataset
from safefakes.anonymizers.gan.trainer import Trainer

torch.set_num_threads(1)


def test_loader_gives_the_same_batches_with_0_or_2_workers(crop_dir, tmp_path):  # noqa: F811
    data = open_crop_dataset(crop_dir, RES, "deepprivacy7")
    batches = {}
    for workers in (0, 2):
        trainer = Trainer(_method(), data, tmp_path / str(workers), _config(images=48, critic_steps=2,
                                                                            workers=workers))
        batches[workers] = list(trainer.loader(3))
    assert len(batches[0]) == len(batches[2]) == 12 - 3
    for a, b in zip(batches[0], batches[2]):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert a["image"].shape == (8, 3, RES, RES) and a["image"].dtype == torch.uint8  # batch + extra critic batch
    # the crops of a step are a pure function of seed and step: an epoch visits every crop once
    trainer = Trainer(_method(), data, tmp_path / "x", _config(batch_size=4))
    seen = sorted(i for step in range(3) for i in trainer.step_indices(step))
    assert seen == list(range(12))
    other_seed = Trainer(_method(), data, tmp_path / "y", _config(batch_size=4, seed=1))
    assert other_seed.step_indices(0) != trainer.step_indices(0)


def test_streamed_training_is_bit_identical_across_workers_and_resume(crop_dir, tmp_path):  # noqa: F811
    data = open_crop_dataset(crop_dir, RES, "deepprivacy7")
    cfg = dict(images=40, critic_steps=2)
    whole = Trainer(_method(), data, tmp_path / "whole", _config(**cfg, workers=0))
    whole.train()
    first = Trainer(_method(), data, tmp_path / "parts", _config(**cfg, workers=2))
    first.train(stop_after_images=20)
    second = Trainer(_method(), data, tmp_path / "parts", _config(**cfg, workers=2))
    second.train(resume=True)
    assert second.images_shown == 40
    for name in ("G", "D", "G_ema"):
        a, b = getattr(whole, name).state_dict(), getattr(second, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_the_sample_cache_is_bounded_and_changes_no_sample(crop_dir):  # noqa: F811
    plain = open_crop_dataset(crop_dir, RES, "deepprivacy7", cache_mb=0)
    one_sample = sum(t.numel() * t.element_size() for t in plain[0].values())
    cached = open_crop_dataset(crop_dir, RES, "deepprivacy7", cache_mb=5.5 * one_sample / 2**20)
    for _ in range(2):
        for i in range(12):
            a, b = plain[i], cached[i]
            assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(plain._cache) == 0 and len(cached._cache) == 5  # the first five fit, no more
    assert cached[0] is cached[0] and plain[0] is not plain[0]
