"""Method names -> factories: the one place that knows every anonymizer.

A factory takes keyword options only and returns an ``Anonymizer``. The
conventional methods take their constructor options; a GAN method's factory
takes ``checkpoint=...`` and ``device=...`` (and its own options) and loads its
weights itself, e.g.::

    METHODS["deepprivacy"] = build_deepprivacy  # (*, checkpoint, device="cpu", ...)

Add a method by adding one entry to ``METHODS``: the workflow's grid, the
config's validation, Table II's groups and the figures' order all read it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from safefakes.anonymizers.base import Anonymizer
from safefakes.anonymizers.conventional import Blackout, Blur, FullBlur, Original, Pixelate
from safefakes.anonymizers.gan import build_ciagan, build_deepprivacy, build_sun2018
from safefakes.errors import SafeFakesError

Factory = Callable[..., Anonymizer]

#: The study's reference: the un-anonymized data.
REFERENCE = "reference"
#: Hand-made image operations (no training).
CONVENTIONAL = "conventional"
#: Learned anonymizers that paint a new face (trained on a face-crop set).
GAN = "gan"
#: A split anonymized by another tool, named in the study's config
#: (``external_splits``); no entry of METHODS has this kind: this project
#: does not run those tools, it only measures their output.
EXTERNAL = "external"
KINDS = (REFERENCE, CONVENTIONAL, GAN, EXTERNAL)


@dataclass(frozen=True)
class Method:
    factory: Factory
    kind: str  # one of KINDS
    label: str  # as figures and tables name it


#: Every method, in display order: the reference, the GANs, then the conventional methods.
METHODS: dict[str, Method] = {
    "original": Method(Original, REFERENCE, "Original"),
    "deepprivacy": Method(build_deepprivacy, GAN, "DeepPrivacy"),
    "ciagan": Method(build_ciagan, GAN, "CIAGAN"),
    "sun2018": Method(build_sun2018, GAN, "Sun2018"),
    "fullblur": Method(FullBlur, CONVENTIONAL, "Full-image blur"),
    "blur": Method(Blur, CONVENTIONAL, "Blur"),
    "pixelate": Method(Pixelate, CONVENTIONAL, "Pixelation"),
    "blackout": Method(Blackout, CONVENTIONAL, "Black box"),
}


def methods_of_kind(kind: str) -> list[str]:
    """The names of every method of ``kind`` (display order)."""
    if kind not in KINDS:
        raise ValueError(f"unknown method kind {kind!r}; known: {', '.join(KINDS)}")
    return [name for name, method in METHODS.items() if method.kind == kind]


def method_kinds() -> dict[str, str]:
    """method name -> kind, for code below this layer that groups methods (e.g. Table II)."""
    return {name: method.kind for name, method in METHODS.items()}


def method_options(method: str) -> set[str]:
    """The keyword options the method's factory accepts."""
    factory = _factory(method)
    names: set[str] = set()
    for cls_or_fn in _signature_sources(factory):
        for p in inspect.signature(cls_or_fn).parameters.values():
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self":
                names.add(p.name)
    return names


def build_anonymizer(method: str, **options: Any) -> Anonymizer:
    """Build method ``method`` with ``options``; unknown methods or options are errors."""
    factory = _factory(method)
    unknown = sorted(set(options) - method_options(method))
    if unknown:
        raise SafeFakesError(
            f"method {method!r} does not take option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(method_options(method))) or 'no options'}"
        )
    try:
        return factory(**options)
    except ValueError as exc:
        raise SafeFakesError(f"method {method!r}: {exc}") from exc


@dataclass(frozen=True)
class AnonymizerSpec:
    """A picklable recipe (method name + options): each worker process builds its own.

    Hand this to ``anonymize_split`` for methods whose objects should not be
    pickled or shared, e.g. GANs holding torch models on a device.
    """

    method: str
    options: dict = field(default_factory=dict)

    def __call__(self) -> Anonymizer:
        return build_anonymizer(self.method, **self.options)


def _factory(method: str) -> Factory:
    try:
        return METHODS[method].factory
    except KeyError:
        raise SafeFakesError(
            f"unknown anonymization method {method!r}; choose one of {', '.join(sorted(METHODS))}"
        ) from None


def _signature_sources(factory: Factory) -> list[Callable]:
    """The callables whose parameters a factory accepts (a class passes **kwargs up its bases)."""
    if not inspect.isclass(factory):
        return [factory]
    sources = []
    for klass in factory.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        sources.append(init)
        params = inspect.signature(init).parameters.values()
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return sources
