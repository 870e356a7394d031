"""The study config a run directory holds (study.yaml): read by the runner, the report and `medadapt status`."""

from __future__ import annotations

from pathlib import Path

import yaml

from medadapt.study.config import StudyConfig, parse_config
from medadapt.study.errors import StudyError
from medadapt.study.run_dir import STUDY_FILE


def read_run_config(run_dir: Path) -> StudyConfig:
    """The resolved config a run directory was made with."""
    path = Path(run_dir) / STUDY_FILE
    if not path.is_file():
        raise StudyError(f"{run_dir} is not a study run directory (no {STUDY_FILE})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise StudyError(f"{path}{where}: the run's study file is damaged ({getattr(exc, 'problem', None) or exc}); "
                         "`medadapt run` with the study's config rebuilds it from manifest.json") from None
    return parse_config(data, source=str(path), base=path.parent)
