"""Saving the same state twice writes the same bytes (torch archives name no temporary file)."""

from __future__ import annotations

import torch

from safefakes.anonymizers.gan.trainer import _save_atomic
from safefakes.detector.train import _save_checkpoint


def test_the_same_state_saves_to_the_same_bytes(tmp_path):
    state = {"model": {"w": torch.arange(12.0).reshape(3, 4)}, "iteration": 3}
    for name, save in (("detector", _save_checkpoint), ("gan", lambda path, s: _save_atomic(s, path))):
        save(tmp_path / f"{name}_a.pt", state)
        save(tmp_path / f"{name}_b.pt", state)
        assert (tmp_path / f"{name}_a.pt").read_bytes() == (tmp_path / f"{name}_b.pt").read_bytes(), name
