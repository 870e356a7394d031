"""Turning image values of Hugging Face datasets (paths, bytes, PIL images) into files the prompt can name."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any


def image_cache_dir() -> Path:
    """Where decoded dataset images are written: $MEDADAPT_CACHE_DIR/images or ~/.cache/medadapt/images."""
    root = os.environ.get("MEDADAPT_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "medadapt"
    return base / "images"


def image_to_path(value: Any, *, base_dir: Path | None = None, cache_dir: Path | None = None) -> str:
    """A file path for an image value: an existing path, `{path, bytes}` dicts, raw bytes, or a PIL image."""
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        return str(path if path.is_absolute() or base_dir is None else base_dir / path)
    data: bytes | None = None
    if isinstance(value, dict):
        if value.get("path") and Path(value["path"]).is_file():
            return str(value["path"])
        data = value.get("bytes")
    elif isinstance(value, bytes):
        data = value
    elif hasattr(value, "save"):  # a PIL image, decoded by `datasets`
        import io

        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        data = buffer.getvalue()
    if not data:
        raise ValueError(f"cannot turn an image value of type {type(value).__name__} into a file")
    target_dir = cache_dir or image_cache_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{hashlib.sha256(data).hexdigest()[:24]}.img"
    if not target.exists():
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return str(target)
