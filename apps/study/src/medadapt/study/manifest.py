"""What a run records about where and with what it ran: library versions, seeds, hardware, the config."""

from __future__ import annotations

import logging
import os
import platform
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from medadapt.study.config import StudyConfig, config_to_dict
from medadapt.study.run_dir import MANIFEST_FILE
from medadapt.study.store_files import write_json_atomic

log = logging.getLogger("medadapt.study")

LIBRARIES = (
    "medadapt-study",
    "medadapt-prompts",
    "medadapt-decoding",
    "medadapt-models",
    "medadapt-finetune",
    "medadapt-stats",
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "numpy",
    "scipy",
    "statsmodels",
    "matplotlib",
    "pydantic",
    "jinja2",
    "ray",
    "vllm",
)


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that can change a result (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def hardware() -> dict[str, Any]:
    """CPU, memory and accelerators of this machine (CUDA probed only when torch is already importable)."""
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["cuda"] = torch.version.cuda
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        else:
            info["gpus"] = []
    except ImportError:  # pragma: no cover - torch is a dependency of medadapt-models
        info["gpus"] = None
    return info


def seeds(config: StudyConfig) -> dict[str, Any]:
    """Every seed the study uses, in one place."""
    selection = config.prompt_selection
    return {
        "format_seeds": list(range(selection.n_formats)) if selection.mode == "model-specific" else [],
        "shot_seeds": list(range(selection.n_shot_seeds)) if selection.mode == "model-specific" else [],
        "test_shot_seed": selection.test_shot_seed,
        "validation_subset_seed": selection.val_seed,
        "bootstrap_seed": config.statistics.seed,
    }


def write_manifest(run_dir: Path, config: StudyConfig, executor: str) -> None:
    """Create or extend the run manifest; every (re)start appends an entry with its own hardware and versions."""
    import json

    path = Path(run_dir) / MANIFEST_FILE
    manifest: dict[str, Any] = {}
    if path.is_file():
        try:
            loaded: Any = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            loaded = None
        if isinstance(loaded, dict) and isinstance(loaded.get("starts", []), list):
            manifest = loaded
        else:
            # A damaged manifest holds only provenance of earlier starts; rebuilt, it says so instead of blocking.
            log.warning("%s is damaged; rebuilding it (the earlier starts' records are lost)", path)
            manifest = {"rebuilt_at": datetime.now(UTC).isoformat(timespec="seconds")}
    manifest["config"] = config_to_dict(config)
    manifest["seeds"] = seeds(config)
    manifest.setdefault("starts", []).append(
        {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "executor": executor,
            "libraries": library_versions(),
            "hardware": hardware(),
            "argv": sys.argv,
        }
    )
    write_json_atomic(path, manifest)
