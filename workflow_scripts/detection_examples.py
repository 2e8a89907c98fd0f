"""Snakemake adapter: the detectors of the study's methods on the same validation images (Fig. 5)."""

from pathlib import Path

from _logging import log_to

from safefakes.plots.detections import plot_detections
from safefakes.plots.style import label

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    runs = snakemake.params.runs  # method -> (det_iters, seed)
    predictions = {method: snakemake.input[method] for method in runs}
    titles = {m: f"{label(m)} ({d} iterations, seed {s})" for m, (d, s) in runs.items()}
    out = Path(snakemake.output.png)
    plot_detections(snakemake.input.val, predictions, out.with_suffix(""), score=snakemake.params.score,
                    titles=titles)
    print(f"{', '.join(runs)} -> {out}")
