"""`PromptFormat`: one point of the study's grammar as a value that renders prompts and round-trips through YAML."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from medadapt.prompts.format_pools import (
    ANSWER_DESCRIPTORS,
    CASINGS,
    GRAMMAR_VERSION,
    NUMBERINGS,
    OPTIONS_DESCRIPTORS,
    QUESTION_DESCRIPTORS,
    SPACES,
    WRAPPERS,
    allowed_option_spaces,
    allowed_separators,
)
from medadapt.prompts.jinja_sandbox import format_template

# The study's `question` template: header, question, block space, options header, wrapped options.
_QUESTION_SOURCE = (
    "{%- macro question_part(question, options, labels) -%}"
    "{{ q_header }}{{ question }}"
    "{%- if include_options -%}{{ space }}{{ o_header }}"
    "{%- for option in options -%}{%- if not loop.first -%}{{ option_space }}{%- endif -%}"
    "{{ labels[loop.index0] }} {{ option }}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
)
# The study's `answer` template: header, then wrapped letter + text of the answer when there is one.
_ANSWER_SOURCE = (
    "{%- macro answer_part(answer, answer_label) -%}"
    "{{ a_header }}{%- if answer is not none -%}{{ answer_label }} {{ answer }}{%- endif -%}"
    "{%- endmacro -%}"
)
_QUESTION_TEMPLATE = _QUESTION_SOURCE + "{{ question_part(question, options, labels) }}"
_ANSWER_TEMPLATE = _ANSWER_SOURCE + "{{ answer_part(answer, answer_label) }}"
# The study's `full` template: [system + space] (demo + space)* query, the query ending in the answer header.
_FULL_TEMPLATE = (
    _QUESTION_SOURCE + _ANSWER_SOURCE + "{%- if system_prompt -%}{{ system_prompt }}{{ space }}{%- endif -%}"
    "{%- for shot in shots -%}"
    "{{ question_part(shot.question, shot.options, shot.labels) }}{{ space }}"
    "{{ answer_part(shot.answer, shot.answer_label) }}{{ space }}"
    "{%- endfor -%}"
    "{{ question_part(question, options, labels) }}{{ space }}{{ answer_part(none, none) }}"
)

_FIELDS_WITH_POOLS: dict[str, tuple[str, ...]] = {
    "space": SPACES,
    "casing": CASINGS,
    "question_descriptor": QUESTION_DESCRIPTORS,
    "options_descriptor": OPTIONS_DESCRIPTORS,
    "numbering": NUMBERINGS,
    "wrapper": WRAPPERS,
    "answer_descriptor": ANSWER_DESCRIPTORS,
}


class _FormatDumper(yaml.SafeDumper):
    """Writes strings with newlines or edge spaces double-quoted, so that '\\n' reads as it is."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if value != value.strip(" ") or "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_FormatDumper.add_representer(str, _represent_str)


def apply_casing(casing: str, text: str) -> str:
    """The grammar's F_CASE applied to a descriptor."""
    if casing == "identity":
        return text
    if casing == "title":
        return text.title()
    if casing == "upper":
        return text.upper()
    if casing == "lower":
        return text.lower()
    if casing == "heading":
        return f"### {text}"
    if casing == "bold":
        return f"**{text}**"
    raise ValueError(f"casing must be one of {CASINGS}, got {casing!r}")


def option_letters(n_options: int) -> tuple[str, ...]:
    """Letters A, B, ... for `n_options` options (the study's F_NUM); medadapt.decoding keeps the same rule for
    answer extraction (docs/protocol.md#option-letters)."""
    if not 0 <= n_options <= 26:
        raise ValueError(f"n_options must be between 0 and 26, got {n_options}")
    return tuple(chr(ord("A") + i) for i in range(n_options))


@dataclasses.dataclass(frozen=True)
class PromptFormat:
    """One sampled format of the grammar; stored as data (YAML) so results never depend on re-deriving a seed."""

    space: str
    separator: str
    option_space: str
    casing: str
    question_descriptor: str
    options_descriptor: str
    wrapper: str
    answer_descriptor: str
    numbering: str = "letter"
    include_options: bool = True
    seed: int | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name, pool in _FIELDS_WITH_POOLS.items():
            value = getattr(self, name)
            if value not in pool:
                raise ValueError(f"PromptFormat.{name} must be one of {pool!r}, got {value!r}")
        if self.separator not in allowed_separators(self.space):
            raise ValueError(
                f"PromptFormat.separator {self.separator!r} is not allowed with space {self.space!r} "
                f"(allowed: {allowed_separators(self.space)!r})"
            )
        if self.option_space not in allowed_option_spaces(self.space):
            raise ValueError(
                f"PromptFormat.option_space {self.option_space!r} is not allowed with space {self.space!r} "
                f"(allowed: {allowed_option_spaces(self.space)!r})"
            )

    # --- headers -------------------------------------------------------------------------------------------
    def _header(self, descriptor: str) -> str:
        return "" if descriptor == "" else apply_casing(self.casing, descriptor) + self.separator

    @property
    def question_header(self) -> str:
        """Text before the question ('' when the question descriptor is empty)."""
        return self._header(self.question_descriptor)

    @property
    def options_header(self) -> str:
        """Text before the option list ('' when the options descriptor is empty)."""
        return self._header(self.options_descriptor)

    @property
    def answer_header(self) -> str:
        """Text before the answer; the query ends with it."""
        return self._header(self.answer_descriptor)

    @property
    def stop_headers(self) -> list[str]:
        """Non-empty, de-duplicated headers, used as extra stop strings in greedy decoding
        (docs/protocol.md#greedy-decoding-and-stop-strings)."""
        out: list[str] = []
        for header in (self.question_header, self.options_header, self.answer_header):
            if header and header not in out:
                out.append(header)
        return out

    def option_label(self, index: int) -> str:
        """The wrapped letter of option `index`, e.g. '(B)'."""
        return self.wrapper.format(x=option_letters(index + 1)[index])

    # --- rendering ------------------------------------------------------------------------------------------
    def _variables(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "option_space": self.option_space,
            "q_header": self.question_header,
            "o_header": self.options_header,
            "a_header": self.answer_header,
            "include_options": self.include_options,
        }

    def _labels(self, options: Sequence[str]) -> list[str]:
        return [self.option_label(i) for i in range(len(options))]

    def _answer_label(self, options: Sequence[str], answer: str) -> str:
        try:
            return self.option_label(list(options).index(answer))
        except ValueError:
            raise ValueError(f"answer {answer!r} is not one of the options {list(options)!r}") from None

    def render_question(self, question: str, options: Sequence[str]) -> str:
        """The question block: header, question, then (block space, options header, options)."""
        return format_template(_QUESTION_TEMPLATE).render(
            **self._variables(), question=question, options=list(options), labels=self._labels(options)
        )

    def render_answer(self, options: Sequence[str], answer_text: str | None) -> str:
        """The answer block: header, plus wrapped letter and text when `answer_text` is given."""
        label = None if answer_text is None else self._answer_label(options, answer_text)
        return format_template(_ANSWER_TEMPLATE).render(
            **self._variables(), answer=answer_text, answer_label=label
        )

    def render(
        self,
        question: str,
        options: Sequence[str],
        shots: Sequence[tuple[str, Sequence[str], str]] = (),
        system_prompt: str | None = None,
    ) -> str:
        """The study's `full` template: system prompt, demos (question, options, gold answer text), the query."""
        shot_vars = []
        for i, shot in enumerate(shots):
            if len(shot) != 3:
                raise ValueError(f"shots[{i}] must be (question, options, answer_text), got {shot!r}")
            shot_question, shot_options, shot_answer = shot
            shot_vars.append(
                {
                    "question": shot_question,
                    "options": list(shot_options),
                    "labels": self._labels(shot_options),
                    "answer": shot_answer,
                    "answer_label": self._answer_label(shot_options, shot_answer),
                }
            )
        return format_template(_FULL_TEMPLATE).render(
            **self._variables(),
            system_prompt=system_prompt,
            shots=shot_vars,
            question=question,
            options=list(options),
            labels=self._labels(options),
        )

    # --- serialisation --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain data, tagged with the grammar version; `seed` records provenance only."""
        data: dict[str, Any] = {"grammar": GRAMMAR_VERSION}
        for field in dataclasses.fields(self):
            data[field.name] = getattr(self, field.name)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromptFormat:
        """Inverse of `to_dict`; unknown keys or another grammar version are errors."""
        if not isinstance(data, Mapping):
            raise TypeError(f"PromptFormat.from_dict expects a mapping, got {type(data).__name__}")
        values = dict(data)
        grammar = values.pop("grammar", GRAMMAR_VERSION)
        if grammar != GRAMMAR_VERSION:
            raise ValueError(
                f"PromptFormat: grammar {grammar!r} is not supported (expected {GRAMMAR_VERSION!r})"
            )
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"PromptFormat: unknown keys {unknown} (known: {sorted(names)})")
        try:
            return cls(**values)
        except TypeError as err:
            raise ValueError(f"PromptFormat: {err}") from err

    def to_yaml(self) -> str:
        """YAML text of `to_dict()` (strings quoted so that spaces and newlines survive)."""
        return yaml.dump(self.to_dict(), Dumper=_FormatDumper, sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text: str) -> PromptFormat:
        """Inverse of `to_yaml`."""
        data = yaml.safe_load(text)
        return cls.from_dict(data)
