"""Declarative, serialisable descriptions of a LoRA run and of the study's hyper-parameter grid
(docs/protocol.md#lora-sweep-and-selection)."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "STUDY_LEARNING_RATES",
    "STUDY_LORA_RANKS",
    "LoraConfigSpec",
    "SweepSpec",
    "TrainingSpec",
    "TrialSpec",
]

STUDY_LORA_RANKS: tuple[int, ...] = (16, 32, 64)
STUDY_LEARNING_RATES: tuple[float, ...] = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4)

Precision = Literal["auto", "fp32", "bf16"]


class LoraConfigSpec(BaseModel):
    """The study's LoRA settings: every linear layer but the head, alpha 16, no dropout, no bias."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    r: int = Field(default=16, gt=0)
    alpha: int = Field(default=16, gt=0)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    bias: Literal["none", "all", "lora_only"] = "none"
    use_rslora: bool = False
    # "all-linear" = every nn.Linear leaf outside the excluded modules (lm_head; vision parts for VLMs).
    target_modules: Literal["all-linear"] | tuple[str, ...] = "all-linear"
    modules_to_save: tuple[str, ...] = ()


# What a sweep does with an example longer than the model's context: stop with an error naming it, or leave it out
# and count it in the sweep manifest.
Overlong = Literal["error", "drop"]


class TrainingSpec(BaseModel):
    """Optimiser, schedule and stopping rule of one trial; defaults are the study's
    (docs/protocol.md#lora-sweep-and-selection) except the batch size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    learning_rate: float = Field(default=1e-4, gt=0)
    max_epochs: int = Field(default=10, gt=0)
    batch_size: int = Field(default=16, gt=0)
    eval_batch_size: int | None = Field(default=None, gt=0)
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_ratio: float = Field(default=0.05, ge=0, lt=1)
    lr_scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    max_grad_norm: float | None = 1.0
    early_stopping_patience: int | None = Field(default=1, ge=1)
    early_stopping_threshold: float = Field(default=0.0, ge=0)
    seed: int = 42
    precision: Precision = "auto"
    gradient_checkpointing: bool = False
    # Extra mid-epoch checkpoints so that a killed trial loses at most this many steps (None: per epoch only).
    checkpoint_every_steps: int | None = Field(default=None, gt=0)
    max_length: int | None = Field(default=None, gt=0)
    # True reproduces the study's collate (bug 9): labels equal to the pad id become -100 and the attention mask
    # is `input_ids != pad_id`, so with pad = EOS the model never learns to stop. False (default) fixes it.
    study_compat: bool = False


class TrialSpec(BaseModel):
    """One point of a sweep: LoRA and training settings plus its position in the grid (for tie-breaks)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=0)
    lora: LoraConfigSpec
    training: TrainingSpec

    @property
    def trial_id(self) -> str:
        """A readable, unique directory name: the swept values plus a hash of everything else."""
        payload = json.dumps(
            {"lora": self.lora.model_dump(mode="json"), "training": self.training.model_dump(mode="json")},
            sort_keys=True,
        )
        digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:8]
        return f"r{self.lora.r}-lr{self.training.learning_rate:g}-{digest}"


class SweepSpec(BaseModel):
    """A grid of LoRA ranks × learning rates over shared LoRA/training settings; JSON/YAML round-trips."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ranks: tuple[int, ...] = STUDY_LORA_RANKS
    learning_rates: tuple[float, ...] = STUDY_LEARNING_RATES
    lora: LoraConfigSpec = LoraConfigSpec()
    training: TrainingSpec = TrainingSpec()

    @field_validator("ranks", "learning_rates")
    @classmethod
    def _non_empty_unique(cls, value: tuple[float, ...], info: object) -> tuple[float, ...]:
        name = getattr(info, "field_name", "grid")
        if not value:
            raise ValueError(f"{name}: expected at least one value, got an empty list")
        if len(set(value)) != len(value):
            raise ValueError(f"{name}: values must be unique, got {list(value)}")
        if any(v <= 0 for v in value):
            raise ValueError(f"{name}: values must be positive, got {list(value)}")
        return value

    def trials(self) -> list[TrialSpec]:
        """Trials in the study's enumeration order (learning rate outer, rank inner), which decides ties."""
        out: list[TrialSpec] = []
        for index, (lr, r) in enumerate(itertools.product(self.learning_rates, self.ranks)):
            out.append(
                TrialSpec(
                    index=index,
                    lora=self.lora.model_copy(update={"r": int(r)}),
                    training=self.training.model_copy(update={"learning_rate": float(lr)}),
                )
            )
        return out

    def to_json(self) -> str:
        """Stable JSON text for files and run keys."""
        return json.dumps(self.model_dump(mode="json"), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SweepSpec:
        """Parse what `to_json` wrote."""
        return cls.model_validate_json(text)

    def to_yaml(self) -> str:
        """YAML text of the spec (needs PyYAML)."""
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=True)

    @classmethod
    def from_yaml(cls, text: str) -> SweepSpec:
        """Parse YAML text (needs PyYAML)."""
        import yaml

        data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValueError(
                f"sweep spec YAML: expected a mapping at the top level, got {type(data).__name__}"
            )
        return cls.model_validate(data)

    @classmethod
    def from_file(cls, path: str | Path) -> SweepSpec:
        """Load a .json, .yaml or .yml sweep spec file."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            return cls.from_yaml(text)
        if path.suffix == ".json":
            return cls.from_json(text)
        raise ValueError(f"{path}: expected a .json, .yaml or .yml sweep spec, got suffix {path.suffix!r}")
