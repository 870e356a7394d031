"""QAExamples of any medadapt-prompts task → supervised pairs, through `build_training_example`
(docs/protocol.md#supervised-targets)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medadapt.finetune.base_model import ModelSource, load_tokenizer
from medadapt.finetune.supervised import SupervisedPair
from medadapt.models.tokenization import special_tokens

__all__ = ["training_pairs"]


def training_pairs(
    examples: Sequence[Any],
    base: Any,
    *,
    fmt: Any = None,
    use_chat_template: bool | None = None,
    study_bugs: bool = False,
) -> list[SupervisedPair]:
    """The study's zero-shot fine-tuning pairs for `base`: prompt with no system prompt, target '(B) text' + EOS.

    `fmt` is a PromptFormat or prompt-style name (default: the model's registry `prompt_style`);
    `use_chat_template` defaults to the registry's `chat` flag (the tokenizer's template, patched as the
    registry says). Images of VQA examples travel with the pairs.
    """
    from medadapt.models.registry import chat_template_patch
    from medadapt.prompts import build_training_example

    source = ModelSource.of(base)
    spec = source.model_spec
    tokenizer = load_tokenizer(source)
    text_tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    chat = spec.chat if use_chat_template is None else use_chat_template
    template = (
        chat_template_patch(spec.chat_template_patch, getattr(text_tokenizer, "chat_template", None))
        if chat
        else None
    )
    if chat and template is None:
        raise ValueError(
            f"base {spec.name!r}: use_chat_template is on but its tokenizer has no chat template"
        )
    specials = special_tokens(text_tokenizer)
    style = spec.prompt_style if fmt is None else fmt
    pairs = []
    for example in examples:
        built = build_training_example(
            example, fmt=style, chat_template=template, special_tokens=specials, study_bugs=study_bugs
        )
        pairs.append(
            SupervisedPair(
                prompt=built.prompt,
                target=built.target,
                images=tuple(example.images),
                example_id=f"{example.task}/{example.split}/{example.id}",
                add_special_tokens=built.add_special_tokens,
                target_has_eos=True,
            )
        )
    return pairs
