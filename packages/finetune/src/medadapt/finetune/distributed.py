"""The accelerate and DeepSpeed configuration files shipped with the package, and launch-ready copies of them."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["ACCELERATE_CONFIGS", "DEEPSPEED_CONFIGS", "config_text", "render_accelerate_config"]

ACCELERATE_CONFIGS = ("multi_gpu", "deepspeed_zero2", "deepspeed_zero3")
DEEPSPEED_CONFIGS = ("zero2", "zero3")


def config_text(kind: str, name: str) -> str:
    """Text of a shipped config: kind "accelerate" (YAML) or "deepspeed" (JSON)."""
    known = {"accelerate": (ACCELERATE_CONFIGS, "yaml"), "deepspeed": (DEEPSPEED_CONFIGS, "json")}
    if kind not in known:
        raise ValueError(f"kind: expected 'accelerate' or 'deepspeed', got {kind!r}")
    names, suffix = known[kind]
    if name not in names:
        raise ValueError(f"name: expected one of {list(names)} for {kind}, got {name!r}")
    return files("medadapt.finetune").joinpath(f"configs/{kind}/{name}.{suffix}").read_text(encoding="utf-8")


def render_accelerate_config(
    name: str, out_dir: str | Path, *, num_processes: int | None = None, num_machines: int | None = None
) -> Path:
    """Write an accelerate config (and its DeepSpeed JSON) into `out_dir` with absolute paths; return the YAML path."""
    import yaml

    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(config_text("accelerate", name))
    ds = config.get("deepspeed_config")
    if ds and "deepspeed_config_file" in ds:
        stem = Path(ds["deepspeed_config_file"]).stem
        json_path = out / f"{stem}.json"
        json_path.write_text(config_text("deepspeed", stem), encoding="utf-8")
        ds["deepspeed_config_file"] = str(json_path)
    if num_processes is not None:
        config["num_processes"] = int(num_processes)
    if num_machines is not None:
        config["num_machines"] = int(num_machines)
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
