"""The pretrained networks behind LPIPS and FID, loaded without any download.

Both metrics are only comparable with published numbers when their backbones
carry the standard weights:

* LPIPS (``lpips`` package, AlexNet variant): an ImageNet AlexNet trunk
  (torchvision's ``alexnet-owt-7be5be79.pth``) plus linear layers calibrated on
  human judgements, which ship inside the ``lpips`` package.
* FID (``pytorch-fid``): the TensorFlow Inception ported to PyTorch,
  ``pt_inception-2015-12-05-6726825d.pth``.

The trunk files are downloads. Each is looked for at the configured path, then
in the usual torch cache (``$TORCH_HOME/hub/checkpoints/``). Neither package
gets a chance to download: the networks are built without weights and the
state dicts are loaded here. When a file is missing we stop with
``MissingWeightsError``, unless the caller allows a random initialisation: then
the network is initialised from a fixed seed (so two runs agree; He init, see
``variance_preserving_init``) and the returned description says
``random-init``, which every output records.
"""

from __future__ import annotations

import re
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from safefakes.errors import InputError, MissingWeightsError

RANDOM_INIT = "random-init"
#: The seed of the deterministic random initialisation.
RANDOM_INIT_SEED = 0

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = f"https://download.pytorch.org/models/{ALEXNET_FILE}"
ALEXNET_CONFIG_KEY = "metrics.lpips_weights"

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{INCEPTION_FILE}"
INCEPTION_CONFIG_KEY = "metrics.inception_weights"

# pytorch-fid's InceptionV3 builds its network through a module-level function
# that downloads; we swap that function for the duration of one construction.
_PATCH_LOCK = threading.Lock()


def torch_checkpoint_dir() -> Path:
    """Where torch.hub keeps downloaded weights: ``$TORCH_HOME/hub/checkpoints``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(filename: str, configured: str | Path | None) -> Path | None:
    """The configured file when given (it must exist), else the torch cache copy, else None."""
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_file() else None
    cached = torch_checkpoint_dir() / filename
    return cached if cached.is_file() else None


def _load_state_dict(path: Path, what: str) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise InputError(path, f"cannot read the {what} weights: {exc}",
                         hint="download the file again") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(path, f"expected a state dict of the {what} network")
    return state


def _resolve(filename: str, configured: str | Path | None, allow_random_init: bool,
             what: str, config_key: str, url: str) -> Path | None:
    path = find_weights(filename, configured)
    if path is None and not allow_random_init:
        raise MissingWeightsError(
            what, configured or (torch_checkpoint_dir() / filename), config_key, url)
    return path


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Deterministic torch RNG inside, the caller's RNG state untouched outside."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def variance_preserving_init(module) -> None:
    """He (fan-in) initialisation of every conv and linear layer, unit batch norms.

    PyTorch's default layer init shrinks activations layer by layer; through
    Inception's ~90 layers the pool features of a randomly initialised network
    all but vanish and every FID is ~0. He init keeps their scale, so that a
    random-init FID still separates similar from different crop sets (its
    values are not comparable with pretrained ones).
    """
    import torch.nn as nn

    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _strict_load(module, state: dict, path: Path, what: str) -> None:
    result = module.load_state_dict(state, strict=False)
    if result.missing_keys:
        raise InputError(path, f"not a {what} checkpoint: missing {', '.join(result.missing_keys[:4])}"
                               f"{' ...' if len(result.missing_keys) > 4 else ''}",
                         hint=f"expected the file {what} uses")


def load_lpips_alex(path: str | Path | None = None, allow_random_init: bool = False):
    """LPIPS (AlexNet, v0.1) in eval mode, and a description of its weights.

    Returns ``(model, {"trunk": file or "random-init", "linear": file})``.
    """
    import lpips
    import torch

    found = _resolve(ALEXNET_FILE, path, allow_random_init, "LPIPS AlexNet", ALEXNET_CONFIG_KEY,
                     ALEXNET_URL)
    linear_path = Path(lpips.__file__).resolve().parent / "weights" / "v0.1" / "alex.pth"
    with _seeded(RANDOM_INIT_SEED), warnings.catch_warnings():
        # lpips asks torchvision with the deprecated ``pretrained=False``: harmless.
        warnings.simplefilter("ignore", UserWarning)
        # pretrained=False: we load the package's linear layers ourselves, strictly.
        model = lpips.LPIPS(pretrained=False, net="alex", pnet_rand=True, verbose=False)
        variance_preserving_init(model.net)
        if found is not None:
            state = _load_state_dict(found, "torchvision AlexNet")
            with torch.no_grad():
                # lpips' slices hold AlexNet's feature layers under their original
                # indices: net.sliceK.<i>.weight <- features.<i>.weight.
                for name, param in model.net.named_parameters():
                    _, index, kind = name.split(".")
                    key = f"features.{index}.{kind}"
                    if key not in state or tuple(state[key].shape) != tuple(param.shape):
                        raise InputError(found, f"not a torchvision AlexNet checkpoint: {key} "
                                                f"missing or of the wrong shape",
                                         hint=f"expected {ALEXNET_FILE} from {ALEXNET_URL}")
                    param.copy_(state[key])
    linear = _load_state_dict(linear_path, "LPIPS linear layers")
    # lins.N are aliases of linN: the file holds only the linN names.
    missing = [k for k in model.state_dict() if re.match(r"lin\d", k) and k not in linear]
    if missing:
        raise InputError(linear_path, "the lpips package's linear weights are incomplete",
                         hint="reinstall lpips")
    model.load_state_dict(linear, strict=False)
    model.eval()
    return model, {"trunk": str(found) if found else RANDOM_INIT, "linear": str(linear_path)}


def build_fid_inception_network():
    """pytorch-fid's patched Inception (1008 classes) with untrained weights (He init).

    The layout of ``pt_inception-2015-12-05-6726825d.pth``: tests save this
    network's state dict to exercise the loading path.
    """
    from pytorch_fid import inception as fid

    net = fid._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = fid.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid.FIDInceptionE_1(1280)
    net.Mixed_7c = fid.FIDInceptionE_2(2048)
    variance_preserving_init(net)
    return net


def load_fid_inception(path: str | Path | None = None, allow_random_init: bool = False):
    """pytorch-fid's InceptionV3 returning the 2048-d pool features, and its weights' description.

    Returns ``(model, file or "random-init")``; the model takes (B, 3, H, W) in
    [0, 1] and resizes to 299 itself.
    """
    from pytorch_fid import inception as fid

    found = _resolve(INCEPTION_FILE, path, allow_random_init, "FID Inception", INCEPTION_CONFIG_KEY,
                     INCEPTION_URL)
    with _seeded(RANDOM_INIT_SEED):
        net = build_fid_inception_network()
        if found is not None:
            state = _load_state_dict(found, "FID Inception")
            _strict_load(net, state, found, "pytorch-fid Inception")
        with _PATCH_LOCK:
            original = fid.fid_inception_v3
            fid.fid_inception_v3 = lambda: net
            try:
                model = fid.InceptionV3([fid.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
            finally:
                fid.fid_inception_v3 = original
    model.eval()
    return model, str(found) if found else RANDOM_INIT


def crops_to_tensor(crops, device):
    """(n, 3, S, S) float tensor in [0, 1] on ``device`` of (n, S, S, 3) uint8 crops: what both networks take."""
    import numpy as np
    import torch

    return torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float() / 255.0


@dataclass
class Backbones:
    """The LPIPS and FID networks with a description of their weights, loaded once."""

    lpips: object
    inception: object
    files: dict  # lpips_alexnet, lpips_linear, fid_inception: a path or "random-init"

    @property
    def random_init(self) -> bool:
        return RANDOM_INIT in self.files.values()


def load_backbones(
    lpips_weights: str | Path | None = None,
    inception_weights: str | Path | None = None,
    allow_random_init: bool = False,
) -> Backbones:
    """Both metric networks (see safefakes.evaluation.backbones for where weights come from)."""
    lpips_model, lpips_files = load_lpips_alex(lpips_weights, allow_random_init)
    inception, inception_file = load_fid_inception(inception_weights, allow_random_init)
    return Backbones(lpips_model, inception, {
        "lpips_alexnet": lpips_files["trunk"],
        "lpips_linear": lpips_files["linear"],
        "fid_inception": inception_file,
    })
