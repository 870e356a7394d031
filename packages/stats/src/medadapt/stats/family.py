"""Compare many cells (pair × task × setting) at once: one paired bootstrap each, then a correction over all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from medadapt.stats.bootstrap import Method, PairedResult, paired_bootstrap, resolve_rule
from medadapt.stats.inputs import Correctness, Groups, paired_correctness, without_single_cluster
from medadapt.stats.multiplicity import correct_pvalues
from medadapt.stats.verdicts import RuleKind, Verdict, VerdictRule, verdicts_from_pvalue

Cells = Mapping[str, tuple[Correctness, Correctness]] | Sequence[tuple[str, Correctness, Correctness]]


@dataclass(frozen=True)
class CellComparison:
    """One cell of a family: its bootstrap result, its test's raw and corrected p-value, and the family verdict.

    decided_by: what produced `verdict` ("interval", "holm-corrected bootstrap p-value", or the exact test that
    decides a cell with few discordant items, e.g. "exact McNemar (4 discordant < 10)").
    """

    name: str
    result: PairedResult
    p_value: float
    p_corrected: float
    verdict: Verdict
    decided_by: str = "interval"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON reports."""
        return asdict(self)


@dataclass(frozen=True)
class FamilyResult:
    """All cells of a family with the rule and correction that produced their verdicts."""

    cells: tuple[CellComparison, ...]
    rule: str
    correction: str
    test: str

    @property
    def verdicts(self) -> dict[str, Verdict]:
        """Cell name -> verdict."""
        return {cell.name: cell.verdict for cell in self.cells}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON reports."""
        return {
            "rule": self.rule,
            "correction": self.correction,
            "test": self.test,
            "cells": [cell.to_dict() for cell in self.cells],
        }


def cell_seed(seed: int, index: int) -> int:
    """An independent, reproducible seed per cell (recorded in its result, so a cell can be rerun alone)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint32)[0])


def _cell_list(cells: Cells) -> list[tuple[str, Correctness, Correctness]]:
    if isinstance(cells, Mapping):
        return [(str(name), pair[0], pair[1]) for name, pair in cells.items()]
    listed = [(str(name), a, b) for name, a, b in cells]
    names = [name for name, _, _ in listed]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"cell names must be unique, repeated: {duplicates[:5]!r}")
    return listed


def _pvalue_decision(rule: VerdictRule, result: PairedResult) -> str:
    """How a cell's verdict was made under a p-value rule: which (corrected) p-value decided it."""
    which = result.decided_by if rule.test == "bootstrap" and result.decided_by != "interval" else None
    base = which or f"{rule.test} p-value"
    return base if rule.correction == "none" else f"{rule.correction}-corrected {base}"


def compare_family(
    cells: Cells,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    method: Method = "percentile",
    seed: int = 0,
    rule: VerdictRule | RuleKind = "ci",
    groups: Mapping[str, Groups] | None = None,
) -> FamilyResult:
    """Paired bootstrap per cell (model a vs b), p-values of `rule.test` corrected over the family, verdicts.

    cells: name -> (correct_a, correct_b), or (name, correct_a, correct_b) triples. groups: optional cluster
    labels per cell name. With the default rule (tie iff 0 ∈ CI) the corrected p-values are reported beside
    the verdicts; with rule kind "pvalue" they decide them.
    """
    verdict_rule = resolve_rule(rule, confidence)
    listed = _cell_list(cells)
    if not listed:
        raise ValueError("cells is empty: a family needs at least one comparison")
    unknown = sorted(set(groups or {}) - {name for name, _, _ in listed})
    if unknown:
        raise ValueError(f"groups names cells that are not in the family: {unknown[:5]!r}")
    results: list[PairedResult] = []
    raw: list[float] = []
    for index, (name, a, b) in enumerate(listed):
        cell_groups = (groups or {}).get(name)
        try:
            result = paired_bootstrap(
                a, b, n_resamples, confidence, method, cell_seed(seed, index), cell_groups, "ci"
            )
        except ValueError as error:
            raise ValueError(f"cell {name!r}: {error}") from error
        results.append(result)
        if verdict_rule.test == "bootstrap":
            raw.append(result.p_value)  # the exact test's where it decided the cell
        else:
            from medadapt.stats.exact_tests import named_test_pvalue

            pair = without_single_cluster(paired_correctness(a, b, cell_groups), "item-level test")[0]
            raw.append(named_test_pvalue(verdict_rule.test, pair, n_resamples, result.seed))
    corrected = correct_pvalues(raw, verdict_rule.correction, verdict_rule.alpha)
    if verdict_rule.kind == "pvalue":
        deltas = np.array([r.delta for r in results])
        verdicts = verdicts_from_pvalue(deltas, corrected, verdict_rule.alpha)
        decided = [_pvalue_decision(verdict_rule, r) for r in results]
    else:
        verdicts = [r.verdict for r in results]
        decided = [r.decided_by for r in results]
    comparisons = tuple(
        CellComparison(name=name, result=r, p_value=float(p), p_corrected=float(q), verdict=v, decided_by=d)
        for (name, _, _), r, p, q, v, d in zip(
            listed, results, raw, corrected, verdicts, decided, strict=True
        )
    )
    return FamilyResult(
        cells=comparisons,
        rule=verdict_rule.describe(method, in_family=True),
        correction=verdict_rule.correction,
        test=verdict_rule.test,
    )
