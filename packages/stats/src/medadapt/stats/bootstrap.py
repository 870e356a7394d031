"""Paired bootstrap of Δaccuracy (model a minus model b) with percentile or BCa intervals and a verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medadapt.stats.inputs import Correctness, Groups, paired_correctness, without_single_cluster
from medadapt.stats.intervals import (
    bca_levels,
    bias_correction,
    inverted_pvalue,
    percentile_levels,
    row_quantiles,
)
from medadapt.stats.resampling import (
    TableBatch,
    UnitTable,
    jackknife_acceleration,
    resample_statistics,
    unit_table,
)
from medadapt.stats.small_samples import decide_small_cells, exact_mcnemar_pvalues, needs_exact_test
from medadapt.stats.verdicts import (
    RuleKind,
    Verdict,
    VerdictRule,
    verdicts_from_interval,
    verdicts_from_pvalue,
)

Method = Literal["percentile", "bca"]
METHODS: tuple[str, ...] = ("percentile", "bca")


@dataclass(frozen=True)
class PairedResult:
    """One paired comparison of model a against model b on the same items; Δ = accuracy_a - accuracy_b.

    decided_by: what produced the verdict: "interval" (the CI rule), "<test> p-value" (a p-value rule), or the
    exact test that decides a cell with few discordant items ("exact McNemar (7 discordant < 10)"). notes:
    anything the analysis changed on its own, e.g. "one cluster: item bootstrap used".
    """

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    verdict: Verdict
    rule: str
    n: int
    method: str
    confidence: float
    n_resamples: int
    seed: int
    accuracy_a: float
    accuracy_b: float
    n_a_only: int
    n_b_only: int
    se: float
    p_value_test: str = "bootstrap"
    n_groups: int | None = None
    bias_correction: float | None = None
    acceleration: float | None = None
    decided_by: str = "interval"
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON reports."""
        data = asdict(self)
        data["notes"] = list(self.notes)
        return data


@dataclass(frozen=True)
class BootstrapArrays:
    """Vectorised bootstrap results for many cells at once (one entry per cell).

    decided_by[c]: "interval", or the exact test that decided a cell with few discordant items; p_value_test[c]:
    the test whose p-value `p_value[c]` is ("bootstrap", or "mcnemar" / "permutation" for those cells).
    """

    delta: NDArray[np.float64]
    ci_low: NDArray[np.float64]
    ci_high: NDArray[np.float64]
    p_value: NDArray[np.float64]
    se: NDArray[np.float64]
    bias_correction: NDArray[np.float64]
    acceleration: NDArray[np.float64]
    verdict: list[Verdict]
    decided_by: list[str]
    p_value_test: list[str]


def check_options(n_resamples: int, confidence: float, method: str) -> None:
    """Reject bootstrap settings that cannot give a meaningful interval."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    if int(n_resamples) != n_resamples or n_resamples < 100:
        raise ValueError(f"n_resamples must be an integer >= 100, got {n_resamples!r}")


def bootstrap_tables(
    batch: TableBatch,
    orientation: NDArray[np.int64],
    n_resamples: int,
    confidence: float,
    method: Method,
    rng: np.random.Generator,
) -> BootstrapArrays:
    """Intervals and p-values for cells given as canonically oriented tables.

    `orientation` is +1 where the table is the caller's data, -1 where it is the mirror (a and b swapped; results
    are mirrored back) and 0 where the data are their own mirror: there the bootstrap distribution of Δ is
    symmetric about 0 by construction, so its symmetrised estimate is used (Δ = 0, p = 1, interval ±). Drawing
    the canonical orientation makes swapping a and b mirror every number exactly.
    """
    check_options(n_resamples, confidence, method)
    return intervals_from_draws(
        batch, orientation, resample_statistics(batch, n_resamples, rng), confidence, method
    )


def intervals_from_draws(
    batch: TableBatch,
    orientation: NDArray[np.int64],
    draws: NDArray[np.float64],
    confidence: float,
    method: Method,
) -> BootstrapArrays:
    """Intervals, p-values and verdicts from resampled Δs ([C, B], overwritten: sorted in place).

    Every verdict here is the interval's; `bootstrap_from_counts` and `bootstrap_table` then hand cells with few
    discordant items to the exact test. Signed zeros are normalised (`+ 0.0`): no result holds -0.0.
    """
    estimate = batch.estimate
    cells = draws.shape[0]
    symmetric = orientation == 0
    draws.sort(axis=1)
    if method == "bca":
        z0 = np.where(symmetric, 0.0, bias_correction(draws, estimate))
        acceleration = np.where(symmetric, 0.0, jackknife_acceleration(batch))
        levels = bca_levels(confidence, z0, acceleration)
    else:
        z0 = np.zeros(cells)
        acceleration = np.zeros(cells)
        levels = percentile_levels(confidence, cells)
    p_value = np.where(symmetric, 1.0, inverted_pvalue(draws, z0, acceleration))
    se = draws.std(axis=1, ddof=1)
    bounds = row_quantiles(draws, levels)
    low, high = bounds[:, 0], bounds[:, 1]
    half_width = (high - low) / 2.0
    low, high = np.where(symmetric, -half_width, low), np.where(symmetric, half_width, high)
    mirrored = orientation < 0
    delta = np.where(mirrored, -estimate, estimate)
    delta = np.where(symmetric, 0.0, delta)
    low, high = np.where(mirrored, -high, low) + 0.0, np.where(mirrored, -low, high) + 0.0
    return BootstrapArrays(
        delta=delta + 0.0,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        se=se,
        bias_correction=np.where(mirrored, -z0, z0) + 0.0,
        acceleration=np.where(mirrored, -acceleration, acceleration) + 0.0,
        verdict=verdicts_from_interval(low, high),
        decided_by=["interval"] * cells,
        p_value_test=["bootstrap"] * cells,
    )


def bootstrap_from_counts(
    n_a_only: ArrayLike,
    n_b_only: ArrayLike,
    n_items: ArrayLike,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    method: Method = "percentile",
    seed: int = 0,
) -> BootstrapArrays:
    """Paired bootstrap for many item-level cells from their 2×2 counts alone, in one vectorised pass.

    n_a_only: items only model a got right; n_b_only: items only model b got right. The resample distribution of
    Δ depends on nothing else, so this equals `paired_bootstrap` on any data with these counts (and, for a single
    cell with the same seed, gives the identical numbers). Cells with fewer than 10 discordant items are decided
    by exact McNemar (their `decided_by` says so).
    """
    a_only, b_only, n = np.broadcast_arrays(
        np.atleast_1d(np.asarray(n_a_only, np.int64)),
        np.atleast_1d(np.asarray(n_b_only, np.int64)),
        np.atleast_1d(np.asarray(n_items, np.int64)),
    )
    if (n < 2).any():
        raise ValueError(f"a paired bootstrap needs at least 2 items, got n_items={int(n.min())}")
    if (a_only < 0).any() or (b_only < 0).any() or (a_only + b_only > n).any():
        raise ValueError("need 0 <= n_a_only, n_b_only and n_a_only + n_b_only <= n_items in every cell")
    orientation = np.sign(a_only - b_only)
    oriented = TableBatch.from_discordant_counts(np.maximum(a_only, b_only), np.minimum(a_only, b_only), n)
    arrays = bootstrap_tables(
        oriented, orientation, n_resamples, confidence, method, np.random.default_rng(seed)
    )
    return decide_small_cells(
        arrays, a_only + b_only, exact_mcnemar_pvalues(a_only, b_only), confidence, "exact McNemar", "mcnemar"
    )


def bootstrap_table(
    table: UnitTable,
    n_resamples: int,
    confidence: float,
    method: Method,
    seed: int,
    n_discordant: int,
    exact_test: str,
) -> BootstrapArrays:
    """Bootstrap one (possibly clustered or seed-averaged) signature table in its canonical orientation.

    With fewer than 10 discordant items the verdict is the exact sign-flip test's over the table's units
    (`exact_test` names it: exact McNemar at item level).
    """
    orientation = table.orientation()
    oriented = table.mirrored() if orientation < 0 else table
    arrays = bootstrap_tables(
        TableBatch.stack([oriented]),
        np.array([orientation]),
        n_resamples,
        confidence,
        method,
        np.random.default_rng(seed),
    )
    if not needs_exact_test(n_discordant):
        return arrays
    from medadapt.stats.exact_tests import exact_sign_flip_pvalue

    p_exact = exact_sign_flip_pvalue(np.repeat(table.sums, table.counts))
    key = "mcnemar" if exact_test == "exact McNemar" else "permutation"
    return decide_small_cells(arrays, n_discordant, p_exact, confidence, exact_test, key)


def resolve_rule(rule: VerdictRule | RuleKind, confidence: float) -> VerdictRule:
    """A VerdictRule from a rule or its kind; a rule's confidence must agree with the CI's."""
    if isinstance(rule, VerdictRule):
        if rule.confidence != confidence:
            raise ValueError(
                f"rule.confidence ({rule.confidence}) differs from confidence ({confidence}); make them equal"
            )
        return rule
    return VerdictRule(kind=rule, confidence=confidence)


def paired_bootstrap(
    correct_a: Correctness,
    correct_b: Correctness,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    method: Method = "percentile",
    seed: int = 0,
    groups: Groups | None = None,
    rule: VerdictRule | RuleKind = "ci",
) -> PairedResult:
    """Bootstrap Δaccuracy = acc(a) - acc(b) over paired items (or over clusters of items when `groups` is given).

    correct_a / correct_b: per-item 0/1 (or bool) in the same item order, or id -> 0/1 mappings aligned by id.
    groups: cluster per item (e.g. image, acronym, note); clusters are resampled whole and Δ is the ratio of
    summed differences to items drawn; groups that put every item in one cluster fall back to the item bootstrap
    (noted in `notes`). The verdict follows `rule` (default: tie iff 0 ∈ CI, the study's rule); with
    rule="pvalue" it follows the p-value of the rule's test at level 1 - confidence. Either way a comparison with
    fewer than 10 discordant items is decided by an exact test (`decided_by` says which).
    """
    pair, notes = without_single_cluster(paired_correctness(correct_a, correct_b, groups), "item bootstrap")
    verdict_rule = resolve_rule(rule, confidence)
    differences = pair.a.astype(np.int64) - pair.b.astype(np.int64)
    n_a_only = int((differences > 0).sum())
    n_b_only = int((differences < 0).sum())
    if pair.group_codes is None:
        arrays = bootstrap_from_counts(n_a_only, n_b_only, pair.n, n_resamples, confidence, method, seed)
    else:
        arrays = bootstrap_table(
            unit_table(differences, pair.group_codes),
            n_resamples,
            confidence,
            method,
            seed,
            n_a_only + n_b_only,
            "exact sign-flip test over clusters",
        )
    p_value, test = float(arrays.p_value[0]), arrays.p_value_test[0]
    verdict, decided_by = arrays.verdict[0], arrays.decided_by[0]
    if verdict_rule.kind == "pvalue":
        if verdict_rule.test != "bootstrap":
            from medadapt.stats.exact_tests import named_test_pvalue  # the exact tests import statsmodels

            test = verdict_rule.test
            p_value = named_test_pvalue(test, pair, n_resamples=n_resamples, seed=seed)
        if decided_by == "interval":
            decided_by = f"{test} p-value"
        verdict = verdicts_from_pvalue(arrays.delta, np.array([p_value]), verdict_rule.alpha)[0]
    return PairedResult(
        delta=float(arrays.delta[0]),
        ci_low=float(arrays.ci_low[0]),
        ci_high=float(arrays.ci_high[0]),
        p_value=p_value,
        verdict=verdict,
        rule=verdict_rule.describe(method),
        n=pair.n,
        method=method,
        confidence=confidence,
        n_resamples=int(n_resamples),
        seed=int(seed),
        accuracy_a=float(pair.a.mean()),
        accuracy_b=float(pair.b.mean()),
        n_a_only=n_a_only,
        n_b_only=n_b_only,
        se=float(arrays.se[0]),
        p_value_test=test,
        n_groups=pair.n_groups,
        bias_correction=float(arrays.bias_correction[0]) if method == "bca" else None,
        acceleration=float(arrays.acceleration[0]) if method == "bca" else None,
        decided_by=decided_by,
        notes=notes,
    )
