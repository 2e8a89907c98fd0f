"""Which torch device a training or an inference runs on."""

from __future__ import annotations

import torch

from safefakes.errors import SafeFakesError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The requested device; "auto" (or None) is the first visible CUDA device
    (as CUDA_VISIBLE_DEVICES sets it) when there is one, else the CPU.

    A CUDA device asked for on a machine without CUDA is an error, not a silent
    fall-back to a CPU run that would take days.
    """
    if device is None or device in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:  # a device type torch does not know ("tpu")
        raise SafeFakesError(f"device {str(device)!r} is not a device torch knows: use --device cpu, cuda or "
                             "cuda:N (or auto)") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SafeFakesError(f"device {str(device)!r} requested but CUDA is not available; use --device cpu")
    return dev
