"""The torch device: one rule (``safefakes.devices.resolve_device``) for every network the package runs."""

from __future__ import annotations

import pytest
import torch

from safefakes import devices
from safefakes.devices import resolve_device
from safefakes.errors import SafeFakesError


@pytest.mark.parametrize("asked", ["auto", None, ""])
@pytest.mark.parametrize("cuda", [True, False])
def test_auto_is_cuda_when_there_is_one_else_the_cpu(monkeypatch, asked, cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert resolve_device(asked) == torch.device("cuda" if cuda else "cpu")


def test_an_explicit_choice_is_honoured(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SafeFakesError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.fixture()
def asked(monkeypatch) -> list:
    """Every resolve_device call, answered with the CPU."""
    calls = []

    def spy(device="auto"):
        calls.append(device)
        return torch.device("cpu")

    monkeypatch.setattr(devices, "resolve_device", spy)
    return calls


def test_the_image_metrics_and_reference_features_ask_resolve_device(asked, tmp_path):
    from builders import make_identity_split

    from safefakes.evaluation.image_metrics import compute_image_metrics
    from safefakes.evaluation.reference_features import compute_reference_features

    original = make_identity_split(tmp_path / "orig", n_images=1, faces_per_image=2)
    summary = compute_image_metrics(original.root, original.root, min_size=16, crop_size=32,
                                    allow_random_init=True).summary
    assert summary["device"] == "cpu"
    compute_reference_features(original.root, min_size=16, crop_size=32, allow_random_init=True, device="cpu")
    assert asked == [None, "cpu"]


def test_deepprivacy7_asks_resolve_device(asked, monkeypatch, tmp_path):
    from safefakes.keypoints import deepprivacy7

    monkeypatch.setattr(deepprivacy7, "build_keypoint_rcnn", lambda weights: torch.nn.Identity())
    detector = deepprivacy7.DeepPrivacy7Detector(weights=tmp_path / "kprcnn.pth")
    assert detector.device == torch.device("cpu") and asked == ["auto"]
