"""Turn a ModelSpec into a local checkpoint directory, offline, naming whatever file is missing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from medadapt.models.registry import ModelSpec

__all__ = ["MATERIALIZERS", "resolve_checkpoint", "resolve_lora"]

_WEIGHT_PATTERNS = (
    "*.safetensors",
    "*.bin",
    "*.safetensors.index.json",
    "*.bin.index.json",
    "*.pt",
    "*.gguf",
)


def _smollm2() -> Path:
    from medadapt.models.smollm2 import materialize_smollm2

    return materialize_smollm2()


# Registry `materializer` names → a function that builds the checkpoint locally (no hub).
MATERIALIZERS: dict[str, Callable[[], Path]] = {"smollm2": _smollm2}


def _looks_like_path(ref: str) -> bool:
    """A reference written as a filesystem path (absolute, ./, ../, ~) rather than an owner/name hub id."""
    return ref.startswith(("/", "./", "../", "~")) or ref.count("/") != 1


def check_checkpoint_dir(directory: Path, what: str) -> Path:
    """`directory` if it holds config.json and weights; else FileNotFoundError naming the missing file."""
    if not directory.is_dir():
        raise FileNotFoundError(f"{what}: {str(directory)!r} is not a directory")
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"{what}: missing file {directory / 'config.json'}")
    if not any(next(directory.glob(p), None) for p in _WEIGHT_PATTERNS):
        raise FileNotFoundError(
            f"{what}: {directory} has no weights (looked for {', '.join(_WEIGHT_PATTERNS)})"
        )
    return directory


def _from_hub_cache(repo_id: str, revision: str, name: str) -> Path:
    """The cached snapshot of a hub repo, never downloading; FileNotFoundError says how to provide it."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=repo_id, revision=revision, local_files_only=True))
    except Exception as err:  # huggingface_hub raises several "not cached" types
        raise FileNotFoundError(
            f"model {name!r}: {repo_id}@{revision} is not in the local Hugging Face cache and medadapt never "
            f"downloads. Download it yourself (`huggingface-cli download {repo_id} --revision {revision}`) or "
            f"pass a local directory: load_adapter({name!r}, hf_id_or_path='/path/to/{repo_id.split('/')[-1]}') "
            f"[{type(err).__name__}]"
        ) from None


def resolve_checkpoint(spec: ModelSpec) -> Path:
    """Local directory of `spec`: a path as given, a materialised offline model, or a hub-cache snapshot."""
    ref = spec.hf_id_or_path
    local = Path(ref).expanduser()
    if local.exists():
        return check_checkpoint_dir(local.resolve(), f"model {spec.name!r}")
    if spec.materializer is not None:
        try:
            build = MATERIALIZERS[spec.materializer]
        except KeyError:
            raise KeyError(
                f"model {spec.name!r}: unknown materializer {spec.materializer!r}; known {sorted(MATERIALIZERS)}"
            ) from None
        return check_checkpoint_dir(build(), f"model {spec.name!r}")
    if _looks_like_path(ref):
        raise FileNotFoundError(f"model {spec.name!r}: path {ref!r} does not exist")
    return check_checkpoint_dir(_from_hub_cache(ref, spec.revision, spec.name), f"model {spec.name!r}")


def resolve_lora(ref: str, model_name: str) -> Path:
    """Local directory of a PEFT adapter (adapter_config.json + weights), or a hub-cache snapshot of one."""
    local = Path(ref).expanduser()
    if not local.exists():
        if _looks_like_path(ref):
            raise FileNotFoundError(f"model {model_name!r}: LoRA adapter path {ref!r} does not exist")
        local = _from_hub_cache(ref, "main", f"{model_name} (LoRA {ref})")
    if not (local / "adapter_config.json").is_file():
        raise FileNotFoundError(
            f"model {model_name!r}: LoRA adapter: missing file {local / 'adapter_config.json'}"
        )
    return local.resolve()
