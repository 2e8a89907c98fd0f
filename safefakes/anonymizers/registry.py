"""Method names -> entries: the one place that knows every anonymizer.

An entry names the method's code and what the rest of the project derives from
it:

* ``factory``: ``"module:attribute"``, a callable that takes keyword options
  only and returns an ``Anonymizer``. The conventional methods take their
  constructor options; a GAN's factory takes ``checkpoint=...`` and
  ``device=...`` (and its own options) and loads its weights itself. The
  module is imported when the method is built, so the registry stays light,
  and the module is the method's code: the workflow hashes it (and what it
  imports) for the method's jobs only, so a change to one method replans that
  method's branch alone (``module``).
* ``kind``, ``label``: the study's groups (Table II) and the figures' names;
  the order of ``METHODS`` is the figures' order.
* ``keypoints``: the keypoint layout a GAN paints with (``dlib68``,
  ``deepprivacy7``); the GAN's class reads it from here, and the workflow
  makes one imported crop set per layout.
* ``model``: a GAN's training class in ``module``, which holds its
  ``PRESETS`` (``safefakes.anonymizers.gan.presets``).

Add a method by adding one entry to ``METHODS``: the workflow's grid, the
config's validation, the CLI's choices, Table II's groups and the figures'
order all read it.

A *variant* of a method is a config block named ``<method>_<variant>``
(``sun2018_blurred``: Sun2018 trained and run with the blurred box as input):
the same entry with its own settings, grid points, label
("Sun2018 (blurred)") and place right after its method in the figures.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from safefakes.anonymizers.base import Anonymizer
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
#: Separates a variant's name from its method's (``sun2018_blurred``).
VARIANT_SEPARATOR = "_"


@dataclass(frozen=True)
class Method:
    factory_path: str  # "module:attribute" of the factory
    kind: str  # one of KINDS
    label: str  # as figures and tables name it
    keypoints: str | None = None  # keypoint layout a GAN paints with
    model: str | None = None  # a GAN's training class in the module (holds PRESETS)

    @property
    def module(self) -> str:
        """The dotted name of the module that holds the method's code."""
        return self.factory_path.partition(":")[0]

    @property
    def factory(self) -> Factory:
        return getattr(importlib.import_module(self.module), self.factory_path.partition(":")[2])

    def model_class(self):
        """A GAN's training class (its module is imported here)."""
        if self.model is None:
            raise ValueError(f"{self.label} is not a trained method: it has no model class")
        return getattr(importlib.import_module(self.module), self.model)


_GAN = "safefakes.anonymizers.gan"

#: Every method, in display order: the reference, the GANs, then the conventional methods.
METHODS: dict[str, Method] = {
    "original": Method("safefakes.anonymizers.original:Original", REFERENCE, "Original"),
    "deepprivacy": Method(f"{_GAN}.deepprivacy:build_deepprivacy", GAN, "DeepPrivacy",
                          keypoints="deepprivacy7", model="DeepPrivacy"),
    "ciagan": Method(f"{_GAN}.ciagan:build_ciagan", GAN, "CIAGAN", keypoints="dlib68", model="CIAGAN"),
    "sun2018": Method(f"{_GAN}.sun2018:build_sun2018", GAN, "Sun2018", keypoints="dlib68", model="Sun2018"),
    "fullblur": Method("safefakes.anonymizers.fullblur:FullBlur", CONVENTIONAL, "Full-image blur"),
    "blur": Method("safefakes.anonymizers.blur:Blur", CONVENTIONAL, "Blur"),
    "pixelate": Method("safefakes.anonymizers.pixelate:Pixelate", CONVENTIONAL, "Pixelation"),
    "blackout": Method("safefakes.anonymizers.blackout:Blackout", CONVENTIONAL, "Black box"),
}


def base_method(name: str) -> str | None:
    """The registry's method of ``name``: itself, or the method a variant
    ``<method>_<variant>`` belongs to; None for a name that is neither."""
    if name in METHODS:
        return name
    head, sep, tail = name.rpartition(VARIANT_SEPARATOR)
    while sep:
        if head in METHODS and tail:
            return head
        head, sep, _ = head.rpartition(VARIANT_SEPARATOR)
    return None


def method_entry(name: str) -> Method:
    """The entry of a method or of a variant (its method's entry, labelled with the variant)."""
    base = base_method(name)
    if base is None:
        raise SafeFakesError(
            f"unknown anonymization method {name!r}; choose one of {', '.join(METHODS)} "
            f"(or a variant of one: <method>{VARIANT_SEPARATOR}<variant>)"
        )
    entry = METHODS[base]
    if base == name:
        return entry
    variant = name[len(base) + 1:].replace(VARIANT_SEPARATOR, " ")
    return dataclasses.replace(entry, label=f"{entry.label} ({variant})")


def is_method(name: str) -> bool:
    """Whether ``name`` is a method of the registry or a variant of one."""
    return base_method(name) is not None


def display_order(names) -> list[str]:
    """``names`` (methods, variants, other names) in the figures' order: the registry's
    order, each variant right after its method, names the registry does not know last."""
    order = list(METHODS)

    def key(name: str):
        base = base_method(name)
        if base is None:
            return (len(order), 0, name)
        return (order.index(base), 0 if base == name else 1, name)

    return sorted(names, key=key)


def methods_of_kind(kind: str) -> list[str]:
    """The names of every method of ``kind`` (display order)."""
    if kind not in KINDS:
        raise ValueError(f"unknown method kind {kind!r}; known: {', '.join(KINDS)}")
    return [name for name, method in METHODS.items() if method.kind == kind]


def method_kinds(names=()) -> dict[str, str]:
    """method name -> kind, for code below this layer that groups methods (e.g. Table II):
    every method of the registry, and each of ``names`` that is a variant of one."""
    kinds = {name: method.kind for name, method in METHODS.items()}
    kinds.update({str(name): method_entry(str(name)).kind for name in names if is_method(str(name))})
    return kinds


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
    return method_entry(method).factory


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
