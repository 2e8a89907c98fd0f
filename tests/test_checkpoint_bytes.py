"""Saving the same state twice writes the same bytes (torch archives name no temporary file)."""

from __future__ import annotations

import torch

from safefakes.anonymizers.gan.training import _save_atomic
from safefakes.detector.train import _save_checkpoint


def test_the_same_state_saves_to_the_same_bytes(tmp_path):
    state = {"model": {"w": torch.arange(12.0).reshape(3, 4)}, "iteration": 3}
    for save in (_save_checkpoint, _save_atomic):
        save(tmp_path / "a.pt", state)
        save(tmp_path / "b.pt", state)
        assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes(), save.__name__
