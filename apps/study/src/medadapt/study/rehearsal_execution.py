"""How a rehearsal runs each stand-in: the config's execution checked as the real run checks it, then made CPU-sized.

A paper config names GPU engines and placements (vLLM with tensor parallelism, `device_map: auto`, 4-bit weights,
Ray GPUs) that a CPU cannot honour. The rehearsal first checks every model's execution against the engine it names,
so a wrong option stops the rehearsal as it would stop the real run (only the engine's installation is not
required), then runs the stand-in on its own family's adapter in float32 with the configured batch sizes, capped.
Both are recorded in rehearsal.json.
"""

from __future__ import annotations

from typing import Any

from medadapt.study.config import ModelRef, Pair, StudyConfig
from medadapt.study.execution import Execution, check_engine_options, engine_takes, resolve_engine
from medadapt.study.model_job import execution_of

CPU_DTYPE = "float32"
# A stand-in batch larger than this only costs memory on CPU (vLLM's 256 would pad 256 long prompts at once).
CPU_MAX_BATCH = 32
# Attention kernels a CPU has; others (flash_attention_2) fall back to the engine's default.
CPU_ATTENTION = ("sdpa", "eager")


def cpu_execution(configured: Execution, real_spec: Any, stand_in: Any, label: str) -> Execution:
    """The stand-in's execution: `configured` checked against its engine, then moved to CPU."""
    engine = resolve_engine(configured, real_spec)
    check_engine_options(configured, engine, label)
    # vLLM and the model's own adapter become the stand-in's adapter; another engine (chain, a plugin) stays.
    target = stand_in.adapter if engine in ("vllm", real_spec.adapter) else engine
    wanted: dict[str, Any] = {"dtype": CPU_DTYPE, "max_batch_tokens": configured.max_batch_tokens}
    if configured.batch_size is not None:
        wanted["batch_size"] = min(configured.batch_size, CPU_MAX_BATCH)
    if configured.attn_implementation in CPU_ATTENTION:
        wanted["attn_implementation"] = configured.attn_implementation
    kept = {k: v for k, v in wanted.items() if v is not None and engine_takes(target, k)}
    return Execution(engine=target, **kept)


def rehearsal_executions(config: StudyConfig, real: dict[str, Any], stand_ins: dict[str, Any]) -> tuple[
    StudyConfig, dict[str, dict[str, Any]]
]:
    """The config with every model's execution moved to CPU (`real`/`stand_ins`: registry name → spec), and the
    record of each change (model → configured and rehearsed execution)."""
    record: dict[str, dict[str, Any]] = {}

    def moved(ref: ModelRef) -> ModelRef:
        configured = execution_of(config, ref)
        rehearsed = cpu_execution(configured, real[ref.label], stand_ins[ref.label], ref.label)
        record[ref.label] = {
            "configured": {**configured.model_dump(exclude_none=True),
                           "engine": resolve_engine(configured, real[ref.label])},
            "rehearsed": rehearsed.model_dump(exclude_none=True),
        }
        return ref.model_copy(update={"execution": rehearsed})

    pairs = [Pair(general=moved(p.general), medical=moved(p.medical)) for p in config.pairs]
    return config.model_copy(update={"pairs": pairs, "execution": Execution()}), record
