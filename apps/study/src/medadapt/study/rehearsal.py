"""`medadapt rehearse`: a study config run end to end on CPU, every checkpoint a tiny stand-in of its family.

A rehearsal is `medadapt run` (the same `execute_study`), with four substitutions, all recorded in the run
directory (`rehearsal.json`) and printed:
- each model's registry entry points at a tiny random checkpoint that keeps what shapes prompts and inputs: chat
  template or none (and the registry's template patch still applies), the template's special tokens, BOS, Mistral's
  sliding window, the context window scaled down (so the study's over-long prompts stay over-long), LLaVA's image
  token and its count per image, Flamingo's `<image>` / `<|endofchunk|>`;
- each model runs on CPU: its configured execution is checked as the real run checks it, then replaced by its
  family's adapter in float32 with the configured batch sizes (rehearsal_execution.py);
- each task's rows come from a real data root when it has them, else from invented rows of the exact layout;
- the work inside each unit shrinks (validation and test items, generated tokens, training epochs and items,
  bootstrap resamples), never the grid: every candidate prompt, setting, decoding, medopt counterpart and
  fine-tuning trial of the config runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from medadapt.study.config import ModelRef, StudyConfig, load_config
from medadapt.study.errors import StudyError
from medadapt.study.run_dir import REHEARSAL_DATA_DIR, REHEARSAL_FILE, rehearsal_dir

log = logging.getLogger("medadapt.study")


# Registry family → the chat-template patch whose template the family's real tokenizers ship (chat models only).
FAMILY_TEMPLATE = {"llama-3": "llama3-if-missing", "llama-2": "llama2-if-missing", "mistral": "mistral-v0.1"}
# Special tokens a family's real tokenizer has (its chat template and stop strings use them).
FAMILY_SPECIAL_TOKENS = {"llama-3": ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")}
# Mistral-7B-v0.1's attention window (before scaling).
FAMILY_SLIDING_WINDOW = {"mistral": 4096}
# LLaVA-v0 / LLaVA-Med after `merge-llava-delta`: one `<im_patch>` per vision token, 224 px / patch 14 = 256.
LLAVA_IMAGE_TOKEN = "<im_patch>"
LLAVA_TOKENS_PER_IMAGE = 256
LLAVA_EXTRA_TOKENS = ("<im_start>", "<im_end>")
# The stand-ins' tokenizer: a BPE of this size trained on the packaged demo slices cuts medical English about as
# finely as the real checkpoints' tokenizers (4.0 characters per token on PubMedQA abstracts), so a prompt's length
# in stand-in tokens is close to its real length.
STAND_IN_VOCAB = 8192
# The shortest context window among the study's models (MediTron-7B, 2,048 tokens).
SHORTEST_WINDOW = 2048


@dataclass(frozen=True)
class RehearsalScale:
    """How much work each unit does in a rehearsal (the grid itself is never shrunk)."""

    val_items: int = 1
    test_items: int = 4
    max_new_tokens: int = 2
    max_epochs: int = 1
    train_items: int = 2
    finetune_batch_size: int = 1
    n_resamples: int = 100
    # Stand-in windows: the registry's context_length / context_divisor (Llama-2's 4096 tokens → 2048), small enough
    # that the study's long notes (EHRNoteQA, n2c2) overflow the short-context models' windows; never below 2,048.
    context_divisor: int = 2


def rehearsal_config(config: StudyConfig, data_dir: Path, scale: RehearsalScale) -> StudyConfig:
    """The config with the rehearsal's data and per-unit limits; grid fields (candidates, settings…) untouched."""
    selection = config.prompt_selection.model_copy(
        update={"max_val_items": min(config.prompt_selection.max_val_items, scale.val_items)}
    )
    limits = config.limits.model_copy(
        update={
            "max_test_items": min(config.limits.max_test_items or scale.test_items, scale.test_items),
            "max_new_tokens": min(config.limits.max_new_tokens, scale.max_new_tokens),
        }
    )
    finetune = config.finetune.model_copy(
        update={
            "max_epochs": min(config.finetune.max_epochs, scale.max_epochs),
            "max_train_items": min(config.finetune.max_train_items or scale.train_items, scale.train_items),
            "batch_size": min(config.finetune.batch_size, scale.finetune_batch_size),
        }
    )
    statistics = config.statistics.model_copy(
        update={"n_resamples": min(config.statistics.n_resamples, scale.n_resamples)}
    )
    return config.model_copy(
        update={
            "name": f"{config.name}-rehearsal",
            "data_dir": data_dir.resolve(),
            "prompt_selection": selection,
            "limits": limits,
            "finetune": finetune,
            "statistics": statistics,
        }
    )


def _seed(name: str) -> int:
    """A per-model seed: the two models of a pair get different random weights."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def _scaled(context_length: int | None, scale: RehearsalScale) -> int:
    """The stand-in's window: the real one scaled down, but never below the study's shortest (MediTron-7B's), where
    the study's few-shot prompts fit: a smaller window would make prompts over-long that the study scored."""
    real = context_length or SHORTEST_WINDOW
    return max(min(real, SHORTEST_WINDOW), real // scale.context_divisor)


def stand_in_template(spec: Any) -> str | None:
    """The chat template the real checkpoint's tokenizer ships: its family's for a chat model, none otherwise.

    A model whose registry entry patches a *missing* template is one whose tokenizer has none, so its stand-in has
    none either and the patch is what gives it one, as with the real checkpoint.
    """
    from medadapt.models.registry import chat_template_patch

    if not spec.chat:
        return None
    patch = spec.chat_template_patch
    # A patch that keeps a template already there applies only where the tokenizer has none.
    if patch is not None and chat_template_patch(patch, "present") == "present":
        return None
    family_patch = FAMILY_TEMPLATE.get(spec.family)
    if family_patch is None:
        from medadapt.models.testing import CHATML_TEMPLATE

        return CHATML_TEMPLATE
    return chat_template_patch(family_patch, None)


def stand_in_corpus() -> list[str]:
    """The text the stand-ins' tokenizer is trained on: every line of the packaged demo slices (MedQA, MMLU, PubMedQA)."""
    from medadapt.study.demo import packaged_path

    lines: list[str] = []
    for path in sorted(packaged_path("demo_data").rglob("*")):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".csv"):
            lines += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines


def build_stand_in(spec: Any, cache: Path, scale: RehearsalScale) -> Any:
    """A copy of the registry spec whose checkpoint is a tiny random stand-in of the same family (built once)."""
    context = _scaled(spec.context_length, scale)
    tokenizer = {"corpus": stand_in_corpus(), "vocab_size": STAND_IN_VOCAB}
    folder = cache / spec.name
    seed = _seed(spec.name)
    if spec.adapter == "hf":
        from medadapt.models.testing import build_stand_in_lm

        window = FAMILY_SLIDING_WINDOW.get(spec.family)
        path = build_stand_in_lm(
            folder,
            family="mistral" if spec.family == "mistral" else "llama",
            context_length=context,
            chat_template=stand_in_template(spec),
            extra_special=FAMILY_SPECIAL_TOKENS.get(spec.family, ()),
            sliding_window=None if window is None else window // scale.context_divisor,
            seed=seed,
            **tokenizer,
        )
        return spec.with_overrides(hf_id_or_path=str(path), context_length=context, materializer=None)
    if spec.adapter == "llava":
        from medadapt.models.testing import build_stand_in_llava

        # Image tokens keep their real count (256 per image), so the window keeps its real size too: halving it
        # would make every 3-shot prompt (4 images, 1,024 image tokens) over-long, which the study's were not.
        context = spec.context_length or context
        path = build_stand_in_llava(
            folder, context_length=context, image_token=LLAVA_IMAGE_TOKEN,
            tokens_per_image=LLAVA_TOKENS_PER_IMAGE, extra_special=LLAVA_EXTRA_TOKENS, seed=seed, **tokenizer,
        )
        return spec.with_overrides(hf_id_or_path=str(path), context_length=context, materializer=None)
    if spec.adapter == "flamingo":
        from medadapt.study.rehearsal_flamingo import build_flamingo_stand_in

        return build_flamingo_stand_in(spec, folder, context, seed, tokenizer)
    raise StudyError(
        f"rehearsal: model {spec.name!r} uses adapter {spec.adapter!r}, which has no stand-in "
        "(known: hf, llava, flamingo)"
    )


def _registry_name(ref: ModelRef, which: str) -> str:
    if ref.path is not None or ref.name is None:
        raise StudyError(
            f"rehearsal: {which} model {ref.label!r} is a local path; a rehearsal replaces registry models only "
            "(register the model, e.g. through a `medadapt.registry` plugin, to rehearse it)"
        )
    return ref.name


def stand_in_specs(
    config: StudyConfig, cache: Path, scale: RehearsalScale, console: Console
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Registry name → real spec, and registry name → stand-in spec, for every model of the study (and the note
    filter's tokenizer model: `note_tokenizer_stand_in`)."""
    from medadapt.study.model_identity import resolve_spec

    real: dict[str, Any] = {}
    specs: dict[str, Any] = {}
    for pair in config.pairs:
        for which, ref in (("general", pair.general), ("medical", pair.medical)):
            name = _registry_name(ref, which)
            if name not in specs:
                real[name] = resolve_spec(ref)
                console.print(f"stand-in for {name}: {real[name].family}/{real[name].adapter}, chat={real[name].chat}")
                specs[name] = build_stand_in(real[name], cache, scale)
    note_tokenizer_stand_in(config, specs, cache, scale, console)
    return real, specs


def note_tokenizer_stand_in(
    config: StudyConfig, specs: dict[str, Any], cache: Path, scale: RehearsalScale, console: Console
) -> None:
    """Add a stand-in for the note filter's tokenizer when it names a registry model that no pair brings (the
    study's default is Llama-2-7B's) and the filter applies to one of the config's tasks: the real checkpoint is
    not on a CPU machine, and the rehearsed filter then counts tokens with the stand-in's tokenizer."""
    from medadapt.models import get_model

    rule = config.note_filter
    if rule is None or rule.tokenizer in specs or Path(rule.tokenizer).expanduser().is_dir():
        return
    if not any(rule.applies_to(task) for task in [*config.tasks, *config.finetune.tasks]):
        return
    try:
        real = get_model(rule.tokenizer)
    except KeyError:
        return  # not a registry model: the study's own note-filter error names it
    console.print(f"stand-in for {rule.tokenizer} (the note filter's tokenizer): {real.family}/{real.adapter}")
    specs[rule.tokenizer] = build_stand_in(real, cache, scale)


def _describe_stand_in(spec: Any) -> dict[str, Any]:
    return {
        "path": spec.hf_id_or_path,
        "family": spec.family,
        "adapter": spec.adapter,
        "chat": spec.chat,
        "chat_template_patch": spec.chat_template_patch,
        "context_length": spec.context_length,
    }


def default_real_data() -> Path | None:
    """The shared data root beside the checkout (`../shared/data`, as CI lays it out), when it exists."""
    candidate = Path.cwd().parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def rehearse(
    config_path: Path,
    out: Path,
    *,
    console: Console,
    real_data: Path | None = None,
    cache_dir: Path | None = None,
    scale: RehearsalScale | None = None,
) -> Path:
    """Rehearse a study config into `out` (its report at out/report/report.json); return the run directory."""
    from medadapt.models.cache import default_cache_dir
    from medadapt.models.registry import registry_overlay
    from medadapt.study.rehearsal_data import build_rehearsal_data
    from medadapt.study.rehearsal_execution import rehearsal_executions
    from medadapt.study.run_logging import silence_library_progress_bars
    from medadapt.study.runner import execute_study, prepare_run_dir

    silence_library_progress_bars()
    scale = scale or RehearsalScale()
    config = load_config(config_path)
    run_dir = Path(out).resolve()
    data_dir = rehearsal_dir(run_dir) / REHEARSAL_DATA_DIR
    cache = (cache_dir or default_cache_dir()) / "rehearsal"
    real, specs = stand_in_specs(config, cache, scale, console)
    on_cpu, executions = rehearsal_executions(config, real, specs)
    rehearsed = rehearsal_config(on_cpu, data_dir, scale)
    prepare_run_dir(run_dir, rehearsed)
    tasks = [*config.tasks, *config.finetune.tasks]
    sources = build_rehearsal_data(tasks, data_dir, real_data)
    record = {
        "config": str(Path(config_path).resolve()),
        "overrides": asdict(scale),
        "stand_ins": {name: _describe_stand_in(spec) for name, spec in specs.items()},
        "execution": executions,
        "data": sources,
    }
    record_path = rehearsal_dir(run_dir) / REHEARSAL_FILE
    record_path.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
    console.print(f"rehearsal of {config_path}: per-unit overrides {asdict(scale)} (grid unchanged)")
    console.print(f"rehearsal record: {record_path}")
    with registry_overlay(specs):
        return execute_study(rehearsed, run_dir, console=console)
