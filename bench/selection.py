"""Racing prompt selection against exhaustive selection, replayed on recorded per-item results of real models.

1. Record (once, resumable): a real study run (medadapt's own runner and store) of SmolLM2-135M-Instruct and the
   demo's medical copy on real validation data from ../shared/data — MedMCQA, PubMedQA and an MMLU-medical subject —
   with exhaustive selection, constrained decoding, zero-shot (the default + 10 grammar formats = 11 candidates)
   and 3-shot (11 formats × 3 shot seeds = 33 candidates). Every candidate's per-item correctness is in the store.
2. Replay: for each (model, task, setting) cell, race the candidates over `--orders` random item orders and compare
   with the exhaustive choice on the same items: forward passes (exact: one per candidate and item scored),
   whether the race picked the exhaustive winner, and the validation-accuracy gap when it did not. Wall time is
   the exhaustive run's measured seconds per prompt of that cell times the prompts each strategy scores.
Rewrites `## selection` in BENCHMARKS.md unless --no-write.
Run: python bench/selection.py [--run-dir DIR] [--val-items 150] [--orders 200] [--no-write] [--replay-only]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from medadapt.stats.racing import RaceSchedule, race

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("medmcqa", "pubmedqa", "mmlu_professional-medicine")
SETTINGS: list[Any] = ["zero-shot", {"name": "3-shot", "shots": 3}]


def study_config(data_dir: Path, val_items: int, general: Path, medical: Path) -> dict[str, Any]:
    """The recording study: exhaustive selection only (1 test item per task: the test phase is not measured)."""
    return {
        "name": "bench-selection",
        "data_dir": str(data_dir),
        "pairs": [
            {
                "general": {"name": "smollm2-135m-instruct", "path": str(general), "prompt_style": "chat"},
                "medical": {"name": "smollm2-135m-medical", "path": str(medical), "prompt_style": "chat"},
            }
        ],
        "tasks": list(TASKS),
        "settings": SETTINGS,
        "decodings": ["constrained"],
        "prompt_selection": {
            "mode": "model-specific", "n_formats": 10, "n_shot_seeds": 3, "max_val_items": val_items,
            "strategy": "exhaustive",
        },
        "medopt": False,
        "limits": {"max_test_items": 1, "batch_size": 8},
        "statistics": {"n_resamples": 200},
    }


def record(run_dir: Path, data_dir: Path, val_items: int) -> float:
    """Run (or resume) the recording study; returns its wall seconds in this call."""
    from rich.console import Console

    from medadapt.study.config import parse_config
    from medadapt.study.demo import build_demo_models, default_demo_cache
    from medadapt.study.runner import execute_study

    console = Console(stderr=True)
    general, medical = build_demo_models(default_demo_cache(), tiny=False, console=console)
    config = parse_config(study_config(data_dir, val_items, general, medical), source="bench", base=ROOT)
    start = time.perf_counter()
    execute_study(config, run_dir, console=console)
    return time.perf_counter() - start


def cells(run_dir: Path) -> list[dict[str, Any]]:
    """Per (model, task, setting): the candidates × items correctness matrix in validation order, and unit timings."""
    from medadapt.study.store import read_store

    view = read_store(run_dir)
    out = []
    for plan_path in sorted((run_dir / "store").glob("*/plan.json")):
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
        for entry in plan["entries"]:
            if not entry["candidates"]:
                continue
            records = [view.records(c["key"]) for c in entry["candidates"]]
            ids = sorted(records[0])
            matrix = np.array([[bool(r[i]["correct"]) for i in ids] for r in records])
            out.append({"model": plan["model"], "task": plan["task"], "setting": entry["setting"], "matrix": matrix})
    return out


def exhaustive_winner(matrix: np.ndarray) -> int:
    accuracies = matrix.mean(axis=1)
    return int(np.flatnonzero(accuracies == accuracies.max())[0])


def replay(matrix: np.ndarray, orders: int, schedule: RaceSchedule, seed: int = 0) -> dict[str, float]:
    """Race over random item orders; passes, agreement with the exhaustive winner, accuracy gap."""
    rng = np.random.default_rng(seed)
    n_candidates, n_items = matrix.shape
    accuracies = matrix.mean(axis=1)
    best = exhaustive_winner(matrix)
    passes, agree, gaps = [], 0, []
    for _ in range(orders):
        permuted = matrix[:, rng.permutation(n_items)]
        result = race(lambda c, a, b, m=permuted: m[c, a:b], n_candidates, n_items, schedule)
        passes.append(result.items_scored / result.exhaustive_items)
        agree += result.chosen == best
        gaps.append(accuracies[best] - accuracies[result.chosen])
    return {
        "candidates": n_candidates,
        "items": n_items,
        "passes": float(np.mean(passes)),
        "agreement": agree / orders,
        "max_gap": float(np.max(gaps)),
        "mean_gap": float(np.mean(gaps)),
        "spread": float(accuracies.max() - accuracies.min()),
    }


def table(rows: list[dict[str, Any]], seconds_per_prompt: float, schedule: RaceSchedule, orders: int) -> str:
    lines = [
        "| model | task | setting | candidates | items | spread | passes (race / exhaustive) | same winner | max gap (pts) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['task']} | {r['setting']} | {r['candidates']} | {r['items']} | "
            f"{100 * r['spread']:.1f} pts | {r['passes']:.3f} | {100 * r['agreement']:.1f}% | {100 * r['max_gap']:.2f} |"
        )
    total_ex = sum(r["candidates"] * r["items"] for r in rows)
    total_race = sum(r["passes"] * r["candidates"] * r["items"] for r in rows)
    cells_ok = sum(r["agreement"] >= 0.9 for r in rows)
    lines += [
        "",
        f"All cells: {total_race:,.0f} of {total_ex:,} forward passes (**{total_race / total_ex:.3f}** of exhaustive); "
        + (
            f"estimated wall time {total_race * seconds_per_prompt / 60:.1f} min vs "
            f"{total_ex * seconds_per_prompt / 60:.1f} min exhaustive ({seconds_per_prompt * 1000:.0f} ms per prompt "
            "measured in the recording run)."
            if seconds_per_prompt
            else "wall time not estimated (no timed recording in this run directory)."
        ),
        f"Cells whose race picks the exhaustive winner in ≥ 90% of {orders} item orders: {cells_ok} of {len(rows)}; "
        f"largest validation-accuracy gap of a chosen candidate: {100 * max(r['max_gap'] for r in rows):.2f} points.",
        f"Race: first block {schedule.first_block} items, growth {schedule.growth}, alpha {schedule.alpha} "
        f"(Bonferroni over every test).",
    ]
    return "\n".join(lines)


def write_benchmarks(body: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8")
    section = f"## selection\n\n{body}\n"
    pattern = re.compile(r"## selection\n.*?(?=\n## |\Z)", re.S)
    text = pattern.sub(section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "bench-selection")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--val-items", type=int, default=150)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--first-block", type=int, default=32)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--replay-only", action="store_true", help="replay what the run directory holds, record nothing")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no data at {args.data}: this benchmark needs ../shared/data")
    seconds = 0.0 if args.replay_only else record(args.run_dir, args.data, args.val_items)
    recorded = cells(args.run_dir)
    prompts = sum(c["matrix"].size for c in recorded)
    timings = json.loads((args.run_dir / "bench-timing.json").read_text()) if (args.run_dir / "bench-timing.json").is_file() else {}
    if prompts and seconds > 60:  # a fresh recording: its time per prompt is the figure to keep
        timings = {"seconds": seconds, "prompts": prompts}
        (args.run_dir / "bench-timing.json").write_text(json.dumps(timings))
    per_prompt = timings.get("seconds", 0.0) / max(1, timings.get("prompts", 1))
    schedule = RaceSchedule(first_block=args.first_block, alpha=args.alpha, align=8)
    rows = [{**{k: c[k] for k in ("model", "task", "setting")}, **replay(c["matrix"], args.orders, schedule)} for c in recorded]
    body = (
        f"`python bench/selection.py --val-items {args.val_items} --orders {args.orders}` on {platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} cores; SmolLM2-135M-Instruct (fp32) and the demo's medical copy, constrained "
        "decoding, real validation items from ../shared/data.\n\n" + table(rows, per_prompt, schedule, args.orders)
    )
    print(body)
    if not args.no_write:
        write_benchmarks(body)


if __name__ == "__main__":
    main()
