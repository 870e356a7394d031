"""Find an adapter implementation by name (entry points `medadapt.adapters`) and load a model with it."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from medadapt.models.protocol import Adapter
from medadapt.models.registry import ModelSpec, get_model, spec_from_path

__all__ = ["ADAPTER_GROUP", "adapter_factory", "list_adapters", "load_adapter", "resolve_spec"]

ADAPTER_GROUP = "medadapt.adapters"

# The extra to install for each built-in adapter's heavy dependency, for the error message.
_EXTRAS = {"vllm": "vllm", "llava": "llava", "flamingo": "flamingo"}


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ADAPTER_GROUP)}


def list_adapters() -> list[str]:
    """Names of every installed adapter (ours and plugins')."""
    return sorted(_entry_points())


def adapter_factory(name: str) -> Any:
    """The callable `factory(spec, **options) -> Adapter` registered under `name`."""
    eps = _entry_points()
    if name not in eps:
        _entry_points.cache_clear()
        eps = _entry_points()
    if name not in eps:
        raise KeyError(
            f"no adapter named {name!r} in entry point group {ADAPTER_GROUP!r}; installed: {sorted(eps)}"
        )
    return eps[name].load()


def resolve_spec(spec: ModelSpec | str | Path) -> ModelSpec:
    """A ModelSpec from a spec, a registry name, or a local checkpoint directory."""
    if isinstance(spec, ModelSpec):
        return spec
    text = str(spec)
    if isinstance(spec, Path) or Path(text).expanduser().is_dir():
        return spec_from_path(text)
    return get_model(text)


def load_adapter(spec: ModelSpec | str | Path, **overrides: Any) -> Adapter:
    """Load a model: ModelSpec fields in `overrides` replace the spec's; the rest go to the adapter factory."""
    resolved = resolve_spec(spec)
    fields = {k: overrides.pop(k) for k in list(overrides) if k in ModelSpec.model_fields}
    if fields:
        resolved = resolved.with_overrides(**fields)
    factory = adapter_factory(resolved.adapter)
    try:
        return factory(resolved, **overrides)
    except ModuleNotFoundError as err:
        extra = _EXTRAS.get(resolved.adapter) or resolved.extra
        if extra:
            raise ModuleNotFoundError(
                f"adapter {resolved.adapter!r} for model {resolved.name!r} needs {err.name!r}: "
                f"pip install 'medadapt-models[{extra}]'"
            ) from err
        raise
