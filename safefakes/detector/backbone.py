"""ImageNet VGG-16 weights for the DSFD backbone, or an explicit random initialisation.

Two file formats load:

* torchvision's ``vgg16`` state dict (``features.N.*``, ``classifier.0/3.*``):
  conv1..conv5 copy index for index; fc6/fc7 become the dilated 3x3 and the
  1x1 convolution by decimation, the way SSD derived ``vgg16_reducedfc``
  (every 4th unit, every 3rd spatial tap);
* SSD's ``vgg16_reducedfc.pth`` (``N.*``, with fc6/fc7 already reduced at
  indices 31 and 33), a Caffe-converted model that expects BGR input minus
  the Caffe mean: the model switches its input normalisation accordingly.
"""

from __future__ import annotations

from pathlib import Path

import torch

from safefakes.detector.config import BACKBONE_CONFIG_KEY
from safefakes.errors import InputError, MissingWeightsError

RANDOM_INIT = "random-init"
VGG16_SOURCE = ("torchvision's https://download.pytorch.org/models/vgg16-397923af.pth, or the SSD "
                "fc-reduced https://s3.amazonaws.com/amdegroot-models/vgg16_reducedfc.pth")
# Indices of the 13 convolutions in torchvision's vgg16().features.
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def prepare_backbone(model, config) -> str:
    """Load the configured VGG-16 weights into ``model``; returns what the outputs should record.

    ``config.backbone_weights`` unset: a random initialisation when
    ``config.allow_random_init`` says so (returns ``"random-init"``), else
    ``MissingWeightsError``. A configured path that does not exist is always
    an error: the user asked for those weights.
    """
    path = config.backbone_weights
    if path:
        if not Path(path).is_file():
            raise MissingWeightsError("ImageNet VGG-16 (DSFD backbone)", path, BACKBONE_CONFIG_KEY, VGG16_SOURCE)
        return load_vgg16_weights(model, path)
    if config.allow_random_init:
        return RANDOM_INIT
    raise MissingWeightsError("ImageNet VGG-16 (DSFD backbone)", None, BACKBONE_CONFIG_KEY,
                              VGG16_SOURCE + " (or set detector.allow_random_init: true / --allow-random-init)")


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or truncated files
        raise InputError(path, f"cannot read a PyTorch state dict ({type(exc).__name__}: {exc})",
                         hint="expected torchvision's vgg16 .pth or SSD's vgg16_reducedfc.pth") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(path, "not a state dict of tensors")
    return state


def _decimate_fc6(weight: torch.Tensor, bias: torch.Tensor, out_ch: int, in_ch: int, path: Path):
    if weight.dim() != 2 or weight.shape[1] != in_ch * 49 or weight.shape[0] % out_ch:
        raise InputError(path, f"classifier.0.weight has shape {tuple(weight.shape)}; expected "
                               f"(k * {out_ch}, {in_ch * 49}) for this model's fc6",
                         hint="ImageNet VGG-16 fits width 1.0 only")
    step = weight.shape[0] // out_ch
    w = weight.view(weight.shape[0], in_ch, 7, 7)[::step, :, ::3, ::3]
    return w.contiguous(), bias[::step].contiguous()


def _decimate_fc7(weight: torch.Tensor, bias: torch.Tensor, ch: int, path: Path):
    if weight.dim() != 2 or weight.shape[0] != weight.shape[1] or weight.shape[0] % ch:
        raise InputError(path, f"classifier.3.weight has shape {tuple(weight.shape)}; expected "
                               f"(k * {ch}, k * {ch}) for this model's fc7")
    step = weight.shape[0] // ch
    return weight[::step, ::step].reshape(ch, ch, 1, 1).contiguous(), bias[::step].contiguous()


def _check_shapes(targets: dict[str, torch.Tensor], own: dict[str, torch.Tensor], model, path: Path) -> None:
    for key, value in targets.items():
        if tuple(own[key].shape) != tuple(value.shape):
            raise InputError(path, f"tensor for {key} has shape {tuple(value.shape)} but the model "
                                   f"(width {model.width}) needs {tuple(own[key].shape)}",
                             hint="ImageNet VGG-16 weights fit width 1.0; use them with the paper "
                                  "preset, or allow a random initialisation for thinner models")


def load_vgg16_weights(model, path: str | Path) -> str:
    """Copy VGG-16 weights (either format) into ``model``; returns ``"<file name> (<format>)"``."""
    path = Path(path)
    if getattr(model, "batch_norm", False):
        raise InputError(path, "this detector has batch normalisation (batch_norm: true), which the ImageNet "
                               "VGG-16 files do not have", hint="set the detector's batch_norm to false to load them")
    state = _read_state_dict(path)
    targets: dict[str, torch.Tensor] = {}
    if "features.0.weight" in state:
        fmt, prefix = "torchvision", "features."
        needed = [f"features.{i}.{p}" for i in VGG16_CONV_INDICES for p in ("weight", "bias")]
        needed += ["classifier.0.weight", "classifier.0.bias", "classifier.3.weight", "classifier.3.bias"]
    elif "0.weight" in state:
        fmt, prefix = "caffe", ""
        needed = [f"{i}.{p}" for i in (*VGG16_CONV_INDICES, 31, 33) for p in ("weight", "bias")]
    else:
        raise InputError(path, "not a VGG-16 state dict: neither 'features.0.weight' (torchvision) "
                               "nor '0.weight' (SSD vgg16_reducedfc) is present",
                         hint=f"download {VGG16_SOURCE}")
    missing = [k for k in needed if k not in state]
    if missing:
        raise InputError(path, f"VGG-16 state dict lacks {len(missing)} tensor(s), e.g. {missing[0]!r}")
    own = model.state_dict()
    for i in VGG16_CONV_INDICES:
        for p in ("weight", "bias"):
            targets[f"vgg.{i}.{p}"] = state[f"{prefix}{i}.{p}"]
    _check_shapes(targets, own, model, path)  # the convolutions first: the clearest message
    if fmt == "torchvision":
        w6, b6 = _decimate_fc6(state["classifier.0.weight"], state["classifier.0.bias"],
                               model.fc6.out_channels, model.fc6.in_channels, path)
        w7, b7 = _decimate_fc7(state["classifier.3.weight"], state["classifier.3.bias"], model.fc7.out_channels, path)
    else:
        w6, b6, w7, b7 = state["31.weight"], state["31.bias"], state["33.weight"], state["33.bias"]
    targets.update({"fc6.weight": w6, "fc6.bias": b6, "fc7.weight": w7, "fc7.bias": b7})

    _check_shapes(targets, own, model, path)
    with torch.no_grad():
        for key, value in targets.items():
            own[key].copy_(value.to(own[key].dtype))
    model.set_normalisation(fmt)
    return f"{path.name} ({fmt})"


__all__ = ["prepare_backbone", "load_vgg16_weights", "RANDOM_INIT", "VGG16_SOURCE"]
