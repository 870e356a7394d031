"""Where a base model comes from (a directory or a medadapt-models registry entry) and loading it for training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ModelKind", "ModelSource", "flamingo_recipe", "load_base_model", "load_tokenizer"]

ModelKind = Literal["causal-lm", "llava", "flamingo"]


@dataclass(frozen=True)
class ModelSource:
    """A loadable base: `path` is a local directory or a hub id (offline use wants a directory)."""

    path: str
    revision: str | None = None
    kind: ModelKind = "causal-lm"
    spec: Any = None  # the medadapt-models ModelSpec it came from, if any

    @classmethod
    def of(cls, base: Any) -> ModelSource:
        """Accept a ModelSource, a ModelSpec, a registry name or a checkpoint directory (via medadapt-models)."""
        if isinstance(base, ModelSource):
            return base
        from medadapt.models.checkpoints import resolve_checkpoint
        from medadapt.models.loading import resolve_spec

        spec = resolve_spec(base)
        if spec.lora:
            raise ValueError(
                f"base {spec.name!r}: already carries a LoRA adapter ({spec.lora}); "
                "merge it first (medadapt.finetune.merge_adapter) and fine-tune the merged directory"
            )
        kinds: dict[str, ModelKind] = {"hf": "causal-lm", "vllm": "causal-lm", "llava": "llava", "flamingo": "flamingo"}
        if spec.adapter not in kinds:
            raise ValueError(
                f"base {spec.name!r}: adapter {spec.adapter!r} cannot be fine-tuned here (supported: {sorted(kinds)})"
            )
        if spec.adapter == "flamingo":
            return cls(path=str(flamingo_recipe(spec).checkpoint), kind="flamingo", spec=spec)
        return cls(path=str(resolve_checkpoint(spec)), kind=kinds[spec.adapter], spec=spec)

    @property
    def model_spec(self) -> Any:
        """The medadapt-models ModelSpec of this base (built from the directory when none was given)."""
        if self.spec is not None:
            return self.spec
        from medadapt.models.registry import spec_from_path

        return spec_from_path(self.path)


def flamingo_recipe(spec: Any) -> Any:
    """How medadapt-models builds this Flamingo (checkpoint, language model, vision encoder)."""
    from medadapt.models.flamingo import FlamingoRecipe

    return FlamingoRecipe.of(spec, dict(spec.adapter_options))


def load_base_model(source: ModelSource, dtype: Any) -> Any:
    """The frozen base in `dtype`, with the KV cache off (training)."""
    import transformers

    if source.kind == "flamingo":
        model, _, _ = flamingo_recipe(source.model_spec).build()
        return model.to(dtype)

    model_class: Any = (
        transformers.AutoModelForImageTextToText
        if source.kind == "llava"
        else transformers.AutoModelForCausalLM
    )
    model = model_class.from_pretrained(source.path, revision=source.revision, dtype=dtype)
    model.config.use_cache = False
    return model


def load_tokenizer(source: ModelSource) -> Any:
    """The tokenizer (causal LM) or processor (LLaVA, Flamingo) of the base."""
    if source.kind == "flamingo":
        from medadapt.finetune.flamingo import FlamingoProcessor

        image_processor, tokenizer = flamingo_recipe(source.model_spec).processors()
        return FlamingoProcessor(tokenizer, image_processor)
    if source.kind == "llava":
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(source.path, revision=source.revision)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(source.path, revision=source.revision)
