"""The settings of the dataset engine's steps in the study: anonymizing a split and auditing it.

``AnonymizeSettings`` is the study's ``anonymize`` block, the flags of
``safefakes anonymize`` and the defaults of ``anonymize_split``;
``AuditSettings`` the study's ``audit`` block. A method and its options are an
``AnonymizerSpec`` (the registry's), checked by building the method once.
"""

from __future__ import annotations

from dataclasses import dataclass

from safefakes.engine.output import SUBSAMPLINGS
from safefakes.settings import Settings, setting

#: What a face whose detail survives its method does to the study (audit.survival).
SURVIVAL_POLICIES = ("fail", "record")


@dataclass(frozen=True)
class AnonymizeSettings(Settings):
    """How every method's output is written: the seed of its random choices and the JPEG encoding."""

    seed: int = setting(0)
    jpeg_quality: int = setting(95, minimum=1, maximum=100)
    jpeg_subsampling: str = setting("4:4:4", choices=SUBSAMPLINGS)


@dataclass(frozen=True)
class AuditSettings(Settings):
    """The study's privacy audit of each anonymized split."""

    survival: str = setting("fail", choices=SURVIVAL_POLICIES)


__all__ = ["AnonymizeSettings", "AuditSettings", "SUBSAMPLINGS", "SURVIVAL_POLICIES"]
