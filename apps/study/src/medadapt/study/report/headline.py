"""The paper-style headline: win / tie / loss shares of the medical model per variant × setting × task group ×
decoding (and pooled), with Wilson intervals and, for the paper configs, the paper's published shares beside them;
plus, next to each cell's verdict, what could have decided it: both models' prompt sensitivity, too-long and
unanswered items, and the smallest difference the cell's n could detect."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

from medadapt.study.aggregate import StudyResults
from medadapt.study.config import StudyConfig
from medadapt.study.shard_plan import Variant
from medadapt.study.store import StoreView

ALL = "all"
# Task families (medadapt-prompts' registry) → the paper's task groups; image tasks are VQA whatever their family.
FAMILY_GROUPS = {
    "medqa": "medical QA",
    "medmcqa": "medical QA",
    "pubmedqa": "medical QA",
    "mmlu": "medical QA",
    "mednli": "clinical notes",
    "ehrnoteqa": "clinical notes",
    "sense": "clinical notes",
    "n2c2": "clinical notes",
}
GROUP_ORDER = ("medical QA", "clinical notes", "VQA", "other")
# The paper's abstract-level headline shares (docs/protocol.md, headline results): every one is 3-shot, own prompts,
# and mostly LLM pairs; no VLM-only shares were published, so the VLM config gets none.
PAPER_SHARES: dict[str, list[dict[str, Any]]] = {
    "paper-llm": [
        {"source": "EMNLP 2024 (arXiv 2411.04118), textual tasks", "group": ALL,
         "win": 0.121, "tie": 0.498, "loss": 0.382},
        {"source": "arXiv 2411.08870 v1, all tasks", "group": ALL, "win": 0.227, "tie": 0.368, "loss": 0.405},
        {"source": "arXiv 2411.08870 v2, clinical-note tasks", "group": "clinical notes",
         "win": 0.267, "tie": 0.167, "loss": 0.567},
    ],
}
PAPER_SETTING = "3-shot"
PAPER_VARIANT = "own prompts"
POWER = 0.8


def task_group(task: str) -> str:
    """The paper's group of a task: VQA for image tasks, else by the task's family."""
    from medadapt.prompts import get_task

    try:
        spec = get_task(task)
    except KeyError:
        return "other"
    if getattr(spec, "kind", None) == "vqa":
        return "VQA"
    return FAMILY_GROUPS.get(str(getattr(spec, "family", "")), "other")


def _shares(verdicts: Sequence[str], confidence: float) -> dict[str, Any]:
    from medadapt.stats import win_tie_loss

    rates = win_tie_loss(list(verdicts), confidence=confidence, method="wilson")
    out: dict[str, Any] = {"n": rates.n}
    for verdict in ("win", "tie", "loss"):
        low, high = rates.intervals[verdict]
        out[verdict] = rates.rates[verdict]
        out[f"{verdict}_ci"] = [low, high]
    return out


def headline_rows(comparisons: Sequence[dict[str, Any]], config: StudyConfig) -> list[dict[str, Any]]:
    """Rows per variant × setting × group × decoding, the same pooled over decodings and over groups, and one
    overall row per variant (setting, group and decoding 'all'); shares in [0, 1] with Wilson intervals."""
    confidence = config.statistics.confidence
    paper = PAPER_SHARES.get(config.name, [])
    settings = [s.name for s in config.settings] + ["fine-tuned"]
    rows = []
    for variant in (v.value for v in Variant):
        family = [c for c in comparisons if c["variant"] == variant]
        if not family:
            continue
        for setting in [s for s in settings if any(c["setting"] == s for c in family)] + [ALL]:
            in_setting = [c for c in family if setting in (ALL, c["setting"])]
            groups = sorted({task_group(c["task"]) for c in in_setting}, key=GROUP_ORDER.index)
            decodings = sorted({c["decoding"] for c in in_setting})
            combos = [(g, d) for g in groups for d in [*decodings, ALL]] + [(ALL, ALL)]
            if setting == ALL:
                combos = [(ALL, ALL)]
            for group, decoding in combos:
                members = [
                    c for c in in_setting
                    if group in (ALL, task_group(c["task"])) and decoding in (ALL, c["decoding"])
                ]
                if not members:
                    continue
                row = {"variant": variant, "setting": setting, "group": group, "decoding": decoding,
                       **_shares([c["verdict"] for c in members], confidence)}
                published = [
                    p for p in paper
                    if variant == PAPER_VARIANT and setting == PAPER_SETTING and decoding == ALL and p["group"] == group
                ]
                if published:
                    row["paper"] = published
                rows.append(row)
    return rows


def minimal_detectable_difference(discordant: int, n: int, confidence: float) -> float:
    """The accuracy difference a paired comparison of n items detects with 80 % power at the given confidence
    (normal approximation of McNemar's design: sd of Δ ≈ sqrt(discordant share / n)); at least one discordant item
    is assumed so a cell of identical answers still gets a finite, honest bound."""
    if n == 0:
        return math.nan
    share = max(discordant, 1) / n
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2) + NormalDist().inv_cdf(POWER)
    return z * math.sqrt(share / n)


def _spreads(results: StudyResults) -> dict[tuple[str, str, str, str], float]:
    return {
        (s["model"], s["task"], s["setting"], s["decoding"]): max(c["val_accuracy"] for c in s["candidates"])
        - min(c["val_accuracy"] for c in s["candidates"])
        for s in results.selections
    }


def _unanswered(view: StoreView, key: str) -> tuple[int, int]:
    """(too long for the context, no answer read) among a unit's stored records."""
    records = view.records(key).values()
    too_long = sum(r.get("status") == "too_long" for r in records)
    missing = sum(r.get("status") != "too_long" and r.get("pred") is None for r in records)
    return too_long, missing


def verdict_context(
    comparisons: Sequence[dict[str, Any]], results: StudyResults, view: StoreView, config: StudyConfig
) -> list[dict[str, Any]]:
    """One row per comparison (same order as report['comparisons']): the evidence to read its verdict with."""
    spreads = _spreads(results)
    rows = []
    for c in comparisons:
        general_too_long, general_missing = _unanswered(view, c["key_general"])
        medical_too_long, medical_missing = _unanswered(view, c["key_medical"])
        general = view.records(c["key_general"])
        medical = view.records(c["key_medical"])
        discordant = sum(
            bool(general[i]["correct"]) != bool(medical[i]["correct"]) for i in medical if i in general
        )
        rows.append(
            {
                "variant": c["variant"],
                "general": c["general"],
                "medical": c["medical"],
                "task": c["task"],
                "group": task_group(c["task"]),
                "setting": c["setting"],
                "decoding": c["decoding"],
                "verdict": c["verdict"],
                "n": c["n"],
                "spread_general": spreads.get((c["general"], c["task"], c["setting"], c["decoding"])),
                "spread_medical": spreads.get((c["medical"], c["task"], c["setting"], c["decoding"])),
                "too_long_general": general_too_long,
                "too_long_medical": medical_too_long,
                "missing_general": general_missing,
                "missing_medical": medical_missing,
                "discordant": discordant,
                "mdd": minimal_detectable_difference(discordant, c["n"], config.statistics.confidence),
            }
        )
    return rows


DEMO_SCOPE = (
    "This is the demo: its 'medical' model is SmolLM2-135M-Instruct after a few steps of continued pretraining on "
    "about a hundred PubMedQA abstracts, so it shows the pipeline (prompt selection, paired statistics, verdicts) "
    "end to end on real questions, not whether medical adaptation helps real medical models. A 135M model answers "
    "these questions near chance, so most cells are ties by construction; fine-tuning runs a single short trial."
)


def scope(context: Sequence[dict[str, Any]], config: StudyConfig) -> list[str]:
    """What the study can and cannot show, in sentences: its cell sizes and the differences they can detect."""
    lines = [DEMO_SCOPE] if config.name.startswith("demo") else []
    for decoding in sorted({c["decoding"] for c in context}):
        cells = [c for c in context if c["decoding"] == decoding]
        ns = sorted({c["n"] for c in cells})
        mdds = [c["mdd"] for c in cells if not math.isnan(c["mdd"])]
        if not mdds:
            continue
        sizes = f"{ns[0]}" if ns[0] == ns[-1] else f"{ns[0]}–{ns[-1]}"
        low, high = round(100 * min(mdds)), round(100 * max(mdds))
        detect = f"{low}" if low == high else f"{low}–{high}"
        lines.append(
            f"{decoding}: {len(cells)} cells of {sizes} test items; they detect a difference of about {detect} "
            "accuracy points (80% power). Smaller true differences mostly come out as ties, so a tie is not "
            "evidence of no difference."
        )
    return lines


def headline_section(
    comparisons: Sequence[dict[str, Any]], results: StudyResults, view: StoreView, config: StudyConfig
) -> dict[str, Any]:
    """The report.json keys this module adds: `headline`, `verdict_context` and `scope`."""
    context = verdict_context(comparisons, results, view, config)
    return {
        "headline": headline_rows(comparisons, config),
        "verdict_context": context,
        "scope": scope(context, config),
    }
