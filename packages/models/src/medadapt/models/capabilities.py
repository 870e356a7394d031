"""What a loaded transformers model and its tokenizer can do, probed once when an adapter is built."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from medadapt.models.adapter_io import Capabilities
from medadapt.models.registry import ModelSpec, chat_template_patch
from medadapt.models.tokenization import special_tokens

__all__ = ["ForwardSignature", "probe_capabilities", "system_turn_allowed"]


def system_turn_allowed(tokenizer: Any, template: str | None) -> bool:
    """Whether a chat template renders a system message (Mistral v0.1's raises); True without a template."""
    if not template:
        return True
    conversation = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
    ]
    try:
        tokenizer.apply_chat_template(conversation, chat_template=template, tokenize=False)
    except Exception:
        return False
    return True


@dataclass(frozen=True)
class ForwardSignature:
    """What the model's forward accepts: the name of its cache argument and whether it can keep only some logits."""

    cache_keyword: str
    keeps_logits: bool

    @classmethod
    def of(cls, base_model: Any) -> ForwardSignature:
        params = inspect.signature(base_model.forward).parameters
        return cls("cache" if "cache" in params else "past_key_values", "logits_to_keep" in params)


def parameter_bytes(model: Any) -> int:
    """The memory a model's parameters take (what decides whether copying or collecting it is worth it)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def probe_capabilities(spec: ModelSpec, base_model: Any, tokenizer: Any) -> Capabilities:
    """Chat template (with the registry's patch), system turn, context length (spec, config, tokenizer), tokens."""
    template = chat_template_patch(spec.chat_template_patch, getattr(tokenizer, "chat_template", None))
    config = getattr(base_model, "config", None)
    context = (
        spec.context_length or getattr(config, "max_position_embeddings", None) or tokenizer.model_max_length
    )
    return Capabilities(
        chat_template=template,
        system_turn=system_turn_allowed(tokenizer, template),
        context_length=int(context),
        images=False,
        special_tokens=special_tokens(tokenizer),
    )
