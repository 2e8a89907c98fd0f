"""Model and training sizes of the GANs by name: ``mini`` (CPU, a minute) and ``paper`` (GPU, days).

The values live next to each model, as a module-level ``PRESETS`` dict
(``{"mini": {"model": ..., "train": ...}, "paper": ...}``) in
``deepprivacy.py``, ``ciagan.py`` and ``sun2018.py``, with the reasons for
them; editing one GAN's preset changes only that module. This module holds
no values: it only looks them up.
"""

from __future__ import annotations

from safefakes.anonymizers.gan import method_class


def presets(method: str) -> dict[str, dict]:
    """The ``PRESETS`` dict of ``method`` (its module is imported on demand)."""
    return method_class(method).presets


def preset(method: str, name: str) -> tuple[dict, dict]:
    """(model config, train config) overrides of ``method`` at preset ``name``."""
    try:
        p = presets(method)[name]
    except (KeyError, ValueError):
        known = ", ".join(presets(method))
        raise ValueError(f"no preset {name!r} for method {method!r}; its presets: {known}") from None
    return dict(p["model"]), dict(p["train"])
