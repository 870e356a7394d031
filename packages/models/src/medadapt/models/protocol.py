"""The one interface every engine implements: score options, generate, declare capabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from medadapt.models.adapter_io import Capabilities, Generation, ScoreResult

__all__ = ["Adapter", "OptionTokensLike"]


class OptionTokensLike(Protocol):
    """What adapters need from medadapt.decoding.OptionTokens: a [K, M] id matrix padded with -1."""

    def padded(self) -> Any: ...


@runtime_checkable
class Adapter(Protocol):
    """A loaded model: a tokenizer for option ids, constrained scoring, greedy generation, and its capabilities."""

    capabilities: Capabilities

    @property
    def tokenizer(self) -> Any: ...

    def score_options(
        self, prompts: Sequence[Any], option_tokens: OptionTokensLike | Sequence[OptionTokensLike]
    ) -> ScoreResult: ...

    def generate(
        self, prompts: Sequence[Any], max_new_tokens: int = 64, stop: Sequence[str] = ()
    ) -> list[Generation]: ...

    def close(self) -> None: ...
