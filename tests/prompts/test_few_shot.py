"""Few-shot selection: the study's seeded random draw (docs/protocol.md#few-shot-demonstrations) and TF-IDF nearest neighbours."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from medadapt.prompts import QAExample, select_shots


def _ex(i: int, question: str) -> QAExample:
    return QAExample(f"t{i}", "medqa-usmle", "train", question, ("a", "b", "c", "d"), "A")


TRAIN = [
    _ex(0, "A child presents with a barking cough and stridor."),
    _ex(1, "Which enzyme is deficient in phenylketonuria?"),
    _ex(2, "A man has crushing chest pain radiating to the left arm."),
    _ex(3, "What is the first-line treatment of anaphylaxis?"),
    _ex(4, "An infant with stridor and a barking cough at night."),
    _ex(5, "Which vitamin deficiency causes scurvy?"),
]


def test_random_matches_the_study_draw() -> None:
    for seed in range(10):
        expected = np.arange(len(TRAIN))[np.random.default_rng(seed).permutation(len(TRAIN))][:3]
        shots = select_shots(TRAIN, TRAIN[0], 3, seed=seed)
        assert [s.id for s in shots] == [f"t{i}" for i in expected]
    assert select_shots(TRAIN, TRAIN[0], 0, seed=1) == []
    with pytest.raises(ValueError, match="k=7"):
        select_shots(TRAIN, TRAIN[0], 7, seed=1)


def test_knn_picks_similar_questions_and_never_the_query() -> None:
    query = QAExample(
        "q", "medqa-usmle", "test", "A toddler has a barking cough and inspiratory stridor.", ("a", "b"), "A"
    )
    shots = select_shots(TRAIN, query, 2, method="knn", seed=0)
    assert {s.id for s in shots} == {"t0", "t4"}
    assert "t0" not in {s.id for s in select_shots(TRAIN, TRAIN[0], 3, method="knn", seed=0)}


class _LengthEmbedder:
    """A toy embedder: a question's vector is (length, 1)."""

    def fit(self, texts: Sequence[str]) -> _LengthEmbedder:
        return self

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([[len(t), 1.0] for t in texts])


def test_knn_accepts_a_pluggable_embedder() -> None:
    query = QAExample("q", "medqa-usmle", "test", "x" * 40, ("a", "b"), "A")
    shots = select_shots(TRAIN, query, 1, method="knn", seed=0, embedder=_LengthEmbedder())
    assert len(shots) == 1
    with pytest.raises(ValueError, match="method"):
        select_shots(TRAIN, query, 1, method="bm25", seed=0)  # type: ignore[arg-type]


def _pool(n: int) -> list[QAExample]:
    import random

    rng = random.Random(0)
    words = [f"w{i}" for i in range(3000)]
    return [QAExample(f"p{i}", "medqa-usmle", "train", " ".join(rng.choices(words, k=25)), ("a", "b"), "A") for i in range(n)]


def test_shot_index_matches_select_shots_and_stays_sparse() -> None:
    from scipy.sparse import issparse

    from medadapt.prompts import ShotIndex

    pool = _pool(300)
    index = ShotIndex(pool)
    assert issparse(index.vectors)
    for query in (pool[3], _pool(301)[300]):
        expected = [e.id for e in select_shots(pool, query, 3, method="knn")]
        if query.id == "p3":
            assert "p3" not in {e.id for e in index.select(query, 3)}
        else:
            assert [e.id for e in index.select(query, 3)] == expected


def test_shot_index_serves_a_4000_question_pool_quickly() -> None:
    import time

    from medadapt.prompts import ShotIndex

    pool = _pool(4000)
    start = time.perf_counter()
    index = ShotIndex(pool)
    picks = [index.select(q, 3) for q in pool[:200]]
    assert time.perf_counter() - start < 30  # the dense path took ~88 s and 8 GB for ONE query
    assert all(len(p) == 3 and q.id not in {e.id for e in p} for q, p in zip(pool, picks, strict=False))


def test_embedders_by_name() -> None:
    from medadapt.prompts import TfidfEmbedder, get_embedder

    assert isinstance(get_embedder("tfidf"), TfidfEmbedder)
    assert isinstance(get_embedder("medadapt.prompts:TfidfEmbedder"), TfidfEmbedder)
    with pytest.raises(ValueError, match="unknown embedder 'bert'"):
        get_embedder("bert")
