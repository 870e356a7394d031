"""Benchmark medadapt-stats: a study-sized family (200 cells × 1,000 items × 10,000 resamples) with verdicts.

Prints wall time per configuration, the machine load (`uptime`), and the ratio against a same-run baseline: a
plain chunked index bootstrap (integer item indices, the usual implementation), timed on a few cells and scaled
to 200. Warm: one small call first so imports and first-use costs are not counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time

import numpy as np

from medadapt.stats import bootstrap_from_counts, compare_family, win_tie_loss


def make_cells(n_cells: int, n_items: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Correlated paired correctness per cell with accuracy differences between -0.06 and +0.06."""
    rng = np.random.default_rng(seed)
    cells = {}
    for i in range(n_cells):
        latent = rng.random(n_items)
        shift = rng.uniform(-0.06, 0.06)
        a = (latent < 0.6 + shift) ^ (rng.random(n_items) < 0.15)
        b = (latent < 0.6) ^ (rng.random(n_items) < 0.15)
        cells[f"cell{i:03d}"] = (a.astype(np.int8), b.astype(np.int8))
    return cells


def index_bootstrap_ci(
    a: np.ndarray, b: np.ndarray, n_resamples: int, seed: int, chunk: int = 1000
) -> tuple[float, float]:
    """Baseline: draw item indices in chunks of `chunk` resamples, average the differences, take percentiles."""
    d = a.astype(np.int64) - b.astype(np.int64)
    rng = np.random.default_rng(seed)
    stats = np.concatenate(
        [
            d[rng.integers(0, d.size, size=(min(chunk, n_resamples - s), d.size))].mean(axis=1)
            for s in range(0, n_resamples, chunk)
        ]
    )
    low, high = np.quantile(stats, [0.025, 0.975])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--baseline-cells", type=int, default=5)
    args = parser.parse_args()
    cells = make_cells(args.cells, args.items, seed=0)
    compare_family(dict(list(cells.items())[:2]), n_resamples=200)  # warm-up: imports, first calls

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, numpy {np.__version__}"
    )
    print(f"load before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"family: {args.cells} cells × {args.items} items × {args.resamples} resamples (warm)")
    timings = {}
    for method in ("percentile", "bca"):
        start = time.perf_counter()
        family = compare_family(cells, n_resamples=args.resamples, method=method, seed=0)
        rates = win_tie_loss(family.cells)
        timings[method] = time.perf_counter() - start
        print(f"  compare_family method={method:<10} {timings[method]:6.2f} s  verdicts {rates.counts}")

    a_only = [int(((a == 1) & (b == 0)).sum()) for a, b in cells.values()]
    b_only = [int(((a == 0) & (b == 1)).sum()) for a, b in cells.values()]
    start = time.perf_counter()
    bootstrap_from_counts(a_only, b_only, args.items, n_resamples=args.resamples)
    vectorised = time.perf_counter() - start
    print(f"  bootstrap_from_counts (all cells in one pass) {vectorised:6.2f} s")

    names = list(cells)[: args.baseline_cells]
    start = time.perf_counter()
    for name in names:
        index_bootstrap_ci(*cells[name], n_resamples=args.resamples, seed=0)
    baseline = (time.perf_counter() - start) / len(names) * args.cells
    print(
        f"  baseline index bootstrap (percentile CI only), {len(names)} cells scaled to {args.cells}: {baseline:6.2f} s"
    )
    print(
        f"  speed-up vs baseline: percentile {baseline / timings['percentile']:.0f}×, bca {baseline / timings['bca']:.0f}×"
    )
    print(f"load after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
