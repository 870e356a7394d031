"""What identifies a model in a run key, and how a study's model reference becomes a medadapt-models spec."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medadapt.study.config import ModelRef
from medadapt.study.errors import StudyError

if TYPE_CHECKING:
    from medadapt.models import ModelSpec

_SMALL_FILE = 1 << 20
_EDGE = 1 << 20
# Files that say nothing about the weights (model cards carry dates and versions).
_IGNORED = frozenset({"README.md"})
# JSON keys that peft writes from a Python set: their order changes with the hash seed, their meaning does not.
_SET_VALUED_KEYS = ("target_modules", "modules_to_save")


def _stable_bytes(name: str, data: bytes) -> bytes:
    """File content as fingerprinted: JSON configs canonicalised, set-valued lists sorted."""
    if not name.endswith("adapter_config.json"):
        return data
    import json

    try:
        config = json.loads(data)
    except ValueError:
        return data
    for key in _SET_VALUED_KEYS:
        if isinstance(config.get(key), list):
            config[key] = sorted(config[key], key=str)
    return json.dumps(config, sort_keys=True).encode("utf-8")


def fingerprint_dir(path: Path) -> str:
    """A cheap content fingerprint of a checkpoint directory: small files whole, large ones by size and edges."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if rel.startswith(".") or "/." in rel or file.name in _IGNORED:
            continue
        size = file.stat().st_size
        with file.open("rb") as fh:
            if size <= _SMALL_FILE:
                content = _stable_bytes(file.name, fh.read())
                digest.update(f"{rel}\0{len(content)}\0".encode())
                digest.update(content)
            else:
                digest.update(f"{rel}\0{size}\0".encode())
                digest.update(fh.read(_EDGE))
                fh.seek(size - _EDGE)
                digest.update(fh.read(_EDGE))
    return digest.hexdigest()[:16]


def resolve_spec(ref: ModelRef) -> ModelSpec:
    """The medadapt-models ModelSpec for a study model: a registry entry, or one built for a local directory."""
    from medadapt.models import get_model

    if ref.path is None:
        assert ref.name is not None
        try:
            spec = get_model(ref.name)
        except KeyError as exc:
            raise StudyError(f"unknown model {ref.name!r}: {exc.args[0] if exc.args else ''}") from None
        updates = _ref_overrides(ref)
        if ref.lora is not None:
            updates["lora"] = ref.lora
        return _with(spec, updates)
    path = Path(ref.path)
    if not (path / "config.json").is_file():
        raise StudyError(f"model {ref.label!r}: {path} is not a checkpoint directory (no config.json)")
    return _local_spec(ref, path)


def resolve_spec_or_none(ref: ModelRef) -> ModelSpec | None:
    """The model's spec, or None when it no longer resolves (its skip rules are then unknown: the report and the
    store check never fail on that)."""
    try:
        return resolve_spec(ref)
    except (StudyError, OSError, KeyError):
        return None


def _with(spec: ModelSpec, updates: dict[str, Any]) -> ModelSpec:
    return spec.model_copy(update=updates) if updates else spec


def _local_spec(ref: ModelRef, path: Path) -> ModelSpec:
    from medadapt.models.registry import spec_from_path

    spec = spec_from_path(path, name=ref.label)
    return _with(spec, {"lora": ref.lora, **_ref_overrides(ref)})


def _ref_overrides(ref: ModelRef) -> dict[str, Any]:
    """The registry fields a config's model entry replaces (for registry and local models alike)."""
    updates: dict[str, Any] = {}
    if ref.revision is not None:
        updates["revision"] = ref.revision
    if ref.prompt_style is not None:
        updates["prompt_style"] = ref.prompt_style
    if ref.prompt_candidates is not None:
        updates["prompt_candidates"] = ref.prompt_candidates
    if ref.skip_tasks is not None:
        updates["skip_tasks"] = tuple(ref.skip_tasks)
        updates["skip_reason"] = "the study config's skip_tasks"
    return updates


def model_identity(ref: ModelRef, spec: ModelSpec, execution: dict[str, Any] | None = None) -> dict[str, Any]:
    """The part of a run key that says which weights answered: name, source, revision, LoRA, local fingerprints,
    and the execution settings that change results (`execution.RESULT_FIELDS`; absent when all are defaults)."""
    source = spec.hf_id_or_path
    identity: dict[str, Any] = {"name": ref.label, "source": source, "revision": spec.revision, "lora": spec.lora}
    local = Path(source).expanduser()
    if local.is_dir():
        identity["source"] = local.name
        identity["fingerprint"] = fingerprint_dir(local)
    lora = identity["lora"]
    if lora and Path(lora).is_dir():
        identity["lora"] = Path(lora).name
        identity["lora_fingerprint"] = fingerprint_dir(Path(lora))
    if execution:
        identity["execution"] = dict(execution)
    return identity
