"""Prompt candidates (docs/protocol.md#model-specific-prompt-selection) and the choice of the best one on validation (strict '>', grid order)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medadapt.study.config import PromptSelection


@dataclass(frozen=True)
class PromptChoice:
    """How a unit's prompts are made: a style's default template or a grammar format, a system prompt, a shot draw."""

    style: str
    chat: bool = False
    format_seed: int | None = None
    format: dict[str, Any] | None = None
    system_prompt: str | None = None
    shot_seed: int | None = None
    # The chat template the prompt's model rendered it with: medopt falls back on it for a model without one.
    chat_template: str | None = None

    @property
    def label(self) -> str:
        """Short text for tables: `default` or `format 3`, with the shot seed when there is one."""
        head = "default" if self.format_seed is None else f"format {self.format_seed}"
        return head if self.shot_seed is None else f"{head}, shots seed {self.shot_seed}"

    def as_data(self) -> dict[str, Any]:
        """The choice as data (the format itself, never only its seed), for run keys and the plan file."""
        data: dict[str, Any] = {
            "style": self.style,
            "chat": self.chat,
            "format_seed": self.format_seed,
            "format": self.format,
            "system_prompt": self.system_prompt,
            "shot_seed": self.shot_seed,
        }
        if self.chat_template is not None:
            data["chat_template"] = self.chat_template
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PromptChoice:
        return cls(**data)


def candidate_grid(
    selection: PromptSelection,
    *,
    style: str,
    system_prompt: str | None,
    shots: int,
    formats: Sequence[dict[str, Any]],
    chat: bool = False,
    chat_template: str | None = None,
) -> list[PromptChoice]:
    """The default prompt first, then each grammar sample; × few-shot seeds (inner) when shots > 0."""
    templates: list[tuple[int | None, dict[str, Any] | None]] = [(None, None)]
    if selection.mode == "model-specific":
        templates += list(enumerate(formats))
    shot_seeds: list[int | None]
    if shots == 0:
        shot_seeds = [None]
    elif selection.mode == "model-specific":
        shot_seeds = list(range(selection.n_shot_seeds))
    else:
        shot_seeds = [selection.test_shot_seed]
    return [
        PromptChoice(
            style=style,
            chat=chat,
            format_seed=seed,
            format=fmt,
            system_prompt=system_prompt,
            shot_seed=shot_seed,
            chat_template=chat_template if chat else None,
        )
        for seed, fmt in templates
        for shot_seed in shot_seeds
    ]


def select_best(accuracies: Sequence[float]) -> int:
    """Index of the best candidate: strictly greater wins, so ties keep the earliest (the default prompt first)."""
    if not accuracies:
        raise ValueError("select_best: no candidates were scored")
    best = 0
    for index, accuracy in enumerate(accuracies):
        if accuracy > accuracies[best]:
            best = index
    return best
