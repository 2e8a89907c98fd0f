"""The difference interval under the null: six seeds of one method, split 3 vs 3, must not differ.

Six mini detectors are trained on the default study's original synthetic train
split (``config.yaml``'s ``data.synthetic``, ``detector`` and ``predict``
blocks; the mini preset at 250 iterations on one thread, as the study's
``methods`` experiment trains them) with seeds 0 to 5, run on its val split
and evaluated. Each of the ten ways to split the six seeds into two groups of
three is one "method vs original" comparison with no true difference; the
interval of ``evaluation.bootstrap.paired_difference`` (Welch's t over seeds
plus the paired image bootstrap, 1,000 resamples) must contain 0 in at least 9
of the 10. (The ten splits share seeds, so this is a check, not a coverage
estimate: tests/test_bootstrap.py measures coverage in simulation.)

Measured (2026-12-07, AMD EPYC, AVX512, torch 2.14.1, one thread; 743 s on
2 shared cores): seeds 0-5 scored 0.850 / 0.849 / 0.877 / 0.807 / 0.885 /
0.866 (sd 0.028); all 10 intervals contain 0, half-widths 0.059 to 0.083,
standard errors from images 0.019-0.027 and from seeds 0.015-0.026. (The
earlier seed bootstrap also contained 0 in all 10 here, where the seeds agree
about as well as the images do; it fell short where seeds disagree.)

The trained detectors, predictions and map.json files stay under
``benchmarks/results/seed_null/`` (``seed_null_quick/`` for ``--quick``): a
re-run evaluates them again without training. Delete the folder to train anew
(a changed setting stops with an error rather than reusing a run).
``--quick``: a 24-image train split, 16 val images, 10 iterations: a smoke run
of the same code, whose intervals mean nothing.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from benchmarks._common import RESULTS, save
from benchmarks._study import dataset, original_run, study_settings

N_SEEDS = 6
ITERATIONS = 250
N_RESAMPLES = 1000


def splits(n: int = N_SEEDS) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The ways to split seeds 0..n-1 into two halves, each once (the half with seed 0 first)."""
    seeds = range(n)
    return [(a, tuple(s for s in seeds if s not in a)) for a in itertools.combinations(seeds, n // 2) if 0 in a]


def run(quick: bool = False) -> None:
    from safefakes.data.wider_files import read_ground_truth, read_predictions
    from safefakes.evaluation.bootstrap import INTERVAL_METHOD, RunResampler, paired_difference, resample_weights
    from safefakes.machine import describe_machine

    # One thread, as the study's detector jobs: the weights depend on the thread count.
    torch.set_num_threads(1)
    settings = study_settings(quick, ITERATIONS)
    out = RESULTS / ("seed_null_quick" if quick else "seed_null")
    out.mkdir(parents=True, exist_ok=True)
    train, val = dataset(out, settings["data"])
    scores = {seed: original_run(seed, out / f"seed~{seed}", train, val, settings) for seed in range(N_SEEDS)}

    gt = read_ground_truth(val)
    weights = resample_weights(len(gt.images), N_RESAMPLES, np.random.default_rng(0))
    full = np.ones((1, len(gt.images)), dtype=np.int64)
    samples, maps = {}, {}
    for seed in range(N_SEEDS):
        resampler = RunResampler(gt, read_predictions(out / f"seed~{seed}" / "predictions"))
        samples[seed] = resampler.map_samples(weights)
        maps[seed] = float(resampler.map_samples(full)[0])

    rows = []
    for a, b in splits():
        d = paired_difference([samples[s] for s in a], [samples[s] for s in b], [maps[s] for s in a],
                              [maps[s] for s in b])
        rows.append({"seeds": list(a), "against": list(b), "difference": round(d.difference, 4),
                     "low": round(d.low, 4), "high": round(d.high, 4), "df": round(d.df, 2),
                     "se_images": round(d.se_images, 4), "se_seeds": round(d.se_seeds, 4),
                     "contains_0": bool(d.low <= 0 <= d.high)})
        verdict = "" if rows[-1]["contains_0"] else "  EXCLUDES 0"
        print(f"seeds {a} vs {b}: {d.difference:+.4f} [{d.low:+.4f}, {d.high:+.4f}] df {d.df:.1f} "
              f"(se images {d.se_images:.4f}, seeds {d.se_seeds:.4f}){verdict}", flush=True)
    n_contain = sum(r["contains_0"] for r in rows)
    machines = sorted({describe_machine((s.get("machine") or {}).get("train")) for s in scores.values()})
    payload = {"quick": quick, "method": INTERVAL_METHOD, "iterations": settings["iterations"],
               "data": settings["data"], "resamples": N_RESAMPLES,
               "seed_maps": {str(s): round(m, 4) for s, m in maps.items()},
               "seed_map_sd": round(float(np.std(list(maps.values()), ddof=1)), 4),
               "splits": rows, "contain_0": n_contain, "required": 9, "machines": machines,
               "passed": n_contain >= 9}
    path = save("seed_null_quick" if quick else "seed_null", payload)
    print(f"seed mAPs: {', '.join(f'{m:.4f}' for m in maps.values())} (sd {payload['seed_map_sd']:.4f}); "
          f"machine: {'; '.join(machines)}", flush=True)
    print(f"{n_contain} of {len(rows)} intervals contain 0 (required: 9); written to {path}", flush=True)
    if not quick and n_contain < 9:
        raise RuntimeError(f"the difference interval excluded 0 in {len(rows) - n_contain} of {len(rows)} "
                           "splits of one method's seeds: it is too narrow")
    if any(math.isnan(r["low"]) for r in rows):
        raise RuntimeError("a split gave no interval: every half must hold at least two seeds")
