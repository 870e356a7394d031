"""The Flamingo stand-in of a rehearsal: a tiny language model, a tiny open_clip ViT and a saved checkpoint.

open-flamingo lives in its own environment (`hatch run flamingo:…`); without it a Flamingo model cannot be
rehearsed, and the error says which extra to install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from medadapt.study.errors import StudyError


def require_open_flamingo(model: str) -> None:
    """One clear line when open-flamingo is not importable."""
    if importlib.util.find_spec("open_flamingo") is None:
        raise StudyError(
            f"rehearsal: model {model!r} needs open-flamingo: install medadapt-models[flamingo] "
            "(or run in the flamingo env: `hatch run flamingo:rehearse CONFIG`)"
        )


def build_flamingo_stand_in(
    spec: Any, folder: Path, context_length: int, seed: int, tokenizer: dict[str, Any]
) -> Any:
    """A stand-in spec: `lang/` (tiny Llama, no chat template) + medadapt-models' tiny random Flamingo, built once."""
    require_open_flamingo(spec.name)
    from medadapt.models.testing import build_stand_in_lm, build_tiny_flamingo, tiny_flamingo_options

    lang = build_stand_in_lm(
        folder.parent / f"{folder.name}-lang", family="llama", context_length=context_length, chat_template=None,
        seed=seed, **tokenizer,
    )
    path = build_tiny_flamingo(folder, lang, seed=seed)
    # A config.json marks the folder as a checkpoint directory for the study's checks.
    (path / "config.json").write_text('{"model_type": "flamingo"}', encoding="utf-8")
    options = {**spec.adapter_options, **tiny_flamingo_options(lang)}
    return spec.with_overrides(
        hf_id_or_path=str(path), context_length=context_length, adapter_options=options, materializer=None
    )
