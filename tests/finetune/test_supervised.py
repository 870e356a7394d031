from __future__ import annotations

from pathlib import Path

import pytest

from medadapt.finetune.collate import pad_supervised_batch
from medadapt.finetune.supervised import IGNORE_INDEX, SupervisedPair, encode_pair


@pytest.fixture(scope="module")
def tokenizer(tiny_lm: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_lm)


def test_labels_cover_the_answer_and_eos_only(tokenizer) -> None:  # type: ignore[no-untyped-def]
    pair = SupervisedPair(prompt="Question: Which organ?\nAnswer:", target=" (B) lung", example_id="q1")
    f = encode_pair(tokenizer, pair)
    prompt_ids = tokenizer(pair.prompt)["input_ids"]
    target_ids = tokenizer(pair.target, add_special_tokens=False)["input_ids"]
    assert list(f.input_ids) == prompt_ids + target_ids + [tokenizer.eos_token_id]
    assert f.input_ids[0] == tokenizer.bos_token_id
    assert list(f.labels) == [IGNORE_INDEX] * len(prompt_ids) + target_ids + [tokenizer.eos_token_id]


def test_no_second_bos_when_the_prompt_has_one(tokenizer) -> None:  # type: ignore[no-untyped-def]
    f = encode_pair(tokenizer, SupervisedPair(prompt=tokenizer.bos_token + "Answer:", target=" A"))
    assert f.input_ids.count(tokenizer.bos_token_id) == 1


def test_too_long_examples_raise_with_the_id(tokenizer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"'long'.*max_length=5"):
        encode_pair(
            tokenizer, SupervisedPair(prompt="a b c d e f g h", target=" A", example_id="long"), max_length=5
        )


def test_fixed_collate_keeps_eos_even_when_pad_is_eos(tokenizer) -> None:  # type: ignore[no-untyped-def]
    eos = tokenizer.eos_token_id
    short = encode_pair(tokenizer, SupervisedPair(prompt="Answer:", target=" A"))
    long = encode_pair(tokenizer, SupervisedPair(prompt="Question: x y z\nAnswer:", target=" (B) lung"))
    batch = pad_supervised_batch([short, long], pad_token_id=eos)
    n = len(short.input_ids)
    assert batch["labels"][0, n - 1] == eos  # EOS learned (bug 9 fixed)
    assert batch["attention_mask"][0, n - 1] == 1 and batch["attention_mask"][0, n:].sum() == 0
    assert (batch["labels"][0, n:] == IGNORE_INDEX).all()


def test_study_collate_reproduces_bug_9(tokenizer) -> None:  # type: ignore[no-untyped-def]
    eos = tokenizer.eos_token_id
    f = encode_pair(tokenizer, SupervisedPair(prompt="Answer:", target=" A"))
    batch = pad_supervised_batch([f], pad_token_id=eos, study_compat=True)
    assert batch["labels"][0, -1] == IGNORE_INDEX  # the EOS label is lost
    assert batch["attention_mask"][0, -1] == 0  # and the EOS is not attended
    fixed = pad_supervised_batch([f], pad_token_id=eos)
    assert fixed["labels"][0, -1] == eos


def test_empty_batch_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty batch"):
        pad_supervised_batch([], pad_token_id=0)
