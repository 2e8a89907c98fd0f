"""One frozen settings type per step of the study, its defaults written once.

A step's type is a ``@dataclass(frozen=True)`` that also subclasses ``Settings``;
its fields are the step's settings and their defaults are the defaults: the
study's config is filled from them (``safefakes.study_config``), the command
line's flags take them (``default=PredictSettings.score_threshold``), and the
library's functions read them. One type is built three ways:

* ``Type.from_config(block, where="predict")``: a block of the study's config;
  an unknown key, a value of the wrong type or a value out of range raises
  ``ConfigError`` naming the full key (``config: predict.nms_iuo is not a
  setting; known: ...``) and what to write instead;
* ``Type.from_args(namespace)``: the command line (flags named as the fields);
* ``Type(...)``: code; a wrong value raises ``SettingError`` naming the setting.

A field's checks are in its metadata (``setting(0.3, minimum=0, maximum=1)``);
checks that relate fields to each other go into ``problems()``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Mapping

from safefakes.errors import SafeFakesError


class ConfigError(SafeFakesError, ValueError):
    """A setting of the study's config is wrong: the message names its key and the fix."""


class SettingError(SafeFakesError, ValueError):
    """A setting's value is wrong: ``key`` names the setting, ``fix`` says what to write."""

    def __init__(self, key: str, message: str, fix: str | None = None) -> None:
        self.key, self.message, self.fix = key, message, fix
        super().__init__(f"{key}: {message}" + (f"; {fix}" if fix else ""))


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
            choices: tuple | None = None, minimum: float | None = None, maximum: float | None = None,
            config: bool = True) -> Any:
    """A field of a settings type: its default and the values it takes.

    config=False: a setting of the library and the command line that the
    study's config block does not hold (e.g. a device).
    """
    meta = {"choices": choices, "minimum": minimum, "maximum": maximum, "config": config}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


class Settings:
    """What every step's settings type shares (mix into a frozen dataclass)."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            normal = _normalise(hints[f.name], value)
            if normal is not value:
                object.__setattr__(self, f.name, normal)
            problem = _check(f, hints[f.name], normal)
            if problem is not None:
                raise SettingError(f.name, *problem)
        for key, message, fix in self.problems():
            raise SettingError(key, message, fix)

    def problems(self) -> list[tuple[str, str, str | None]]:
        """(setting, what is wrong, the fix) of checks between settings; a type adds its own."""
        return []

    # -- building ---------------------------------------------------------------
    @classmethod
    def config_keys(cls) -> list[str]:
        """The keys of the step's config block, in the block's order."""
        return [f.name for f in dataclasses.fields(cls) if f.metadata.get("config", True)]

    @classmethod
    def from_config(cls, block: Mapping[str, Any] | None, where: str, **given: Any):
        """The settings of a config block; ``given``: settings the block does not hold (e.g. a seed).

        Raises ConfigError naming ``where.key`` and the fix.
        """
        values = check_keys(block, where, cls.config_keys())
        hints = _hints(cls)
        values = {key: yaml_number(hints[key], value) for key, value in values.items()}
        values.update(given)
        try:
            return cls(**values)
        except SettingError as exc:
            raise ConfigError(f"config: {where}.{exc.key}: {exc.message}"
                              + (f"; {exc.fix}" if exc.fix else "")) from None

    @classmethod
    def from_args(cls, args: Any, **given: Any):
        """The settings of an argparse namespace whose dests are the fields' names; None: the default.

        Raises SafeFakesError naming the flag (``--nms-iou``).
        """
        values = {}
        for f in dataclasses.fields(cls):
            value = getattr(args, f.name, None)
            if value is not None:
                values[f.name] = value
        values.update(given)
        try:
            return cls(**values)
        except SettingError as exc:
            flag = "--" + exc.key.replace("_", "-")
            raise SafeFakesError(f"{flag}: {exc.message}"
                                 + (f"; {exc.fix.replace(exc.key + ':', flag)}" if exc.fix else "")) from None

    # -- reading ------------------------------------------------------------------
    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The config block's keys and their defaults, in the block's order."""
        out = {}
        for f in dataclasses.fields(cls):
            if not f.metadata.get("config", True):
                continue
            if f.default is not dataclasses.MISSING:
                out[f.name] = _plain(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = _plain(f.default_factory())
        return out

    def to_config(self) -> dict[str, Any]:
        """The config block these settings are (tuples as lists, as YAML writes them)."""
        return {key: _plain(getattr(self, key)) for key in self.config_keys()}


def check_keys(block: Mapping[str, Any] | None, where: str, known: list[str] | tuple[str, ...]) -> dict:
    """``block`` as a dict, after checking that it is a mapping of known keys (ConfigError otherwise)."""
    if block is None:
        return {}
    if not isinstance(block, Mapping):
        raise ConfigError(f"config: {where} must be a mapping of settings (key: value), found {block!r}; "
                          f"write it as {where.rsplit('.', 1)[-1]}: {{{', '.join(f'{k}: ...' for k in known[:2])}}}")
    for key in block:
        if key not in known:
            raise ConfigError(unknown_key(where, key, known))
    return dict(block)


def unknown_key(where: str, key: Any, known: list[str] | tuple[str, ...]) -> str:
    """The message of a key that is not a setting of ``where``: the known ones and the nearest."""
    near = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
    fix = f"did you mean {where}.{near[0]}?" if near else "correct or remove it"
    return (f"config: {where}.{key} is not a setting; known: {', '.join(map(str, known)) or 'none'} "
            f"({fix})")


def type_problem(hint: Any, value: Any) -> str | None:
    """What a setting annotated ``hint`` expects when ``value`` is not that (e.g. "a number"); else None."""
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    if value is None:
        return None if type(None) in options else _describe(options)
    for option in options:
        if option is type(None):
            continue
        if _fits(option, value):
            return None
    return _describe(options)


def example(value: Any) -> str:
    """A value as the config writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(example(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {example(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return f'"{value}"' if value[:1].isdigit() or ":" in value else value
    return "null" if value is None else str(value)


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


_HINTS: dict[type, dict[str, Any]] = {}


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _fits(option: Any, value: Any) -> bool:
    origin = typing.get_origin(option) or option
    if option is Any:
        return True
    if origin is bool:
        return isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        args = [a for a in typing.get_args(option) if a is not Ellipsis]
        return isinstance(value, (tuple, list)) and all(any(_fits(a, v) for a in args) or not args for v in value)
    if origin in (dict, Mapping) or origin is typing.Mapping:
        return isinstance(value, Mapping)
    return isinstance(value, origin) if isinstance(origin, type) else True


_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a text value"}


def _describe(options: tuple) -> str:
    names = []
    for option in options:
        origin = typing.get_origin(option) or option
        if option is type(None):
            names.append("null")
        elif origin in (tuple, list):
            names.append("a list of numbers")
        elif origin in (dict, Mapping) or origin is typing.Mapping:
            names.append("a mapping (key: value)")
        else:
            names.append(_NAMES.get(origin, getattr(origin, "__name__", str(origin))))
    return " or ".join(names)


def _normalise(hint: Any, value: Any) -> Any:
    """Lists of a tuple setting as tuples; whole numbers of a float setting stay as written."""
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    if isinstance(value, list) and any((typing.get_origin(o) or o) is tuple for o in options):
        return tuple(value)
    return value


def yaml_number(hint: Any, value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` (no dot) as text: a number setting takes it as the number it spells."""
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    if float in options and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def _check(f: dataclasses.Field, hint: Any, value: Any) -> tuple[str, str] | None:
    """(what is wrong, the fix) of a field's value, or None."""
    expected = type_problem(hint, value)
    shown = f.default if f.default is not dataclasses.MISSING else None
    if expected is not None:
        return (f"expected {expected}, found {value!r}",
                f"write it as {expected}" + (f", e.g. {f.name}: {example(shown)}" if shown is not None else ""))
    if value is None:
        return None
    meta = f.metadata
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        listed = ", ".join(map(str, choices))
        return f"{value!r} is not one of {listed}", f"choose one of {listed}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return f"{value} is not a finite number", "give a finite number"
        low, high = meta.get("minimum"), meta.get("maximum")
        if low is not None and value < low:
            return f"{value} is below {low}", f"give a value of at least {low}"
        if high is not None and value > high:
            return f"{value} is above {high}", f"give a value of at most {high}"
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


__all__ = ["ConfigError", "SettingError", "Settings", "setting", "check_keys", "unknown_key", "type_problem",
           "yaml_number", "example"]
