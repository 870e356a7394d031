"""Answer extraction: the study's rule exactly (docs/protocol.md#answer-extraction) and the corrected strict rule."""

from __future__ import annotations

import pytest

from medadapt.decoding import extract_answer, majority_vote

OPTIONS = ["heart rate", "blood pressure", "A-fib", "none of the above"]
GOLD = "blood pressure"

STUDY_VERIFIED = [
    ("(B) blood pressure", "B"),
    ("The answer is B.", "B"),
    ("B:", None),
    ("**B**", None),
    ("A 45-year-old man", "A"),
    ("I think (C), not (B)", "C"),
    ("blood pressure", "B"),
    ("blood pressure or heart rate", None),
    ("b", None),
    ("Option B", "B"),
    ("B\n\nQuestion: ...", "B"),
]


@pytest.mark.parametrize(("output", "expected"), STUDY_VERIFIED)
def test_study_mode_reproduces_verified_examples(output: str, expected: str | None) -> None:
    assert extract_answer(output, OPTIONS, GOLD, mode="study") == expected


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("A or B", "A"),  # several candidates: the first wins (the study's bug, kept in this mode)
        ("heart rate", None),  # a wrong option's text alone never maps to its letter
        ("[D]", "D"),
        ("<C>", "C"),
        ("C</s>", "C"),
        ("E.", None),  # only letters up to the number of options
        ("", None),
        ("Blood Pressure!", "B"),  # normalisation: case and punctuation
    ],
)
def test_study_mode_more(output: str, expected: str | None) -> None:
    assert extract_answer(output, OPTIONS, GOLD, mode="study") == expected


def test_study_mode_accepts_gold_letter_and_needs_gold_for_fallback() -> None:
    assert extract_answer("blood pressure", OPTIONS, "B", mode="study") == "B"
    assert extract_answer("blood pressure", OPTIONS, None, mode="study") is None
    with pytest.raises(ValueError, match="answer"):
        extract_answer("x", OPTIONS, "pulse", mode="study")


STRICT = [
    # explicit statements
    ("The answer is B.", "B"),
    ("The correct answer is (C).", "C"),
    ("Answer: D", "D"),
    ("Final answer: **A**", "A"),
    ("the best option is B because it raises preload", "B"),
    ("I can't be certain, but the answer is C.", "C"),
    ("Answer: B) blood pressure", "B"),
    # markdown bold and bare letters
    ("**B**", "B"),
    ("**B. blood pressure**", "B"),
    ("B", "B"),
    ("b", "B"),
    ("(c)", "C"),
    ("B:", "B"),
    ("B: blood pressure", "B"),
    ("D.", "D"),
    ("B\n\nQuestion: ...", "B"),
    ("Option B", "B"),
    ("B is correct", "B"),
    ("C - A-fib", "C"),
    # English words that look like letters
    ("A 45-year-old man presents with chest pain.", None),
    ("I think the answer is (C).", "C"),
    ("A heart rate", "A"),
    # negation and ambiguity
    ("I think (C), not (B)", "C"),
    ("It is C rather than B", "C"),
    ("A or B", None),
    ("Either B or C could be right.", None),
    ("Option A is wrong, option C is right", None),
    # option text
    ("blood pressure", "B"),
    ("It's the blood pressure.", "B"),
    ("heart rate", "A"),
    ("blood pressure or heart rate", None),
    ("none of the above", "D"),
    # refusals and empty output
    ("I cannot answer medical questions.", None),
    ("As an AI, I don't know.", None),
    ("There is not enough information to determine this.", None),
    ("", None),
    ("   ", None),
    ("E", None),
]


@pytest.mark.parametrize(("output", "expected"), STRICT)
def test_strict_mode(output: str, expected: str | None) -> None:
    assert extract_answer(output, OPTIONS, mode="strict") == expected


def test_strict_is_default_and_ignores_gold() -> None:
    assert extract_answer("heart rate", OPTIONS) == "A"
    assert extract_answer("heart rate", OPTIONS, GOLD) == "A"


def test_longer_option_text_wins_over_contained_one() -> None:
    options = ["pressure", "high blood pressure", "fever"]
    assert extract_answer("The patient has high blood pressure", options) == "B"


def test_bad_mode_and_option_counts() -> None:
    with pytest.raises(ValueError, match="mode must be"):
        extract_answer("A", OPTIONS, mode="lenient")
    with pytest.raises(ValueError, match="options"):
        extract_answer("A", [])


@pytest.mark.parametrize(
    ("predictions", "expected"),
    [
        (["A", "B", "B"], "B"),
        (["A", "B"], "A"),  # tie: first seen
        (["B", "A", "A", "B"], "B"),
        ([None, None, "C"], "C"),
        ([None, None], None),
        ([], None),
    ],
)
def test_majority_vote(predictions: list[str | None], expected: str | None) -> None:
    assert majority_vote(predictions) == expected
