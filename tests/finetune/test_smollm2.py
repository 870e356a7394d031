"""Continued pretraining of the real SmolLM2-135M-Instruct on PubMedQA abstracts (slow: a real 135M model on CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medadapt.finetune.pretraining import PretrainingSpec, continued_pretraining


@pytest.mark.slow
def test_smollm2_continued_pretraining_gives_a_loadable_medical_model(
    shared_data: Path, tmp_path: Path
) -> None:
    pytest.importorskip("gguf", reason="materialising SmolLM2 needs the gguf package")
    from medadapt.models.loading import load_adapter
    from medadapt.prompts import load_task

    abstracts = [
        e.context for e in load_task("pubmedqa", shared_data, split="test").examples[:20] if e.context
    ]
    spec = PretrainingSpec(max_steps=2, sequence_length=64, batch_size=2)
    out = continued_pretraining(
        "smollm2-135m-instruct", abstracts, tmp_path / "smollm2-med", spec, progress=False
    )
    assert len(json.loads((out / "training.json").read_text())["loss"]) == 2
    model = load_adapter(out, dtype="float32", device="cpu")
    try:
        assert model.generate(["The pancreas"], max_new_tokens=2)[0].status
    finally:
        model.close()
