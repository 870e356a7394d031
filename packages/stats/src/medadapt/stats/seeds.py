"""Comparisons repeated over few-shot or prompt-format seeds: one per seed, and one over seed-averaged items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from medadapt.stats.bootstrap import Method, PairedResult, bootstrap_table, paired_bootstrap, resolve_rule
from medadapt.stats.inputs import (
    Correctness,
    Groups,
    PairedCorrectness,
    paired_correctness,
    without_single_cluster,
)
from medadapt.stats.resampling import unit_table
from medadapt.stats.verdicts import RuleKind, VerdictRule, verdicts_from_pvalue


@dataclass(frozen=True)
class SeedComparison:
    """Per-seed paired results and the combined result over items of seed-averaged correctness."""

    per_seed: tuple[PairedResult, ...]
    combined: PairedResult

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON reports."""
        return {"per_seed": [r.to_dict() for r in self.per_seed], "combined": self.combined.to_dict()}


def compare_seeds(
    correct_a: Sequence[Correctness],
    correct_b: Sequence[Correctness],
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    method: Method = "percentile",
    seed: int = 0,
    groups: Groups | None = None,
    rule: VerdictRule | RuleKind = "ci",
) -> SeedComparison:
    """Compare a and b under each seed s (pairing a's run s with b's run s), then over all seeds combined.

    correct_a[s] / correct_b[s]: per-item correctness of run s (same items in every run; arrays or id mappings).
    The combined comparison averages each item's correctness over seeds and bootstraps items (or `groups`), so
    seed-to-seed variation is averaged while the item sampling stays paired; its Δ is the mean of per-seed Δs.
    The combined p-value is the bootstrap's (McNemar does not apply to averaged correctness); with fewer than 10
    discordant (item, seed) pairs the exact sign-flip test over items (or clusters) of summed differences decides.
    """
    if isinstance(correct_a, Mapping) or isinstance(correct_b, Mapping):
        raise ValueError("correct_a and correct_b must be sequences with one entry per seed (not a mapping)")
    if len(correct_a) != len(correct_b):
        raise ValueError(
            f"correct_a has {len(correct_a)} seeds but correct_b has {len(correct_b)}; pair them run by run"
        )
    if len(correct_a) == 0:
        raise ValueError("no seeds given: correct_a and correct_b are empty")
    verdict_rule = resolve_rule(rule, confidence)
    pairs = []
    for s, (a, b) in enumerate(zip(correct_a, correct_b, strict=True)):
        try:
            pairs.append(paired_correctness(a, b, groups))
        except ValueError as error:
            raise ValueError(f"seed {s}: {error}") from error
    notes = without_single_cluster(pairs[0], "item bootstrap")[1]
    pairs = [without_single_cluster(pair, "item bootstrap")[0] for pair in pairs]
    reference = pairs[0]
    pairs = [reference] + [
        _in_reference_order(pair, reference, s) for s, pair in enumerate(pairs[1:], start=1)
    ]
    per_seed = tuple(
        replace(
            paired_bootstrap(p.a, p.b, n_resamples, confidence, method, seed + s, p.group_codes, rule),
            notes=notes,
        )
        for s, p in enumerate(pairs)
    )
    # Seed-averaged difference per item, kept integer: Σ_s (a_s - b_s) = n_seeds × mean difference.
    summed = np.sum([p.a.astype(np.int64) - p.b.astype(np.int64) for p in pairs], axis=0)
    n_seeds = len(pairs)
    n_a_only = int(np.sum([p.a > p.b for p in pairs]))
    n_b_only = int(np.sum([p.a < p.b for p in pairs]))
    over = "clusters" if reference.group_codes is not None else "items"
    arrays = bootstrap_table(
        unit_table(summed, reference.group_codes, scale=n_seeds),
        n_resamples,
        confidence,
        method,
        seed,
        n_a_only + n_b_only,
        f"exact sign-flip test over {over}",
    )
    verdict, decided_by = arrays.verdict[0], arrays.decided_by[0]
    if verdict_rule.kind == "pvalue":
        verdict = verdicts_from_pvalue(arrays.delta, arrays.p_value, verdict_rule.alpha)[0]
        if decided_by == "interval":
            decided_by = "bootstrap p-value"
    accuracy_a = float(np.mean([p.a.mean() for p in pairs]))
    accuracy_b = float(np.mean([p.b.mean() for p in pairs]))
    combined = PairedResult(
        delta=float(arrays.delta[0]),
        ci_low=float(arrays.ci_low[0]),
        ci_high=float(arrays.ci_high[0]),
        p_value=float(arrays.p_value[0]),
        verdict=verdict,
        rule=VerdictRule(verdict_rule.kind, confidence, "bootstrap", verdict_rule.correction).describe(method)
        + f" (over {n_seeds} seeds, items of seed-averaged correctness)",
        n=reference.n,
        method=method,
        confidence=confidence,
        n_resamples=int(n_resamples),
        seed=int(seed),
        accuracy_a=accuracy_a,
        accuracy_b=accuracy_b,
        n_a_only=n_a_only,
        n_b_only=n_b_only,
        se=float(arrays.se[0]),
        p_value_test=arrays.p_value_test[0],
        n_groups=reference.n_groups,
        bias_correction=float(arrays.bias_correction[0]) if method == "bca" else None,
        acceleration=float(arrays.acceleration[0]) if method == "bca" else None,
        decided_by=decided_by,
        notes=notes,
    )
    return SeedComparison(per_seed=per_seed, combined=combined)


def _in_reference_order(
    pair: PairedCorrectness, reference: PairedCorrectness, seed_index: int
) -> PairedCorrectness:
    """Seed `seed_index`'s pairs in seed 0's item order (id mappings may list items in any order)."""
    if pair.n != reference.n or (pair.ids is None) != (reference.ids is None):
        raise ValueError(
            f"seed {seed_index} scores {pair.n} items but seed 0 scores {reference.n}; every seed must score the same items"
        )
    if pair.ids is None or reference.ids is None or pair.ids == reference.ids:
        return pair
    position = {item: k for k, item in enumerate(pair.ids)}
    missing = [item for item in reference.ids if item not in position]
    if missing:
        raise ValueError(f"seed {seed_index} lacks item ids that seed 0 has, e.g. {missing[:5]!r}")
    order = np.array([position[item] for item in reference.ids], dtype=np.int64)
    codes = None if pair.group_codes is None else reference.group_codes
    return PairedCorrectness(
        a=pair.a[order], b=pair.b[order], ids=reference.ids, group_codes=codes, n_groups=pair.n_groups
    )
