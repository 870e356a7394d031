"""Greedy-output answer extraction: the study's exact rule (mode="study") and a corrected default (mode="strict")."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_PUNCT_TABLE = str.maketrans({ch: " " for ch in string.punctuation})


def option_letters(n_options: int) -> list[str]:
    """A, B, ... for n options: the same letters as medadapt.prompts.option_letters, kept here because decoding
    imports nothing of ours (docs/protocol.md#option-letters)."""
    if not 0 < n_options <= 26:
        raise ValueError(f"options: expected 1..26 options, got {n_options}")
    return [chr(ord("A") + k) for k in range(n_options)]


def normalize_text(text: str) -> str:
    """The study's norm(): punctuation to spaces, strip, lower-case, collapse whitespace."""
    return " ".join(text.translate(_PUNCT_TABLE).strip().lower().split())


def _gold_index(options: Sequence[str], answer: str | None) -> int | None:
    """Index of the gold option, given as its text or as its letter."""
    if answer is None:
        return None
    if answer in options:
        return list(options).index(answer)
    letters = option_letters(len(options))
    if answer in letters:
        return letters.index(answer)
    raise ValueError(f"answer: {answer!r} is neither an option text nor a letter in {letters}")


def extract_answer(
    output: str, options: Sequence[str], answer: str | None = None, mode: str = "strict"
) -> str | None:
    """The option letter a generated answer names, or None when it names none (or several, in strict mode).

    ``answer`` is the gold option (its text or its letter); only mode "study" uses it, for its text fallback.
    """
    if mode == "study":
        return _extract_study(output, options, answer)
    if mode == "strict":
        return _extract_strict(output, options)
    raise ValueError(f"mode must be 'strict' or 'study', got {mode!r}")


def _extract_study(output: str, options: Sequence[str], answer: str | None) -> str | None:
    """The original's parser (docs/protocol.md#answer-extraction), bugs included: first letter candidate wins;
    text fallback only recognises the gold option."""
    letters = option_letters(len(options))
    pattern = r"(?:^|\s|\(|\[|<)(" + "|".join(letters) + r")(?=\s|$|\.|<\/s>|\)|\]|>)"
    candidates = re.findall(pattern, output)
    if candidates:
        return candidates[0]
    gold = _gold_index(options, answer)
    if gold is None:
        return None
    normalized = normalize_text(output)

    def mentions(text: str) -> bool:
        return (
            re.search(r"(?:^|\s)" + re.escape(normalize_text(text)) + r"(?=\s|$|\.|<\/s>)", normalized)
            is not None
        )

    if not mentions(options[gold]):
        return None
    if any(mentions(text) for k, text in enumerate(options) if k != gold):
        return None
    return letters[gold]


# --- strict mode -------------------------------------------------------------------------------------------------

_REFUSAL = re.compile(
    r"\b(?:i\s+(?:can(?:no|')?t|am\s+(?:unable|not\s+able)|'m\s+(?:unable|not\s+able)|do\s+not\s+know|don't\s+know)"
    r"|cannot\s+(?:answer|determine|provide|be\s+determined)|unable\s+to\s+(?:answer|determine)"
    r"|not\s+enough\s+information|insufficient\s+information|as\s+an\s+ai)\b",
    re.IGNORECASE,
)
_NEGATION_BEFORE = re.compile(
    r"(?:\bnot|n't|\brather\s+than|\binstead\s+of|\bexcept|\bexcluding|\bruled?\s+out)\s*(?:option\s+|answer\s+)?[\(\[]?\**$",
    re.IGNORECASE,
)


def _explicit_patterns(letters: str) -> list[re.Pattern[str]]:
    """Phrases that state the final answer outright."""
    cls = f"(?-i:[{letters}])"
    tail = r"(?![A-Za-z0-9])"
    return [
        re.compile(
            r"\b(?:the\s+)?(?:final\s+|correct\s+|best\s+|right\s+)?(?:answer|option|choice)\s*(?:is|would\s+be|=|:)?\s*"
            r"(?:option\s+|choice\s+)?[\*\(\[\"'<]*\s*(" + cls + r")" + tail,
            re.IGNORECASE,
        ),
        re.compile(r"\*\*\s*\(?(" + cls + r")\)?[\.\):]?\s*\*\*"),
    ]


def _is_letter_token(output: str, start: int, end: int, letter: str, options: Sequence[str]) -> bool:
    """Whether a letter at [start, end) stands alone as an answer, not as a word such as "A 45-year-old" or "I think"."""
    before = output[start - 1] if start > 0 else " "
    if not (before.isspace() or before in "([<*\"'"):
        return False
    after = output[end:]
    if after == "" or after[0] in ".):]>*,;\"'" or after.startswith("</s>"):
        return True
    if after[0] in ":-" and (len(after) == 1 or after[1].isspace()):
        return True
    if not after[0].isspace():
        return False
    rest = after.lstrip()
    if rest == "" or after.startswith(("\n", "\r")):
        return True
    if letter in ("A", "I"):  # English words: accept only before the option's own text or "or/and <letter>"
        if re.match(r"(?:or|and|nor|vs\.?)\s+[\(\[]?[A-Z](?![A-Za-z])", rest):
            return True
        index = ord(letter) - ord("A")
        return index < len(options) and normalize_text(rest).startswith(
            normalize_text(options[index]) or "\0"
        )
    return True


def _letter_candidates(output: str, options: Sequence[str], letters: list[str]) -> list[str]:
    """Stand-alone option letters in order, dropping negated ones ("not (B)")."""
    found = []
    for match in re.finditer("[" + "".join(letters) + "]", output):
        letter = match.group(0)
        if not _is_letter_token(output, match.start(), match.end(), letter, options):
            continue
        if _NEGATION_BEFORE.search(output[max(0, match.start() - 30) : match.start()]):
            continue
        found.append(letter)
    return found


def _mentioned_options(output: str, options: Sequence[str]) -> list[int]:
    """Options whose normalised text occurs in the output, dropping ones contained in a longer mentioned option."""
    normalized = f" {normalize_text(output)} "
    hits = [
        k
        for k, text in enumerate(options)
        if normalize_text(text) and f" {normalize_text(text)} " in normalized
    ]
    return [
        k
        for k in hits
        if not any(j != k and normalize_text(options[k]) in normalize_text(options[j]) for j in hits)
    ]


def _extract_strict(output: str, options: Sequence[str]) -> str | None:
    """Corrected rule: an explicit statement, else one unique stand-alone letter, else one unique option text."""
    letters = option_letters(len(options))
    text = output.strip()
    if not text:
        return None
    bare = text.rstrip(".):*").lstrip("(*").strip()
    if len(bare) == 1 and bare.upper() in letters:
        return bare.upper()
    for pattern in _explicit_patterns("".join(letters)):
        stated = set(pattern.findall(text))
        if len(stated) == 1:
            return stated.pop()
        if len(stated) > 1:
            return None
    if _REFUSAL.search(text):
        return None
    candidates = set(_letter_candidates(text, options, letters))
    if len(candidates) == 1:
        return candidates.pop()
    if len(candidates) > 1:
        return None
    mentioned = _mentioned_options(text, options)
    if len(mentioned) == 1:
        return letters[mentioned[0]]
    return None


def majority_vote(predictions: Sequence[str | None]) -> str | None:
    """The study's vote over samples: drop None, most frequent letter, ties to the first seen; None when empty."""
    kept = [p for p in predictions if p is not None]
    if not kept:
        return None
    counts = Counter(kept)
    best = max(counts.values())
    return next(p for p in kept if counts[p] == best)
