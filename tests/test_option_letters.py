"""Option letters are one rule kept in two packages (decoding may import nothing of ours): both must agree."""

from __future__ import annotations

import pytest

from medadapt.decoding.answer_extraction import option_letters as extraction_letters
from medadapt.prompts.prompt_format import option_letters as prompt_letters


@pytest.mark.parametrize("n", range(1, 27))
def test_prompts_and_decoding_letter_options_alike(n: int) -> None:
    assert list(prompt_letters(n)) == extraction_letters(n)
    assert prompt_letters(n)[-1] == chr(ord("A") + n - 1)


@pytest.mark.parametrize("n", [-1, 27])
def test_both_refuse_impossible_counts(n: int) -> None:
    with pytest.raises(ValueError):
        prompt_letters(n)
    with pytest.raises(ValueError):
        extraction_letters(n)


def test_zero_options_is_the_documented_difference() -> None:
    assert prompt_letters(0) == ()
    with pytest.raises(ValueError, match=r"1\.\.26"):
        extraction_letters(0)
