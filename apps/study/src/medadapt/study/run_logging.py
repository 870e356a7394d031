"""The study log: every run writes logs/study.log in its run directory."""

from __future__ import annotations

import logging
from pathlib import Path

from medadapt.study.run_dir import log_file


def attach_run_log(run_dir: Path) -> Path:
    """Send the `medadapt` loggers to <run_dir>/logs/study.log (once per process and file)."""
    path = log_file(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("medadapt")
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path.resolve():
            return path
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return path
