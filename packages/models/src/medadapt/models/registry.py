"""The model registry as data: ModelSpec records from data/models.yaml plus plugins (`medadapt.registry`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from importlib.metadata import entry_points
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PAIRS",
    "ModelPair",
    "ModelSpec",
    "chat_template_patch",
    "family_chat_template",
    "get_model",
    "list_models",
    "list_pairs",
    "registry_overlay",
    "spec_from_path",
    "study_chat_templates",
]

REGISTRY_GROUP = "medadapt.registry"


class ModelSpec(BaseModel):
    """Everything needed to load a checkpoint and prompt it like the study did; `hf_id_or_path` may be a local dir."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    hf_id_or_path: str
    revision: str = "main"
    family: str = "llama"
    adapter: str = "hf"
    role: Literal["general", "medical", "component", "other"] = "other"
    chat: bool = False
    prompt_style: str = "default"
    chat_template_patch: str | None = None
    system_prompt_key: str = "default"
    stop: tuple[str, ...] = ()
    context_length: int | None = None
    extra: str = ""
    lora: str | None = None
    materializer: str | None = None
    adapter_options: dict[str, Any] = Field(default_factory=dict)
    # Study rules as data (docs/protocol.md): the templates a model's prompt selection may pick from ("default-only":
    # its default template, few-shot draws still searched) and the tasks it is not run on (fnmatch patterns).
    prompt_candidates: Literal["grid", "default-only"] = "grid"
    skip_tasks: tuple[str, ...] = ()
    skip_reason: str = ""
    notes: str = ""
    source: str = "builtin"

    def with_overrides(self, **changes: Any) -> ModelSpec:
        """A copy with fields replaced, validated (unknown field names are an error naming the field)."""
        unknown = sorted(set(changes) - set(type(self).model_fields))
        if unknown:
            raise TypeError(f"ModelSpec has no field(s) {unknown}; fields: {sorted(type(self).model_fields)}")
        return type(self).model_validate({**self.model_dump(), **changes})


class ModelPair(BaseModel):
    """A general-domain model and its medically adapted counterpart (the unit the study compares)."""

    model_config = ConfigDict(frozen=True)

    general: str
    medical: str


def _builtin_data() -> dict[str, Any]:
    """The shipped registry file, parsed."""
    text = files("medadapt.models").joinpath("data/models.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _spec_from_record(record: Any, where: str) -> ModelSpec:
    """A ModelSpec from a ModelSpec or mapping, with errors that name the source of the record."""
    if isinstance(record, ModelSpec):
        return record
    if not isinstance(record, Mapping):
        raise TypeError(f"{where}: expected a ModelSpec or a mapping, got {type(record).__name__}")
    try:
        return ModelSpec.model_validate(dict(record))
    except Exception as err:
        raise ValueError(f"{where}: invalid model record {dict(record).get('name', '?')!r}: {err}") from err


def _plugin_payloads() -> list[tuple[str, Any]]:
    """(entry point name, payload) for every `medadapt.registry` plugin; a callable payload is called."""
    out = []
    for ep in sorted(entry_points(group=REGISTRY_GROUP), key=lambda e: e.name):
        loaded = ep.load()
        out.append((f"entry point {ep.name!r} ({ep.value})", loaded() if callable(loaded) else loaded))
    return out


@lru_cache(maxsize=1)
def _registry() -> tuple[dict[str, ModelSpec], tuple[ModelPair, ...]]:
    """Built-in records then plugin records (a plugin may add models and pairs, never silently replace one)."""
    data = _builtin_data()
    specs: dict[str, ModelSpec] = {}
    pairs: list[ModelPair] = []
    for i, record in enumerate(data["models"]):
        spec = _spec_from_record(record, f"data/models.yaml models[{i}]")
        specs[spec.name] = spec
    pairs.extend(ModelPair(general=g, medical=m) for g, m in data["pairs"])
    for where, payload in _plugin_payloads():
        models, plugin_pairs = _split_payload(payload, where)
        for i, record in enumerate(models):
            spec = _spec_from_record(record, f"{where} models[{i}]")
            if spec.source == "builtin":
                spec = spec.with_overrides(source=where)
            if spec.name in specs:
                raise ValueError(
                    f"{where}: model name {spec.name!r} is already registered by {specs[spec.name].source}"
                )
            specs[spec.name] = spec
        pairs.extend(ModelPair(general=g, medical=m) for g, m in plugin_pairs)
    for pair in pairs:
        for name in (pair.general, pair.medical):
            if name not in specs:
                raise ValueError(
                    f"pair {pair.general} -> {pair.medical}: no model named {name!r} is registered"
                )
    return specs, tuple(pairs)


def _split_payload(payload: Any, where: str) -> tuple[list[Any], list[tuple[str, str]]]:
    """A plugin returns a list of models, or a mapping {"models": [...], "pairs": [[general, medical], ...]}."""
    if isinstance(payload, Mapping):
        models = list(payload.get("models", ()))
        pairs = [tuple(p) for p in payload.get("pairs", ())]
        bad = [p for p in pairs if len(p) != 2]
        if bad:
            raise ValueError(f"{where}: each pair must be [general, medical], got {bad[0]!r}")
        return models, pairs
    if isinstance(payload, Iterable) and not isinstance(payload, str | bytes):
        return list(payload), []
    raise TypeError(
        f"{where}: expected a list of models or a mapping with 'models'/'pairs', got {type(payload).__name__}"
    )


def refresh_registry() -> None:
    """Forget the cached registry (after installing a plugin in the running process)."""
    _registry.cache_clear()


def list_models(role: str | None = None) -> list[str]:
    """Registered model names, in registry order (optionally only one role: general/medical/component)."""
    specs, _ = _registry()
    return [name for name, spec in specs.items() if role is None or spec.role == role]


_OVERLAYS: list[dict[str, ModelSpec]] = []


@contextmanager
def registry_overlay(specs: Mapping[str, ModelSpec]) -> Iterator[None]:
    """Within the block, `get_model` answers these names with these specs (a rehearsal's stand-in checkpoints)."""
    _OVERLAYS.append(dict(specs))
    try:
        yield
    finally:
        _OVERLAYS.pop()


def get_model(name: str) -> ModelSpec:
    """The registered ModelSpec called `name` (an active overlay first); the error lists close names."""
    for overlay in reversed(_OVERLAYS):
        if name in overlay:
            return overlay[name]
    specs, _ = _registry()
    try:
        return specs[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(specs), n=3)
        hint = f"; did you mean {close}?" if close else ""
        raise KeyError(
            f"no model named {name!r} in the registry{hint} (a local directory path also works)"
        ) from None


def list_pairs() -> list[ModelPair]:
    """The general → medical pairs (built-in and from plugins)."""
    return list(_registry()[1])


class _PairsView:
    """`PAIRS` behaves like a tuple of ModelPair but reads the registry lazily (plugins load on first use)."""

    def __iter__(self) -> Any:
        return iter(list_pairs())

    def __len__(self) -> int:
        return len(list_pairs())

    def __getitem__(self, index: int) -> ModelPair:
        return list_pairs()[index]

    def __repr__(self) -> str:
        return f"PAIRS({[(p.general, p.medical) for p in list_pairs()]})"


PAIRS = _PairsView()


def spec_from_path(path: str | Path, name: str | None = None) -> ModelSpec:
    """A ModelSpec for a local checkpoint directory, reading its config.json to pick the adapter."""
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"model path {str(directory)!r} is not a directory")
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(
            f"model directory {str(directory)!r} has no config.json (missing file: {config_file})"
        )
    config = json.loads(config_file.read_text(encoding="utf-8"))
    model_type = str(config.get("model_type", ""))
    adapter = "llava" if model_type == "llava" else "hf"
    context = config.get("max_position_embeddings") or (config.get("text_config") or {}).get(
        "max_position_embeddings"
    )
    chat = (directory / "chat_template.jinja").is_file() or "chat_template" in _read_json(
        directory / "tokenizer_config.json"
    )
    return ModelSpec(
        name=name or directory.name,
        hf_id_or_path=str(directory.resolve()),
        family=model_type or "unknown",
        adapter=adapter,
        chat=chat,
        prompt_style="chat" if chat else "default",
        context_length=int(context) if context else None,
        source="path",
    )


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or {} when the file is absent."""
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _chat_template_data() -> dict[str, Any]:
    """data/chat_templates.yaml, parsed."""
    text = files("medadapt.models").joinpath("data/chat_templates.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def study_chat_templates() -> dict[str, str]:
    """The study's chat templates by name (data/chat_templates.yaml, medadapt's only copy)."""
    return {name: str(text) for name, text in _chat_template_data()["templates"].items()}


def family_chat_template(family: str | None) -> str | None:
    """The study's chat template for a model family without one of its own (medopt), or None."""
    name = _chat_template_data().get("families", {}).get(family or "")
    return None if name is None else study_chat_templates()[name]


def chat_template_patch(patch: str | None, current: str | None) -> str | None:
    """The chat template to use given the tokenizer's own (`current`) and a registry patch name (or None)."""
    if patch is None:
        return current
    data = _chat_template_data()
    if patch not in data["patches"]:
        raise KeyError(f"chat_template_patch {patch!r} is unknown; known: {sorted(data['patches'])}")
    rule = data["patches"][patch]
    if rule["when"] == "missing" and current:
        return current
    return study_chat_templates()[rule["template"]]
