"""GAN anonymizers: shared crop/paste geometry, layers, trainer and anonymizer; one module per GAN."""

from __future__ import annotations


def get_method(name: str, config: dict | None = None):
    """The method object of a GAN by name, built from its model config (as stored in checkpoints)."""
    if name == "deepprivacy":
        from safefakes.anonymizers.gan.deepprivacy import DeepPrivacy

        return DeepPrivacy(config)
    raise ValueError(f"unknown GAN method {name!r}; known: deepprivacy")


METHODS = ("deepprivacy",)


def build_deepprivacy(*, checkpoint: str, device: str = "auto", min_size: int = 10, batch_size: int = 64):
    """The registry's factory: a DeepPrivacy anonymizer from a ``train-anonymizer`` checkpoint."""
    from safefakes.anonymizers.gan.anonymizer import GANAnonymizer

    return GANAnonymizer(checkpoint, device=device, min_size=min_size, batch_size=batch_size,
                         expect_method="deepprivacy")
