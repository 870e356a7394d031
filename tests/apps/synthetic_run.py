"""A synthetic run directory (config, shard plans, predictions) for testing aggregation and the report alone."""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from medadapt.study.config import parse_config
from medadapt.study.run_dir import STUDY_FILE, shard_name
from medadapt.study.shard_plan import parse_plan, write_shard_plan
from medadapt.study.store import ShardWriter

PAIRS = [("gen-a", "med-a"), ("gen-b", "med-b")]
TASKS = ["task-x", "task-y"]
N_ITEMS = 40


def make_synthetic_run(
    run_dir: Path,
    seed: int = 0,
    pairs: list[tuple[str, str]] = PAIRS,
    group: str | None = None,
    statistics: dict[str, object] | None = None,
) -> Path:
    """Two pairs × two tasks × zero-shot × constrained, with medopt; the medical models are a bit better on task-x.
    `group` puts every item in one subject (one cluster); `statistics` overrides the statistics section."""
    rng = random.Random(seed)
    data = {
        "name": "synthetic",
        "data_dir": str(run_dir),
        "pairs": [{"general": g, "medical": m} for g, m in pairs],
        "tasks": TASKS,
        "settings": ["zero-shot"],
        "decodings": ["constrained"],
        "prompt_selection": {"mode": "model-specific", "n_formats": 2},
        "statistics": {"n_resamples": 1000, **(statistics or {})},
    }
    config = parse_config(data, source="synthetic", base=run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / STUDY_FILE).write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    medical_of = dict(pairs)
    for ref in config.models():
        medical = ref.label in medical_of.values()
        for task in TASKS:
            shard = shard_name(ref.label, task)
            p_correct = 0.75 if medical and task == "task-x" else 0.5
            entries = []
            with ShardWriter(run_dir, shard) as writer:
                roles = [("own", None)] + ([] if medical else [("medopt", medical_of[ref.label])])
                for role, counterpart in roles:
                    key = f"{ref.label}-{task}-{role}"
                    writer.add_unit(key, {"synthetic": key})
                    records = [
                        {"key": key, "id": f"q{i:03d}", "correct": rng.random() < p_correct, "pred": "A", "gold": "A",
                         "prompt": "h0", "status": "ok", "logprobs": [-0.1, -2.0], "group": group}
                        for i in range(N_ITEMS)
                    ]
                    writer.add_batch([{"hash": "h0", "text": "Q?", "images": []}], records)
                    candidates = [
                        {"label": label, "key": f"{key}-val-{label}", "val_accuracy": rng.random()}
                        for label in ("default", "format 0", "format 1")
                    ] if role == "own" else []
                    entries.append({"setting": "zero-shot", "shots": 0, "decoding": "constrained", "role": role,
                                    "counterpart": counterpart, "key": key, "choice": {}, "choice_label": "default",
                                    "candidates": candidates})
            plan = {"model": ref.label, "task": task, "role": "own", "entries": entries, "carved": [], "filtered": {},
                    "n_test": N_ITEMS, "n_val": 0, "n_train": 0}
            write_shard_plan(run_dir, shard, parse_plan(plan))
    return run_dir
