"""Answer options for closed-ended VQA questions (docs/protocol.md#datasets-and-tasks): yes/no, SLAKE's rules,
and a question parser."""

from __future__ import annotations

import re

YES_NO: tuple[str, ...] = ("yes", "no")
EXTRA_ANSWERS: tuple[str, ...] = ("both", "almost the same")
# The study's hand-written SLAKE rules (question -> options); our description of the
# study quotes these two of its 28.
SLAKE_STUDY_RULES: dict[str, tuple[str, ...]] = {
    "Is this a t1 weighted or t2 weighted mri image?": ("t1", "t2"),
    "Which is the smallest in this image,spleen,left kidney or liver?": ("left kidney", "liver"),
}
_ARTICLE = re.compile(r"^(?:an?|the)\s+")
_WEIGHTED = re.compile(r"\b(t[12])\s+weighted\b")


def normalise_answer(answer: object) -> str:
    """Answers compare lower-cased and stripped (VQA-RAD has ints and mixed case)."""
    return str(answer).strip().lower()


def study_generic_options(question: str) -> list[str]:
    """The study's generic parser: text after the first comma, '?' stripped, commas and every 'or' removed, split."""
    tail = question.split(",", 1)[1] if "," in question else question
    tail = tail.replace("?", "").replace(",", "").replace("or", "")
    return tail.lower().split()


def parsed_options(question: str) -> list[str]:
    """Alternatives named in the question ('..., a, b or c?' / 'x or y?'), whole words only, order kept."""
    text = _WEIGHTED.sub(r"\1", question.lower().replace("?", " ")).strip()
    if "," in text:
        tail = text.split(",", 1)[1]
        parts = [p for p in re.split(r",|\bor\b", tail)]
    else:
        match = re.search(r"([\w-]+)\s+or\s+(?:an?\s+|the\s+)?([\w-]+)", text)
        parts = list(match.groups()) if match else []
    options: list[str] = []
    for part in parts:
        cleaned = _ARTICLE.sub("", part.strip()).strip()
        if cleaned and cleaned not in options:
            options.append(cleaned)
    return options if len(options) >= 2 else []


def closed_options(
    question: str, answer: str, *, study_compat: bool, rules: dict[str, tuple[str, ...]] | None = None
) -> list[str]:
    """Options of a closed question: yes/no for yes/no answers, else a rule, else parsed from the question."""
    if answer in YES_NO:
        return list(YES_NO)
    if rules and question in rules:
        options = list(rules[question])
    elif study_compat:
        options = study_generic_options(question)
    else:
        options = parsed_options(question)
    if answer in EXTRA_ANSWERS and answer not in options:
        options.append(answer)
    return options
