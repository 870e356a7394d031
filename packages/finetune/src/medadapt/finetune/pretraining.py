"""Domain-adaptive continued pretraining: next-token loss on a packed text corpus, LoRA or full weights → a model dir."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medadapt.finetune.base_model import ModelSource, load_base_model, load_tokenizer
from medadapt.finetune.checkpoint import publish_directory
from medadapt.finetune.lora import attach_lora, peft_deprecation_quiet
from medadapt.finetune.optimizer_steps import GlobalBatch, Trainer, build_trainer, progress_bar, run_steps
from medadapt.finetune.runtime import Runtime
from medadapt.finetune.spec import LoraConfigSpec, Precision
from medadapt.finetune.supervised import SupervisedFeatures

__all__ = ["PretrainingSpec", "continued_pretraining", "pack_corpus", "read_corpus"]


class PretrainingSpec(BaseModel):
    """Settings of a continued-pretraining run (see the README for CPU timings of SmolLM2-135M)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["lora", "full"] = "lora"
    lora: LoraConfigSpec = LoraConfigSpec(r=16, alpha=32)
    max_steps: int = Field(default=100, gt=0)
    sequence_length: int = Field(default=128, gt=1)
    batch_size: int = Field(default=4, gt=0)
    learning_rate: float = Field(default=2e-4, gt=0)
    warmup_ratio: float = Field(default=0.05, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float | None = 1.0
    seed: int = 0
    precision: Precision = "auto"


def read_corpus(source: str | Path | Iterable[str]) -> list[str]:
    """Documents from a list of strings, a .txt file (blank-line separated) or a .jsonl file (field "text")."""
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"corpus: {path} is not a file")
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            docs = []
            for line_no, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                    raise ValueError(f"{path}:{line_no}: expected an object with a string field 'text'")
                docs.append(row["text"])
        else:
            docs = [block.strip() for block in text.split("\n\n")]
    else:
        docs = [str(d) for d in source]
    docs = [d for d in docs if d.strip()]
    if not docs:
        raise ValueError("corpus: no non-empty documents")
    return docs


def pack_corpus(tokenizer: Any, documents: Sequence[str], sequence_length: int) -> list[list[int]]:
    """Concatenate BOS + document + EOS for every document and cut into full blocks (the tail is dropped)."""
    stream: list[int] = []
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    if eos is None:
        raise ValueError("tokenizer: has no eos_token_id to separate packed documents")
    for doc in documents:
        ids = list(tokenizer(doc, add_special_tokens=False)["input_ids"])
        stream.extend(([bos] if bos is not None else []) + ids + [eos])
    n_blocks = len(stream) // sequence_length
    if n_blocks == 0:
        raise ValueError(
            f"corpus: {len(stream)} tokens are fewer than one block of sequence_length={sequence_length}"
        )
    return [stream[i * sequence_length : (i + 1) * sequence_length] for i in range(n_blocks)]


def continued_pretraining(
    base: Any,
    corpus: str | Path | Iterable[str],
    out_dir: str | Path,
    spec: PretrainingSpec | None = None,
    *,
    progress: bool = True,
    on_step: Callable[[int, int, float], None] | None = None,
) -> Path:
    """Train `base` on `corpus` and save a merged, plain checkpoint directory (with tokenizer) at `out_dir`.

    LoRA runs are merged (`merge_and_unload`) before saving, so the result loads like any base model.
    `training.json` in the output records the spec, the corpus size and the loss curve. The steps run through
    the same training loop as supervised trials (`optimizer_steps.run_steps`), every packed token labelled.
    `on_step(step, max_steps, loss)` is called after each optimizer step (an application's own progress display).
    """
    spec = spec or PretrainingSpec()
    source = _causal_lm_source(base)
    tokenizer = load_tokenizer(source)
    blocks = pack_corpus(tokenizer, read_corpus(corpus), spec.sequence_length)
    runtime = Runtime.create(spec.precision)
    trainer = _pretraining_trainer(source, spec, runtime, pad_token_id=tokenizer.eos_token_id)
    losses: list[float] = []
    with progress_bar(progress, spec.max_steps, desc="continued pretraining") as bar:
        def after_step(loss: float) -> None:
            losses.append(loss)
            if on_step is not None:
                on_step(len(losses), spec.max_steps, loss)

        run_steps(trainer, _block_batches(blocks, spec), bar=bar, on_step=after_step)
    model = _plain_model(trainer, spec)
    record = {
        "base": source.path,
        "spec": spec.model_dump(mode="json"),
        "blocks": len(blocks),
        "tokens": len(blocks) * spec.sequence_length,
        "loss": losses,
    }
    return _save(model, tokenizer, record, Path(out_dir).expanduser().resolve())


def _causal_lm_source(base: Any) -> ModelSource:
    source = ModelSource.of(base)
    if source.kind != "causal-lm":
        raise ValueError(f"base: continued pretraining supports causal LMs, got a {source.kind} model")
    return source


def _pretraining_trainer(
    source: ModelSource, spec: PretrainingSpec, runtime: Runtime, pad_token_id: int
) -> Trainer:
    """Seed, load the base (LoRA attached, or every weight trainable) and set up AdamW with a cosine schedule."""
    import torch

    torch.manual_seed(spec.seed)
    # Full fine-tuning keeps fp32 master weights; LoRA may leave the frozen base in bf16.
    model = load_base_model(source, runtime.load_dtype if spec.method == "lora" else torch.float32)
    if spec.method == "lora":
        model = attach_lora(model, spec.lora)
    params = [p for p in model.parameters() if p.requires_grad]
    return build_trainer(
        model,
        [{"params": params, "weight_decay": spec.weight_decay}],
        runtime=runtime,
        learning_rate=spec.learning_rate,
        lr_scheduler="cosine",
        warmup_ratio=spec.warmup_ratio,
        total_steps=spec.max_steps,
        micro_batch_size=spec.batch_size,
        pad_token_id=pad_token_id,
        max_grad_norm=spec.max_grad_norm,
    )


def _block_batches(blocks: Sequence[list[int]], spec: PretrainingSpec) -> Iterator[GlobalBatch]:
    """`max_steps` batches of packed blocks (every token a label), reshuffled each time the blocks run out."""
    import torch

    features = [SupervisedFeatures(tuple(b), tuple(b), example_id=f"block-{i}") for i, b in enumerate(blocks)]
    generator = torch.Generator().manual_seed(spec.seed)
    order: list[int] = []
    for _ in range(spec.max_steps):
        if len(order) < spec.batch_size:
            order += torch.randperm(len(blocks), generator=generator).tolist()
        take, order = order[: spec.batch_size], order[spec.batch_size :]
        yield [[features[i] for i in take]]


def _plain_model(trainer: Trainer, spec: PretrainingSpec) -> Any:
    """The trained model ready to save and load like a base: LoRA merged, generation cache back on."""
    model = trainer.runtime.unwrap(trainer.model)
    model.eval()
    if spec.method == "lora":
        with peft_deprecation_quiet():
            model = model.merge_and_unload()
    model.config.use_cache = True
    return model


def _save(model: Any, tokenizer: Any, record: dict[str, Any], target: Path) -> Path:
    def write(tmp: Path) -> None:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        (tmp / "training.json").write_text(json.dumps(record, indent=1), encoding="utf-8")

    return publish_directory(write, target)
