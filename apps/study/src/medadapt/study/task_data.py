"""The splits a study needs for one task: few-shot pool, validation subset for prompt selection, test items."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from medadapt.study.errors import StudyError
from medadapt.study.task_splits import TaskSplits

if TYPE_CHECKING:
    from medadapt.study.config import StudyConfig

# When the data on disk has no train or validation split (MedQA here ships its test file only), those are carved
# from the test file with this seed, and the report says so.
CARVE_SEED = 0
CARVE_TRAIN = 10
CARVE_VAL_FRACTION = 0.2


def _load(task: str, data_dir: Path, split: str, study_compat: bool) -> Any | None:
    """A split through medadapt-prompts, or None when the data on disk does not have it.

    Only `MissingSplitError` (no file for this split) means "carve it from the test set"; it is decided by the
    exception's type, never by its text. Anything else — a malformed or undecodable file, a repeated item id, a
    data dir that is a file — stops the run with the loader's message, which names the file and line.
    """
    from medadapt.prompts import load_task
    from medadapt.prompts.tasks.task_data import MissingSplitError

    try:
        return load_task(task, data_dir, split, study_compat=study_compat)
    except MissingSplitError as exc:
        if split == "test":
            raise StudyError(f"task {task!r}: data file missing: {exc}") from None
        return None
    except FileNotFoundError as exc:
        raise StudyError(f"task {task!r} ({split}): data file missing: {exc.filename or exc}") from None
    except (OSError, KeyError, ValueError) as exc:
        raise StudyError(f"task {task!r} ({split}): {exc}") from None


def load_task_splits(
    task: str,
    data_dir: Path,
    *,
    max_test_items: int | None,
    max_val_items: int,
    val_seed: int,
    study_compat: bool,
) -> TaskSplits:
    """Load train/val/test; carve missing train/val from test with a fixed seed; subsample validation (docs/protocol.md#model-specific-prompt-selection)."""
    import numpy as np

    test_data = _load(task, data_dir, "test", study_compat)
    assert test_data is not None
    test = list(test_data.examples)
    filtered = dict(getattr(test_data, "filtered", {}) or {})
    train_data = _load(task, data_dir, "train", study_compat)
    val_data = _load(task, data_dir, "val", study_compat)
    carved: list[str] = []
    train = list(train_data.examples) if train_data is not None else []
    val = list(val_data.examples) if val_data is not None else []
    if not train or not val:
        order = np.random.RandomState(CARVE_SEED).permutation(len(test))
        n_val = 0 if val else max(1, int(CARVE_VAL_FRACTION * len(test)))
        n_train = 0 if train else min(CARVE_TRAIN, max(0, len(test) - n_val - 1))
        picked_val = [test[i] for i in order[:n_val]]
        picked_train = [test[i] for i in order[n_val : n_val + n_train]]
        taken = {int(i) for i in order[: n_val + n_train]}
        test = [ex for i, ex in enumerate(test) if i not in taken]
        if not val:
            val, carved = picked_val, [*carved, "val"]
        if not train:
            train, carved = picked_train, [*carved, "train"]
    if max_test_items is not None:
        test = test[:max_test_items]
    if len(val) > max_val_items:
        # The study's draw: np.random.seed(42); choice(n, 500, replace=False), the same subset for every candidate.
        idx = np.random.RandomState(val_seed).choice(len(val), max_val_items, replace=False)
        val = [val[int(i)] for i in idx]
    if not test:
        raise StudyError(f"task {task!r}: no test items in {data_dir}")
    return TaskSplits(task=task, train=train, val=val, test=test, carved=carved, filtered=filtered)


def load_study_task(config: StudyConfig, task: str) -> TaskSplits:
    """`load_task_splits` with the study's data dir, item limits, validation seed and compatibility switch."""
    from medadapt.study.note_filter import filter_long_notes

    return filter_long_notes(config.note_filter, load_task_splits(
        task,
        config.data_dir,
        max_test_items=config.limits.max_test_items,
        max_val_items=config.prompt_selection.max_val_items,
        val_seed=config.prompt_selection.val_seed,
        study_compat=config.study_compat,
    ))
