"""The settings of a GAN's training: a preset and the model or training settings that override it.

``GanTraining`` is a GAN block's ``train`` mapping in the study's config
(``{preset: mini, batch_size: 32}``) and what ``train_gan`` and
``safefakes train-anonymizer`` run. The presets' values live next to each
model (``PRESETS`` of its module, see ``presets.py``); an override must be a
setting of the method's model config or of ``TrainConfig``, of its type.

Importing this module is light; checking overrides imports the GAN's module
(torch), so a block with none (the default study's) costs nothing to check.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Mapping

from safefakes.settings import ConfigError, SettingError, Settings, check_keys, setting, type_problem, yaml_number

#: The GANs' presets: mini (CPU, a minute) and paper (GPU, days).
GAN_PRESETS = ("mini", "paper")
DEFAULT_PRESET = "mini"


@dataclass(frozen=True)
class GanTraining(Settings):
    """One GAN's training settings: ``method`` (or variant), its ``preset`` and the ``overrides`` on top."""

    method: str = setting(config=False)
    preset: str = setting(DEFAULT_PRESET, choices=GAN_PRESETS)
    overrides: Mapping[str, Any] = setting(default_factory=dict, config=False)

    @classmethod
    def from_config(cls, block: Mapping[str, Any] | None, where: str, **given: Any) -> "GanTraining":
        """A GAN's ``train`` block: ``preset`` and any model or training setting (``method`` given)."""
        values = check_keys(block, where, [*(block or {})] if isinstance(block, Mapping) else ["preset"])
        preset = values.pop("preset", DEFAULT_PRESET)
        try:
            return cls(preset=preset, overrides=values, **given)
        except SettingError as exc:
            if exc.message.startswith("is not a setting"):
                raise ConfigError(f"config: {where}.{exc.key} {exc.message}"
                                  + (f" ({exc.fix})" if exc.fix else "")) from None
            raise ConfigError(f"config: {where}.{exc.key}: {exc.message}"
                              + (f"; {exc.fix}" if exc.fix else "")) from None

    def problems(self) -> list[tuple[str, str, str | None]]:
        if not self.overrides:
            return []  # the preset alone: its name is checked by its choices, its values are the module's
        try:
            self.resolve()
        except SettingError as exc:
            return [(exc.key, exc.message, exc.fix)]
        return []

    def resolve(self) -> tuple[dict, dict]:
        """(model config, train config) of the run: the preset's, overridden; each override checked.

        Raises SettingError naming the override (an unknown one, one of the wrong type, or a value the
        model or TrainConfig refuses).
        """
        from safefakes.anonymizers.gan import method_class
        from safefakes.anonymizers.gan.presets import preset as preset_settings
        from safefakes.anonymizers.gan.trainer import TrainConfig

        klass = method_class(self.method)
        model_cfg, train_cfg = preset_settings(self.method, self.preset)
        model_types = typing.get_type_hints(klass.config_class)
        train_types = typing.get_type_hints(TrainConfig)
        for key, value in self.overrides.items():
            if key in train_types:
                hint, target = train_types[key], train_cfg
            elif key in model_types:
                hint, target = model_types[key], model_cfg
            else:
                raise SettingError(
                    key, f"is not a setting; model settings of {self.method}: {', '.join(sorted(model_types))}; "
                         f"training settings: {', '.join(sorted(train_types))}", "correct or remove it")
            value = yaml_number(hint, value)
            expected = type_problem(hint, value)
            if expected is not None:
                raise SettingError(key, f"expected {expected}, found {value!r}", f"write it as {expected}")
            target[key] = value
        try:
            klass(dict(model_cfg))  # checks the model's settings (e.g. a resolution that is a power of two)
            TrainConfig(**train_cfg)
        except (TypeError, ValueError) as exc:
            wrong = [k for k in self.overrides if k in str(exc)]
            raise SettingError(wrong[0] if wrong else "preset", str(exc), "change the setting it names") from None
        return model_cfg, train_cfg


__all__ = ["GanTraining", "GAN_PRESETS", "DEFAULT_PRESET"]
