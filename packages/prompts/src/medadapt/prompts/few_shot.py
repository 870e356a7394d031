"""Few-shot demonstrations: the study's seeded random draw from train, or nearest neighbours of the question."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from medadapt.prompts.example import QAExample
from medadapt.prompts.tasks.registry import question_text


class Embedder(Protocol):
    """Turns texts into vectors; `fit` sees the candidate pool first (TF-IDF needs it, a neural model may ignore it)."""

    def fit(self, texts: Sequence[str]) -> Embedder: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class TfidfEmbedder:
    """Default embedder: scikit-learn TF-IDF (unigrams+bigrams, sublinear tf), no model download."""

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)

    def fit(self, texts: Sequence[str]) -> TfidfEmbedder:
        self._vectorizer.fit(list(texts))
        return self

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectorizer.transform(list(texts)).toarray()


def study_shot_indices(n_train: int, k: int, seed: int) -> list[int]:
    """The study's draw: `np.random.default_rng(seed).permutation(n_train)[:k]` (same demos for every question)."""
    if k > n_train:
        raise ValueError(f"cannot draw k={k} shots from {n_train} training examples")
    return [int(i) for i in np.random.default_rng(seed).permutation(n_train)[:k]]


def _cosine_top_k(pool: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    pool_norm = pool / np.maximum(np.linalg.norm(pool, axis=1, keepdims=True), 1e-12)
    query_norm = query / max(float(np.linalg.norm(query)), 1e-12)
    scores = pool_norm @ query_norm
    # Stable order: higher similarity first, then lower index.
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [int(i) for i in order[:k]]


def select_shots(
    train: Sequence[QAExample],
    query: QAExample,
    k: int,
    *,
    method: Literal["random", "knn"] = "random",
    seed: int = 42,
    embedder: Embedder | None = None,
) -> list[QAExample]:
    """k demonstrations from `train` for `query`; never the query itself (same id) in kNN mode."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if k == 0:
        return []
    if method == "random":
        return [train[i] for i in study_shot_indices(len(train), k, seed)]
    if method != "knn":
        raise ValueError(f"method must be 'random' or 'knn', got {method!r}")
    pool = [e for e in train if not (e.id == query.id and e.task == query.task)]
    if k > len(pool):
        raise ValueError(f"cannot select k={k} neighbours from {len(pool)} training examples")
    model = (embedder or TfidfEmbedder()).fit([question_text(e) for e in pool])
    vectors = np.asarray(model.embed([question_text(e) for e in pool]), dtype=np.float64)
    query_vector = np.asarray(model.embed([question_text(query)]), dtype=np.float64)[0]
    return [pool[i] for i in _cosine_top_k(vectors, query_vector, k)]
