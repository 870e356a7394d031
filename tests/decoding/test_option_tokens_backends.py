"""Option token ids for the other tokenizer kinds: HF slow (sentencepiece-backed), a raw SentencePieceProcessor and
tiktoken, each built offline here; every expectation is read from the tokenizer's own encoding, not hard-coded ids."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import medadapt.decoding as dec

LETTERS = ["A", "B", "C", "D"]
CORPUS = [
    f"Question {i}: Which organ pumps blood? A. heart B. liver C. lung D. kidney The answer is ({'ABCD'[i % 4]}). "
    f"Answer: {'ABCD'[(i + 1) % 4]} Answer: yes Answer: no Answer: maybe"
    for i in range(40)
] + ["A B C D", "(A) (B) (C) (D)", "Options: A, B, C or D. Answer: C"] * 10


def _first_after(encode: object, tail: str, text: str) -> int:
    """The first id the tokenizer itself emits for ``text`` after ``tail`` (checked to extend the tail's ids)."""
    head, full = encode(tail), encode(tail + text)  # type: ignore[operator]
    assert full[: len(head)] == head and len(full) > len(head), (head, full)
    return full[len(head)]


# --- sentencepiece: one BPE model with byte fallback (the LLaMA-style setting) and one without -----------------


def _train_spm(model_type: str, byte_fallback: bool) -> bytes:
    spm = pytest.importorskip("sentencepiece")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS),
        model_writer=model,
        model_type=model_type,
        vocab_size=360 if byte_fallback else 90,
        byte_fallback=byte_fallback,
        hard_vocab_limit=False,
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spm") / "tokenizer.model"
    path.write_bytes(_train_spm("bpe", byte_fallback=True))
    return path


@pytest.fixture(scope="module")
def sp(spm_model: Path) -> object:
    spm = pytest.importorskip("sentencepiece")
    processor = spm.SentencePieceProcessor(model_file=str(spm_model))
    pieces = {processor.id_to_piece(i) for i in range(processor.get_piece_size())}
    # the premises of these tests: bare and ▁-prefixed letters are pieces, "Z" is not (it falls back to bytes)
    assert {*LETTERS, *("▁" + c for c in LETTERS), "<0x5A>"} <= pieces and "Z" not in pieces
    return processor


@pytest.fixture(scope="module")
def hf_slow(spm_model: Path) -> object:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("sentencepiece")
    if not hasattr(transformers, "SentencePieceBackend"):  # transformers < 5: the slow class has another name
        pytest.skip("transformers has no SentencePieceBackend")
    return transformers.SentencePieceBackend(
        vocab_file=str(spm_model), unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


def test_hf_slow_tokenizer_is_the_sentencepiece_backed_one(hf_slow: object, sp: object) -> None:
    import sentencepiece
    import transformers

    assert not hf_slow.is_fast
    assert not isinstance(hf_slow, transformers.PreTrainedTokenizerFast)
    assert isinstance(hf_slow.sp_model, sentencepiece.SentencePieceProcessor)
    # it segments exactly as the sentencepiece model does (no tokenizers-library conversion in between)
    for text in ("Answer: A", "The answer is (B)", "Answer:Z"):
        assert hf_slow.encode(text, add_special_tokens=False) == sp.encode(text)


def test_hf_slow_study_policy_is_the_exact_piece_or_unk(hf_slow: object) -> None:
    tokens = dec.option_token_ids(hf_slow, [*LETTERS, "Z"], prompt_tail="Answer:", policy="study")
    for label, ids in zip(LETTERS, tokens.ids, strict=False):
        assert len(ids) == 1 and hf_slow.convert_ids_to_tokens(ids[0]) == label
    assert tokens.ids[-1] == (hf_slow.unk_token_id,)  # docs/protocol.md#constrained-decoding: an unknown label scores <unk>
    assert hf_slow.convert_ids_to_tokens(hf_slow.unk_token_id) == "<unk>"


def test_hf_slow_variants_include_the_marker_and_the_emitted_token(hf_slow: object) -> None:
    vocab = hf_slow.get_vocab()
    tokens = dec.option_token_ids(hf_slow, LETTERS, prompt_tail="Answer:")

    def encode(text: str) -> list[int]:
        return hf_slow.encode(text, add_special_tokens=False)

    for label, ids, seqs in zip(tokens.labels, tokens.ids, tokens.sequences, strict=True):
        emitted = _first_after(encode, "Answer:", " " + label)
        assert hf_slow.convert_ids_to_tokens(emitted) == "▁" + label
        assert {vocab[label], vocab["▁" + label], emitted} <= set(ids)
        assert {hf_slow.decode(list(seq)).strip() for seq in seqs} == {label}
    flat = [i for ids in tokens.ids for i in ids]
    assert len(flat) == len(set(flat))


def test_byte_fallback_label_gets_the_byte_piece(hf_slow: object, sp: object) -> None:
    tokens = dec.option_token_ids(hf_slow, ["A", "Z"], prompt_tail="Answer:")
    byte_z = hf_slow.convert_tokens_to_ids("<0x5A>")
    assert byte_z in tokens.ids[1]
    # (decoded with sentencepiece: the HF slow class's decode leaves byte pieces as "<0x5A>")
    assert {sp.decode(list(seq)).strip() for seq in tokens.sequences[1]} == {"Z"}


def test_bare_marker_first_token_is_refused(hf_slow: object) -> None:
    # " X" and " Z" are both ▁ + a byte piece: first-token scoring cannot tell them apart
    blank = hf_slow.convert_tokens_to_ids("▁")
    with pytest.raises(ValueError, match=f"'X' and 'Z' share first token id {blank};"):
        dec.option_token_ids(hf_slow, ["X", "Z"], prompt_tail="Answer:")


def test_raw_processor_matches_its_own_encoding(sp: object) -> None:
    tokens = dec.option_token_ids(sp, LETTERS, prompt_tail="Answer:")
    for label, ids in zip(tokens.labels, tokens.ids, strict=True):
        emitted = _first_after(sp.encode, "Answer:", " " + label)
        assert sp.id_to_piece(emitted) == "▁" + label
        assert {sp.piece_to_id(label), sp.piece_to_id("▁" + label), emitted} <= set(ids)
    study = dec.option_token_ids(sp, [*LETTERS, "Z"], policy="study")
    assert study.ids == (*((sp.piece_to_id(c),) for c in LETTERS), (sp.unk_id(),))
    assert [sp.id_to_piece(i) for (i,) in study.ids[:-1]] == LETTERS


def test_raw_processor_agrees_with_the_hf_slow_tokenizer(sp: object, hf_slow: object) -> None:
    for labels, tail in ((LETTERS, "Answer:"), (["yes", "no", "maybe"], "Answer:"), (LETTERS, "")):
        for policy in ("study", "variants"):
            assert dec.option_token_ids(sp, labels, tail, policy) == dec.option_token_ids(
                hf_slow, labels, tail, policy
            )


def test_raw_processor_defaults_do_not_leak_into_the_ids(spm_model: Path, sp: object) -> None:
    spm = pytest.importorskip("sentencepiece")
    noisy = spm.SentencePieceProcessor(
        model_file=str(spm_model), add_bos=True, add_eos=True, enable_sampling=True, alpha=0.5, nbest_size=-1
    )
    assert noisy.encode("Answer: A")[0] == noisy.bos_id()  # the processor's own default adds BOS
    want = dec.option_token_ids(sp, [*LETTERS, "maybe"], prompt_tail="Answer:")
    for _ in range(5):  # sampled segmentations would differ between calls
        assert dec.option_token_ids(noisy, [*LETTERS, "maybe"], prompt_tail="Answer:") == want


# --- the unk token is never an option's variant -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sp_no_fallback() -> object:
    spm = pytest.importorskip("sentencepiece")
    processor = spm.SentencePieceProcessor(model_proto=_train_spm("bpe", byte_fallback=False))
    assert processor.encode("Z") and processor.unk_id() in processor.encode("Answer: Z")
    return processor


def test_unknown_label_is_refused_not_scored_as_unk(sp_no_fallback: object) -> None:
    sp = sp_no_fallback
    with pytest.raises(ValueError, match="'Z' has no token"):
        dec.option_token_ids(sp, ["A", "Z"], prompt_tail="Answer:")
    with pytest.raises(ValueError, match="'Z' has no token"):
        dec.option_token_ids(sp, ["A", "Z"])
    tokens = dec.option_token_ids(sp, LETTERS, prompt_tail="Answer:")
    assert sp.unk_id() not in tokens.allowed_ids()
    # the study policy still maps it to <unk>, as the study did
    assert dec.option_token_ids(sp, ["A", "Z"], policy="study").ids[1] == (sp.unk_id(),)


def test_unknown_label_with_a_tokenizers_bpe_unk_token() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Metaspace()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=120, special_tokens=["<unk>"], show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    unk = tok.token_to_id("<unk>")
    assert unk in tok.encode("Answer: Z").ids
    with pytest.raises(ValueError, match="'Z' has no token"):
        dec.option_token_ids(tok, ["A", "Z"], prompt_tail="Answer:")
    assert unk not in dec.option_token_ids(tok, LETTERS, prompt_tail="Answer:").allowed_ids()


# --- tiktoken ---------------------------------------------------------------------------------------------------

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
MERGES = [
    b" A",
    b" B",
    b" C",
    b" D",
    b"An",
    b"Ans",
    b"Answ",
    b"Answe",
    b"Answer",
    b" y",
    b" ye",
    b" yes",
    b" n",
    b" no",
]


@pytest.fixture(scope="module")
def enc() -> object:
    tiktoken = pytest.importorskip("tiktoken")
    ranks = {bytes([b]): b for b in range(256)}
    for merge in MERGES:
        ranks[merge] = len(ranks)
    return tiktoken.Encoding(
        name="medadapt-toy",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": len(ranks)},
    )


def test_tiktoken_study_policy_is_the_single_byte_token(enc: object) -> None:
    tokens = dec.option_token_ids(enc, LETTERS, policy="study")
    assert tokens.ids == tuple((enc.encode_single_token(c.encode()),) for c in LETTERS)
    assert [enc.decode_single_token_bytes(i) for (i,) in tokens.ids] == [c.encode() for c in LETTERS]
    with pytest.raises(ValueError, match="no unk token"):  # tiktoken has no unk to fall back on
        dec.option_token_ids(enc, ["A", "AB"], policy="study")


def test_tiktoken_variants_include_the_space_token_emitted_after_the_tail(enc: object) -> None:
    tokens = dec.option_token_ids(enc, LETTERS, prompt_tail="Answer:")
    for label, ids in zip(tokens.labels, tokens.ids, strict=True):
        emitted = _first_after(enc.encode_ordinary, "Answer:", " " + label)
        assert enc.decode_single_token_bytes(emitted) == b" " + label.encode()
        assert set(ids) == {enc.encode_single_token(label), emitted}


def test_tiktoken_word_options_and_multibyte_labels(enc: object) -> None:
    words = dec.option_token_ids(enc, ["yes", "no"], prompt_tail="Answer:")
    assert (
        enc.encode_single_token(b" yes") in words.ids[0] and enc.encode_single_token(b" no") in words.ids[1]
    )
    for label, seqs in zip(words.labels, words.sequences, strict=True):
        assert {enc.decode(list(seq)).strip() for seq in seqs} == {label}
    # "é" is two byte tokens (its halves are not valid UTF-8 alone): its first byte starts it
    accent = dec.option_token_ids(enc, ["é"], prompt_tail="Answer:")
    assert accent.ids[0][0] == enc.encode_single_token(b"\xc3")
    assert {enc.decode(list(seq)).strip() for seq in accent.sequences[0]} == {"é"}
    with pytest.raises(ValueError, match="share first token id"):
        dec.option_token_ids(enc, ["é", "è"], prompt_tail="Answer:")


def test_tiktoken_and_an_hf_style_wrapper_agree(enc: object) -> None:
    class ByteVocab:
        """The same encoding behind the HF-style duck type with a bytes-keyed vocabulary."""

        def get_vocab(self) -> dict[bytes, int]:
            return {enc.decode_single_token_bytes(i): i for i in range(enc.n_vocab)}

        def convert_tokens_to_ids(self, token: str) -> int | None:
            return self.get_vocab().get(token.encode())

        def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
            return enc.encode_ordinary(text)

    for policy in ("study", "variants"):
        assert dec.option_token_ids(enc, LETTERS, "Answer:", policy) == dec.option_token_ids(
            ByteVocab(), LETTERS, "Answer:", policy
        )


def test_unsupported_tokenizer_names_what_is_missing() -> None:
    with pytest.raises(
        TypeError, match=r"lacks get_vocab\(\), encode\(\), convert_tokens_to_ids\(\) or token_to_id"
    ):
        dec.option_token_ids(object(), LETTERS)

    class EncodeOnly:
        def encode(self, text: str) -> list[int]:
            return [0]

    with pytest.raises(TypeError, match=r"EncodeOnly lacks get_vocab\(\), convert_tokens_to_ids"):
        dec.option_token_ids(EncodeOnly(), LETTERS, policy="study")
