"""`build_prompt`: an example, a format or style, demos and a chat template → the exact text (and images) a model sees."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence

from medadapt.prompts.chat_templates import (
    allows_system_prompts,
    apply_chat_template,
    end_of_turn_token,
    strip_closed_assistant_turn,
)
from medadapt.prompts.example import QAExample
from medadapt.prompts.prompt_format import PromptFormat
from medadapt.prompts.prompt_styles import PromptStyle, get_prompt_style
from medadapt.prompts.tasks.registry import question_text

# The study always stopped on '###' besides the eos token and the template's headers
# (docs/protocol.md#greedy-decoding-and-stop-strings).
ALWAYS_STOP: tuple[str, ...] = ("###",)


@dataclasses.dataclass(frozen=True)
class Prompt:
    """Rendered model input. Tokenise `text` with `add_special_tokens` (False when the text already holds BOS)."""

    text: str
    images: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    hash: str = ""
    add_special_tokens: bool = True

    def __post_init__(self) -> None:
        if not self.hash:
            object.__setattr__(self, "hash", prompt_hash(self.text, self.images))


@dataclasses.dataclass(frozen=True)
class TrainingExample:
    """An SFT pair: loss only on `target`; tokenise `prompt` with `add_special_tokens`, `target` without."""

    prompt: str
    target: str
    add_special_tokens: bool = True


def prompt_hash(text: str, images: Sequence[str] = ()) -> str:
    """sha256 of the JSON array [text, [images...]]: unambiguous, so no two inputs collide by concatenation."""
    payload = json.dumps([text, [str(i) for i in images]], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class _Blocks:
    """Question/answer renderers for either a grammar format or a model style."""

    def __init__(self, fmt: PromptFormat | PromptStyle) -> None:
        self.fmt = fmt

    def question(self, example: QAExample) -> str:
        return self.fmt.render_question(question_text(example), example.options)

    def answer(self, example: QAExample | None, options: Sequence[str] = ()) -> str:
        if example is None:
            return self.fmt.render_answer(options, None)
        return self.fmt.render_answer(example.options, example.answer_text)


def _resolve(fmt: PromptFormat | PromptStyle | str) -> PromptFormat | PromptStyle:
    return get_prompt_style(fmt) if isinstance(fmt, str) else fmt


def _stops(fmt: PromptFormat | PromptStyle, extra: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for stop in [*extra, *ALWAYS_STOP, *fmt.stop_headers]:
        if stop and stop not in out:
            out.append(stop)
    return tuple(out)


def build_prompt(
    example: QAExample,
    *,
    fmt: PromptFormat | PromptStyle | str,
    shots: Sequence[QAExample] = (),
    system_prompt: str | None = None,
    chat_template: str | None = None,
    special_tokens: Mapping[str, str] | None = None,
    study_bugs: bool = False,
    vlm_style: str | None = None,
) -> Prompt:
    """The prompt for `example` with demos `shots`; the query always ends with the (open) answer header.

    With `chat_template`, demos and query become user/assistant turns rendered by that template
    (docs/protocol.md#chat-formatting);
    `study_bugs=True` reproduces the study's Mistral system-prompt handling and its double BOS (bugs 5 and 7,
    docs/protocol.md#defects-of-the-original-by-number).
    `vlm_style` ("llava-v0", "open-flamingo", ...) assembles a grammar format the way that VLM's style does,
    with image blocks interleaved (the study's sampled VLM templates, docs/protocol.md#vlm-prompts).
    """
    resolved = _resolve(fmt)
    tokens = dict(special_tokens or {})
    if vlm_style is not None:
        return _vlm_prompt(example, resolved, get_prompt_style(vlm_style), shots, system_prompt, study_bugs)
    if isinstance(resolved, PromptStyle) and resolved.assembly in ("llava", "flamingo"):
        return _vlm_prompt(example, resolved, resolved, shots, system_prompt, study_bugs)
    images = tuple(image for shot in shots for image in shot.images) + example.images
    if chat_template is not None:
        text, add_special = _chat_text(
            example, resolved, shots, system_prompt, chat_template, tokens, study_bugs
        )
        stops = _stops(resolved, [tokens.get("eos_token", ""), end_of_turn_token(chat_template, tokens)])
        return Prompt(text, images, stops, add_special_tokens=add_special)
    if isinstance(resolved, PromptStyle) and resolved.assembly == "chat":
        raise ValueError(f"prompt style {resolved.name!r} needs the model's chat_template")
    return Prompt(
        _plain_text(example, resolved, shots, system_prompt),
        images,
        _stops(resolved, [tokens.get("eos_token", "")]),
    )


def _plain_text(
    example: QAExample, fmt: PromptFormat | PromptStyle, shots: Sequence[QAExample], system_prompt: str | None
) -> str:
    if isinstance(fmt, PromptFormat):
        demos = [(question_text(s), list(s.options), s.answer_text) for s in shots]
        return fmt.render(question_text(example), list(example.options), demos, system_prompt)
    blocks = _Blocks(fmt)
    parts = []
    if system_prompt:
        parts.append(fmt.render_system(system_prompt) + fmt.system_separator)
    for shot in shots:
        parts.append(blocks.question(shot) + fmt.block_separator + blocks.answer(shot) + fmt.demo_end)
    parts.append(blocks.question(example) + fmt.block_separator + blocks.answer(None, example.options))
    return "".join(parts)


def _chat_text(
    example: QAExample,
    fmt: PromptFormat | PromptStyle,
    shots: Sequence[QAExample],
    system_prompt: str | None,
    template: str,
    tokens: Mapping[str, str],
    study_bugs: bool,
) -> tuple[str, bool]:
    blocks = _Blocks(fmt)
    turns: list[dict[str, str]] = []
    for shot in shots:
        turns.append({"role": "user", "content": blocks.question(shot)})
        turns.append({"role": "assistant", "content": blocks.answer(shot)})
    turns.append({"role": "user", "content": blocks.question(example)})
    turns.append({"role": "assistant", "content": blocks.answer(None, example.options)})
    if system_prompt:
        if allows_system_prompts(template, tokens):
            turns.insert(0, {"role": "system", "content": system_prompt})
        elif study_bugs:
            # The study: the first demo's *raw* question replaces its rendered block; zero-shot drops the prompt.
            if shots:
                turns[0]["content"] = f"{system_prompt}\n{question_text(shots[0])}"
        else:
            turns[0]["content"] = f"{system_prompt}\n\n{turns[0]['content']}"
    text = strip_closed_assistant_turn(apply_chat_template(template, turns, tokens), template, tokens)
    bos = tokens.get("bos_token", "")
    if bos and text.startswith(bos):
        # The text keeps the template's BOS and says "add no special tokens": one BOS whatever the tokenizer does
        # (many add none: SmolLM2's and Qwen's BOS is the turn opener `<|im_start|>`, which stripping would lose).
        # The study tokenised this text with special tokens, i.e. twice BOS where the tokenizer adds one (bug
        # 7, docs/protocol.md#defects-of-the-original-by-number).
        return text, study_bugs
    return text, True


IMAGE_TAG = "<image>"


def _vlm_prompt(
    example: QAExample,
    fmt: PromptFormat | PromptStyle,
    style: PromptStyle,
    shots: Sequence[QAExample],
    system_prompt: str | None,
    study_bugs: bool,
) -> Prompt:
    """LLaVA (conv v0, '### ' separators, image patches after the question) or Flamingo (<image> chunks).

    `fmt` renders the question/answer blocks (the style itself, or a grammar format), `style` assembles them.
    `<image>` tags inside questions (MMMU) are removed and one image block is emitted per image; the study
    emitted one per tag while passing only each demo's first image, and removed the tags without closing the
    gap they leave (bug 13, docs/protocol.md#defects-of-the-original-by-number) — `study_bugs=True`.
    """
    blocks = _Blocks(fmt)

    def question(shot: QAExample) -> tuple[str, int]:
        raw = question_text(shot)
        tags = raw.count(IMAGE_TAG)
        if study_bugs:
            # The study deleted the tags and nothing else: "in <image> here" kept its double space.
            without_tags = shot.question.replace(IMAGE_TAG, "")
        else:
            without_tags = re.sub(" +", " ", re.sub(r" ?<image> ?", " ", shot.question)).strip()
        cleaned = dataclasses.replace(shot, question=without_tags)
        n_blocks = tags if study_bugs and tags else len(shot.images)
        return blocks.question(cleaned), n_blocks

    demo_images = [s.images[:1] if study_bugs else s.images for s in shots]
    images = tuple(i for imgs in demo_images for i in imgs) + example.images
    if style.assembly == "llava":
        sep = "\n### "
        text = (f"{system_prompt}\n" if system_prompt else "") + sep
        turns: list[tuple[str, str]] = []
        for shot in [*shots, example]:
            rendered, n_blocks = question(shot)
            # The query's assistant turn holds the answer header ('' for the LLaVA styles, a grammar header else).
            answer = blocks.answer(shot) if shot is not example else blocks.answer(None, example.options)
            turns += [("Human", rendered + style.image_text * n_blocks), ("Assistant", answer)]
        for role, message in turns:
            text += f"{role}: {message}{sep}" if message else f"{role}:"
        text = text.removesuffix(sep)
        stops = _stops(fmt, list(style.stop))
    else:
        text = f"{system_prompt}\n" if system_prompt else ""
        for shot in shots:
            rendered, n_blocks = question(shot)
            text += style.image_text * n_blocks + rendered + " " + blocks.answer(shot) + ".<|endofchunk|>"
        rendered, n_blocks = question(example)
        text += style.image_text * n_blocks + rendered + " " + blocks.answer(None, example.options)
        stops = tuple(dict.fromkeys([*style.stop, *fmt.stop_headers]))
    return Prompt(text, images, stops)


def build_training_example(
    example: QAExample,
    *,
    fmt: PromptFormat | PromptStyle | str = "default",
    chat_template: str | None = None,
    special_tokens: Mapping[str, str] | None = None,
    study_bugs: bool = False,
) -> TrainingExample:
    """The study's SFT pair (docs/protocol.md#supervised-targets): zero-shot prompt without system prompt,
    target '(B) text' + EOS.

    The EOS (the chat template's end-of-turn token, or eos_token) is part of the target so the model learns to stop.
    """
    resolved = _resolve(fmt)
    if isinstance(resolved, PromptStyle) and resolved.finetune_style and chat_template is None:
        resolved = get_prompt_style(resolved.finetune_style)
    tokens = dict(special_tokens or {})
    prompt = build_prompt(
        example, fmt=resolved, chat_template=chat_template, special_tokens=tokens, study_bugs=study_bugs
    )
    eos = (
        end_of_turn_token(chat_template, tokens) if chat_template is not None else tokens.get("eos_token", "")
    )
    target = f"({example.answer}) {example.answer_text}{eos}"
    if isinstance(resolved, PromptStyle) and resolved.target_drops_first_char:
        target = target[1:]
    # Without a chat template the study tokenised the context with BOS (add_special_tokens=True).
    return TrainingExample(prompt.text, target, prompt.add_special_tokens)
