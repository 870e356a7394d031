"""The study's prompt grammar (docs/protocol.md#prompt-grammar): seed table, rendered queries, space size, YAML round trip."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medadapt.prompts import PromptFormat, enumerate_formats, format_space_size, sample_format
from medadapt.prompts.format_pools import OPTION_SPACES, SEPARATORS, SPACES

# The study's verified seed table (docs/protocol.md#prompt-grammar): seed -> (space, sep, o_space, f_case, q_desc, o_desc, wrapper, a_desc).
SEED_TABLE = {
    0: (" ", " - ", "; ", "upper", "Question", "Options", "{x} )", "The answer is"),
    1: ("\n\n", " -- ", "\n\n", "upper", "", "Options", "{x} )", "The answer is"),
    2: ("\n", " : ", "\n\n", "upper", "", "Choices", "{x})", "Answer"),
    3: ("\n\n", " -- ", "; ", "upper", "Question", "Choices", "[{x}]", "Answer"),
    4: ("\n\n", "= ", "\n\n", "bold", "Question", "Options", "({x})", "Answer"),
    5: (" || ", " == ", "; ", "lower", "", "Choices", "{x}.", "Answer"),
    6: ("\n", "=\n", ";\n\n", "identity", "", "", "<{x}>", "The answer is"),
    7: (" || ", " :: ", ", ", "bold", "", "", "{x})", "Answer"),
    8: ("\n\n", " = ", " ", "title", "", "Choices", "({x})", "Answer"),
    9: (" ", " == ", " ", "title", "", "Choices", "{x})", "The answer is"),
}
DEMO = ("FSQ?", ["o1", "o2", "o3"], "o2")
QUERY = ("What is X?", ["alpha", "beta", "gamma"])


@pytest.mark.parametrize("seed", sorted(SEED_TABLE))
def test_seed_table_reproduced(seed: int) -> None:
    fmt = sample_format(seed)
    got = (
        fmt.space,
        fmt.separator,
        fmt.option_space,
        fmt.casing,
        fmt.question_descriptor,
        fmt.options_descriptor,
        fmt.wrapper,
        fmt.answer_descriptor,
    )
    assert got == SEED_TABLE[seed]
    assert fmt.seed == seed


def test_rendered_query_seed_0() -> None:
    text = sample_format(0).render(*QUERY, shots=[DEMO], system_prompt="SYS")
    assert text == (
        "SYS QUESTION - FSQ? OPTIONS - A ) o1; B ) o2; C ) o3 THE ANSWER IS - B ) o2 "
        "QUESTION - What is X? OPTIONS - A ) alpha; B ) beta; C ) gamma THE ANSWER IS - "
    )


def test_rendered_query_seed_6() -> None:
    text = sample_format(6).render(*QUERY, shots=[DEMO], system_prompt="SYS")
    assert text == (
        "SYS\nFSQ?\n<A> o1;\n\n<B> o2;\n\n<C> o3\nThe answer is=\n<B> o2\n"
        "What is X?\n<A> alpha;\n\n<B> beta;\n\n<C> gamma\nThe answer is=\n"
    )


def test_zero_shot_without_system_prompt_and_parts() -> None:
    fmt = sample_format(0)
    assert (
        fmt.render(*QUERY)
        == "QUESTION - What is X? OPTIONS - A ) alpha; B ) beta; C ) gamma THE ANSWER IS - "
    )
    assert fmt.render_question(*QUERY) == "QUESTION - What is X? OPTIONS - A ) alpha; B ) beta; C ) gamma"
    assert fmt.render_answer(QUERY[1], "beta") == "THE ANSWER IS - B ) beta"
    assert fmt.render_answer(QUERY[1], None) == "THE ANSWER IS - "
    assert fmt.stop_headers == ["QUESTION - ", "OPTIONS - ", "THE ANSWER IS - "]
    assert sample_format(6).stop_headers == ["The answer is=\n"]


def test_grammar_literals_are_data_not_template_source() -> None:
    # A question that looks like jinja must come out verbatim.
    text = sample_format(0).render("{{ 7*7 }} {% if x %}", ["{{a}}", "b"])
    assert "{{ 7*7 }} {% if x %}" in text and "A ) {{a}}" in text


def test_demo_answer_must_be_an_option() -> None:
    with pytest.raises(ValueError, match="not one of the options"):
        sample_format(0).render(*QUERY, shots=[("q", ["a", "b"], "c")])


def test_sampling_leaves_global_random_state_alone() -> None:
    random.seed(123)
    expected = random.random()
    random.seed(123)
    sample_format(5)
    assert random.random() == expected


def test_space_size_and_enumeration() -> None:
    formats = list(enumerate_formats())
    # (2 spaces with a newline × 13 × 8 + 2 without × 9 × 4) × 6 casings × 2 × 3 descriptors × 6 wrappers × 2.
    assert format_space_size() == (2 * 13 * 8 + 2 * 9 * 4) * 6 * 2 * 3 * 6 * 2 == 120_960
    unique = set(formats)
    assert len(formats) == len(unique) == format_space_size()
    for fmt in formats:
        if "\n" not in fmt.space:
            assert "\n" not in fmt.separator and "\n" not in fmt.option_space
    assert all(sample_format(seed) in unique for seed in range(50))


def test_newline_constraint_is_validated() -> None:
    with pytest.raises(ValueError, match="separator"):
        PromptFormat(" ", ":\n", "; ", "upper", "", "", "({x})", "Answer")
    with pytest.raises(ValueError, match="casing"):
        PromptFormat("\n", ": ", "; ", "shouty", "", "", "({x})", "Answer")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**64))
def test_yaml_round_trip_of_any_sampled_format(seed: int) -> None:
    fmt = sample_format(seed)
    again = PromptFormat.from_yaml(fmt.to_yaml())
    assert again == fmt and again.seed == seed
    assert again.render(*QUERY, shots=[DEMO], system_prompt="S") == fmt.render(
        *QUERY, shots=[DEMO], system_prompt="S"
    )
    assert PromptFormat.from_dict(fmt.to_dict()) == fmt


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(SPACES).flatmap(
        lambda space: st.tuples(
            st.just(space),
            st.sampled_from([s for s in SEPARATORS if "\n" in space or "\n" not in s]),
            st.sampled_from([s for s in OPTION_SPACES if "\n" in space or "\n" not in s]),
        )
    )
)
def test_yaml_round_trip_keeps_whitespace(parts: tuple[str, str, str]) -> None:
    fmt = PromptFormat(*parts, "heading", "Question", "Choices", "<{x}>", "Answer")
    assert PromptFormat.from_yaml(fmt.to_yaml()) == fmt


def test_from_dict_rejects_unknown_keys_and_versions() -> None:
    data = sample_format(1).to_dict()
    with pytest.raises(ValueError, match="unknown keys"):
        PromptFormat.from_dict({**data, "colour": "red"})
    with pytest.raises(ValueError, match="grammar"):
        PromptFormat.from_dict({**data, "grammar": "v999"})
