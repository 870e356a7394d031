"""Chat templates applied from their jinja source (as Hugging Face does, no transformers import).

The templates themselves come with the model (its tokenizer's, or the study's that medadapt-models installs through
a registry patch, docs/protocol.md#chat-formatting); this module only renders whichever it is given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from medadapt.prompts.jinja_sandbox import ChatTemplateError, render_chat_template

END_OF_TURN_TOKENS: tuple[str, ...] = ("<|eot_id|>",)

Message = Mapping[str, str]


def apply_chat_template(
    template: str,
    messages: Sequence[Message],
    special_tokens: Mapping[str, str] | None = None,
    *,
    add_generation_prompt: bool = False,
) -> str:
    """Render `messages` with a chat template string, with HF's variables (bos/eos tokens, raise_exception)."""
    tokens = dict(special_tokens or {})
    variables = {
        "messages": [dict(m) for m in messages],
        "bos_token": tokens.get("bos_token", ""),
        "eos_token": tokens.get("eos_token", ""),
        "unk_token": tokens.get("unk_token", ""),
        "pad_token": tokens.get("pad_token", ""),
        "add_generation_prompt": add_generation_prompt,
    }
    return render_chat_template(template, **variables)


def allows_system_prompts(template: str, special_tokens: Mapping[str, str] | None = None) -> bool:
    """Whether the template renders a system/user/assistant conversation without raising (the study's test)."""
    probe = [
        {"role": "system", "content": "system"},
        {"role": "user", "content": "user"},
        {"role": "assistant", "content": "assistant"},
    ]
    try:
        apply_chat_template(template, probe, special_tokens)
    except ChatTemplateError:
        return False
    return True


def end_of_turn_token(template: str, special_tokens: Mapping[str, str] | None = None) -> str:
    """The token that closes an assistant turn ('<|eot_id|>', '<|im_end|>', ...), else the eos token.

    Found by rendering a probe conversation, so any template (ChatML, Llama, Mistral, a plugin's) is handled.
    """
    for token in END_OF_TURN_TOKENS:
        if token in template:
            return token
    marker = "\x00medadapt-end-of-content\x00"
    probe = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a" + marker}]
    try:
        rendered = apply_chat_template(template, probe, special_tokens)
    except ChatTemplateError:
        rendered = ""
    closing = re.match(r"\S+", rendered.partition(marker)[2].lstrip())
    return closing.group(0) if closing else (special_tokens or {}).get("eos_token", "")


def strip_closed_assistant_turn(
    text: str, template: str, special_tokens: Mapping[str, str] | None = None
) -> str:
    """Cut the text at the last end-of-turn/eos token, so the prompt ends inside the open assistant turn."""
    eos = (special_tokens or {}).get("eos_token", "")
    tokens = dict.fromkeys([eos, end_of_turn_token(template, special_tokens)])  # each cut once, eos first
    for token in tokens:
        if token and token in text:
            text = text[: text.rindex(token)]
    return text
