"""What a study will cost before it runs: prompts and tokens per model × task × phase, and the time at a throughput.

Prompt counts are exact (they follow the candidate grid, the settings, the decodings, the item limits and medopt).
Token counts render each candidate's prompts on a sample of items and scale by the item counts; the tokenizer is the
model's own when its checkpoint is a local directory, else a characters-per-token estimate (said in the table).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from medadapt.study.candidates import PromptChoice
from medadapt.study.config import ModelRef, StudyConfig
from medadapt.study.model_identity import resolve_spec
from medadapt.study.model_job import (
    ShotPicker,
    is_chat,
    prompt_grid,
    prompt_style_of,
    skip_reason,
    system_prompt_for,
)
from medadapt.study.study_plan import counterparts_of
from medadapt.study.task_data import TaskSplits, load_study_task

CHARS_PER_TOKEN = 4.0  # English medical text with a Llama-family BPE tokenizer: about 4 characters a token
SAMPLE_ITEMS = 8


@dataclass(frozen=True)
class PhaseCost:
    """Prompts and tokens one model scores on one task in one phase; `racing_*` is a race's best case."""

    model: str
    task: str
    phase: str
    prompts: int
    tokens: int
    racing_prompts: int
    racing_tokens: int
    tokens_exact: bool


def _tokenizer(spec: Any) -> Any | None:
    """The model's tokenizer when its checkpoint is a local directory (never a hub download), else None."""
    path = Path(str(spec.hf_id_or_path)).expanduser()
    if not path.is_dir():
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


class TokenCounter:
    """Mean prompt length in tokens of a candidate on sample items (model tokenizer, or characters / 4)."""

    def __init__(self, tokenizer: Any | None, chat: bool) -> None:
        self.tokenizer = tokenizer
        self.chat_template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
        if chat and self.chat_template is None:
            from medadapt.models.testing import CHATML_TEMPLATE

            self.chat_template = CHATML_TEMPLATE  # a stand-in template: about the turn markup a chat model adds

    @property
    def exact(self) -> bool:
        return self.tokenizer is not None

    def mean_tokens(self, choice: PromptChoice, examples: Sequence[Any], picker: ShotPicker, compat: bool) -> float:
        from medadapt.prompts import PromptFormat, build_prompt

        fmt: Any = PromptFormat.from_dict(choice.format) if choice.format is not None else choice.style
        shots_for = picker.for_seed(choice.shot_seed)
        lengths = []
        for example in examples[:SAMPLE_ITEMS]:
            prompt = build_prompt(
                example, fmt=fmt, shots=shots_for(example), system_prompt=choice.system_prompt,
                chat_template=self.chat_template if choice.chat else None, study_bugs=compat,
            )
            lengths.append(self._count(prompt.text))
        return statistics.fmean(lengths) if lengths else 0.0

    def _count(self, text: str) -> float:
        if self.tokenizer is None:
            return len(text) / CHARS_PER_TOKEN
        return float(len(self.tokenizer(text, add_special_tokens=False)["input_ids"]))


def estimate_costs(config: StudyConfig) -> list[PhaseCost]:
    """Every model × task × phase (selection, test, fine-tuning) of the study, in plan order."""
    splits = {task: load_study_task(config, task) for task in config.tasks}
    medical = {p.medical.label for p in config.pairs}
    rows: list[PhaseCost] = []
    for ref in config.models():
        spec = resolve_spec(ref)
        counter = TokenCounter(_tokenizer(spec), is_chat(spec))
        n_counterparts = 0 if ref.label in medical or not config.medopt else len(counterparts_of(config, ref))
        for task in config.tasks:
            if skip_reason(spec, task) is None:
                rows += _model_task_costs(config, ref, spec, splits[task], counter, n_counterparts)
    return rows


def _model_task_costs(
    config: StudyConfig, ref: ModelRef, spec: Any, splits: TaskSplits, counter: TokenCounter, n_counterparts: int
) -> list[PhaseCost]:
    selection = config.prompt_selection
    n_val, n_test = len(splits.val), len(splits.test)
    totals = {"selection": [0, 0.0, 0, 0.0], "test": [0, 0.0, 0, 0.0]}
    for setting in config.settings:
        if not setting.applies_to(splits.task):
            continue
        picker = ShotPicker(splits.train, setting.shots, selection.shot_method)
        grid = prompt_grid(selection, spec, splits.task, setting.shots)
        lengths = [counter.mean_tokens(c, splits.val or splits.test, picker, config.study_compat) for c in grid]
        test_length = counter.mean_tokens(grid[0], splits.test, picker, config.study_compat)
        for _decoding in config.decodings:
            if len(grid) > 1:
                race_items = _race_best_case(len(grid), n_val, config)
                totals["selection"][0] += len(grid) * n_val
                totals["selection"][1] += sum(lengths) * n_val
                totals["selection"][2] += race_items
                totals["selection"][3] += statistics.fmean(lengths) * race_items
            test_prompts = n_test * (1 + n_counterparts)
            for index in (0, 2):
                totals["test"][index] += test_prompts
                totals["test"][index + 1] += test_length * test_prompts
    rows = [
        PhaseCost(ref.label, splits.task, phase, p, round(t), rp, round(rt), counter.exact)
        for phase, (p, t, rp, rt) in totals.items()
        if p
    ]
    if config.finetune.enabled and splits.task in (config.finetune.tasks or config.tasks):
        rows.append(_finetune_cost(config, ref, splits, counter, n_test))
    return rows


def _race_best_case(n_candidates: int, n_val: int, config: StudyConfig) -> int:
    """Fewest prompts a race can score: every candidate on the first block, then the winner alone on the rest."""
    first = min(n_val, config.prompt_selection.race.first_block)
    return n_candidates * first + (n_val - first)


def _finetune_cost(config: StudyConfig, ref: ModelRef, splits: TaskSplits, counter: TokenCounter, n_test: int) -> PhaseCost:
    """Training forward+backward passes over train (and a validation pass) per epoch and trial, then test."""
    ft = config.finetune
    train = splits.train[: ft.max_train_items] if ft.max_train_items else splits.train
    trials = len(ft.ranks) * len(ft.learning_rates)
    choice = PromptChoice(style="default", system_prompt=None, shot_seed=None)
    picker = ShotPicker(splits.train, 0, "random")
    length = counter.mean_tokens(choice, train or splits.test, picker, config.study_compat)
    passes = trials * ft.max_epochs * (len(train) + len(splits.val)) + n_test * len(ft.decodings)
    return PhaseCost(ref.label, splits.task, "fine-tuning", passes, round(length * passes), passes,
                     round(length * passes), counter.exact)


def probe_tokens_per_second(config: StudyConfig, n_prompts: int = 16) -> float:
    """Prompt tokens per second of the study's first model scoring real prompts of its first task on this machine."""
    from medadapt.models import ModelInput, load_adapter

    ref = config.models()[0]
    spec = resolve_spec(ref)
    splits = load_study_task(config, config.tasks[0])
    adapter = load_adapter(spec)
    try:
        from medadapt.decoding import option_token_ids
        from medadapt.prompts import build_prompt

        template = getattr(adapter.capabilities, "chat_template", None) if is_chat(spec) else None
        examples = (splits.val + splits.test)[:n_prompts]
        prompts = [
            build_prompt(ex, fmt=prompt_style_of(spec), system_prompt=system_prompt_for(spec, splits.task),
                         chat_template=template)
            for ex in examples
        ]
        tokens = [option_token_ids(adapter.tokenizer, list(ex.letters)) for ex in examples]
        inputs = [ModelInput(text=p.text, images=tuple(p.images)) for p in prompts]
        adapter.score_options(inputs[:2], tokens[:2])  # warm-up
        start = time.perf_counter()
        adapter.score_options(inputs, tokens)
        elapsed = time.perf_counter() - start
        n_tokens = sum(len(adapter.tokenizer(p.text)["input_ids"]) for p in prompts)
    finally:
        close = getattr(adapter, "close", None)
        if close is not None:
            close()
    return n_tokens / elapsed


def cost_rows(costs: Sequence[PhaseCost], tokens_per_second: float | None) -> list[dict[str, Any]]:
    """Rows for printing/JSON, with hours at the throughput when one is given."""
    rows = []
    for cost in costs:
        row = asdict(cost)
        if tokens_per_second:
            row["hours"] = cost.tokens / tokens_per_second / 3600
            row["racing_hours"] = cost.racing_tokens / tokens_per_second / 3600
        rows.append(row)
    return rows

