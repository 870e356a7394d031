"""Few-shot selection: the study's seeded random draw (STUDY.md §2.4) and TF-IDF nearest neighbours."""

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
