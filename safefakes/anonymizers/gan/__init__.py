"""GAN anonymizers: shared crop/paste geometry, layers, trainer and anonymizer; one module per GAN.

The GAN modules import torch; everything here imports them lazily, so that the
registry and ``safefakes --help`` stay light.
"""

from __future__ import annotations


def method_class(name: str):
    """The class of a GAN method by name (its module is imported here, on demand)."""
    if name == "deepprivacy":
        from safefakes.anonymizers.gan.deepprivacy import DeepPrivacy

        return DeepPrivacy
    if name == "ciagan":
        from safefakes.anonymizers.gan.ciagan import CIAGAN

        return CIAGAN
    if name == "sun2018":
        from safefakes.anonymizers.gan.sun2018 import Sun2018

        return Sun2018
    raise ValueError(f"unknown GAN method {name!r}; known: deepprivacy, ciagan, sun2018")


def get_method(name: str, config: dict | None = None):
    """The method object of a GAN by name, built from its model config (as stored in checkpoints)."""
    return method_class(name)(config)


def build_deepprivacy(*, checkpoint: str, device: str = "auto", min_size: int = 10, batch_size: int = 64):
    """The registry's factory: a DeepPrivacy anonymizer from a ``train-anonymizer`` checkpoint."""
    from safefakes.anonymizers.gan.anonymizer import GANAnonymizer

    return GANAnonymizer(checkpoint, device=device, min_size=min_size, batch_size=batch_size,
                         expect_method="deepprivacy")


def build_ciagan(*, checkpoint: str, device: str = "auto", min_size: int = 10, batch_size: int = 64):
    """The registry's factory: a CIAGAN anonymizer (faces without landmarks are blacked out)."""
    from safefakes.anonymizers.gan.ciagan import CiaganAnonymizer

    return CiaganAnonymizer(checkpoint, device=device, min_size=min_size, batch_size=batch_size)


def build_sun2018(*, checkpoint: str, device: str = "auto", min_size: int = 10, batch_size: int = 64):
    """The registry's factory: a Sun2018 anonymizer (faces without landmarks get empty landmark maps)."""
    from safefakes.anonymizers.gan.sun2018 import Sun2018Anonymizer

    return Sun2018Anonymizer(checkpoint, device=device, min_size=min_size, batch_size=batch_size)
