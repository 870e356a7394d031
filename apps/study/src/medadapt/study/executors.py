"""Executors: the same waves of model jobs run in this process (default) or as Ray tasks; both fill one store."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from medadapt.study.errors import StudyError
from medadapt.study.model_job import ModelJob, run_model_job
from medadapt.study.progress_bars import bar_advance, progress_bar
from medadapt.study.study_plan import Wave

log = logging.getLogger("medadapt.study")


def run_local(waves: Sequence[Wave], console: Console) -> None:
    """One model at a time in this process; each model is loaded once for all its tasks and candidates."""
    with progress_bar(console) as progress:
        advance = bar_advance(progress)
        for wave in waves:
            for job in wave.jobs:
                log.info("job %s on %s", job.model.get("name") or job.model.get("path"), ", ".join(job.tasks))
                run_model_job(job, advance)


def _ray_job(job: ModelJob) -> list[str]:
    """A Ray task: one (model, task) job, logging into the run directory like the local executor."""
    from medadapt.study.run_logging import attach_run_log, silence_library_progress_bars

    attach_run_log(Path(job.run_dir))
    silence_library_progress_bars()
    import ray

    log.info("ray job %s on %s: GPUs %s", job.ref.label, ", ".join(job.tasks), sorted(ray.get_gpu_ids()))
    return run_model_job(job, None)


def job_gpus(job: ModelJob, cluster_has_gpus: bool) -> float:
    """GPUs one Ray job asks for: the model's `execution.gpus`, else its vLLM tensor-parallel size, else 1 (0 on a
    cluster without GPUs)."""
    from medadapt.study.execution import ray_gpus, resolve_engine
    from medadapt.study.model_identity import resolve_spec
    from medadapt.study.model_job import execution_of

    execution = execution_of(job.study, job.ref)
    return ray_gpus(execution, resolve_engine(execution, resolve_spec(job.ref)), cluster_has_gpus)


def run_ray(waves: Sequence[Wave], address: str, console: Console, gpus_per_task: float | None = None) -> None:
    """Each (model, task) job as a Ray task with the model's GPUs (`job_gpus`; `gpus_per_task` overrides every
    model); waves in order."""
    try:
        import ray
    except ImportError:
        raise StudyError("the Ray executor needs Ray: pip install 'medadapt-study[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
        if address == "local":
            ray.init(**kwargs)
        else:
            ray.init(address=address, **kwargs)
    try:
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
        remote = ray.remote(max_retries=0)(_ray_job)

        def submit(job: ModelJob) -> Any:
            gpus = gpus_per_task if gpus_per_task is not None else job_gpus(job, cluster_gpus > 0)
            if gpus > cluster_gpus > 0 or (gpus > 0 and cluster_gpus == 0):
                # Ray would wait forever for resources that never come.
                raise StudyError(f"model {job.ref.label!r} asks {gpus:g} GPUs per job; the Ray cluster has "
                                 f"{cluster_gpus:g}")
            return remote.options(num_gpus=gpus).remote(job)

        with progress_bar(console) as progress:
            for wave in waves:
                bar = progress.add_task(f"ray · {wave.name} models", total=len(wave.jobs))
                pending = {submit(job): job for job in wave.jobs}
                while pending:
                    done, _ = ray.wait(list(pending), num_returns=1)
                    for ref in done:
                        job = pending.pop(ref)
                        try:
                            ray.get(ref)
                        except ray.exceptions.RayTaskError as exc:
                            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                            if isinstance(cause, StudyError):
                                raise cause from None
                            raise StudyError(f"Ray job {job.model} on {job.tasks} failed: {cause}") from None
                        progress.advance(bar)
    finally:
        if started_here:
            ray.shutdown()
