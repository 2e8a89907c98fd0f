"""Shared fixtures: tiny data made by the tests, and the real WIDER val ground truth."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests run on 2 shared cores: one torch thread each keeps them predictable.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_VAL_GT = REPO.parent / "shared" / "data" / "widerface_val_gt"


@pytest.fixture(scope="session")
def wider_val_gt_dir() -> Path:
    """The real WIDER FACE val ground truth, when ../shared is present."""
    if not (SHARED_VAL_GT / "wider_face_val.mat").exists():
        pytest.skip("../shared/data/widerface_val_gt is not present")
    return SHARED_VAL_GT


@pytest.fixture(scope="session")
def centerface_weights() -> Path:
    """CenterFace's ONNX file as the code finds it; skips when it is not installed (`make setup` installs it)."""
    from safefakes.errors import MissingWeightsError
    from safefakes.weights import CENTERFACE, resolve

    try:
        return resolve(CENTERFACE)
    except MissingWeightsError as exc:
        pytest.skip(f"CenterFace's weights are not installed ({exc.path}): run `make setup` or "
                    f"`python -m safefakes.weights centerface`")
