"""Win / tie / loss rates over a family of cells, each with its own confidence interval."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from medadapt.stats.verdicts import VERDICTS, Verdict

RateMethod = Literal["wilson", "bootstrap"]


@dataclass(frozen=True)
class WinTieLoss:
    """Counts, rates and interval per verdict over n cells; `method` names how the intervals were made."""

    n: int
    counts: dict[Verdict, int]
    rates: dict[Verdict, float]
    intervals: dict[Verdict, tuple[float, float]]
    confidence: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON reports."""
        return {
            "n": self.n,
            "counts": dict(self.counts),
            "rates": dict(self.rates),
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "confidence": self.confidence,
            "method": self.method,
        }


def _verdict_of(item: object) -> str:
    return item if isinstance(item, str) else str(getattr(item, "verdict", item))


def win_tie_loss(
    results: Iterable[object],
    confidence: float = 0.95,
    method: RateMethod = "wilson",
    n_resamples: int = 10_000,
    seed: int = 0,
) -> WinTieLoss:
    """Rates of win / tie / loss over cells (PairedResult, CellComparison or verdict strings).

    method="wilson": a Wilson score interval per rate (statsmodels), treating cells as independent trials;
    method="bootstrap": percentile intervals from resampling the cells with replacement. Cells that share a
    model or a task are not independent, so read either interval as describing this set of cells.
    """
    verdicts = [_verdict_of(r) for r in results]
    unknown = sorted({v for v in verdicts if v not in VERDICTS})
    if unknown:
        raise ValueError(f"verdicts must be one of {VERDICTS}, got {unknown!r}")
    n = len(verdicts)
    if n == 0:
        raise ValueError("results is empty: rates need at least one cell")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    counts: dict[Verdict, int] = {v: verdicts.count(v) for v in VERDICTS}
    rates: dict[Verdict, float] = {v: counts[v] / n for v in VERDICTS}
    alpha = 1.0 - confidence
    intervals: dict[Verdict, tuple[float, float]] = {}
    if method == "wilson":
        from statsmodels.stats.proportion import proportion_confint

        for v in VERDICTS:
            low, high = proportion_confint(counts[v], n, alpha=alpha, method="wilson")
            intervals[v] = (float(low), float(high))
        described = f"wilson score interval per rate, {confidence:.0%}"
    elif method == "bootstrap":
        draws = np.random.default_rng(seed).multinomial(n, [rates[v] for v in VERDICTS], size=n_resamples) / n
        bounds = np.quantile(draws, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
        for k, v in enumerate(VERDICTS):
            intervals[v] = (float(bounds[0, k]), float(bounds[1, k]))
        described = f"percentile bootstrap over cells, {confidence:.0%}, B={n_resamples}, seed={seed}"
    else:
        raise ValueError(f"method must be 'wilson' or 'bootstrap', got {method!r}")
    return WinTieLoss(
        n=n, counts=counts, rates=rates, intervals=intervals, confidence=confidence, method=described
    )
