"""The values adapters take and return: model inputs, declared capabilities, scores and generations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = [
    "STATUS_OK",
    "STATUS_TOO_LONG",
    "Capabilities",
    "Generation",
    "ModelInput",
    "ScoreResult",
    "Status",
    "as_model_inputs",
    "best_option",
]

Status = Literal["ok", "too_long"]
STATUS_OK: Status = "ok"
# The prompt does not fit the context window: reported, never scored on a silently truncated prompt.
STATUS_TOO_LONG: Status = "too_long"


@dataclass(frozen=True)
class ModelInput:
    """One prompt: text, and for VLMs the image files it refers to (in order of the image markers).

    `add_special_tokens`: whether the tokenizer adds its special tokens (BOS) to `text`, as the prompt's producer
    decided (medadapt-prompts' `Prompt.add_special_tokens`); None leaves it to the adapter's default (add BOS
    unless the text already starts with it, `tokenization.default_add_special_tokens`).
    """

    text: str
    images: tuple[str, ...] = ()
    add_special_tokens: bool | None = None


def as_model_inputs(prompts: Sequence[Any] | str | ModelInput) -> list[ModelInput]:
    """Accept str, ModelInput, or anything with `.text` (and optionally `.images` and `.add_special_tokens`), e.g.
    medadapt.prompts' Prompt, whose BOS decision is kept."""
    if isinstance(prompts, str | ModelInput) or hasattr(prompts, "text"):
        prompts = [prompts]
    out: list[ModelInput] = []
    for i, prompt in enumerate(prompts):
        if isinstance(prompt, ModelInput):
            out.append(prompt)
        elif isinstance(prompt, str):
            out.append(ModelInput(prompt))
        elif isinstance(getattr(prompt, "text", None), str):
            images = tuple(str(p) for p in getattr(prompt, "images", ()) or ())
            out.append(ModelInput(prompt.text, images, getattr(prompt, "add_special_tokens", None)))
        else:
            raise TypeError(
                f"prompts[{i}]: expected str, ModelInput or an object with .text, got {type(prompt).__name__}"
            )
    return out


@dataclass(frozen=True)
class Capabilities:
    """What a loaded model accepts, so prompt building can adapt (chat template, system turn, length, images)."""

    chat_template: str | None
    system_turn: bool
    context_length: int
    images: bool
    special_tokens: dict[str, str] = field(default_factory=dict)


def best_option(logprobs: Any) -> int | None:
    """Index of the most probable option (first on ties) among finite log-probs; None when none is finite.

    A NaN or infinite log-prob never wins (np.argmax alone would pick a NaN): the study app and
    `ScoreResult.predictions` both predict through this.
    """
    values = np.asarray(logprobs, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return None
    return int(np.argmax(np.where(finite, values, -np.inf)))


@dataclass(frozen=True)
class ScoreResult:
    """Full-vocabulary log-probs of each option's next token(s) for N prompts.

    Attributes:
        logprobs: float32 [N, K]; log P(option k | prompt) over the whole vocabulary (variants of one option are
            log-sum-exp combined); -inf pads prompts with fewer than K options; NaN where status is not "ok".
        logsumexp: float32 [N]; log-sum-exp of the next-token logits (NaN where not "ok").
        top_token: int64 [N]; the unconstrained most probable next token (-1 where not "ok").
        status: per prompt "ok" or "too_long".
        n_tokens: per prompt, its length in tokens (what decided "too_long").
    """

    logprobs: np.ndarray
    logsumexp: np.ndarray
    top_token: np.ndarray
    status: list[str]
    n_tokens: list[int] = field(default_factory=list)

    @classmethod
    def unscored(cls, n_tokens: Sequence[int], n_options: int, longest: int) -> ScoreResult:
        """The result before any forward pass, the one rule every adapter applies: a prompt of more than `longest`
        tokens is "too_long", and every row holds NaN log-probs and -1 until the adapter `fill`s the rows it scores."""
        n = len(n_tokens)
        return cls(
            logprobs=np.full((n, n_options), np.nan, dtype=np.float32),
            logsumexp=np.full(n, np.nan, dtype=np.float32),
            top_token=np.full(n, -1, dtype=np.int64),
            status=[STATUS_OK if k <= longest else STATUS_TOO_LONG for k in n_tokens],
            n_tokens=list(n_tokens),
        )

    def scorable(self) -> list[int]:
        """The rows whose prompts fit (status "ok"), in order."""
        return [i for i, s in enumerate(self.status) if s == STATUS_OK]

    def fill(self, rows: Sequence[int], logprobs: Any, logsumexp: Any, top_token: Any) -> None:
        """Write the scores of `rows` (arrays of len(rows) rows) into the result."""
        self.logprobs[rows] = logprobs
        self.logsumexp[rows] = logsumexp
        self.top_token[rows] = top_token

    @property
    def predictions(self) -> np.ndarray:
        """Index of the best option per prompt (`best_option`); -1 where the prompt was not scored or no option
        has a finite log-prob."""
        best = np.full(len(self.status), -1, dtype=np.int64)
        for i, status in enumerate(self.status):
            choice = best_option(self.logprobs[i]) if status == STATUS_OK else None
            if choice is not None:
                best[i] = choice
        return best

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of prompts that were scored."""
        return np.array([s == STATUS_OK for s in self.status], dtype=bool)


@dataclass(frozen=True)
class Generation:
    """Greedy text for one prompt, cut before the first stop string; `status` says whether it could run."""

    text: str
    status: str = STATUS_OK
    finish_reason: Literal["stop", "eos", "length", "none"] = "length"
    n_tokens: int = 0
