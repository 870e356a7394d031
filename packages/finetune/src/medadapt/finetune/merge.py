"""Fold a LoRA adapter into its base and save a plain checkpoint directory (peft `merge_and_unload`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medadapt.finetune.base_model import ModelSource, load_base_model, load_tokenizer
from medadapt.finetune.checkpoint import publish_directory
from medadapt.finetune.lora import peft_deprecation_quiet

__all__ = ["merge_adapter"]


def merge_adapter(base: Any, adapter_dir: str | Path, out_dir: str | Path, *, dtype: Any = None) -> Path:
    """Write base + adapter merged into `out_dir` (safetensors, with tokenizer/processor); return the directory."""
    import torch
    from peft import PeftModel

    source = ModelSource.of(base)
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise FileNotFoundError(f"adapter_dir: missing file {adapter_dir / 'adapter_config.json'}")
    model = load_base_model(source, dtype or torch.float32)
    with peft_deprecation_quiet():
        merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.config.use_cache = True
    tokenizer = load_tokenizer(source)

    def write(tmp: Path) -> None:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))

    return publish_directory(write, Path(out_dir).expanduser().resolve())
