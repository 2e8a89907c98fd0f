"""Sub-commands of the ``safefakes`` command line (see ``safefakes.cli``).

Flags name one thing one way across commands: ``--threshold`` (lowest
detection score kept), ``--nms-iou``, ``--resume`` / ``--no-resume``,
``--no-progress``. Older spellings (``--score-threshold``, ``--nms``,
``--quiet``) still work: they are second option strings of the same argument.
"""

from __future__ import annotations

import argparse
import math


class HelpFormatter(argparse.HelpFormatter):
    """Help that states each option's default once.

    Like ``argparse.ArgumentDefaultsHelpFormatter``, but a help text that
    already says its default (e.g. one per detector) gets no second
    "(default: ...)", and neither does an option whose default is None or
    False (nothing set: "(default: None)" says nothing), nor a switch
    (``--no-progress``: its default is not to give it).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or "%(default)" in text:
            return text
        default = action.default
        if default is argparse.SUPPRESS or default is None or default is False or not action.option_strings:
            return text
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            return text  # a switch: its default is its absence ("--no-progress (default: True)" misleads)
        return text + " (default: %(default)s)"


def unit_interval(text: str) -> float:
    """An argparse type: a detection score threshold, between 0 and 1."""
    value = finite_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"{text} is outside 0-1: detection scores are between 0 and 1, so a threshold above 1 keeps no face "
            "and one below 0 keeps every candidate")
    return value


def finite_float(text: str) -> float:
    """An argparse type: any finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def worker_count(text: str) -> int:
    """An argparse type: a number of worker processes, 0 meaning "as many as the machine gives"."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} processes: give 1 or more, or 0 for as many as the cores")
    return value


def process_count(text: str) -> int:
    """An argparse type: a number of worker processes, 1 or more."""
    value = worker_count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} processes: give 1 or more")
    return value


def at_least(minimum: float, kind: type = int):
    """An argparse type: a whole number (``kind=int``) or a number of at least ``minimum``.

    For counts and sizes that a library would otherwise refuse with a
    traceback, or take silently (``--iterations 0``, ``--workers -2``).
    """
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if kind is int else 'a number'}, got {text!r}") from None
        if not value >= minimum:  # NaN too
            raise argparse.ArgumentTypeError(f"{text}: give {minimum:g} or more")
        return value

    parse.__name__ = f"at_least_{minimum:g}"
    return parse


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0 (a channel multiplier, a scale)."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: give a number above 0")
    return value
