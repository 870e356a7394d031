"""The `medadapt` command line: run a study, the demo, reports, one-pair comparisons, the model and task lists."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from medadapt.study.errors import StudyError

app = typer.Typer(
    name="medadapt",
    help="Is a medical model better than its base? Paired, prompt-fair, statistically honest comparisons.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="The model registry (built-in and plugins).", no_args_is_help=True)
app.add_typer(models_app, name="models")

console = Console()
F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Turn a StudyError into one line on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StudyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@user_errors
def run(
    config: Annotated[Path, typer.Argument(help="study config (YAML)")],
    out: Annotated[Path | None, typer.Option(help="run directory (default: runs/<study name>)")] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="run on Ray: a cluster address, or 'local' to start a local instance")
    ] = None,
    only: Annotated[
        str | None, typer.Option(help="run a subset: tasks=T1,T2,models=M,settings=S,decodings=D (the report covers all)")
    ] = None,
) -> None:
    """Run, resume or grow a study: selection, test, medopt, fine-tuning, statistics, report."""
    from medadapt.study.growth import parse_only
    from medadapt.study.runner import run_study_file

    subset = parse_only(only) if only is not None else None
    run_study_file(config, out, console=console, ray_address=ray_address, only=subset)


@app.command()
@user_errors
def status(run_dir: Annotated[Path, typer.Argument(help="a study run directory")]) -> None:
    """What a run directory has done and what is left (test units, shards, fine-tuning trials)."""
    from medadapt.study.run_status import print_status

    print_status(run_dir, console)


@app.command()
@user_errors
def rehearse(
    config: Annotated[Path, typer.Argument(help="study config (YAML)")],
    out: Annotated[Path | None, typer.Option(help="run directory (default: runs/<study name>-rehearsal)")] = None,
    data: Annotated[
        Path | None, typer.Option(help="real task data to slice (default: ../shared/data when it exists)")
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="where stand-in models are cached")] = None,
) -> None:
    """Run a config end to end on CPU: tiny stand-ins of every model, small task slices, the full grid."""
    from medadapt.study.config import load_config
    from medadapt.study.rehearsal import default_real_data
    from medadapt.study.rehearsal import rehearse as run_rehearsal

    run_dir = out or Path("runs") / f"{load_config(config).name}-rehearsal"
    run_rehearsal(config, run_dir, console=console, real_data=data or default_real_data(), cache_dir=cache_dir)


@app.command()
@user_errors
def demo(
    out: Annotated[Path, typer.Option(help="run directory")] = Path("runs/demo"),
    tiny: Annotated[bool, typer.Option(help="tiny random models and ~10 items: the whole pipeline in seconds")] = False,
    cache_dir: Annotated[Path | None, typer.Option(help="where built models are cached")] = None,
) -> None:
    """The offline CPU demo: SmolLM2-135M-Instruct vs a medically adapted copy on MMLU-medical, PubMedQA, MedQA."""
    from medadapt.study.demo import run_demo

    run_demo(out, tiny=tiny, cache_dir=cache_dir, console=console)  # the summary ends with report.html's path


@app.command()
@user_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="a study run directory")],
    allow_partial: Annotated[
        bool, typer.Option(help="report an incomplete store too, with its partial cells marked (exit 0)")
    ] = False,
) -> None:
    """Check the store against its plans and recompute the report (tables, verdicts, figures, report.html).

    Exits 2 when a cell is incomplete or inconsistent, unless --allow-partial."""
    from medadapt.study.report.build import build_report

    build_report(run_dir, console=console, allow_partial=allow_partial)


@app.command()
@user_errors
def compare(
    general: Annotated[str, typer.Argument(help="general model: registry name or local path")],
    medical: Annotated[str, typer.Argument(help="medical model: registry name or local path")],
    task: Annotated[str, typer.Argument(help="task name (see `medadapt tasks`)")],
    data_dir: Annotated[Path, typer.Option("--data", help="task data root")],
    out: Annotated[Path | None, typer.Option(help="run directory")] = None,
    setting: Annotated[str, typer.Option(help="zero-shot or <k>-shot")] = "zero-shot",
    decoding: Annotated[str, typer.Option(help="constrained or greedy")] = "constrained",
    max_items: Annotated[int | None, typer.Option(help="first N test items")] = None,
) -> None:
    """Compare one pair on one task (a one-cell study) and print the verdict."""
    from medadapt.study.config import parse_config
    from medadapt.study.runner import execute_study

    data: dict[str, Any] = {
        "name": f"compare-{Path(medical).name}-vs-{Path(general).name}-{task}",
        "data_dir": str(data_dir.resolve()),
        "pairs": [{"general": general, "medical": medical}],
        "tasks": [task],
        "settings": [setting],
        "decodings": [decoding],
        "medopt": False,
        "limits": {"max_test_items": max_items},
    }
    config = parse_config(data, source="medadapt compare", base=Path.cwd())
    execute_study(config, out or Path("runs") / config.name, console=console)


@app.command()
@user_errors
def plan(
    config: Annotated[Path, typer.Argument(help="study config (YAML)")],
    tokens_per_second: Annotated[
        float | None, typer.Option(help="prompt tokens/s of the target hardware (e.g. measured on its GPU)")
    ] = None,
    probe: Annotated[bool, typer.Option(help="measure tokens/s here by scoring a few prompts with the first model")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the rows as JSON")] = None,
) -> None:
    """What the study will score before it runs: prompts, tokens and time per model × task × phase."""
    from medadapt.study.config import load_config
    from medadapt.study.cost_estimate import cost_rows, estimate_costs, probe_tokens_per_second
    from medadapt.study.plan_table import print_plan

    study = load_config(config)
    if probe:
        tokens_per_second = probe_tokens_per_second(study)
        console.print(f"probe: {tokens_per_second:,.0f} prompt tokens/s with {study.models()[0].label} on this machine")
    rows = cost_rows(estimate_costs(study), tokens_per_second)
    print_plan(rows, study, tokens_per_second, console)
    if json_out is not None:
        import json

        json_out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


@app.command()
@user_errors
def tasks() -> None:
    """List the tasks medadapt-prompts knows."""
    from medadapt.prompts import get_task, list_tasks

    for name in list_tasks():
        spec = get_task(name)
        console.print(f"{name}\t{getattr(spec, 'kind', '')}\t{getattr(spec, 'n_options', '')}")


@models_app.command("list")
@user_errors
def models_list() -> None:
    """Registered models (built-in and plugins) and the general → medical pairs."""
    from medadapt.models import get_model, list_models, list_pairs

    for name in list_models():
        spec = get_model(name)
        console.print(f"{name}\t{spec.role}\t{spec.adapter}\t{spec.hf_id_or_path}")
    console.print("pairs:")
    for pair in list_pairs():
        console.print(f"  {pair.general} → {pair.medical}")


@models_app.command("show")
@user_errors
def models_show(name: Annotated[str, typer.Argument(help="registry name")]) -> None:
    """One registry entry in full."""
    from medadapt.models import get_model

    try:
        spec = get_model(name)
    except KeyError as exc:
        raise StudyError(str(exc.args[0])) from None
    for key, value in spec.model_dump().items():
        console.print(f"{key}: {value}")


def main() -> None:  # pragma: no cover - console entry point
    app()
