"""Chat templates applied from their jinja source (as Hugging Face does, no transformers import), and the study's."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from medadapt.prompts.jinja_sandbox import ChatTemplateError, render_chat_template

# The three templates the study installed on tokenizers (STUDY.md §3.5), written from their described behaviour.
LLAMA2_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)
LLAMA3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim"
    " + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
MISTRAL_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST] ' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
STUDY_CHAT_TEMPLATES: dict[str, str] = {
    "llama-2": LLAMA2_CHAT_TEMPLATE,
    "llama-3": LLAMA3_CHAT_TEMPLATE,
    "mistral": MISTRAL_CHAT_TEMPLATE,
}
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
