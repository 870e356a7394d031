"""The Flamingo stand-in of a rehearsal: a tiny language model, open_clip's smallest ViT and a saved checkpoint.

open-flamingo lives in its own environment (`hatch run flamingo:…`); without it a Flamingo model cannot be
rehearsed, and the error says which extra to install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from medadapt.study.errors import StudyError

CHECKPOINT_FILE = "checkpoint.pt"
# open_clip's smallest ViT, random-initialised (no pretrained tag): Flamingo's real ViT-L-14 is too big for a CPU.
VISION_ENCODER = "ViT-B-32"


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
    """A stand-in spec: `lang/` (tiny Llama, no chat template) + a random Flamingo's state dict, built once."""
    require_open_flamingo(spec.name)
    from medadapt.models.cache import build_once
    from medadapt.models.testing import build_stand_in_lm

    lang = build_stand_in_lm(
        folder.parent / f"{folder.name}-lang", family="llama", context_length=context_length, chat_template=None,
        seed=seed, **tokenizer,
    )
    recipe = {"kind": "stand-in-flamingo", "lang": str(lang), "vision": VISION_ENCODER, "seed": seed, "version": 1}

    def build(tmp: Path) -> None:
        import torch
        from open_flamingo import create_model_and_transforms

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model, _, _ = create_model_and_transforms(
                clip_vision_encoder_path=VISION_ENCODER,
                clip_vision_encoder_pretrained=None,
                lang_encoder_path=str(lang),
                tokenizer_path=str(lang),
                cross_attn_every_n_layers=1,
                use_local_files=True,
                decoder_layers_attr_name="model.layers",
            )
        torch.save({"model_state_dict": model.state_dict()}, tmp / CHECKPOINT_FILE)
        # A config.json marks the folder as a checkpoint directory for the study's checks.
        (tmp / "config.json").write_text('{"model_type": "flamingo"}', encoding="utf-8")

    path = build_once(folder, recipe, build)
    options = {
        **spec.adapter_options,
        "checkpoint_file": CHECKPOINT_FILE,
        "lang_encoder": str(lang),
        "vision_encoder": VISION_ENCODER,
        "cross_attn_every_n_layers": 1,
    }
    return spec.with_overrides(
        hf_id_or_path=str(path), context_length=context_length, adapter_options=options, materializer=None
    )
