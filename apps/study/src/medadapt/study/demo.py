"""`medadapt demo`: the whole study on this machine, offline — SmolLM2-135M-Instruct against a copy adapted by a short
medical continued pretraining (built once, cached), on the packaged slices of MMLU anatomy, PubMedQA and MedQA."""

from __future__ import annotations

import importlib.util
import json
import logging
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from medadapt.study.config import parse_config
from medadapt.study.errors import StudyError
from medadapt.study.run_dir import REPORT_HTML, report_dir

log = logging.getLogger("medadapt.study")

# The continued pretraining that turns the general model into the demo's "medical" model: small enough for a CPU.
PRETRAINING: dict[str, dict[str, Any]] = {
    "full": {"max_steps": 8, "batch_size": 2, "sequence_length": 128, "learning_rate": 3e-4},
    "tiny": {"max_steps": 8, "batch_size": 4, "sequence_length": 128, "learning_rate": 1e-3},
}


# Modules `medadapt-study[demo]` adds to a plain install: transformers reads SmolLM2's GGUF only through gguf, and
# fails deep inside with "install torch and gguf" without it.
DEMO_MODULES = ("gguf",)
DEMO_INSTALL = "pip install 'medadapt-study[demo]'"


def require_demo_extra() -> None:
    """Stop before any work when the demo's extra is not installed, saying what to install."""
    missing = [name for name in DEMO_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise StudyError(
            f"the demo needs {', '.join(missing)}, which is not installed: {DEMO_INSTALL} (from a clone: "
            "'apps/study[demo]' beside its sibling folders), or run `medadapt demo --tiny`"
        )


def packaged_path(*parts: str) -> Path:
    """A file or folder shipped inside medadapt.study (demo data, configs)."""
    return Path(str(files("medadapt.study").joinpath(*parts)))


def demo_corpus() -> list[str]:
    """Medical text for the continued pretraining: PubMedQA abstracts of the packaged slice that are NOT test items."""
    data = packaged_path("demo_data", "pubmedqa")
    records = json.loads((data / "ori_pqal.json").read_text(encoding="utf-8"))
    test_ids = set(json.loads((data / "test_ground_truth.json").read_text(encoding="utf-8")))
    texts = []
    for pmid in sorted(records):
        if pmid in test_ids:
            continue
        record = records[pmid]
        texts.append(" ".join([*record["CONTEXTS"], record["LONG_ANSWER"]]))
    return texts


def default_demo_cache() -> Path:
    from medadapt.models.cache import default_cache_dir

    return default_cache_dir() / "demo"


def build_demo_models(
    cache_dir: Path, *, tiny: bool, console: Console, models_cache: Path | None = None
) -> tuple[Path, Path]:
    """The general model and its medically adapted copy (built with medadapt-finetune once, then cached)."""
    from medadapt.finetune import PretrainingSpec

    if tiny:
        from medadapt.models.testing import build_tiny_causal_lm

        general = build_tiny_causal_lm(cache_dir / "tiny-general", family="llama", seed=0)
        medical_dir = cache_dir / "tiny-medical"
        recipe = PRETRAINING["tiny"]
    else:
        from medadapt.models.smollm2 import materialize_smollm2

        console.print("materialising SmolLM2-135M-Instruct (once; ~20 s)")
        general = materialize_smollm2(models_cache)
        medical_dir = cache_dir / "smollm2-135m-medical-demo"
        recipe = PRETRAINING["full"]
    spec = PretrainingSpec(**recipe)
    return Path(general), adapted_model(Path(general), medical_dir, spec, console)


def adapted_model(general: Path, medical_dir: Path, spec: Any, console: Console) -> Path:
    """The continued-pretraining copy of `general`, reused when the cache holds one made with the same spec."""
    from medadapt.finetune import continued_pretraining

    record = medical_dir / "training.json"
    if record.is_file() and (medical_dir / "config.json").is_file():
        made = json.loads(record.read_text(encoding="utf-8"))
        if made.get("spec") == spec.model_dump(mode="json") and made.get("base") == str(general.resolve()):
            return medical_dir
    from medadapt.study.progress_bars import progress_bar

    with progress_bar(console) as progress:
        bar = progress.add_task(f"building the medical model: continued pretraining of {general.name}", total=None)

        def step(done: int, total: int, loss: float) -> None:
            progress.update(bar, completed=done, total=total, description=f"continued pretraining · loss {loss:.3f}")

        return Path(continued_pretraining(general, demo_corpus(), medical_dir, spec, progress=False, on_step=step))


def demo_config(general: Path, medical: Path, *, tiny: bool) -> dict[str, Any]:
    """The shipped demo config with the model paths and the packaged data filled in."""
    name = "demo-tiny.yaml" if tiny else "demo.yaml"
    data = yaml.safe_load(packaged_path("configs", name).read_text(encoding="utf-8"))
    data["data_dir"] = str(packaged_path("demo_data"))
    general_name = "tiny-general" if tiny else "smollm2-135m-instruct"
    medical_name = "tiny-medical" if tiny else "smollm2-135m-medical"
    data["pairs"] = [
        {
            "general": {"name": general_name, "path": str(general), "prompt_style": "chat"},
            "medical": {"name": medical_name, "path": str(medical), "prompt_style": "chat"},
        }
    ]
    return data


def run_demo(out: Path, *, tiny: bool = False, cache_dir: Path | None = None, console: Console) -> Path:
    """Build (or reuse) the two models, run the demo study into `out`, return report.html."""
    from medadapt.study.run_logging import silence_library_progress_bars
    from medadapt.study.runner import execute_study

    if not tiny:
        require_demo_extra()
    silence_library_progress_bars()
    if not packaged_path("demo_data").is_dir():
        raise StudyError("the demo data is missing from this installation of medadapt-study (demo_data/)")
    cache = Path(cache_dir) if cache_dir is not None else default_demo_cache()
    models_cache = cache / "models" if cache_dir is not None else None  # None: medadapt-models' own cache
    general, medical = build_demo_models(cache, tiny=tiny, console=console, models_cache=models_cache)
    config = parse_config(demo_config(general, medical, tiny=tiny), source="demo config", base=Path.cwd())
    run_dir = execute_study(config, out, console=console)
    return report_dir(run_dir) / REPORT_HTML
