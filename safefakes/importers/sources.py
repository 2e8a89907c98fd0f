"""Where a crop set comes from, and the one dispatch from a source name to what writes its crop set.

``make_crop_set(source, path, out_dir, **options)`` is what the study's crop
rules (``workflow_scripts/crop_set.py``) and ``safefakes crops`` both call: a
WIDER-format split cut by ``safefakes.data.crops.build_crop_set``
(``widerface``), or FDF, CelebA or PIPA imported as distributed. Options are
the writer's keyword arguments; one it does not take is an error naming it,
and one left out keeps the writer's default.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from safefakes.data.crops import CropTable, build_crop_set
from safefakes.errors import SafeFakesError
from safefakes.importers.celeba import import_celeba
from safefakes.importers.fdf import import_fdf
from safefakes.importers.pipa import import_pipa

#: Source name -> the function writing its crop set (``f(path, out_dir, **options)``).
CROP_SOURCES = {"widerface": build_crop_set, "fdf": import_fdf, "celeba": import_celeba, "pipa": import_pipa}
#: The keys of a study's ``crop_sets`` entry that each source's writer takes (``faces`` is the study's:
#: GAN training draws its subset; ``path`` is where an imported source is read).
ENTRY_OPTIONS = {"widerface": ("min_size",), "fdf": ("subsets",),
                 "celeba": ("min_identity_images", "max_identities"), "pipa": ("min_size",)}
#: CelebA's own five points (``keypoints="celeba5"``): nothing computed at import.
CELEBA_OWN_POINTS = "celeba5"


def crop_set_options(source: str) -> tuple[str, ...]:
    """The options ``make_crop_set`` takes for ``source`` (its writer's keyword arguments)."""
    writer = _writer(source)
    return tuple(name for name, p in inspect.signature(writer).parameters.items() if p.kind is p.KEYWORD_ONLY)


def make_crop_set(source: str, path: str | Path, out_dir: str | Path, **options) -> CropTable:
    """Write the crop set of ``source`` read from ``path`` (a split, or the dataset's root) into ``out_dir``."""
    writer = _writer(source)
    unknown = sorted(set(options) - set(crop_set_options(source)))
    if unknown:
        raise SafeFakesError(f"crop source {source} takes no option {', '.join(unknown)}; it takes "
                             f"{', '.join(crop_set_options(source))}")
    if source == "celeba" and options.get("keypoints") == CELEBA_OWN_POINTS:
        options["keypoints"] = None
    return writer(path, out_dir, **options)


def _writer(source: str):
    try:
        return CROP_SOURCES[source]
    except KeyError:
        raise SafeFakesError(f"unknown crop source {source!r}; choose one of {', '.join(CROP_SOURCES)}") from None


__all__ = ["CELEBA_OWN_POINTS", "CROP_SOURCES", "ENTRY_OPTIONS", "crop_set_options", "make_crop_set"]
