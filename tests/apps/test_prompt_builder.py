"""The study's PromptBuilder on real tiny adapters: medopt across chat/non-chat models, VLM grammar candidates."""

from __future__ import annotations

from pathlib import Path

import pytest

from medadapt.models import ModelInput, ModelSpec, load_adapter
from medadapt.models.registry import study_chat_templates
from medadapt.models.testing import build_tiny_causal_lm, build_tiny_llava
from medadapt.prompts import QAExample, build_prompt, sample_format
from medadapt.study.candidates import PromptChoice
from medadapt.study.engine import OptionTokenCache, PromptBuilder
from medadapt.study.errors import StudyError

EXAMPLE = QAExample("q1", "medqa", "test", "What is X?", ("alpha", "beta"), "B")
SHOT = QAExample("s1", "medqa", "train", "Which one?", ("one", "two"), "A")


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base model's stand-in: its tokenizer has no chat template (as Llama-2-70B's)."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("base") / "m", chat_template=False)


def test_medopt_renders_a_chat_medical_prompt_on_a_model_without_chat_template(
    base_dir: Path, tmp_path: Path
) -> None:
    medical = load_adapter(ModelSpec(name="camel-tiny", hf_id_or_path=str(build_tiny_causal_lm(tmp_path / "med")),
                                     family="llama-2", chat=True, prompt_style="chat"))
    general = load_adapter(ModelSpec(name="llama-2-tiny", hf_id_or_path=str(base_dir), family="llama-2"))
    assert general.capabilities.chat_template is None
    assert medical.capabilities.chat_template is not None
    # The medical model's own choice (a chat prompt), as medopt hands it to the general model.
    choice = PromptChoice(style="chat", chat=True, system_prompt="SYS", shot_seed=0)
    prompt = PromptBuilder(general, study_compat=True).build(EXAMPLE, choice, [SHOT])
    # The study installed the Llama-2 chat template on Llama-2-70B for ClinicalCamel's prompts.
    expected = build_prompt(
        EXAMPLE, fmt="chat", shots=[SHOT], system_prompt="SYS", chat_template=study_chat_templates()["llama2"],
        special_tokens=general.capabilities.special_tokens, study_bugs=True,
    )
    assert prompt.text == expected.text
    assert prompt.text.startswith("<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nQuestion: Which one?")
    assert prompt.text.endswith("Question: What is X?\n(A) alpha\n(B) beta [/INST]  ")
    # ... and the general model scores it.
    tokens = OptionTokenCache(general.tokenizer, "variants").get(EXAMPLE.letters, prompt.text)
    result = general.score_options([ModelInput(text=prompt.text)], [tokens])
    assert result.status == ["ok"]


def test_medopt_on_a_family_without_a_study_template_is_a_clear_error(base_dir: Path) -> None:
    general = load_adapter(ModelSpec(name="qwen-tiny", hf_id_or_path=str(base_dir), family="qwen2"))
    choice = PromptChoice(style="chat", chat=True, system_prompt="SYS")
    with pytest.raises(StudyError, match=r"qwen-tiny \(family 'qwen2'\) has no chat template"):
        PromptBuilder(general, study_compat=False).build(EXAMPLE, choice, [])


def test_medopt_outside_the_studys_families_uses_the_medical_models_template(base_dir: Path) -> None:
    """The medical model's own choice records its template (plan data), which a template-less model borrows."""
    from medadapt.study.candidates import candidate_grid
    from medadapt.study.config import PromptSelection

    medical_template = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    grid = candidate_grid(PromptSelection(), style="chat", system_prompt="SYS", shots=0, formats=[],
                          chat=True, chat_template=medical_template)
    choice = PromptChoice.from_data(grid[0].as_data())  # through the medical model's shard plan
    assert choice.chat_template == medical_template
    general = load_adapter(ModelSpec(name="qwen-tiny", hf_id_or_path=str(base_dir), family="qwen2"))
    prompt = PromptBuilder(general, study_compat=False).build(EXAMPLE, choice, [])
    assert prompt.text == "<|system|>SYS</s><|user|>Question: What is X?\n(A) alpha\n(B) beta</s><|assistant|>"
    non_chat = candidate_grid(PromptSelection(), style="default", system_prompt=None, shots=0, formats=[],
                              chat_template=medical_template)
    assert non_chat[0].chat_template is None and "chat_template" not in non_chat[0].as_data()


def test_vlm_grammar_candidates_keep_the_llava_layout(tmp_path: Path) -> None:
    from PIL import Image

    image = tmp_path / "x.png"
    Image.new("RGB", (40, 40), "white").save(image)
    example = QAExample("v1", "vqa-rad", "test", "Is it X?", ("yes", "no"), "A", images=(str(image),))
    adapter = load_adapter(ModelSpec(name="llava-tiny", hf_id_or_path=str(build_tiny_llava(tmp_path / "llava")),
                                     family="llava", adapter="llava", prompt_style="llava-v0"))
    fmt = sample_format(0)
    choice = PromptChoice(style="llava-v0", format_seed=0, format=fmt.to_dict(), system_prompt="SYS")
    prompt = PromptBuilder(adapter, study_compat=False).build(example, choice, [])
    assert prompt.text.startswith("SYS\n\n### Human: QUESTION - Is it X?")
    assert prompt.text.endswith("\n### Assistant: THE ANSWER IS - ")
    assert prompt.text.count("<im_start>") == 1
    assert prompt.images == (str(image),)
    flamingo = PromptChoice(style="med-flamingo", format_seed=0, format=fmt.to_dict(), system_prompt="SYS")
    text = PromptBuilder(adapter, study_compat=False).build(example, flamingo, []).text
    assert text.startswith("SYS\n<image>QUESTION - Is it X?")


def test_a_study_pairs_a_base_model_without_chat_template_with_a_chat_medical_model(
    base_dir: Path, tmp_path: Path
) -> None:
    """The paper's Llama-2-70B ← ClinicalCamel-70B shape, run through the study: medopt renders the medical model's
    chat prompts on the general model instead of stopping the study."""
    import json

    from rich.console import Console

    from medadapt.study.config import parse_config
    from medadapt.study.demo import packaged_path
    from medadapt.study.runner import execute_study

    medical = build_tiny_causal_lm(tmp_path / "chat-medical", seed=1)
    data = {
        "name": "base-vs-chat",
        "data_dir": str(packaged_path("demo_data")),
        "pairs": [{"general": {"name": "base", "path": str(base_dir)}, "medical": {"name": "chat", "path": str(medical)}}],
        "tasks": ["mmlu_anatomy"],
        "settings": ["zero-shot", {"name": "3-shot", "shots": 3}],
        "decodings": ["constrained"],
        "prompt_selection": {"mode": "model-specific", "n_formats": 1, "n_shot_seeds": 1, "max_val_items": 4},
        "medopt": True,
        "statistics": {"n_resamples": 100},
        "limits": {"max_test_items": 4, "batch_size": 4},
    }
    config = parse_config(data, source="test", base=tmp_path)
    run = execute_study(config, tmp_path / "run", console=Console(quiet=True))
    store = run / "store"
    plan = json.loads((store / "base--mmlu_anatomy" / "plan.json").read_text())
    medopt = [e for e in plan["entries"] if e["role"] == "medopt"]
    assert len(medopt) == 2 and all(e["choice"]["chat"] for e in medopt)
    texts = [json.loads(line)["text"] for line in (store / "base--mmlu_anatomy" / "prompts.jsonl").read_text().splitlines()]
    own_texts = [json.loads(line)["text"] for line in (store / "chat--mmlu_anatomy" / "prompts.jsonl").read_text().splitlines()]
    borrowed = [t for t in texts if "<|im_start|>user" in t]
    # Both tiny tokenizers are the same, so the general model sees exactly the medical model's chosen prompts.
    assert borrowed and set(borrowed) <= set(own_texts)
