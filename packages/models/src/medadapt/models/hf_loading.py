"""Loading a transformers causal LM for an adapter: dtype, device placement, quantization and a LoRA on top."""

from __future__ import annotations

from typing import Any

from medadapt.models.checkpoints import resolve_checkpoint, resolve_lora
from medadapt.models.registry import ModelSpec

__all__ = ["attach_lora", "default_device", "load_causal_lm", "prepare_tokenizer", "resolve_dtype"]


def default_device(device: str | None) -> str:
    """The device asked for, else CUDA when present, else CPU."""
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def resolve_dtype(dtype: Any, device: str) -> Any:
    """torch dtype from "auto" (fp32 on CPU, bf16 on CUDA), a name ("bfloat16", "float16", "float32") or a dtype."""
    import torch

    if dtype == "auto" or dtype is None:
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if dtype not in names:
        raise ValueError(f"dtype: expected 'auto', one of {sorted(names)} or a torch.dtype, got {dtype!r}")
    return names[dtype]


def _quantization_config(quantization: Any, dtype: Any) -> Any:
    """A BitsAndBytesConfig for "8bit"/"4bit" (bitsandbytes needed), or the object passed through."""
    if quantization is None or not isinstance(quantization, str):
        return quantization
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    if quantization == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_type="nf4")
    raise ValueError(
        f"quantization: expected None, '8bit', '4bit' or a transformers quantization config, got {quantization!r}"
    )


def attach_lora(model: Any, spec: ModelSpec, *, merge: bool) -> Any:
    """The spec's LoRA adapter (if any) on top of `model`, merged into its weights when `merge`."""
    if not spec.lora:
        return model
    from peft import PeftModel

    model = PeftModel.from_pretrained(model, resolve_lora(spec.lora, spec.name))
    return model.merge_and_unload() if merge else model


def load_causal_lm(
    spec: ModelSpec,
    *,
    dtype: Any = "auto",
    device: str | None = None,
    device_map: Any = None,
    quantization: Any = None,
    attn_implementation: str | None = None,
    merge_lora: bool = False,
) -> tuple[Any, Any]:
    """(model, tokenizer) of the spec's checkpoint, placed on `device` unless a device map or quantization does it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_checkpoint(spec)  # the revision was resolved with the path (the cached snapshot)
    device = default_device(device)
    kwargs: dict[str, Any] = {"dtype": resolve_dtype(dtype, device)}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if device_map is not None:
        kwargs["device_map"] = device_map
    quant = _quantization_config(quantization, kwargs["dtype"])
    if quant is not None:
        kwargs["quantization_config"] = quant
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if device_map is None and quant is None:
        model = model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return attach_lora(model, spec, merge=merge_lora), tokenizer


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Left padding (scores and generations read the last position), pad = EOS where the tokenizer has no pad."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
