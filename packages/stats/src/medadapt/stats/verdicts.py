"""Turn an interval or a p-value into win / tie / loss, and say in words which rule did it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

Verdict = Literal["win", "tie", "loss"]
VERDICTS: tuple[Verdict, ...] = ("win", "tie", "loss")
RuleKind = Literal["ci", "pvalue"]
PValueTest = Literal["bootstrap", "mcnemar", "permutation"]
Correction = Literal["none", "holm", "fdr_bh", "bonferroni"]
CORRECTIONS: tuple[str, ...] = ("none", "holm", "fdr_bh", "bonferroni")
TESTS: tuple[str, ...] = ("bootstrap", "mcnemar", "permutation")


@dataclass(frozen=True)
class VerdictRule:
    """How a verdict is decided: by the CI of Δaccuracy (the study's rule) or by a (corrected) p-value.

    kind="ci": win iff the `confidence` CI of Δ lies above 0, loss iff below, tie iff 0 ∈ CI. The family's
    corrected p-values are still reported beside it. kind="pvalue": win/loss iff the `correction`-corrected
    p-value of `test` is below 1 - `confidence` (sign from Δ), tie otherwise.
    """

    kind: RuleKind = "ci"
    confidence: float = 0.95
    test: PValueTest = "bootstrap"
    correction: Correction = "holm"

    def __post_init__(self) -> None:
        if self.kind not in ("ci", "pvalue"):
            raise ValueError(f"VerdictRule.kind must be 'ci' or 'pvalue', got {self.kind!r}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"VerdictRule.confidence must lie in (0, 1), got {self.confidence!r}")
        if self.test not in TESTS:
            raise ValueError(f"VerdictRule.test must be one of {TESTS}, got {self.test!r}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"VerdictRule.correction must be one of {CORRECTIONS}, got {self.correction!r}")

    @property
    def alpha(self) -> float:
        """Significance level matching the confidence level."""
        return 1.0 - self.confidence

    def describe(self, method: str = "percentile", in_family: bool = False) -> str:
        """One line naming the rule, recorded in every result so a verdict can be reproduced."""
        small = f"; with < 10 discordant items: exact test p >= {self.alpha:.3g} instead"
        if self.kind == "ci":
            return (
                f"tie iff 0 in the {self.confidence:.0%} {method} bootstrap CI of Δaccuracy (endpoints included); "
                f"else sign of Δ{small}"
            )
        correction = self.correction if in_family else "none"
        which = f"{correction}-corrected " if correction != "none" else ""
        rule = f"tie iff {which}{self.test} p >= {self.alpha:.3g}; else sign of Δ"
        return rule + small if self.test == "bootstrap" else rule

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON reports."""
        return asdict(self)


def verdicts_from_interval(low: NDArray[np.float64], high: NDArray[np.float64]) -> list[Verdict]:
    """Win iff the interval is above 0, loss iff below, tie iff it contains 0 (endpoints included)."""
    return [
        "win" if lo > 0 else "loss" if hi < 0 else "tie"
        for lo, hi in zip(low.tolist(), high.tolist(), strict=True)
    ]


def verdicts_from_pvalue(
    delta: NDArray[np.float64], p_value: NDArray[np.float64], alpha: float
) -> list[Verdict]:
    """Win/loss by the sign of Δ when p < alpha, tie otherwise (also when Δ is exactly 0)."""
    return [
        "tie" if p >= alpha or d == 0 else "win" if d > 0 else "loss"
        for d, p in zip(np.asarray(delta).tolist(), np.asarray(p_value).tolist(), strict=True)
    ]


def flip(verdict: Verdict) -> Verdict:
    """The verdict for b against a."""
    return "loss" if verdict == "win" else "win" if verdict == "loss" else "tie"
