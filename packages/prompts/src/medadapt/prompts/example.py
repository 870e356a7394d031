"""`QAExample`: the one shape every task's rows take (multiple choice, optional context and images)."""

from __future__ import annotations

import dataclasses

from medadapt.prompts.prompt_format import option_letters


@dataclasses.dataclass(frozen=True)
class QAExample:
    """One multiple-choice question; `answer` is the gold letter, options are texts in their source order."""

    id: str
    task: str
    split: str
    question: str
    options: tuple[str, ...]
    answer: str
    context: str | None = None
    images: tuple[str, ...] = ()
    group: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))
        object.__setattr__(self, "images", tuple(str(i) for i in self.images))
        where = f"QAExample {self.task}/{self.split}/{self.id}"
        if not self.options:
            raise ValueError(f"{where}: options must not be empty")
        if len(self.options) > 26:
            raise ValueError(f"{where}: at most 26 options are supported, got {len(self.options)}")
        if not all(isinstance(o, str) for o in self.options):
            raise TypeError(f"{where}: options must be strings, got {self.options!r}")
        if self.answer not in self.letters:
            raise ValueError(
                f"{where}: answer must be one of the letters {self.letters}, got {self.answer!r}"
            )

    @property
    def letters(self) -> tuple[str, ...]:
        """Option letters A, B, ... by position."""
        return option_letters(len(self.options))

    @property
    def answer_index(self) -> int:
        """Position of the gold option."""
        return ord(self.answer) - ord("A")

    @property
    def answer_text(self) -> str:
        """Text of the gold option."""
        return self.options[self.answer_index]
