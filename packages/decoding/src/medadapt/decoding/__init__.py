"""medadapt-decoding: vocabulary-constrained log-prob decoding (fused C++/CUDA kernel), option tokens, answers."""

from __future__ import annotations

from importlib.metadata import version as _version

from medadapt.decoding.answer_extraction import extract_answer, majority_vote, normalize_text
from medadapt.decoding.kernels import backends, constrained_logprobs, cpu_thread_pool, set_cpu_thread_pool
from medadapt.decoding.option_tokens import OptionTokens, combine_variants, option_token_ids
from medadapt.decoding.reference import InvalidRowError, reference_constrained_logprobs
from medadapt.decoding.renormalize import renormalize
from medadapt.decoding.result import ConstrainedResult

__version__ = _version("medadapt-decoding")

__all__ = [
    "ConstrainedResult",
    "InvalidRowError",
    "OptionTokens",
    "__version__",
    "backends",
    "combine_variants",
    "constrained_logprobs",
    "cpu_thread_pool",
    "extract_answer",
    "majority_vote",
    "normalize_text",
    "option_token_ids",
    "reference_constrained_logprobs",
    "renormalize",
    "set_cpu_thread_pool",
]
