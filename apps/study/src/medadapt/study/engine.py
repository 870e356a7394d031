"""Runs one unit (model × task × split × prompt × decoding) on a loaded adapter, streaming records to its shard."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medadapt.study.candidates import PromptChoice
from medadapt.study.errors import StudyError
from medadapt.study.prediction_cache import PredictionCache, entry_id
from medadapt.study.run_key import run_key, scoring_path_versions
from medadapt.study.store import ShardWriter

if TYPE_CHECKING:  # engines and prompts load where units run, not with the app
    from medadapt.decoding import OptionTokens
    from medadapt.models import Adapter, ModelInput
    from medadapt.prompts import Prompt, QAExample

ShotsFor = Callable[["QAExample"], Sequence["QAExample"]]
"""The few-shot demonstrations of a query."""

LOGPROB_DIGITS = 6


@dataclass(frozen=True)
class UnitSpec:
    """Everything that determines a unit's predictions (its descriptor is hashed into the run key)."""

    model: dict[str, Any]
    task: str
    split: str
    shots: int
    decoding: str
    prompt: PromptChoice
    prompt_model: str
    option_policy: str
    extraction: str
    max_new_tokens: int
    study_compat: bool
    shot_method: str = "random"
    knn_embedder: str | None = None

    def descriptor(self) -> dict[str, Any]:
        """The unit as data; `run_key(descriptor)` is its key (the kNN embedder only when it chose the demos, so
        the keys of random-shot units are those of earlier releases)."""
        knn = {"knn_embedder": self.knn_embedder} if self.shot_method == "knn" and self.shots > 0 else {}
        return {
            **knn,
            "model": self.model,
            "task": self.task,
            "split": self.split,
            "shots": self.shots,
            "shot_method": self.shot_method,
            "decoding": self.decoding,
            "prompt": self.prompt.as_data(),
            "prompt_model": self.prompt_model,
            "option_policy": self.option_policy if self.decoding == "constrained" else None,
            "extraction": self.extraction if self.decoding == "greedy" else None,
            "max_new_tokens": self.max_new_tokens if self.decoding == "greedy" else None,
            "study_compat": self.study_compat,
            "versions": scoring_path_versions(),
        }

    @property
    def key(self) -> str:
        return run_key(self.descriptor())


class PromptBuilder:
    """Renders a unit's prompts with medadapt-prompts for one adapter (chat template and special tokens)."""

    def __init__(self, adapter: Adapter, study_compat: bool) -> None:
        caps = adapter.capabilities
        self.chat_template = getattr(caps, "chat_template", None)
        self.special_tokens = dict(getattr(caps, "special_tokens", {}) or {})
        self.study_compat = study_compat
        spec = getattr(adapter, "spec", None)
        self.family = getattr(spec, "family", None)
        self.model_name = str(getattr(spec, "name", "the model"))

    def _chat_template(self, choice: PromptChoice) -> str | None:
        """The template for a chat choice: this model's own; for medopt of a chat model's prompt on a model without
        one, the study's template of its family, else the template the prompt's model used."""
        if not choice.chat:
            return None
        from medadapt.models.registry import family_chat_template
        from medadapt.prompts import borrowed_chat_template

        try:
            return borrowed_chat_template(
                self.chat_template, family_chat_template(self.family), family=self.family, model=self.model_name,
                lender=choice.chat_template,
            )
        except ValueError as error:
            raise StudyError(str(error)) from None

    def build(self, example: QAExample, choice: PromptChoice, shots: Sequence[QAExample]) -> Prompt:
        from medadapt.prompts import PROMPT_STYLES, PromptFormat, build_prompt

        fmt: Any = PromptFormat.from_dict(choice.format) if choice.format is not None else choice.style
        # A grammar format of a VLM keeps its style's conversation layout and image blocks (LLaVA, Flamingo).
        style = PROMPT_STYLES.get(choice.style)
        vlm = choice.format is not None and style is not None and style.assembly in ("llava", "flamingo")
        # Chat formatting follows the prompt's model (for medopt: the medical model's), the template this model's.
        return build_prompt(
            example,
            fmt=fmt,
            shots=shots,
            system_prompt=choice.system_prompt,
            chat_template=self._chat_template(choice),
            special_tokens=self.special_tokens,
            study_bugs=self.study_compat,
            vlm_style=choice.style if vlm else None,
        )


def _model_input(prompt: Prompt) -> ModelInput:
    """The prompt as the adapter's input, with the prompt's BOS decision (study mode's double BOS, bug 7)."""
    from medadapt.models import ModelInput

    return ModelInput(
        text=prompt.text, images=tuple(prompt.images), add_special_tokens=prompt.add_special_tokens
    )


def _round(values: Any) -> list[float | None]:
    return [round(float(v), LOGPROB_DIGITS) if math.isfinite(float(v)) else None for v in values]


class OptionTokenCache:
    """Option token ids per (letters, prompt tail): prompts of one format end alike, so this is computed rarely."""

    TAIL = 32

    def __init__(self, tokenizer: Any, policy: str) -> None:
        self.tokenizer = tokenizer
        self.policy = policy
        self._cache: dict[tuple[tuple[str, ...], str], OptionTokens] = {}

    def get(self, letters: Sequence[str], prompt_text: str) -> OptionTokens:
        from medadapt.decoding import option_token_ids

        key = (tuple(letters), prompt_text[-self.TAIL :])
        if key not in self._cache:
            self._cache[key] = option_token_ids(self.tokenizer, list(letters), prompt_tail=key[1], policy=self.policy)
        return self._cache[key]


def run_unit(
    adapter: Adapter,
    unit: UnitSpec,
    examples: Sequence[QAExample],
    shots_for: ShotsFor,
    writer: ShardWriter,
    *,
    batch_size: int,
    builder: PromptBuilder,
    option_tokens: OptionTokenCache,
    advance: Callable[[int], None] = lambda n: None,
    cache_root: Path | None = None,
) -> str:
    """Score or generate every example not yet stored under the unit's key; return the key.

    Batches are fixed slices of `examples`, so a resumed unit recomputes exactly the batches it had not finished,
    with the same batch composition (and so the same numbers) as an uninterrupted run. With `cache_root`, a batch
    whose every item is in the shared prediction cache is copied from it instead of being scored.
    """
    key = unit.key
    writer.add_unit(key, unit.descriptor())
    done = writer.done_ids(key)
    cache = PredictionCache(cache_root, key) if cache_root is not None else None
    for start in range(0, len(examples), batch_size):
        batch = list(examples[start : start + batch_size])
        if all(ex.id in done for ex in batch):
            if writer.lacks_prompts(key, [ex.id for ex in batch]):
                prompts = [builder.build(ex, unit.prompt, shots_for(ex)) for ex in batch]
                writer.add_batch([prompt_record(p) for p in prompts], [])
            advance(len(batch))
            continue
        prompts = [builder.build(ex, unit.prompt, shots_for(ex)) for ex in batch]
        records = _from_cache(cache, key, batch, prompts)
        if records is None:
            records = compute_records(adapter, unit, [key] * len(batch), batch, prompts, option_tokens)
            if cache is not None:
                cache.put(cache_entries(batch, prompts), records)
        writer.add_batch([prompt_record(p) for p in prompts], records)
        advance(len(batch))
    return key


def prompt_record(prompt: Prompt) -> dict[str, Any]:
    """A rendered prompt as the store keeps it."""
    return {"hash": prompt.hash, "text": prompt.text, "images": list(prompt.images)}


def cache_entries(batch: Sequence[QAExample], prompts: Sequence[Prompt]) -> list[str]:
    """The prediction-cache entry of each item of a batch."""
    return [entry_id(p.hash, ex.letters, ex.answer) for ex, p in zip(batch, prompts, strict=True)]


def compute_records(
    adapter: Adapter,
    unit: UnitSpec,
    keys: Sequence[str],
    batch: Sequence[QAExample],
    prompts: Sequence[Prompt],
    option_tokens: OptionTokenCache,
) -> list[dict[str, Any]]:
    """Score or generate one batch (`keys[i]`: the run key row i is stored under; the rows may belong to several
    units that decode alike, e.g. packed validation units)."""
    if unit.decoding == "constrained":
        return _score_batch(adapter, keys, batch, prompts, option_tokens)
    return _generate_batch(adapter, keys, batch, prompts, unit)


def _from_cache(
    cache: PredictionCache | None, key: str, batch: list[QAExample], prompts: list[Prompt]
) -> list[dict[str, Any]] | None:
    """The batch's records rebuilt from the shared cache, or None unless every item is there."""
    if cache is None:
        return None
    outputs = [cache.get(e) for e in cache_entries(batch, prompts)]
    if any(o is None for o in outputs):
        return None
    return records_from_outputs([key] * len(batch), batch, prompts, outputs)


def records_from_outputs(
    keys: Sequence[str], batch: Sequence[QAExample], prompts: Sequence[Prompt],
    outputs: Sequence[dict[str, Any] | None],
) -> list[dict[str, Any]]:
    """Store records rebuilt from cached model outputs (each item's key, id, gold and group are this run's)."""
    return [
        _record(key, ex, p, o["pred"], o["status"], {k: o[k] for k in ("logprobs", "text") if k in o})
        for key, ex, p, o in zip(keys, batch, prompts, outputs, strict=True)
        if o is not None
    ]


def _record(
    key: str, example: QAExample, prompt: Prompt, pred: str | None, status: str, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "key": key,
        "id": example.id,
        "gold": example.answer,
        "pred": pred,
        "correct": pred is not None and pred == example.answer,
        "status": status,
        "prompt": prompt.hash,
        "group": example.group,
        **extra,
    }


def _score_batch(
    adapter: Adapter, keys: Sequence[str], batch: Sequence[QAExample], prompts: Sequence[Prompt],
    cache: OptionTokenCache,
) -> list[dict[str, Any]]:
    import numpy as np

    from medadapt.models.adapter_io import best_option

    tokens = [cache.get(ex.letters, p.text) for ex, p in zip(batch, prompts, strict=True)]
    result = adapter.score_options([_model_input(p) for p in prompts], tokens)
    logprobs = np.asarray(result.logprobs, dtype=np.float64)
    records = []
    for row, (key, example, prompt) in enumerate(zip(keys, batch, prompts, strict=True)):
        status = result.status[row]
        n = len(example.options)
        values = logprobs[row, :n]
        choice = best_option(values) if status == "ok" else None
        pred = None if choice is None else example.letters[choice]
        records.append(_record(key, example, prompt, pred, status, {"logprobs": _round(values)}))
    return records


def _generate_batch(
    adapter: Adapter, keys: Sequence[str], batch: Sequence[QAExample], prompts: Sequence[Prompt], unit: UnitSpec
) -> list[dict[str, Any]]:
    from medadapt.decoding import extract_answer

    stop = list(prompts[0].stop) if prompts else []
    generations = adapter.generate([_model_input(p) for p in prompts], unit.max_new_tokens, stop)
    records = []
    for key, example, prompt, generation in zip(keys, batch, prompts, generations, strict=True):
        text = generation.text
        pred = None
        if generation.status == "ok":
            # Only the study's mode reads the gold answer (its text fallback); the strict default never sees it.
            gold = example.answer if unit.extraction == "study" else None
            pred = extract_answer(text, list(example.options), answer=gold, mode=unit.extraction)
        records.append(_record(key, example, prompt, pred, generation.status, {"text": text}))
    return records
