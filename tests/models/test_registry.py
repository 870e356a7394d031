"""The registry as data: the study's checkpoints, the pairs, chat-template patches, local paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from medadapt.models.registry import (
    PAIRS,
    ModelSpec,
    chat_template_patch,
    get_model,
    list_models,
    spec_from_path,
    study_chat_templates,
)


def test_the_study_checkpoints_and_smollm2_are_registered() -> None:
    names = list_models()
    study = [n for n in names if get_model(n).source == "builtin" and n != "smollm2-135m-instruct"]
    assert len(study) == 24
    assert len(list_models("medical")) == 12  # ten LLMs, two VLMs
    assert get_model("smollm2-135m-instruct").materializer == "smollm2"
    assert get_model("biomistral-7b").prompt_style == "biomistral"
    assert get_model("med-flamingo-9b").adapter == "flamingo"
    assert "<|eot_id|>" in get_model("openbiollm-8b").stop


def test_pairs_are_general_to_medical() -> None:
    pairs = {(p.general, p.medical) for p in PAIRS}
    assert ("mistral-7b-instruct-v0.1", "biomistral-7b") in pairs
    assert ("open-flamingo-9b", "med-flamingo-9b") in pairs
    for pair in PAIRS:
        assert get_model(pair.general).role == "general"
        assert get_model(pair.medical).role == "medical"


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(KeyError, match="biomistral-7b"):
        get_model("biomistral")


def test_overrides_are_validated() -> None:
    spec = get_model("llama-2-7b").with_overrides(hf_id_or_path="/data/llama2")
    assert spec.hf_id_or_path == "/data/llama2"
    with pytest.raises(TypeError, match="no field"):
        spec.with_overrides(not_a_field=1)


def test_spec_from_local_path(tiny_llama: Path) -> None:
    spec = spec_from_path(tiny_llama)
    assert (spec.adapter, spec.family, spec.context_length, spec.chat) == ("hf", "llama", 512, True)
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        spec_from_path(tiny_llama.parent)


def test_mistral_patch_renders_the_study_prompt(tiny_llama: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    template = chat_template_patch("mistral-v0.1", tokenizer.chat_template)
    conversation = [
        {"role": "user", "content": "Question: What is X?\n(A) alpha\n(B) beta"},
        {"role": "assistant", "content": ""},
    ]
    text = tokenizer.apply_chat_template(conversation, chat_template=template, tokenize=False)
    text = text[: text.rindex(tokenizer.eos_token)]
    assert text == "<s>[INST] Question: What is X?\n(A) alpha\n(B) beta [/INST] "


def test_llama2_patch_applies_only_when_missing() -> None:
    assert chat_template_patch("llama2-if-missing", "mine") == "mine"
    assert "[INST]" in str(chat_template_patch("llama2-if-missing", None))
    with pytest.raises(KeyError, match="unknown"):
        chat_template_patch("nope", None)


def test_modelspec_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError):
        ModelSpec(name="x", hf_id_or_path="y", colour="red")  # type: ignore[call-arg]


def test_every_chat_template_patch_resolves_to_the_one_copy_of_the_study_templates() -> None:
    """Registry patch names (models.yaml) resolve into data/chat_templates.yaml, the templates' only home."""
    templates = study_chat_templates()
    patches = {get_model(name).chat_template_patch for name in list_models()} - {None}
    assert patches >= {"llama2-if-missing", "llama3-if-missing", "mistral-v0.1"}
    for patch in patches:
        assert chat_template_patch(patch, None) in templates.values(), patch
    # "always" replaces the tokenizer's own template, "missing" keeps it
    assert chat_template_patch("mistral-v0.1", "{{ 'own' }}") == templates["mistral-v0.1"]
    assert chat_template_patch("llama3-if-missing", "{{ 'own' }}") == "{{ 'own' }}"
