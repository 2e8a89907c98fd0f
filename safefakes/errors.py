"""Errors a user can act on: what was wrong, where, and what to do."""

from __future__ import annotations

from pathlib import Path


class SafeFakesError(Exception):
    """Base class of every error SafeFakes raises on purpose."""


class InputError(SafeFakesError):
    """Bad input: names the file (and line), what was expected and what to do."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        self.hint = hint
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        text = f"{where}: {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class MissingWeightsError(SafeFakesError):
    """A pretrained file that cannot be bundled is not where the config says."""

    def __init__(self, what: str, path: str | Path | None, config_key: str, source: str,
                 how: str | None = None) -> None:
        self.path = path
        self.config_key = config_key
        where = f"'{path}'" if path else "no path configured"
        if how:  # files that are not set in a config: the caller says how to get them in place
            super().__init__(f"{what} weights not found ({where}). {how}")
            return
        super().__init__(
            f"{what} weights not found ({where}). Download them from {source}, "
            f"then set the config key '{config_key}' to the file"
            + (", or allow a random initialisation explicitly" if config_key else "")
        )
