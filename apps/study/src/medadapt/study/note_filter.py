"""The study's note-length filter (docs/protocol.md): n2c2 test notes over 3,000 Llama-2 tokens are left out.

The filter needs a tokenizer, so medadapt-prompts' loaders leave it to the study (config `note_filter`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medadapt.study.errors import StudyError

if TYPE_CHECKING:
    from medadapt.study.config import NoteFilter
    from medadapt.study.task_splits import TaskSplits


@lru_cache(maxsize=4)
def _tokenizer(name_or_path: str) -> Any:
    """A tokenizer from a local directory or a registry model's checkpoint (offline: the local cache only)."""
    from transformers import AutoTokenizer

    path = Path(name_or_path).expanduser()
    try:
        if not path.is_dir():
            from medadapt.models import get_model
            from medadapt.models.checkpoints import resolve_checkpoint

            path = resolve_checkpoint(get_model(name_or_path))
        return AutoTokenizer.from_pretrained(str(path))
    except (KeyError, OSError, ValueError) as exc:
        message = exc.args[0] if exc.args else exc
        raise StudyError(
            f"note_filter.tokenizer: cannot load the tokenizer {name_or_path!r} ({message}); give a registry model "
            "whose checkpoint is cached or a local tokenizer directory, or set `note_filter: null` to keep every note"
        ) from None


def token_counter(name_or_path: str) -> Callable[[str], int]:
    """Tokens of a text as the study counted them: the tokenizer's ids with its special tokens (BOS)."""
    tokenizer = _tokenizer(name_or_path)
    return lambda text: len(tokenizer(text)["input_ids"])


def note_text(task: str, example: Any) -> str:
    """The note of an example: n2c2 questions are the note plus a fixed question, which is cut off."""
    from medadapt.prompts import get_task

    spec = get_task(task)
    question = str(example.question)
    if spec.family == "n2c2" and spec.subset is not None:
        from medadapt.prompts.tasks.n2c2_loaders import n2c2_question

        return question.removesuffix(n2c2_question("", spec.subset))
    return question


def filter_long_notes(rule: NoteFilter | None, splits: TaskSplits) -> TaskSplits:
    """Leave out the notes longer than `rule.max_tokens` in the rule's splits; the count goes to `splits.filtered`."""
    if rule is None or not rule.applies_to(splits.task):
        return splits
    count = token_counter(rule.tokenizer)
    reason = f"longer than {rule.max_tokens} tokens ({rule.tokenizer} tokenizer)"
    for split in rule.splits:
        examples = getattr(splits, split)
        kept = [ex for ex in examples if count(note_text(splits.task, ex)) <= rule.max_tokens]
        if len(kept) < len(examples):
            splits.filtered[f"{split}: {reason}"] = len(examples) - len(kept)
            setattr(splits, split, kept)
    if not splits.test:
        raise StudyError(f"task {splits.task!r}: the note filter ({reason}) left no test items")
    return splits
