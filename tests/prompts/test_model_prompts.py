"""Model-default styles (docs/protocol.md#model-default-prompt-styles), chat formatting, defects 5–7, SFT targets."""

from __future__ import annotations

import pytest

from medadapt.models.registry import study_chat_templates
from medadapt.prompts import (
    ChatTemplateError,
    QAExample,
    allows_system_prompts,
    apply_chat_template,
    build_prompt,
    build_training_example,
    default_system_prompt,
    get_prompt_style,
    prompt_hash,
    sample_format,
)

Q = QAExample("q1", "mmlu_anatomy", "test", "What is X?", ("alpha", "beta"), "B")
DEMO = QAExample("d1", "mmlu_anatomy", "train", "FSQ?", ("o1", "o2"), "B")
LLAMA3 = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}
LLAMA2 = {"bos_token": "<s>", "eos_token": "</s>"}
# The study's templates have one home, medadapt-models' registry data (prompts renders what a model brings).
_STUDY = study_chat_templates()
STUDY_CHAT_TEMPLATES = {
    "llama-2": _STUDY["llama2"],
    "llama-3": _STUDY["llama3"],
    "mistral": _STUDY["mistral-v0.1"],
}


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("default", "SYS\n\n### Question: What is X?\n(A) alpha\n(B) beta\n### Answer: "),
        ("meditron", "SYS\nQuestion: What is X?\n\nOptions:\nA. alpha\nB. beta\nThe answer is: "),
        ("biomedgpt", "SYS ### Human: What is X? (A) alpha (B) beta ### Assistant: "),
        ("biomistral", "SYS\n**Question:** What is X?\n(A) alpha\n(B) beta\n**Answer:** ("),
        ("med42-v1", "<|system|>: SYS\n<|prompter|>: What is X?\nA. alpha\nB. beta\n<|assistant|>: "),
    ],
)
def test_model_default_zero_shot(style: str, expected: str) -> None:
    prompt = build_prompt(Q, fmt=style, system_prompt="SYS")
    assert prompt.text == expected
    assert set(get_prompt_style(style).stop) <= set(prompt.stop)


@pytest.mark.parametrize(
    ("style", "demo_answer"),
    [
        ("default", "(B) o2\n\n"),
        ("meditron", "The answer is: B\n\n"),
        ("biomedgpt", "(B) o2 "),
        ("biomistral", "(B\n\n"),
        ("med42-v1", "B. o2\n\n"),
    ],
)
def test_model_default_demo_answers(style: str, demo_answer: str) -> None:
    text = build_prompt(Q, fmt=style, shots=[DEMO], system_prompt="SYS").text
    assert demo_answer in text


def test_chat_llama3_70b_instruct() -> None:
    prompt = build_prompt(
        Q,
        fmt="chat",
        system_prompt="SYS",
        chat_template=STUDY_CHAT_TEMPLATES["llama-3"],
        special_tokens=LLAMA3,
        study_bugs=True,
    )
    assert prompt.text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|><|start_header_id|>user"
        "<|end_header_id|>\n\nQuestion: What is X?\n(A) alpha\n(B) beta<|eot_id|><|start_header_id|>assistant"
        "<|end_header_id|>\n\n"
    )
    assert "<|eot_id|>" in prompt.stop and "Question:" in prompt.stop
    assert prompt.add_special_tokens is True  # as the study tokenised it: a second BOS on top (bug 7)


def test_chat_llama3_8b_instruct_with_default_style_reproduces_bug_6() -> None:
    text = build_prompt(
        Q,
        fmt="default",
        system_prompt="SYS",
        chat_template=STUDY_CHAT_TEMPLATES["llama-3"],
        special_tokens=LLAMA3,
        study_bugs=True,
    ).text
    assert text.endswith(
        "user<|end_header_id|>\n\n### Question: What is X?\n(A) alpha\n(B) beta<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n### Answer:"
    )


def test_chat_llama2() -> None:
    text = build_prompt(
        Q,
        fmt="chat",
        system_prompt="SYS",
        chat_template=STUDY_CHAT_TEMPLATES["llama-2"],
        special_tokens=LLAMA2,
        study_bugs=True,
    ).text
    assert text == "<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nQuestion: What is X?\n(A) alpha\n(B) beta [/INST]  "


def test_mistral_bug_5_and_its_fix() -> None:
    template = STUDY_CHAT_TEMPLATES["mistral"]
    assert not allows_system_prompts(template, LLAMA2)
    study = build_prompt(
        Q, fmt="chat", system_prompt="SYS", chat_template=template, special_tokens=LLAMA2, study_bugs=True
    )
    assert (
        study.text == "<s>[INST] Question: What is X?\n(A) alpha\n(B) beta [/INST] "
    )  # system prompt dropped
    study_few = build_prompt(
        Q,
        fmt="chat",
        shots=[DEMO],
        system_prompt="SYS",
        chat_template=template,
        special_tokens=LLAMA2,
        study_bugs=True,
    )
    assert study_few.text.startswith(
        "<s>[INST] SYS\nFSQ? [/INST] (B) o2</s>"
    )  # raw demo question, no options
    fixed = build_prompt(
        Q, fmt="chat", shots=[DEMO], system_prompt="SYS", chat_template=template, special_tokens=LLAMA2
    )
    assert fixed.text.startswith("<s>[INST] SYS\n\nQuestion: FSQ?\n(A) o1\n(B) o2 [/INST] (B) o2</s>")


def test_bug_7_bos_kept_once_in_the_text_by_default() -> None:
    fixed = build_prompt(
        Q,
        fmt="chat",
        system_prompt="SYS",
        chat_template=STUDY_CHAT_TEMPLATES["llama-3"],
        special_tokens=LLAMA3,
    )
    # One BOS whatever the tokenizer: the text holds it and asks for no special tokens on top.
    assert (
        fixed.text.startswith("<|begin_of_text|><|start_header_id|>system") and not fixed.add_special_tokens
    )
    assert fixed.text.count("<|begin_of_text|>") == 1
    study = build_prompt(
        Q,
        fmt="chat",
        system_prompt="SYS",
        chat_template=STUDY_CHAT_TEMPLATES["llama-3"],
        special_tokens=LLAMA3,
        study_bugs=True,
    )
    assert study.text == fixed.text and study.add_special_tokens  # the study's tokenizer added a second BOS


def test_a_bos_that_opens_the_first_turn_is_not_lost() -> None:
    # SmolLM2/Qwen-style: BOS is `<|im_start|>`, which also opens every turn, and the tokenizer adds no BOS.
    template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tokens = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}
    prompt = build_prompt(Q, fmt="chat", system_prompt="SYS", chat_template=template, special_tokens=tokens)
    assert prompt.text.startswith("<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\n")
    assert not prompt.add_special_tokens


def test_grammar_format_inside_chat_turns_prefills_the_answer_header() -> None:
    text = build_prompt(
        Q, fmt=sample_format(0), chat_template=STUDY_CHAT_TEMPLATES["llama-3"], special_tokens=LLAMA3
    ).text
    assert text.endswith("assistant<|end_header_id|>\n\nTHE ANSWER IS -")  # Llama-3 |trim drops the space


def test_mistral_closes_each_assistant_turn_with_eos_and_a_space() -> None:
    """The study's Mistral template ends an assistant turn with eos + ' ' (issue 12): a demo reads '</s> [INST]'."""
    study_few = build_prompt(
        Q,
        fmt="chat",
        shots=[DEMO],
        system_prompt="SYS",
        chat_template=STUDY_CHAT_TEMPLATES["mistral"],
        special_tokens=LLAMA2,
        study_bugs=True,
    )
    assert (
        study_few.text
        == "<s>[INST] SYS\nFSQ? [/INST] (B) o2</s> [INST] Question: What is X?\n(A) alpha\n(B) beta [/INST] "
    )


def test_chat_style_needs_a_template() -> None:
    with pytest.raises(ValueError, match="chat_template"):
        build_prompt(Q, fmt="chat")


def test_chat_template_is_sandboxed_and_raises_cleanly() -> None:
    with pytest.raises(ChatTemplateError, match="roles must alternate"):
        apply_chat_template(STUDY_CHAT_TEMPLATES["mistral"], [{"role": "assistant", "content": "x"}], LLAMA2)
    with pytest.raises(ChatTemplateError):
        apply_chat_template("{{ messages.__class__.__mro__ }}", [], {})
    with pytest.raises(ChatTemplateError, match="compile"):
        apply_chat_template("{% for %}", [], {})


def test_hf_whitespace_rules() -> None:
    template = "{% for m in messages %}\n  {{ m['content'] }}\n{% endfor %}"
    assert apply_chat_template(template, [{"role": "user", "content": "a"}]) == "  a\n"


VQA = QAExample("v1", "vqa-rad", "test", "Is there X?", ("yes", "no"), "A", images=("q.jpg",))
VQA_DEMO = QAExample("v0", "vqa-rad", "train", "Is it Y?", ("yes", "no"), "B", images=("d1.jpg", "d2.jpg"))
PATCHES = "<im_start>" + "<im_patch>" * 256 + "<im_end>"


@pytest.mark.parametrize(
    ("style", "question", "answer"),
    [
        ("llava-v0", "Is there X?\nOptions: (A) yes (B) no", "(A) yes"),
        ("llava-med", "Is there X? Please choose from the following options: [yes, no].", "yes"),
        ("open-flamingo", "Question: Is there X? (A) yes, (B) no;", "Short answer: (A) yes"),
        ("med-flamingo", "Question: Is there X? (A) yes, (B) no;", "Answer: (A) yes"),
    ],
)
def test_vlm_blocks(style: str, question: str, answer: str) -> None:
    s = get_prompt_style(style)
    assert s.render_question(VQA.question, VQA.options) == question
    assert s.render_answer(VQA.options, "yes") == answer


def test_llava_med_zero_shot() -> None:
    prompt = build_prompt(VQA, fmt="llava-med", system_prompt="SYS")
    assert prompt.text == (
        "SYS\n\n### Human: Is there X? Please choose from the following options: [yes, no].\n"
        + PATCHES
        + "\n### Assistant:"
    )
    assert prompt.images == ("q.jpg",) and prompt.stop == ("###",)


def test_flamingo_few_shot_interleaves_images() -> None:
    prompt = build_prompt(VQA, fmt="med-flamingo", shots=[VQA_DEMO], system_prompt="SYS")
    assert prompt.text == (
        "SYS\n<image><image>Question: Is it Y? (A) yes, (B) no; Answer: (B) no.<|endofchunk|>"
        "<image>Question: Is there X? (A) yes, (B) no; Answer: "
    )
    assert prompt.images == ("d1.jpg", "d2.jpg", "q.jpg")
    assert prompt.text.count("<image>") == len(prompt.images)
    study = build_prompt(VQA, fmt="med-flamingo", shots=[VQA_DEMO], system_prompt="SYS", study_bugs=True)
    assert study.images == ("d1.jpg", "q.jpg")  # bug 13: first demo image only


def test_training_targets() -> None:
    chat = build_training_example(
        Q, fmt="chat", chat_template=STUDY_CHAT_TEMPLATES["llama-3"], special_tokens=LLAMA3
    )
    assert chat.target == "(B) beta<|eot_id|>"
    assert "SYS" not in chat.prompt and chat.prompt.endswith("assistant<|end_header_id|>\n\n")
    llama2 = build_training_example(
        Q, fmt="chat", chat_template=STUDY_CHAT_TEMPLATES["llama-2"], special_tokens=LLAMA2
    )
    assert llama2.target == "(B) beta</s>"
    biomistral = build_training_example(Q, fmt="biomistral", special_tokens=LLAMA2)
    assert biomistral.prompt.endswith("**Answer:** (") and biomistral.target == "B) beta</s>"
    meditron = build_training_example(Q, fmt="meditron", special_tokens=LLAMA2)
    assert meditron.prompt == (
        "<|im_start|> question\nQuestion: What is X?\nOptions:\n(A) alpha\n(B) beta<|im_end|>\n<|im_start|> answer\n"
    )
    default = build_training_example(Q, fmt="default", special_tokens=LLAMA2)
    assert default.prompt == "### Question: What is X?\n(A) alpha\n(B) beta\n### Answer: "
    assert default.add_special_tokens


def test_default_system_prompts() -> None:
    assert default_system_prompt("default", "medqa").endswith("from A to E.")
    assert default_system_prompt("default", "mmlu_anatomy").endswith("from A to D.")
    assert default_system_prompt("meditron", "medqa-usmle").endswith(
        "select one correct answer from A to D. Base your answer on the current and standard practices referenced in "
        "medical guidelines."
    )
    assert default_system_prompt("meditron", "pubmedqa").endswith("Answer yes, no, or maybe.")
    assert default_system_prompt("biomistral", "mednli").startswith(
        "The following is a natural language inference"
    )
    assert "don\u2019t" in default_system_prompt("med42-v2", "medmcqa")
    assert default_system_prompt("llava-med", "vqa-rad").endswith(
        "using natural language.Follow the instructions carefully and explain your answers in detail."
    )
    assert default_system_prompt("openbiollm", "casi-sense").startswith("Provide the correct expansion")


def test_prompt_hash_covers_images() -> None:
    assert prompt_hash("a", ("x",)) != prompt_hash("a", ())
    assert prompt_hash("a", ("b",)) != prompt_hash("a\0b")


MMMU = QAExample(
    "m1",
    "mmmu_pharmacy",
    "test",
    "Look at <image> and <image>: which?",
    ("a", "b"),
    "A",
    images=("1.png", "2.png"),
)


def test_grammar_format_in_a_vlm_assembly() -> None:
    prompt = build_prompt(MMMU, fmt=sample_format(0), vlm_style="llava-v0", system_prompt="SYS")
    assert prompt.text == (
        "SYS\n\n### Human: QUESTION - Look at and : which? OPTIONS - A ) a; B ) b\n"
        + PATCHES
        + "\n"
        + PATCHES
        + "\n### Assistant: THE ANSWER IS - "
    )
    assert prompt.images == ("1.png", "2.png") and "THE ANSWER IS - " in prompt.stop
    flamingo = build_prompt(MMMU, fmt=sample_format(6), vlm_style="open-flamingo", shots=[MMMU])
    assert flamingo.text.count("<image>") == len(flamingo.images) == 4
    assert flamingo.text.endswith("<image><image>Look at and : which?\n<A> a;\n\n<B> b The answer is=\n")


def test_study_mode_keeps_the_double_space_an_inline_image_tag_leaves() -> None:
    """The study removed MMMU's inline `<image>` tags only, so the spaces around each stayed (two in a row)."""
    for style in ("llava-v0", "open-flamingo"):
        study = build_prompt(MMMU, fmt=sample_format(0), vlm_style=style, study_bugs=True)
        assert "QUESTION - Look at  and : which? OPTIONS" in study.text
        clean = build_prompt(MMMU, fmt=sample_format(0), vlm_style=style)
        assert "QUESTION - Look at and : which? OPTIONS" in clean.text


CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_chatml_prompt_ends_in_the_open_assistant_turn_and_target_learns_im_end() -> None:
    """A template whose turns close with a token other than eos (ChatML) is cut at that token."""
    example = QAExample("q", "mmlu_anatomy", "test", "What?", ("x", "y"), "B")
    tokens = {"bos_token": "<s>", "eos_token": "</s>"}
    prompt = build_prompt(example, fmt="chat", shots=[example], chat_template=CHATML, special_tokens=tokens)
    assert prompt.text.endswith("(B) y<|im_end|>\n<|im_start|>assistant\n")
    assert "<|im_end|>" in prompt.stop
    training = build_training_example(example, fmt="chat", chat_template=CHATML, special_tokens=tokens)
    assert training.prompt.endswith("<|im_start|>assistant\n")
    assert training.target == "(B) y<|im_end|>"
