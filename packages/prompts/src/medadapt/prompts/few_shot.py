"""Few-shot demonstrations: the study's seeded random draw from train, or nearest neighbours of the question."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

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

    def embed_sparse(self, texts: Sequence[str]) -> Any:
        """L2-normalised sparse rows: a pool of thousands of questions never becomes a dense pool × vocabulary."""
        return self._vectorizer.transform(list(texts))


EMBEDDERS: dict[str, Callable[[], Embedder]] = {"tfidf": TfidfEmbedder}


def get_embedder(name: str) -> Embedder:
    """A kNN embedder by name: 'tfidf' (built in), or 'package.module:Class' for one of your own (no arguments)."""
    if name in EMBEDDERS:
        return EMBEDDERS[name]()
    module, sep, attr = name.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"unknown embedder {name!r}; built in: {', '.join(EMBEDDERS)}, or 'package.module:Class'")
    import importlib

    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"embedder {name!r} cannot be imported: {exc}") from None
    return factory()  # type: ignore[no-any-return]


class ShotIndex:
    """kNN demonstrations from one pool, fitted once (per task) and queried per question.

    Sparse embedders (TF-IDF) keep the pool as a sparse matrix; a dense embedder's vectors are normalised once.
    """

    def __init__(self, pool: Sequence[QAExample], embedder: Embedder | None = None) -> None:
        self.pool = list(pool)
        self._model = (embedder or TfidfEmbedder()).fit([question_text(e) for e in self.pool])
        self._sparse = hasattr(self._model, "embed_sparse")
        self.vectors = self._embed([question_text(e) for e in self.pool])

    def _embed(self, texts: Sequence[str]) -> Any:
        if self._sparse:
            return self._model.embed_sparse(texts)  # type: ignore[attr-defined]
        dense = np.asarray(self._model.embed(texts), dtype=np.float64)
        return dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)

    def select(self, query: QAExample, k: int) -> list[QAExample]:
        """The k most similar pool questions (cosine; ties: lower pool index first), never the query itself."""
        allowed = [i for i, e in enumerate(self.pool) if not (e.id == query.id and e.task == query.task)]
        if k > len(allowed):
            raise ValueError(f"cannot select k={k} neighbours from {len(allowed)} training examples")
        scores = self.vectors @ self._embed([question_text(query)]).T
        scores = np.asarray(scores.todense() if hasattr(scores, "todense") else scores, dtype=np.float64).ravel()
        # Round away last-bit noise so equal similarities tie, then order by (-score, index).
        scores = np.round(scores, 12)
        mask = np.zeros(len(self.pool), dtype=bool)
        mask[allowed] = True
        order = np.lexsort((np.arange(len(scores)), -np.where(mask, scores, -np.inf)))
        return [self.pool[int(i)] for i in order[:k]]


def study_shot_indices(n_train: int, k: int, seed: int) -> list[int]:
    """The study's draw: `np.random.default_rng(seed).permutation(n_train)[:k]` (same demos for every question)."""
    if k > n_train:
        raise ValueError(f"cannot draw k={k} shots from {n_train} training examples")
    return [int(i) for i in np.random.default_rng(seed).permutation(n_train)[:k]]


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
    # One query: fit on the pool without it (a study fits a ShotIndex once per task and queries it instead).
    return ShotIndex(pool, embedder).select(query, k)
