"""Per-prompt option token tables → one allowed-ids matrix for the decoder, and its result back to [N, K]."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medadapt.models.protocol import OptionTokensLike

__all__ = ["OptionTable"]


class OptionTable:
    """The option tokens of N prompts (one shared table or one per prompt), flattened for `constrained_logprobs`."""

    def __init__(self, option_tokens: OptionTokensLike | Sequence[OptionTokensLike], n_prompts: int) -> None:
        if hasattr(option_tokens, "padded"):
            per_prompt: list[Any] = [option_tokens] * n_prompts
        else:
            per_prompt = list(option_tokens)
            if len(per_prompt) != n_prompts:
                raise ValueError(
                    f"option_tokens: got {len(per_prompt)} tables for {n_prompts} prompts (pass one shared table or one per prompt)"
                )
        self.per_prompt = per_prompt
        self.tables = [np.asarray(t.padded(), dtype=np.int64) for t in per_prompt]
        for i, table in enumerate(self.tables):
            if table.ndim != 2 or table.shape[0] == 0 or (table < 0).all(axis=1).any():
                raise ValueError(
                    f"option_tokens[{i}]: expected a [K, M] id table with an id in every row, got {table.tolist()}"
                )
        self.n_options = max(t.shape[0] for t in self.tables) if self.tables else 0

    def allowed(self, rows: Sequence[int]) -> np.ndarray:
        """int64 [len(rows), W]: each row's flattened [K*M] table, padded with -1."""
        flat = [self.tables[r].reshape(-1) for r in rows]
        width = max(len(f) for f in flat)
        out = np.full((len(rows), width), -1, dtype=np.int64)
        for i, f in enumerate(flat):
            out[i, : len(f)] = f
        return out

    def combine(self, rows: Sequence[int], variant_logprobs: np.ndarray) -> np.ndarray:
        """[len(rows), W] log-probs of `allowed(rows)` → [len(rows), n_options] per option (-inf pads)."""
        from medadapt.decoding import combine_variants

        out = np.full((len(rows), self.n_options), -np.inf, dtype=np.float32)
        for i, r in enumerate(rows):
            table = self.tables[r]
            k, m = table.shape
            combined = combine_variants(variant_logprobs[i : i + 1, : k * m], self.per_prompt[r])
            out[i, :k] = combined[0]
        return out

    def unique_ids(self, rows: Sequence[int]) -> list[int]:
        """Every token id any of `rows` needs (for engines that take an explicit list, e.g. vLLM)."""
        ids: set[int] = set()
        for r in rows:
            ids.update(int(i) for i in self.tables[r].reshape(-1) if i >= 0)
        return sorted(ids)
