"""Real MMLU anatomy questions (via medadapt-prompts) as supervised pairs: fixed train / validation slices."""

from __future__ import annotations

from pathlib import Path

from medadapt.finetune.supervised import SupervisedPair
from medadapt.finetune.task_pairs import training_pairs

N_TRAIN, N_VAL = 48, 16


def anatomy_pairs(shared_data: Path, base: Path) -> tuple[list[SupervisedPair], list[SupervisedPair]]:
    """MMLU has no training split: the first 48 test questions train, the next 16 validate (fixed, no shuffle)."""
    from medadapt.prompts import load_task

    examples = load_task("mmlu_anatomy", shared_data, split="test").examples[: N_TRAIN + N_VAL]
    # The study's default (non-chat) zero-shot-ft template: '### Question: ...\n### Answer: ' → '(B) text</s>'.
    pairs = training_pairs(examples, base, fmt="default", use_chat_template=False)
    return pairs[:N_TRAIN], pairs[N_TRAIN:]
