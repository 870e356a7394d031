"""Run sweep trials as Ray Tune trials (optional extra `ray`); each trial still resumes from its own checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from medadapt.finetune.spec import TrialSpec
from medadapt.finetune.training_loop import TrainingCallback

if TYPE_CHECKING:
    from medadapt.finetune.sweep_setup import SweepSetup

__all__ = ["run_trials_with_ray"]


def _import_ray() -> tuple[Any, Any]:
    try:
        import ray
        from ray import tune
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "executor='ray' needs Ray Tune: pip install 'medadapt-finetune[ray]'", name=err.name
        ) from err
    return ray, tune


class _ReportToTune(TrainingCallback):
    """Forward each epoch's losses to Tune, so its dashboard and schedulers see them."""

    def on_epoch_end(self, trial: TrialSpec, row: dict[str, Any]) -> None:
        from ray import tune

        tune.report({k: v for k, v in row.items() if isinstance(v, int | float)})


def run_trials_with_ray(
    setup: SweepSetup,
    trials: Sequence[TrialSpec],
    *,
    address: str | None = None,
    keep_checkpoints: bool = False,
    resources_per_trial: dict[str, float] | None = None,
    max_concurrent_trials: int | None = None,
) -> None:
    """One Tune trial per grid point; results land in the sweep directory (which workers must share)."""
    ray, tune = _import_ray()
    from medadapt.finetune.sweep_setup import run_trial

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    by_index = {t.index: t for t in trials}

    def trainable(config: dict[str, Any]) -> None:
        run_trial(
            setup,
            by_index[int(config["index"])],
            callbacks=[_ReportToTune()],
            progress=False,
            keep_checkpoints=keep_checkpoints,
        )

    resources = resources_per_trial or {"cpu": 1, "gpu": 1 if ray.cluster_resources().get("GPU") else 0}
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        param_space={"index": tune.grid_search(sorted(by_index))},
        tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent_trials),
        run_config=tune.RunConfig(name="medadapt-sweep", storage_path=str(setup.out_dir / "ray")),
    )
    try:
        grid = tuner.fit()
        errors = [str(r.error) for r in grid if r.error is not None]
        if errors:
            raise RuntimeError(f"ray executor: {len(errors)} trial(s) failed; first: {errors[0]}")
    finally:
        if started_here:
            ray.shutdown()
