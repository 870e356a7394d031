"""The prompt's BOS decision reaches the model: study mode's double BOS (bug 7) in its input ids, else one BOS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from medadapt.models import load_adapter
from medadapt.models.registry import spec_from_path
from medadapt.models.testing import build_tiny_causal_lm
from medadapt.prompts import QAExample
from medadapt.study.candidates import PromptChoice
from medadapt.study.engine import OptionTokenCache, PromptBuilder, UnitSpec, run_unit
from medadapt.study.store import ShardWriter

QUESTION = QAExample("q1", "mmlu_anatomy", "test", "Which organ pumps blood?", ("heart", "liver"), "A")


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A tiny Llama whose tokenizer adds BOS, with the study's Mistral template (it writes BOS into the text)."""
    path = build_tiny_causal_lm(tmp_path_factory.mktemp("bos") / "llama")
    spec = spec_from_path(path).with_overrides(chat=True, chat_template_patch="mistral-v0.1")
    return load_adapter(spec, batch_size=1)


def _input_ids_seen(adapter: Any, study_compat: bool, run_dir: Path) -> list[list[int]]:
    """The input ids of every forward pass while the engine scores one question."""
    seen: list[list[int]] = []

    def record(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        seen.append(kwargs["input_ids"][0].tolist())

    unit = UnitSpec(
        model={"name": "tiny"},
        task=QUESTION.task,
        split="test",
        shots=0,
        decoding="constrained",
        prompt=PromptChoice(style="chat", chat=True),
        prompt_model="tiny",
        option_policy="study",
        extraction="study",
        max_new_tokens=1,
        study_compat=study_compat,
    )
    hook = adapter.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        with ShardWriter(run_dir, "shard") as writer:
            run_unit(
                adapter,
                unit,
                [QUESTION],
                lambda _example: [],
                writer,
                batch_size=1,
                builder=PromptBuilder(adapter, study_compat),
                option_tokens=OptionTokenCache(adapter.tokenizer, "study"),
            )
    finally:
        hook.remove()
    return seen


@pytest.mark.parametrize(("study_compat", "n_bos"), [(True, 2), (False, 1)])
def test_the_prompts_bos_decision_reaches_the_input_ids(
    adapter: Any, tmp_path: Path, study_compat: bool, n_bos: int
) -> None:
    bos = adapter.tokenizer.bos_token_id
    [ids] = _input_ids_seen(adapter, study_compat, tmp_path)
    assert ids[:n_bos] == [bos] * n_bos and ids[n_bos] != bos
