from __future__ import annotations

import json
from pathlib import Path

import pytest

from medadapt.finetune.pretraining import PretrainingSpec, continued_pretraining, pack_corpus, read_corpus

CORPUS = [
    "Insulin is secreted by the beta cells of the pancreatic islets and lowers blood glucose.",
    "The left ventricle pumps oxygenated blood into the aorta during systole.",
    "Hepatocytes metabolise drugs through cytochrome P450 enzymes in the liver.",
    "The nephron filters plasma in the glomerulus and reabsorbs sodium in the proximal tubule.",
] * 6


def test_pack_corpus_separates_documents_and_fills_blocks(tiny_lm: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    blocks = pack_corpus(tokenizer, CORPUS[:4], 16)
    assert blocks and all(len(b) == 16 for b in blocks)
    flat = [t for b in blocks for t in b]
    assert tokenizer.eos_token_id in flat and flat[0] == tokenizer.bos_token_id
    with pytest.raises(ValueError, match="sequence_length=100000"):
        pack_corpus(tokenizer, CORPUS[:1], 100_000)


def test_read_corpus_jsonl_names_the_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "c.jsonl"
    good.write_text('{"text": "a b"}\n\n{"text": "c"}\n')
    assert read_corpus(good) == ["a b", "c"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"body": "b"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        read_corpus(bad)


@pytest.mark.parametrize("method", ["lora", "full"])
def test_continued_pretraining_lowers_the_loss_and_saves_a_loadable_model(
    tiny_lm: Path, tmp_path: Path, method: str
) -> None:
    from transformers import AutoModelForCausalLM

    spec = PretrainingSpec(method=method, max_steps=30, sequence_length=32, batch_size=4, learning_rate=3e-3)
    out = continued_pretraining(tiny_lm, CORPUS, tmp_path / "medical", spec, progress=False)
    record = json.loads((out / "training.json").read_text())
    losses = record["loss"]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5
    model = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in n for n, _ in model.named_parameters())  # merged: a plain checkpoint
    assert (out / "tokenizer_config.json").is_file()
