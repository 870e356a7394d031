"""The study's prompt-format grammar (docs/protocol.md#prompt-grammar): literal pools, seed → format sampling
and enumeration."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

from medadapt.prompts.format_pools import (
    ANSWER_DESCRIPTORS,
    CASINGS,
    NUMBERINGS,
    OPTIONS_DESCRIPTORS,
    QUESTION_DESCRIPTORS,
    SPACES,
    WRAPPERS,
    allowed_option_spaces,
    allowed_separators,
)
from medadapt.prompts.prompt_format import PromptFormat


def sample_format(seed: int) -> PromptFormat:
    """The study's format for `seed`: CPython Mersenne Twister with the study's nine `choice` calls, in order.

    A private `random.Random(seed)` yields the same draws as the study's global `random.seed(seed)` without
    touching global state (bug 25, docs/protocol.md#defects-of-the-original-by-number).
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"sample_format: seed must be an int, got {type(seed).__name__} {seed!r}")
    rng = random.Random(seed)
    space = rng.choice(SPACES)
    sep = rng.choice(allowed_separators(space))
    option_space = rng.choice(allowed_option_spaces(space))
    casing = rng.choice(CASINGS)
    question_descriptor = rng.choice(QUESTION_DESCRIPTORS)
    options_descriptor = rng.choice(OPTIONS_DESCRIPTORS)
    numbering = rng.choice(NUMBERINGS)
    wrapper = rng.choice(WRAPPERS)
    answer_descriptor = rng.choice(ANSWER_DESCRIPTORS)
    return PromptFormat(
        space=space,
        separator=sep,
        option_space=option_space,
        casing=casing,
        question_descriptor=question_descriptor,
        options_descriptor=options_descriptor,
        numbering=numbering,
        wrapper=wrapper,
        answer_descriptor=answer_descriptor,
        seed=seed,
    )


def enumerate_formats() -> Iterator[PromptFormat]:
    """Every format of the grammar once, respecting the no-newline constraint, in pool order."""
    for space in SPACES:
        for sep, option_space, casing, q_desc, o_desc, numbering, wrapper, a_desc in itertools.product(
            allowed_separators(space),
            allowed_option_spaces(space),
            CASINGS,
            QUESTION_DESCRIPTORS,
            OPTIONS_DESCRIPTORS,
            NUMBERINGS,
            WRAPPERS,
            ANSWER_DESCRIPTORS,
        ):
            yield PromptFormat(
                space=space,
                separator=sep,
                option_space=option_space,
                casing=casing,
                question_descriptor=q_desc,
                options_descriptor=o_desc,
                numbering=numbering,
                wrapper=wrapper,
                answer_descriptor=a_desc,
            )


def format_space_size() -> int:
    """Number of formats in the grammar, computed from the pools (equals `len(list(enumerate_formats()))`)."""
    per_space = sum(len(allowed_separators(s)) * len(allowed_option_spaces(s)) for s in SPACES)
    return (
        per_space
        * len(CASINGS)
        * len(QUESTION_DESCRIPTORS)
        * len(OPTIONS_DESCRIPTORS)
        * len(NUMBERINGS)
        * len(WRAPPERS)
        * len(ANSWER_DESCRIPTORS)
    )
