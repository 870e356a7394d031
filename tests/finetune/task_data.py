"""Real MMLU anatomy questions turned into supervised pairs (train / validation slices) for the sweep tests."""

from __future__ import annotations

from pathlib import Path

from medadapt.finetune.supervised import SupervisedPair

N_TRAIN, N_VAL = 48, 16


def anatomy_pairs(shared_data: Path) -> tuple[list[SupervisedPair], list[SupervisedPair]]:
    """TEMPORARY until medadapt.prompts lands load_task/build_training_example."""
    import csv

    with (shared_data / "mmlu" / "test" / "anatomy_test.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    pairs = []
    for i, (question, a, b, c, d, answer) in enumerate(rows[: N_TRAIN + N_VAL]):
        options = [a, b, c, d]
        lines = [f"Question: {question}"] + [f"({L}) {t}" for L, t in zip("ABCD", options, strict=True)]
        text = options["ABCD".index(answer)]
        pairs.append(SupervisedPair("\n".join(lines) + "\nAnswer:", f" ({answer}) {text}", example_id=f"anatomy-{i}"))
    return pairs[:N_TRAIN], pairs[N_TRAIN:]
