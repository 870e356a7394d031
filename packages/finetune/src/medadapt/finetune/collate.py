"""Right-pad supervised examples into a batch; the fixed rule keeps EOS labels, the study rule (bug 9) drops them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medadapt.finetune.supervised import IGNORE_INDEX, SupervisedFeatures

__all__ = ["pad_supervised_batch"]


def pad_supervised_batch(
    features: Sequence[SupervisedFeatures], pad_token_id: int, *, study_compat: bool = False
) -> dict[str, Any]:
    """A dict of tensors for `model(**batch)`: input_ids, attention_mask, labels (+ stacked extras).

    Fixed rule: padding positions are found from the lengths, labels are padded with -100.
    Study rule (`study_compat=True`, `qa_collate_fn`): every label equal to `pad_token_id` becomes -100 and the
    attention mask is `input_ids != pad_token_id` — with pad = EOS the EOS is neither attended nor learned.
    """
    import torch

    if not features:
        raise ValueError("features: expected at least one example, got an empty batch")
    width = max(len(f.input_ids) for f in features)
    n = len(features)
    input_ids = torch.full((n, width), int(pad_token_id), dtype=torch.long)
    labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((n, width), dtype=torch.long)
    for row, f in enumerate(features):
        length = len(f.input_ids)
        input_ids[row, :length] = torch.tensor(f.input_ids, dtype=torch.long)
        labels[row, :length] = torch.tensor(f.labels, dtype=torch.long)
        attention_mask[row, :length] = 1
    if study_compat:
        labels[labels == int(pad_token_id)] = IGNORE_INDEX
        attention_mask = (input_ids != int(pad_token_id)).long()
    batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    extra_keys = sorted({k for f in features for k in f.extras})
    for key in extra_keys:
        missing = [f.example_id for f in features if key not in f.extras]
        if missing:
            raise ValueError(f"batch: examples {missing[:3]} lack the model input {key!r} that others have")
        batch[key] = torch.cat(_same_count(key, [f.extras[key] for f in features]), dim=0)
    return batch


def _same_count(key: str, tensors: list[Any]) -> list[Any]:
    """Tensors [1, n, ...] with different n (Flamingo's images per example) zero-padded to the largest n: no
    `<image>` token points at a padding image, so nothing attends to it."""
    import torch

    if len({tuple(t.shape[1:]) for t in tensors}) == 1:
        return tensors
    if len({(t.shape[0], *t.shape[2:]) for t in tensors}) != 1:
        raise ValueError(f"batch: {key!r} shapes {[tuple(t.shape) for t in tensors]} differ beyond their count")
    width = max(t.shape[1] for t in tensors)
    return [
        torch.cat([t, t.new_zeros((t.shape[0], width - t.shape[1], *t.shape[2:]))], dim=1) for t in tensors
    ]
