"""GAN anonymizers: shared crop/paste geometry, layers, trainer and anonymizer; one module per GAN.

The registry (``safefakes.anonymizers.registry``) names each GAN's module, its
training class and its keypoint layout; the modules import torch and are
imported on demand, so that the registry and ``safefakes --help`` stay light.
"""

from __future__ import annotations


def method_class(name: str):
    """The training class of a GAN method (or variant) by name (its module is imported here)."""
    from safefakes.anonymizers.registry import GAN, method_entry

    entry = method_entry(name)
    if entry.kind != GAN:
        raise ValueError(f"{name!r} is not a GAN method")
    return entry.model_class()


def get_method(name: str, config: dict | None = None):
    """The method object of a GAN by name, built from its model config (as stored in checkpoints)."""
    return method_class(name)(config)
