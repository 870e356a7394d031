"""The literal pools of the study's prompt-format grammar (docs/protocol.md#prompt-grammar), kept exactly as
the study lists them."""

from __future__ import annotations

# Literal pools, exactly as the study lists them (order matters: `random.choice` indexes into them).
SPACES: tuple[str, ...] = ("\n", "\n\n", " || ", " ")
SEPARATORS: tuple[str, ...] = (
    ": ",
    " : ",
    " :: ",
    ":\n",
    "= ",
    " = ",
    " == ",
    "=\n",
    " - ",
    " -- ",
    " --- ",
    "\n",
    "\n\n",
)
OPTION_SPACES: tuple[str, ...] = ("\n", "\n\n", "; ", ";\n", ";\n\n", " || ", " ", ", ")
QUESTION_DESCRIPTORS: tuple[str, ...] = ("", "Question")
OPTIONS_DESCRIPTORS: tuple[str, ...] = ("", "Options", "Choices")
ANSWER_DESCRIPTORS: tuple[str, ...] = ("Answer", "The answer is")
# Names of the six casings applied to every non-empty descriptor, in the study's list order.
CASINGS: tuple[str, ...] = ("identity", "title", "upper", "lower", "heading", "bold")
# Option-letter wrappers, in the study's list order; `{x}` stands for the letter.
WRAPPERS: tuple[str, ...] = ("({x})", "{x}.", "{x})", "{x} )", "[{x}]", "<{x}>")
# The study's F_NUM pool has one member (letters); sampling it still consumes one draw.
NUMBERINGS: tuple[str, ...] = ("letter",)

GRAMMAR_VERSION = "study-fsp-v1"


def allowed_separators(space: str) -> tuple[str, ...]:
    """Separators the grammar allows after `space` (no newline inside when the block space has none)."""
    return SEPARATORS if "\n" in space else tuple(s for s in SEPARATORS if "\n" not in s)


def allowed_option_spaces(space: str) -> tuple[str, ...]:
    """Option spaces the grammar allows after `space` (same newline constraint as separators)."""
    return OPTION_SPACES if "\n" in space else tuple(s for s in OPTION_SPACES if "\n" not in s)
