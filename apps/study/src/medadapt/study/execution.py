"""How a model runs: engine, precision, placement, parallelism and batch sizes, from the study config to the adapter.

Every field is optional; `None` means "inherit" (a model's `execution:` over the study's `execution:`) and then
"the engine's own default". Which fields change results, and so enter the run key, is `RESULT_FIELDS`.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medadapt.study.errors import StudyError

if TYPE_CHECKING:
    from medadapt.models import ModelSpec

AUTO = "auto"

# What the built-in adapter factories accept from `Execution` (their keyword arguments; see medadapt.models).
# `batch_size` is also how many prompts the study hands the engine per call, so every engine takes it.
_APP_FIELDS = frozenset({"batch_size", "gpus"})
BUILTIN_OPTIONS: dict[str, frozenset[str]] = {
    "hf": frozenset({"dtype", "device_map", "quantization", "attn_implementation", "max_batch_tokens"}),
    "llava": frozenset({"dtype", "device_map", "max_batch_tokens"}),
    "vllm": frozenset({"dtype", "quantization", "tensor_parallel_size", "max_model_len", "gpu_memory_utilization"}),
    "flamingo": frozenset({"dtype"}),
    "chain": frozenset(),
}
# Adapters with their own forward batch size (vLLM schedules its own batches).
_ADAPTER_BATCH = frozenset({"hf", "llava", "flamingo"})
# bitsandbytes modes of the transformers adapter; vLLM takes its own method names (awq, gptq, fp8, ...).
HF_QUANTIZATION = ("8bit", "4bit")

RESULT_FIELDS = ("engine", "dtype", "quantization", "max_model_len")
"""Fields that change a model's predictions: another engine or precision gives other logits, another context length
other too-long items. Batch sizes, device placement, tensor parallelism, memory fraction, attention kernel and Ray
GPUs only change speed and memory (and last-bit float noise), so a run moved between machines is resumed, not redone."""


def known_engines() -> list[str]:
    """`auto` and every installed adapter (ours and plugins' entry points)."""
    from medadapt.models import list_adapters

    return sorted({AUTO, *list_adapters()})


class Execution(BaseModel):
    """Per-model execution settings (a study-level default that each model's own settings override)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: str | None = Field(
        default=None,
        description="adapter: hf, vllm, llava, flamingo, chain or a plugin's entry-point name; auto (default): the "
        "registry's adapter, and for text models vLLM when it is installed and a GPU is present",
    )
    dtype: str | None = Field(default=None, description="auto, bfloat16, float16 or float32")
    device_map: str | dict[str, Any] | None = Field(default=None, description="transformers device_map, e.g. auto")
    quantization: str | None = Field(default=None, description="hf: 8bit or 4bit; vllm: its method name (awq, fp8)")
    tensor_parallel_size: int | None = Field(default=None, ge=1, description="vLLM: GPUs one model is split over")
    max_model_len: int | None = Field(default=None, ge=1, description="vLLM: context length (default: the model's)")
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1, description="vLLM: GPU memory fraction")
    attn_implementation: str | None = Field(default=None, description="hf: sdpa, eager, flash_attention_2")
    batch_size: int | None = Field(default=None, ge=1, description="prompts per engine call (default limits.batch_size)")
    max_batch_tokens: int | None = Field(default=None, ge=1, description="hf/llava: token budget of one forward batch")
    gpus: float | None = Field(
        default=None, ge=0, description="Ray: GPUs per (model, task) job (default tensor_parallel_size, else 1 on a "
        "cluster with GPUs, else 0)"
    )

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str | None) -> str | None:
        if value is not None and value not in known_engines():
            raise ValueError(f"unknown engine {value!r}; allowed: {', '.join(known_engines())}")
        return value

    def over(self, default: Execution | None) -> Execution:
        """These settings with the unset ones taken from `default`."""
        if default is None:
            return self
        return Execution.model_validate({**default.model_dump(exclude_none=True), **self.model_dump(exclude_none=True)})


def _gpu_present() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _vllm_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("vllm") is not None


def resolve_engine(execution: Execution, spec: ModelSpec) -> str:
    """The adapter that will load the model: the configured engine, else the default a user expects."""
    if execution.engine not in (None, AUTO):
        return str(execution.engine)
    registry = spec.adapter or "hf"
    if registry == "hf" and _vllm_installed() and _gpu_present():
        return "vllm"
    return registry


def _accepted(engine: str) -> frozenset[str] | None:
    """Execution fields an engine takes; None when its factory takes any keyword (a plugin with **options)."""
    if engine in BUILTIN_OPTIONS:
        return BUILTIN_OPTIONS[engine]
    from medadapt.models import adapter_factory

    try:
        factory = adapter_factory(engine)
    except KeyError as exc:
        raise StudyError(str(exc.args[0])) from None
    params = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params) & frozenset(Execution.model_fields)


def check_engine_options(execution: Execution, engine: str, model: str) -> dict[str, Any]:
    """The execution options meant for the engine's factory, checked against what it takes (an option it does not
    take, or a quantization mode it does not know, is an error naming them); whether the engine is installed here
    is not checked, so a rehearsal can check a GPU config on CPU."""
    given = {k: v for k, v in execution.model_dump(exclude_none=True).items() if k not in {"engine", *_APP_FIELDS}}
    accepted = _accepted(engine)
    if accepted is not None:
        refused = sorted(set(given) - accepted)
        if refused:
            takes = ", ".join(sorted(accepted | _APP_FIELDS))
            raise StudyError(
                f"model {model!r}: execution option(s) {', '.join(refused)} are not accepted by engine {engine!r} "
                f"(it accepts: {takes})"
            )
    quantization = given.get("quantization")
    if engine in ("hf", "llava") and quantization is not None and quantization not in HF_QUANTIZATION:
        raise StudyError(
            f"model {model!r}: execution.quantization {quantization!r} is not a mode of engine {engine!r}; "
            f"allowed: {', '.join(HF_QUANTIZATION)}"
        )
    return given


def engine_takes(engine: str, option: str) -> bool:
    """Whether the engine's factory takes this execution option (`batch_size` and `gpus` are the study's own)."""
    accepted = _accepted(engine)
    return option in _APP_FIELDS or accepted is None or option in accepted


def adapter_options(execution: Execution, engine: str, model: str) -> dict[str, Any]:
    """The keyword arguments for the engine's factory; options it does not take are an error naming them."""
    given = check_engine_options(execution, engine, model)
    if engine == "vllm" and not _vllm_installed():
        raise StudyError(f"model {model!r}: engine 'vllm' needs vLLM: pip install 'medadapt-models[vllm]' (or give "
                         "the model another engine)")
    accepted = _accepted(engine)
    takes_batch = engine in _ADAPTER_BATCH or (accepted is not None and engine not in BUILTIN_OPTIONS
                                               and "batch_size" in accepted)
    if execution.batch_size is not None and takes_batch:
        given["batch_size"] = execution.batch_size
    return given


def result_identity(execution: Execution, engine: str) -> dict[str, Any]:
    """The run-key part of the execution settings; empty for the defaults, so keys of default runs do not change."""
    values = {**execution.model_dump(include=set(RESULT_FIELDS), exclude_none=True), "engine": engine}
    if values["engine"] == "hf":
        del values["engine"]
    if values.get("dtype") == AUTO:
        del values["dtype"]
    return values


def ray_gpus(execution: Execution, engine: str, cluster_has_gpus: bool) -> float:
    """GPUs a Ray job of this model asks for."""
    if execution.gpus is not None:
        return float(execution.gpus)
    if not cluster_has_gpus:
        return 0.0
    if engine == "vllm" and execution.tensor_parallel_size:
        return float(execution.tensor_parallel_size)
    return 1.0
