"""Racing prompt selection against exhaustive selection, replayed on recorded per-item results of real models.

1. Record (once, resumable): real study runs (medadapt's own runner and store) of SmolLM2-135M-Instruct and the
   demo's medical copy on real validation data from ../shared/data, with exhaustive selection, constrained
   decoding, zero-shot (the default + 10 grammar formats = 11 candidates) and 3-shot (11 formats × 3 shot seeds =
   33 candidates); every candidate's per-item correctness is in the store. Two recordings: MedMCQA, PubMedQA and
   MMLU professional medicine with up to `--val-items` validation items, and MedMCQA alone with the paper's
   `--large-val-items` (500). Each model records in its own process (`--workers` at a time).
2. Replay: for each (model, task, setting) cell, race the candidates over `--orders` random item orders and compare
   with the exhaustive choice on the same items: forward passes (exact: one per candidate and item scored),
   whether the race picked the exhaustive winner, and the validation-accuracy gap when it did not. Wall time is
   the recording's measured seconds per prompt times the prompts each strategy scores.
Rewrites `## selection` in BENCHMARKS.md unless --no-write.
Run: python bench/selection.py [--run-dir DIR] [--val-items 150] [--large-val-items 500] [--orders 200]
     [--dtype bfloat16] [--batch-size 16] [--workers 2] [--no-write] [--replay-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medadapt.stats.racing import RaceSchedule, race

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("medmcqa", "pubmedqa", "mmlu_professional-medicine")
SETTINGS: list[Any] = ["zero-shot", {"name": "3-shot", "shots": 3}]


MODELS = ("smollm2-135m-instruct", "smollm2-135m-medical")


@dataclass(frozen=True)
class Recording:
    """One recording study: its tasks and validation size, in its own folder of the run directory."""

    folder: str
    tasks: tuple[str, ...]
    val_items: int
    title: str


def study_config(
    recording: Recording, data_dir: Path, general: Path, medical: Path, dtype: str, batch_size: int
) -> dict[str, Any]:
    """The recording study: exhaustive selection only (1 test item per task: the test phase is not measured)."""
    execution = {"dtype": dtype}
    return {
        "name": "bench-selection" + (f"-{recording.folder}" if recording.folder else ""),
        "data_dir": str(data_dir),
        "pairs": [
            {
                "general": {"name": MODELS[0], "path": str(general), "prompt_style": "chat", "execution": execution},
                "medical": {"name": MODELS[1], "path": str(medical), "prompt_style": "chat", "execution": execution},
            }
        ],
        "tasks": list(recording.tasks),
        "settings": SETTINGS,
        "decodings": ["constrained"],
        "prompt_selection": {
            "mode": "model-specific", "n_formats": 10, "n_shot_seeds": 3, "max_val_items": recording.val_items,
            "strategy": "exhaustive",
        },
        "medopt": False,
        "limits": {"max_test_items": 1, "batch_size": batch_size},
        "statistics": {"n_resamples": 200},
    }


def record_model(config_data: dict[str, Any], model: str, run_dir: Path, threads: int) -> None:
    """Run (or resume) the recording of one model in its own run directory; its wall seconds and prompts go to
    bench-timing.json there when this call recorded something."""
    import torch
    from rich.console import Console

    from medadapt.study.config import parse_config
    from medadapt.study.growth import Subset
    from medadapt.study.runner import execute_study

    torch.set_num_threads(threads)
    config = parse_config(config_data, source="bench", base=ROOT)
    before = prompts_in(run_dir)
    start = time.perf_counter()
    execute_study(config, run_dir, console=Console(stderr=True), only=Subset(models=(model,)))
    seconds, prompts = time.perf_counter() - start, prompts_in(run_dir) - before
    timing = run_dir / "bench-timing.json"
    old = json.loads(timing.read_text()) if timing.is_file() else {"seconds": 0.0, "prompts": 0}
    if prompts:
        timing.write_text(json.dumps({"seconds": old["seconds"] + seconds, "prompts": old["prompts"] + prompts}))


def record(
    recording: Recording, run_dir: Path, data_dir: Path, dtype: str, batch_size: int, workers: int
) -> None:
    """Record both models, each in run_dir/<model>, `workers` at a time (each process gets its share of the cores)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from rich.console import Console

    from medadapt.study.demo import build_demo_models, default_demo_cache

    general, medical = build_demo_models(default_demo_cache(), tiny=False, console=Console(stderr=True))
    config_data = study_config(recording, data_dir, general, medical, dtype, batch_size)
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        done = [pool.submit(record_model, config_data, m, run_dir / m, threads) for m in MODELS]
        for future in done:
            future.result()


def prompts_in(run_dir: Path) -> int:
    """Validation prompts the run directory's store holds (0 before the first run)."""
    return sum(c["matrix"].size for c in cells(run_dir)) if (run_dir / "store").is_dir() else 0


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


def separable(matrix: np.ndarray, best: int, level: float = 0.05) -> int:
    """Candidates an exact sign test on *all* items finds worse than the exhaustive winner (one-sided, uncorrected):
    an upper bound on what any sound race could drop, since it sees fewer items."""
    from scipy.stats import binom

    count = 0
    for other in range(matrix.shape[0]):
        leader_only = int(np.sum(matrix[best] & ~matrix[other]))
        other_only = int(np.sum(matrix[other] & ~matrix[best]))
        if other != best and binom.sf(leader_only - 1, leader_only + other_only, 0.5) < level:
            count += 1
    return count


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
    n_separable = separable(matrix, best)
    return {
        "separable": n_separable,
        # A race that keeps every candidate not separable from the winner scores those on every item; even if it
        # dropped all the others after the first block, it would score this share of the exhaustive prompts.
        "bound": ((n_candidates - n_separable) * n_items + n_separable * min(schedule.first_block, n_items))
        / (n_candidates * n_items),
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
        "| model | task | setting | candidates | items | spread | separable | passes (race / exhaustive) | bound "
        "| same winner | max gap (pts) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['task']} | {r['setting']} | {r['candidates']} | {r['items']} | "
            f"{100 * r['spread']:.1f} pts | {r['separable']} | {r['passes']:.3f} | {r['bound']:.3f} | {100 * r['agreement']:.1f}% | {100 * r['max_gap']:.2f} |"
        )
    total_ex = sum(r["candidates"] * r["items"] for r in rows)
    total_race = sum(r["passes"] * r["candidates"] * r["items"] for r in rows)
    total_bound = sum(r["bound"] * r["candidates"] * r["items"] for r in rows)
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
        f"Bound: a race that keeps every candidate an exact sign test on all items does not find worse than the "
        f"exhaustive winner (one-sided, p < 0.05, uncorrected: *separable*), and drops every other one after the "
        f"first block, scores **{total_bound / total_ex:.3f}** of the exhaustive prompts: a race that drops only "
        "candidates the items show to be worse cannot score much less on these records.",
        f"Race: first block {schedule.first_block} items, growth {schedule.growth}, alpha {schedule.alpha} "
        f"(Bonferroni over every test).",
    ]
    return "\n".join(lines)


SENSITIVITY = [(16, 0.05), (32, 0.2), (32, 0.5), (16, 0.5)]
"""(first_block, alpha) pairs replayed beside the default, to show what looser settings buy and cost."""


def sensitivity(recorded: list[dict[str, Any]], orders: int) -> str:
    """One line per looser schedule: passes of all cells, cells keeping the exhaustive winner in >= 90% of orders,
    largest accuracy gap."""
    lines = ["| first block | alpha | passes (race / exhaustive) | cells with the same winner in ≥ 90% | max gap (pts) |",
             "|---|---|---|---|---|"]
    total = sum(c["matrix"].size for c in recorded)
    for first_block, alpha in SENSITIVITY:
        schedule = RaceSchedule(first_block=first_block, alpha=alpha, align=8)
        rows = [replay(c["matrix"], orders, schedule) for c in recorded]
        used = sum(r["passes"] * c["matrix"].size for r, c in zip(rows, recorded, strict=True))
        kept = sum(r["agreement"] >= 0.9 for r in rows)
        lines.append(f"| {first_block} | {alpha} | {used / total:.3f} | {kept} of {len(rows)} | "
                     f"{100 * max(r['max_gap'] for r in rows):.2f} |")
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
    parser.add_argument("--large-val-items", type=int, default=500, help="MedMCQA alone at this size (0: skip)")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--first-block", type=int, default=32)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--dtype", default="float32", help="model dtype (bfloat16 is ~4x faster on CPUs with AMX)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=min(len(MODELS), os.cpu_count() or 1),
                        help="models recorded at once, each in its own process")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--replay-only", action="store_true", help="replay what the run directory holds, record nothing")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no data at {args.data}: this benchmark needs ../shared/data")
    recordings = [Recording("", TASKS, args.val_items, f"{len(TASKS)} tasks, up to {args.val_items} validation items")]
    if args.large_val_items:
        recordings.append(Recording(
            f"medmcqa-{args.large_val_items}", ("medmcqa",), args.large_val_items,
            f"MedMCQA with the paper's {args.large_val_items} validation items",
        ))
    schedule = RaceSchedule(first_block=args.first_block, alpha=args.alpha, align=8)
    parts = []
    for recording in recordings:
        run_dir = args.run_dir / recording.folder
        if not args.replay_only:
            record(recording, run_dir, args.data, args.dtype, args.batch_size, args.workers)
        model_dirs = [run_dir / m for m in MODELS if (run_dir / m / "store").is_dir()]
        recorded = [c for d in model_dirs for c in cells(d)]
        timings = [json.loads(t.read_text()) for d in model_dirs if (t := d / "bench-timing.json").is_file()]
        per_prompt = sum(t["seconds"] for t in timings) / max(1, sum(t["prompts"] for t in timings))
        rows = [
            {**{k: c[k] for k in ("model", "task", "setting")}, **replay(c["matrix"], args.orders, schedule)}
            for c in recorded
        ]
        if rows:
            parts.append(f"**{recording.title}**\n\n" + table(rows, per_prompt, schedule, args.orders)
                         + "\n\nLooser races on the same records:\n\n" + sensitivity(recorded, args.orders))
    body = (
        f"`python bench/selection.py --val-items {args.val_items} --large-val-items {args.large_val_items} "
        f"--orders {args.orders} --dtype {args.dtype} --batch-size {args.batch_size}` on "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; SmolLM2-135M-Instruct "
        f"({args.dtype}) and the demo's medical copy, constrained decoding, real validation items from "
        "../shared/data.\n\n" + "\n\n".join(parts)
    )
    print(body)
    if not args.no_write:
        write_benchmarks(body)


if __name__ == "__main__":
    main()
