"""Sandboxed jinja2 environments: grammar literals and user data are variables, never template source."""

from __future__ import annotations

import functools
from typing import Any, NoReturn

from jinja2 import StrictUndefined, Template
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment


class ChatTemplateError(ValueError):
    """A chat template refused a conversation (its own `raise_exception`) or failed to render."""


def _raise_exception(message: str) -> NoReturn:
    raise ChatTemplateError(message)


@functools.cache
def _format_environment() -> ImmutableSandboxedEnvironment:
    """The environment for our own fixed templates: strict about undefined names, no whitespace tricks."""
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
    )


@functools.cache
def _chat_environment() -> ImmutableSandboxedEnvironment:
    """The environment Hugging Face uses for chat templates (trim_blocks, lstrip_blocks, raise_exception)."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.globals["raise_exception"] = _raise_exception
    return env


@functools.lru_cache(maxsize=64)
def format_template(source: str) -> Template:
    """Compile one of this package's fixed template sources (cached)."""
    return _format_environment().from_string(source)


@functools.lru_cache(maxsize=64)
def chat_template(source: str) -> Template:
    """Compile a model's chat template string in the HF-compatible sandbox (cached)."""
    try:
        return _chat_environment().from_string(source)
    except TemplateError as err:
        raise ChatTemplateError(f"chat template does not compile: {err}") from err


def render_chat_template(source: str, **variables: Any) -> str:
    """Render a chat template; errors from the template itself surface as `ChatTemplateError`."""
    try:
        return chat_template(source).render(**variables)
    except ChatTemplateError:
        raise
    except TemplateError as err:
        raise ChatTemplateError(f"chat template failed to render: {err}") from err
