"""Plan → execute → aggregate: a study from its config to its report, resumable in the same run directory."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml
from rich.console import Console

from medadapt.study.config import StudyConfig, config_to_dict, load_config
from medadapt.study.errors import StudyError
from medadapt.study.executors import run_local, run_ray
from medadapt.study.growth import Subset, keep_models, only_models, restrict
from medadapt.study.manifest import write_manifest
from medadapt.study.preflight import preflight
from medadapt.study.run_config import read_run_config
from medadapt.study.run_dir import MANIFEST_FILE, STUDY_FILE
from medadapt.study.run_logging import attach_run_log, silence_library_progress_bars
from medadapt.study.store_check import repair_store
from medadapt.study.store_files import write_text_atomic
from medadapt.study.study_plan import plan_waves

log = logging.getLogger("medadapt.study")




def prepare_run_dir(run_dir: Path, config: StudyConfig) -> None:
    """Create the run directory, or accept it for resuming or growing (see growth.check_growth); the config it now
    holds is study.yaml, every config it was started with is in config_history.jsonl."""
    from medadapt.study.growth import check_growth, record_config

    wanted = config_to_dict(config)
    existing = Path(run_dir) / STUDY_FILE
    if existing.is_file():
        changed = check_growth(run_dir, _recorded_config(run_dir, config), config)
        if not changed:
            return
        log.info("run %s grows: %s changed", run_dir, ", ".join(changed))
    elif Path(run_dir).exists() and any(Path(run_dir).iterdir()):
        raise StudyError(f"{run_dir} exists, is not empty and is not a study run directory; use another --out")
    else:
        changed = ["created"]
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_text_atomic(existing, yaml.safe_dump(wanted, sort_keys=True, allow_unicode=True))
    record_config(run_dir, config, changed)


def _recorded_config(run_dir: Path, config: StudyConfig) -> StudyConfig:
    """The config of an existing run directory. A damaged study.yaml is rebuilt when manifest.json records the very
    config this run was started with (the manifest is written from the same resolved config); else refused."""
    import json

    wanted = config_to_dict(config)
    try:
        return read_run_config(run_dir)
    except StudyError:
        try:
            recorded = json.loads((Path(run_dir) / MANIFEST_FILE).read_text(encoding="utf-8")).get("config")
        except (OSError, ValueError, AttributeError):
            recorded = None
        if recorded != wanted:
            raise
    log.warning("%s was damaged; rebuilt from %s", Path(run_dir) / STUDY_FILE, MANIFEST_FILE)
    write_text_atomic(Path(run_dir) / STUDY_FILE, yaml.safe_dump(wanted, sort_keys=True, allow_unicode=True))
    return config


def default_run_dir(config: StudyConfig) -> Path:
    """runs/<study name> under the current directory."""
    return Path("runs") / config.name


def execute_study(
    config: StudyConfig,
    run_dir: Path,
    *,
    console: Console,
    ray_address: str | None = None,
    only: Subset | None = None,
) -> Path:
    """Validate (nothing written on failure), then run every wave (or the `only` subset of them), fine-tune if
    asked, and write the report of the whole config."""
    preflight(config)
    run_dir = Path(run_dir).resolve()
    prepare_run_dir(run_dir, config)
    attach_run_log(run_dir)
    silence_library_progress_bars()
    repair_store(run_dir)
    write_manifest(run_dir, config, executor="ray" if ray_address else "local")
    log.info("study %s in %s", config.name, run_dir)
    scope = config if only is None else restrict(config, only)
    waves = keep_models(plan_waves(scope, run_dir, split_tasks=ray_address is not None), only_models(only))
    if ray_address:
        run_ray(waves, ray_address, console)
    else:
        run_local(waves, console)
    if config.finetune.enabled:
        from medadapt.study.finetune_phase import run_finetune_phase

        run_finetune_phase(scope, run_dir, console)
    from medadapt.study.report.build import build_report

    # A subset run (--only) leaves the rest of the study to later runs: its report is partial and says so.
    build_report(run_dir, console=console, allow_partial=only is not None)
    return run_dir


def run_study_file(
    config_path: Path,
    out: Path | None,
    *,
    console: Console,
    ray_address: str | None = None,
    only: Subset | None = None,
) -> Path:
    """`medadapt run CONFIG [--only ...]`."""
    config = load_config(config_path)
    return execute_study(config, out or default_run_dir(config), console=console, ray_address=ray_address, only=only)
