"""Option token ids for byte-level BPE (ĠA) and sentencepiece-like Metaspace (▁A) tokenizers built locally."""

from __future__ import annotations

import numpy as np
import pytest

import medadapt.decoding as dec

tokenizers = pytest.importorskip("tokenizers")

CORPUS = [
    "Question: Which organ pumps blood? A. heart B. liver C. lung D. kidney Answer: A",
    "Question: Is the femur a bone? Options: yes no maybe Answer: yes",
    "The answer is B. The answer is C. The answer is D. Answer: B Answer: C Answer: D",
    "A B C D E ABCD (A) (B) (C) (D) yes no maybe Yes No",
] * 20


def _train(pre_tokenizer: object, decoder: object, special: list[str]) -> object:
    from tokenizers import Tokenizer, models, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoder
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=special, show_progress=False, initial_alphabet=list("ABCDE")
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


@pytest.fixture(scope="module")
def byte_bpe() -> object:
    from tokenizers import decoders, pre_tokenizers

    return _train(pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel(), ["<unk>", "<s>"])


@pytest.fixture(scope="module")
def metaspace() -> object:
    from tokenizers import decoders, pre_tokenizers

    return _train(pre_tokenizers.Metaspace(), decoders.Metaspace(), ["<unk>", "<s>"])


def test_byte_level_variants_include_bare_and_space_prefixed(byte_bpe: object) -> None:
    vocab = byte_bpe.get_vocab()
    tokens = dec.option_token_ids(byte_bpe, ["A", "B", "C", "D"], prompt_tail="Answer:")
    for label, ids in zip(tokens.labels, tokens.ids, strict=True):
        assert vocab[label] in ids
        assert vocab["Ġ" + label] in ids
    assert tokens.padded().shape[0] == 4 and tokens.padded().dtype == np.int64


def test_metaspace_variants_include_sentencepiece_marker(metaspace: object) -> None:
    vocab = metaspace.get_vocab()
    tokens = dec.option_token_ids(metaspace, ["A", "B", "C", "D"], prompt_tail="Answer:")
    for label, ids in zip(tokens.labels, tokens.ids, strict=True):
        assert vocab["▁" + label] in ids
        # the first token the tokenizer itself emits for " A" after the tail is among the variants
        first = metaspace.encode("Answer: " + label).ids[len(metaspace.encode("Answer:").ids)]
        assert first in ids


def test_study_policy_is_the_bare_letter_only(byte_bpe: object, metaspace: object) -> None:
    for tok in (byte_bpe, metaspace):
        vocab = tok.get_vocab()
        tokens = dec.option_token_ids(tok, ["A", "B", "C"], policy="study")
        assert tokens.ids == tuple((vocab[c],) for c in "ABC")
        assert tokens.padded().tolist() == [[vocab["A"]], [vocab["B"]], [vocab["C"]]]


def test_study_policy_maps_unknown_labels_to_unk(metaspace: object) -> None:
    tokens = dec.option_token_ids(metaspace, ["A", "Z"], policy="study")
    assert tokens.ids[1] == (metaspace.token_to_id("<unk>"),)


def test_word_options_first_token_and_full_sequences(byte_bpe: object) -> None:
    tokens = dec.option_token_ids(byte_bpe, ["yes", "no", "maybe"], prompt_tail="Answer:")
    for label, seqs in zip(tokens.labels, tokens.sequences, strict=True):
        assert seqs, label
        decoded = {byte_bpe.decode(list(seq)).strip() for seq in seqs}
        assert decoded == {label}
    assert all(len(ids) >= 1 for ids in tokens.ids)


def test_shared_first_token_is_refused(byte_bpe: object) -> None:
    with pytest.raises(ValueError, match="share first token id"):
        dec.option_token_ids(byte_bpe, ["heart", "heartbeat-x"], prompt_tail="Answer:")


def test_unknown_policy_and_empty_labels(byte_bpe: object) -> None:
    with pytest.raises(ValueError, match="policy must be one of"):
        dec.option_token_ids(byte_bpe, ["A"], policy="bare")
    with pytest.raises(ValueError, match="labels"):
        dec.option_token_ids(byte_bpe, [])


def test_combine_variants_log_sum_exps_each_option(byte_bpe: object) -> None:
    tokens = dec.option_token_ids(byte_bpe, ["A", "B"], prompt_tail="Answer:")
    flat = tokens.allowed_ids()
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, len(byte_bpe.get_vocab()))).astype(np.float32)
    result = dec.constrained_logprobs(logits, np.tile(flat, (3, 1)))
    combined = dec.combine_variants(result.logprobs, tokens)
    assert combined.shape == (3, 2)
    ref = dec.reference_constrained_logprobs(logits, np.tile(flat, (3, 1)), output_dtype=np.float64)
    for k, ids in enumerate(tokens.ids):
        cols = [list(flat).index(i) for i in ids]
        want = np.log(np.exp(ref.logprobs[:, cols]).sum(axis=1))
        np.testing.assert_allclose(combined[:, k], want, rtol=1e-5)
    probs = dec.renormalize(combined)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_hf_fast_tokenizer_wrapper(byte_bpe: object) -> None:
    transformers = pytest.importorskip("transformers")
    hf = transformers.PreTrainedTokenizerFast(tokenizer_object=byte_bpe, unk_token="<unk>")
    raw = dec.option_token_ids(byte_bpe, ["A", "B", "C"], prompt_tail="Answer:")
    wrapped = dec.option_token_ids(hf, ["A", "B", "C"], prompt_tail="Answer:")
    assert wrapped.ids == raw.ids
    assert dec.option_token_ids(hf, ["A", "B"], policy="study").ids == (
        (hf.convert_tokens_to_ids("A"),),
        (hf.convert_tokens_to_ids("B"),),
    )


class _TiktokenLike:
    """A tokenizer whose vocabulary keys are bytes, as tiktoken-style encoders expose them."""

    def get_vocab(self) -> dict[bytes, int]:
        return {b"A": 0, b" A": 1, b"B": 2, b" B": 3, b"\xff": 4}

    def convert_tokens_to_ids(self, token: str) -> int:
        return {"A": 0, "B": 2}[token]

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        table = {" A": 1, " B": 3, "A": 0, "B": 2}
        return [table[text]] if text in table else []


def test_byte_keyed_vocabulary() -> None:
    tokens = dec.option_token_ids(_TiktokenLike(), ["A", "B"])
    assert tokens.ids == ((0, 1), (2, 3))


def test_renormalize_mask_and_empty_rows() -> None:
    lp = np.log(np.array([[0.2, 0.2, 0.1], [0.5, 0.1, 0.1]]))
    np.testing.assert_allclose(dec.renormalize(lp), [[0.4, 0.4, 0.2], [5 / 7, 1 / 7, 1 / 7]])
    masked = dec.renormalize(lp, mask=np.array([[True, False, True], [True, True, True]]))
    np.testing.assert_allclose(masked[0], [2 / 3, 0.0, 1 / 3])
    assert np.isnan(dec.renormalize(np.full((1, 2), -np.inf))).all()
    with pytest.raises(ValueError, match="mask: shape"):
        dec.renormalize(lp, mask=np.ones((1, 3), bool))
