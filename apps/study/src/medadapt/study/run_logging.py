"""The study log (every run writes logs/study.log in its run directory) and what else a study process prints."""

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


def silence_library_progress_bars() -> None:
    """Turn off transformers' tqdm bars in this process. It draws one for every model load and save ("Loading
    weights", "Writing model shards"); a study loads models hundreds of times and shows its own progress, so those
    bars only garble the console and fill CI logs."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:  # a study whose adapters do not use transformers
        return
    transformers_logging.disable_progress_bar()
