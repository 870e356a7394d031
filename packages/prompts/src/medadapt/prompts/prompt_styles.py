"""Model-default prompt styles of the study (docs/protocol.md#model-default-prompt-styles and #vlm-prompts) as
data: jinja sources plus how blocks join."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

from medadapt.prompts.jinja_sandbox import format_template
from medadapt.prompts.prompt_format import option_letters

_IF = "{% if answer_text is not none %}"
_END = "{% endif %}"


def _options(item: str, joiner: str) -> str:
    """Jinja source listing options as `item` (uses `letter`, `option`) joined by `joiner`."""
    return (
        "{% for option in options %}{% set letter = letters[loop.index0] %}"
        + item
        + "{% if not loop.last %}"
        + joiner
        + "{% endif %}{% endfor %}"
    )


@dataclasses.dataclass(frozen=True)
class PromptStyle:
    """A model's own prompt layout: question/answer blocks and how system prompt, demos and query are joined."""

    name: str
    question_template: str
    answer_template: str
    assembly: Literal["text", "chat", "llava", "flamingo"] = "text"
    system_template: str = "{{ system_prompt }}"
    system_separator: str = "\n"
    block_separator: str = "\n"
    demo_end: str = "\n\n"
    stop: tuple[str, ...] = ()
    # The SFT target drops its first character because the prompt already ends with it (BioMistral's '(').
    target_drops_first_char: bool = False
    # Style used for fine-tuning prompts (the study's `zero-shot-ft`), when it differs.
    finetune_style: str | None = None
    image_text: str = ""

    def render_question(self, question: str, options: Sequence[str]) -> str:
        """The question block with its options."""
        return format_template(self.question_template).render(
            question=question, options=list(options), letters=list(option_letters(len(options)))
        )

    def render_answer(self, options: Sequence[str], answer_text: str | None) -> str:
        """The answer block (header only when `answer_text` is None)."""
        letter = None
        if answer_text is not None:
            if answer_text not in options:
                raise ValueError(f"answer {answer_text!r} is not one of the options {list(options)!r}")
            letter = option_letters(len(options))[list(options).index(answer_text)]
        return format_template(self.answer_template).render(answer_text=answer_text, answer_letter=letter)

    def render_system(self, system_prompt: str) -> str:
        """The system block (e.g. Med42-v1 wraps it in `<|system|>: `)."""
        return format_template(self.system_template).render(system_prompt=system_prompt)

    @property
    def stop_headers(self) -> list[str]:
        """Stop strings of this style (its headers)."""
        return list(self.stop)


_PATCHES = "\n<im_start>" + "<im_patch>" * 256 + "<im_end>"
_STYLES: list[PromptStyle] = [
    PromptStyle(
        "default",
        "### Question: {{ question }}\n" + _options("({{ letter }}) {{ option }}", "\n"),
        "### Answer: " + _IF + "({{ answer_letter }}) {{ answer_text }}" + _END,
        system_separator="\n\n",
        stop=("### Question:", "### Answer:"),
    ),
    PromptStyle(
        "meditron",
        "Question: {{ question }}\n\nOptions:\n" + _options("{{ letter }}. {{ option }}", "\n"),
        "The answer is: " + _IF + "{{ answer_letter }}" + _END,
        stop=("Question:", "Options:", "The answer is:"),
        finetune_style="meditron-ft",
    ),
    PromptStyle(
        "meditron-ft",
        "<|im_start|> question\nQuestion: {{ question }}\nOptions:\n"
        + _options("({{ letter }}) {{ option }}", "\n")
        + "<|im_end|>",
        "<|im_start|> answer\n" + _IF + "({{ answer_letter }}) {{ answer_text }}" + _END,
        stop=("<|im_start|>", "Question:"),
    ),
    PromptStyle(
        "biomedgpt",
        "### Human: {{ question }} " + _options("({{ letter }}) {{ option }}", " "),
        "### Assistant: " + _IF + "({{ answer_letter }}) {{ answer_text }}" + _END,
        system_separator=" ",
        block_separator=" ",
        demo_end=" ",
        stop=("### Human:", "### Assistant:"),
    ),
    PromptStyle(
        "biomistral",
        "**Question:** {{ question }}\n" + _options("({{ letter }}) {{ option }}", "\n"),
        "**Answer:** (" + _IF + "{{ answer_letter }}" + _END,
        stop=("**Question:**", "**Answer:**"),
        target_drops_first_char=True,
    ),
    PromptStyle(
        "med42-v1",
        "<|prompter|>: {{ question }}\n" + _options("{{ letter }}. {{ option }}", "\n"),
        "<|assistant|>: " + _IF + "{{ answer_letter }}. {{ answer_text }}" + _END,
        system_template="<|system|>: {{ system_prompt }}",
        stop=("<|prompter|>:", "<|assistant|>:"),
    ),
    PromptStyle(
        "chat",
        "Question: {{ question }}\n" + _options("({{ letter }}) {{ option }}", "\n"),
        _IF + "({{ answer_letter }}) {{ answer_text }}" + _END,
        assembly="chat",
        stop=("Question:",),
    ),
    PromptStyle(
        "llava-v0",
        "{{ question }}\nOptions: " + _options("({{ letter }}) {{ option }}", " "),
        _IF + "({{ answer_letter }}) {{ answer_text }}" + _END,
        assembly="llava",
        stop=("###",),
        image_text=_PATCHES,
    ),
    PromptStyle(
        "llava-med",
        "{{ question }} Please choose from the following options: [{{ options | join(', ') }}].",
        _IF + "{{ answer_text }}" + _END,
        assembly="llava",
        stop=("###",),
        image_text=_PATCHES,
    ),
    PromptStyle(
        "open-flamingo",
        "Question: {{ question }} " + _options("({{ letter }}) {{ option }}", ", ") + ";",
        "Short answer: " + _IF + "({{ answer_letter }}) {{ answer_text }}" + _END,
        assembly="flamingo",
        stop=("Question:", "<|endofchunk|>"),
        image_text="<image>",
    ),
    PromptStyle(
        "med-flamingo",
        "Question: {{ question }} " + _options("({{ letter }}) {{ option }}", ", ") + ";",
        "Answer: " + _IF + "({{ answer_letter }}) {{ answer_text }}" + _END,
        assembly="flamingo",
        stop=("Question:", "<|endofchunk|>"),
        image_text="<image>",
    ),
]
PROMPT_STYLES: dict[str, PromptStyle] = {style.name: style for style in _STYLES}


def get_prompt_style(name: str) -> PromptStyle:
    """The style called `name`."""
    try:
        return PROMPT_STYLES[name]
    except KeyError:
        raise KeyError(f"unknown prompt style {name!r}; known styles: {', '.join(PROMPT_STYLES)}") from None


def list_prompt_styles() -> list[str]:
    """Names of every style."""
    return list(PROMPT_STYLES)
