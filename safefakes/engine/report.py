"""What an anonymization run reports, and the error it raises when images failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from safefakes.errors import SafeFakesError


class AnonymizationError(SafeFakesError):
    """Some images could not be anonymized; the output is marked incomplete."""

    def __init__(self, message: str, report: "SplitReport") -> None:
        super().__init__(message)
        self.report = report


@dataclass
class SplitReport:
    """What a run did. ``complete`` is False when any image failed."""

    output_dir: Path
    method: str
    n_images: int
    n_faces: int
    n_resumed: int  # images done by an earlier, interrupted run and skipped
    status_counts: dict[str, int]
    failed_images: dict[str, str] = field(default_factory=dict)  # image -> message
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.failed_images

    def summary(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.status_counts.items())) or "no faces"
        text = (f"{self.method}: {self.n_images} images, {self.n_faces} faces ({counts}) "
                f"-> {self.output_dir} in {self.seconds:.1f} s")
        if self.n_resumed:
            text += f"; {self.n_resumed} images were already done and kept"
        if self.failed_images:
            text += f"; {len(self.failed_images)} image(s) FAILED"
        return text
