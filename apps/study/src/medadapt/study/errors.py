"""The one error type the CLI turns into a one-line message and a non-zero exit."""

from __future__ import annotations


class StudyError(Exception):
    """A problem with the user's study (config, model, task, data or run directory), stated in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
