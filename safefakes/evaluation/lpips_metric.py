"""LPIPS (the ``lpips`` package, AlexNet v0.1) of face crop pairs; the network is ``backbones.load_lpips_alex``'s."""

from __future__ import annotations

import numpy as np

from safefakes.evaluation.backbones import crops_to_tensor


def lpips_pairs(model, original: np.ndarray, anonymized: np.ndarray, device="cpu") -> np.ndarray:
    """Per pair LPIPS distance of (n, S, S, 3) uint8 crops (model from backbones.load_lpips_alex)."""
    import torch

    with torch.no_grad():
        d = model(crops_to_tensor(original, device), crops_to_tensor(anonymized, device), normalize=True)
    return d.flatten().double().cpu().numpy()


__all__ = ["lpips_pairs"]
