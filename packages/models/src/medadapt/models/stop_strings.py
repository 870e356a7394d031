"""Stop strings for greedy generation: stop a row once its new text contains one, and cut the text before it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["cut_at_stop", "stop_strings_criteria"]


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """`text` up to (excluding) the earliest stop string, and whether one was found."""
    positions = [p for s in stop if s and (p := text.find(s)) >= 0]
    if not positions:
        return text, False
    return text[: min(positions)], True


def stop_strings_criteria(tokenizer: Any, stop: Sequence[str], prompt_width: int) -> Any:
    """A transformers StoppingCriteria that marks each row done once its decoded new tokens contain a stop string."""
    import torch
    from transformers import StoppingCriteria

    stops = [s for s in stop if s]

    class _StopOnStrings(StoppingCriteria):
        """Per-row check on the decoded continuation (special tokens kept, so '<|eot_id|>' can match)."""

        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> Any:
            new = input_ids[:, prompt_width:].tolist()
            done = [any(s in tokenizer.decode(row, skip_special_tokens=False) for s in stops) for row in new]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return _StopOnStrings()
