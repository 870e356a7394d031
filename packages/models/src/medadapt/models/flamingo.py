"""OpenFlamingo / Med-Flamingo through open-flamingo (own environment: it needs torchvision, see README).

Built offline: the language model and tokenizer from a local LLaMA-7B directory, the open_clip vision encoder
with its `pretrained` weights (the study's `openai`), then the Flamingo checkpoint (`checkpoint.pt` / `model.pt`)
from a local path or a hub id in the Hugging Face cache, loaded with `weights_only=True`. A checkpoint that does not
cover the resampler and the gated cross-attention (or the vision encoder, without `pretrained`) is an error: the
model never runs with random weights. Prompts are scored in batches, right padded (Flamingo's forward takes no
position ids, so left padding would shift positions) and read at each row's last token; each row has its own
images (rows with fewer are padded with blank images that no `<image>` token points at). open-flamingo's
`generate` does not run under transformers 5 (its mixin's forward wants `attention_mask` positionally), so
generation is our own batched greedy loop over the plain forward: exact, without a KV cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medadapt.models.adapter_io import (
    STATUS_OK,
    STATUS_TOO_LONG,
    Capabilities,
    Generation,
    ModelInput,
    ScoreResult,
    as_model_inputs,
)
from medadapt.models.checkpoints import resolve_checkpoint
from medadapt.models.hf_loading import prepare_tokenizer, resolve_dtype
from medadapt.models.llava import load_images
from medadapt.models.option_table import OptionTable
from medadapt.models.protocol import OptionTokensLike
from medadapt.models.registry import ModelSpec, get_model
from medadapt.models.stop_strings import cut_at_stop
from medadapt.models.tokenization import special_tokens

__all__ = [
    "FlamingoAdapter",
    "FlamingoRecipe",
    "flamingo_checkpoint_file",
    "load_flamingo_adapter",
    "load_flamingo_weights",
]

IMAGE_MARKER = "<image>"
END_OF_CHUNK = "<|endofchunk|>"


class FlamingoAdapter:
    """A Flamingo model (open_flamingo.Flamingo) with its image transform and tokenizer, on `device`."""

    def __init__(
        self,
        model: Any,
        image_processor: Any,
        tokenizer: Any,
        *,
        context_length: int = 2048,
        decoder_backend: str = "auto",
        batch_size: int = 8,
        device: str | None = None,
        dtype: Any = None,
    ) -> None:
        import torch

        if batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = model.to(device) if dtype is None else model.to(device, resolve_dtype(dtype, device))
        self.model = model.eval()
        self.image_processor = image_processor
        self._tokenizer = prepare_tokenizer(tokenizer)
        self._tokenizer.padding_side = "right"  # batches are padded by hand on the right; logits read per row
        self.decoder_backend = decoder_backend
        self.batch_size = batch_size
        self.capabilities = Capabilities(None, True, int(context_length), True, special_tokens(tokenizer))

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def _vision_x(self, prompts: Sequence[ModelInput]) -> Any:
        """(B, T_img, 1, C, H, W): each row's images, blank ones after them up to the batch's largest count (no
        `<image>` token points at those, so nothing attends to them; Flamingo always wants one image)."""
        import torch
        from PIL import Image

        per_row = [load_images(p.images) for p in prompts]
        width = max([1, *(len(images) for images in per_row)])
        blank = Image.new("RGB", (224, 224))
        pixels = torch.stack(
            [
                torch.stack([self.image_processor(i) for i in [*images, *[blank] * (width - len(images))]])
                for images in per_row
            ]
        )
        return pixels.unsqueeze(2).to(self.device, next(self.model.parameters()).dtype)

    def _text(self, prompt: ModelInput) -> str:
        missing = len(prompt.images) - prompt.text.count(IMAGE_MARKER)
        return IMAGE_MARKER * max(missing, 0) + prompt.text

    def _ids(self, prompt: ModelInput) -> list[int]:
        # OpenFlamingo's text always starts from the tokenizer's BOS unless the prompt's producer decided otherwise.
        add_special = True if prompt.add_special_tokens is None else prompt.add_special_tokens
        return list(self._tokenizer(self._text(prompt), add_special_tokens=add_special)["input_ids"])

    def _last_logits(self, prompts: Sequence[ModelInput], ids: Sequence[list[int]]) -> Any:
        """Next-token logits [B, V] of right-padded rows, read at each row's last real token."""
        import torch

        width = max(len(x) for x in ids)
        lang_x = torch.full((len(ids), width), int(self._tokenizer.pad_token_id), dtype=torch.long)
        mask = torch.zeros_like(lang_x)
        for row, x in enumerate(ids):
            lang_x[row, : len(x)] = torch.tensor(x, dtype=torch.long)
            mask[row, : len(x)] = 1
        last = torch.tensor([len(x) - 1 for x in ids])
        with torch.inference_mode():
            out = self.model(
                vision_x=self._vision_x(prompts),
                lang_x=lang_x.to(self.device),
                attention_mask=mask.to(self.device),
            )
        return out.logits[torch.arange(len(ids)), last.to(out.logits.device), :]

    def score_options(
        self, prompts: Sequence[Any], option_tokens: OptionTokensLike | Sequence[OptionTokensLike]
    ) -> ScoreResult:
        from medadapt.decoding import constrained_logprobs

        inputs = as_model_inputs(prompts)
        table = OptionTable(option_tokens, len(inputs))
        ids = [self._ids(p) for p in inputs]
        scores = ScoreResult.unscored([len(x) for x in ids], table.n_options, self.capabilities.context_length)
        ok = scores.scorable()
        for start in range(0, len(ok), self.batch_size):
            rows = ok[start : start + self.batch_size]
            logits = self._last_logits([inputs[i] for i in rows], [ids[i] for i in rows]).float().contiguous()
            result = constrained_logprobs(logits, table.allowed(rows), backend=self.decoder_backend)
            scores.fill(rows, table.combine(rows, result.logprobs), result.logsumexp, result.top_token)
        return scores

    def generate(
        self, prompts: Sequence[Any], max_new_tokens: int = 64, stop: Sequence[str] = ()
    ) -> list[Generation]:
        inputs = as_model_inputs(prompts)
        stops = [s for s in (*stop, END_OF_CHUNK) if s]
        eos = self._tokenizer.eos_token_id
        context = self.capabilities.context_length
        ids = [self._ids(p) for p in inputs]
        new: list[list[int]] = [[] for _ in inputs]
        reasons = ["length"] * len(inputs)
        active = [i for i, x in enumerate(ids) if len(x) < context]
        budgets = {i: min(max_new_tokens, context - len(ids[i])) for i in active}
        active = [i for i in active if budgets[i] > 0]
        while active:
            for start in range(0, len(active), self.batch_size):
                rows = active[start : start + self.batch_size]
                logits = self._last_logits([inputs[i] for i in rows], [ids[i] + new[i] for i in rows])
                for i, token in zip(rows, logits.argmax(dim=-1).tolist(), strict=True):
                    if token == eos:
                        reasons[i] = "eos"
                        budgets[i] = 0
                        continue
                    new[i].append(int(token))
                    if stops and cut_at_stop(self._tokenizer.decode(new[i]), stops)[1]:
                        budgets[i] = 0
            active = [i for i in active if budgets[i] > len(new[i])]
        out = []
        for i in range(len(inputs)):
            if len(ids[i]) >= context:
                out.append(Generation("", STATUS_TOO_LONG, "none", 0))
                continue
            text, stopped = cut_at_stop(self._tokenizer.decode(new[i], skip_special_tokens=False), stops)
            for special in getattr(self._tokenizer, "all_special_tokens", []):
                text = text.replace(special, "")
            reason = "stop" if stopped else reasons[i]
            out.append(Generation(text, STATUS_OK, reason, len(new[i])))  # type: ignore[arg-type]
        return out

    def close(self) -> None:
        self.model = None


def _looks_like_hub_id(ref: str) -> bool:
    return not ref.startswith(("/", "./", "../", "~")) and ref.count("/") == 1


def flamingo_checkpoint_file(spec: ModelSpec, filename: str) -> Path:
    """The checkpoint file of `spec`: a file path, `filename` in a directory, or in a hub repo's local cache.

    A hub id is fetched through huggingface_hub, from its cache only when HF_HUB_OFFLINE is set; whatever cannot
    be found is a FileNotFoundError saying what to provide.
    """
    ref = spec.hf_id_or_path
    local = Path(ref).expanduser()
    if local.is_file():
        return local
    if local.is_dir():
        path = local / filename
        if not path.is_file():
            raise FileNotFoundError(f"model {spec.name!r}: missing checkpoint file {path}")
        return path
    if not _looks_like_hub_id(ref):
        raise FileNotFoundError(f"model {spec.name!r}: checkpoint path {ref!r} does not exist")
    from huggingface_hub import constants, hf_hub_download

    offline = bool(constants.HF_HUB_OFFLINE)
    try:
        return Path(hf_hub_download(ref, filename, revision=spec.revision, local_files_only=offline))
    except Exception as err:  # huggingface_hub raises several "not found / not cached" types
        where = "the local Hugging Face cache (HF_HUB_OFFLINE is set)" if offline else "the hub or its cache"
        raise FileNotFoundError(
            f"model {spec.name!r}: {filename} of {ref}@{spec.revision} is not in {where}; download it "
            f"(`huggingface-cli download {ref} {filename}`) or set hf_id_or_path to a directory holding it "
            f"[{type(err).__name__}]"
        ) from None


def load_flamingo_weights(model: Any, path: Path, *, vision_pretrained: bool, name: str) -> None:
    """Load a Flamingo checkpoint; every resampler and cross-attention weight (and the vision encoder's, when it
    has no pretrained weights) must come from it, so none stays at its random initialisation."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("model_state_dict", state)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    result = model.load_state_dict(state, strict=False)
    missing = set(result.missing_keys)
    needed = [
        k
        for k in model.state_dict()
        if k.startswith("perceiver.")
        or "gated_cross_attn" in k
        or (not vision_pretrained and k.startswith("vision_encoder."))
    ]
    absent = [k for k in needed if k in missing]
    if absent:
        raise ValueError(
            f"model {name!r}: checkpoint {path} lacks {len(absent)} of the {len(needed)} weights it must provide "
            f"(e.g. {absent[:3]}); they would stay random. Is it a Flamingo checkpoint of this configuration?"
        )


FLAMINGO_TOKENS = (END_OF_CHUNK, IMAGE_MARKER)


@dataclass(frozen=True)
class FlamingoRecipe:
    """How to build a Flamingo of a spec: language model, vision encoder, cross-attention and checkpoint."""

    name: str
    checkpoint: Path
    lang_dir: Path
    vision_encoder: str
    # The study's vision encoder: open_clip ViT-L-14 with OpenAI's weights (the checkpoints do not hold them).
    vision_pretrained: str | None
    cross_attn_every_n_layers: int
    decoder_layers_attr_name: str
    trained: Path | None  # a fine-tuned run's trainable.safetensors (medadapt-finetune), applied last

    @classmethod
    def of(cls, spec: ModelSpec, options: dict[str, Any]) -> FlamingoRecipe:
        """The recipe of `spec`; the adapter options it uses are popped from `options` (the rest are the adapter's)."""
        lang = options.pop("lang_encoder", "llama-7b-v1")
        lang_dir = Path(str(lang)).expanduser()
        if not lang_dir.is_dir():
            lang_dir = resolve_checkpoint(get_model(str(lang)))
        trained = None
        if spec.lora:
            trained = Path(spec.lora).expanduser() / "trainable.safetensors"
            if not trained.is_file():
                raise FileNotFoundError(f"model {spec.name!r}: missing fine-tuned weights {trained}")
        return cls(
            name=spec.name,
            checkpoint=flamingo_checkpoint_file(spec, str(options.pop("checkpoint_file", "checkpoint.pt"))),
            lang_dir=lang_dir,
            vision_encoder=str(options.pop("vision_encoder", "ViT-L-14")),
            vision_pretrained=options.pop("vision_encoder_pretrained", "openai"),
            cross_attn_every_n_layers=int(options.pop("cross_attn_every_n_layers", 4)),
            decoder_layers_attr_name=str(options.pop("decoder_layers_attr_name", "model.layers")),
            trained=trained,
        )

    def processors(self) -> tuple[Any, Any]:
        """(image transform, tokenizer) as `build` makes them, without building the language model."""
        import open_clip
        from transformers import AutoTokenizer

        _, _, image_processor = open_clip.create_model_and_transforms(
            self.vision_encoder, pretrained=self.vision_pretrained
        )
        # open-flamingo's factory: its two tokens, and a pad token when the LM has none.
        tokenizer = AutoTokenizer.from_pretrained(str(self.lang_dir), local_files_only=True)
        tokenizer.add_special_tokens({"additional_special_tokens": list(FLAMINGO_TOKENS)})
        if tokenizer.pad_token is None:
            tokenizer.add_special_tokens({"pad_token": "<PAD>"})
        return image_processor, tokenizer

    def build(self) -> tuple[Any, Any, Any]:
        """(model with its checkpoint (and fine-tuned weights) loaded, image transform, tokenizer)."""
        from open_flamingo import create_model_and_transforms

        model, image_processor, tokenizer = create_model_and_transforms(
            clip_vision_encoder_path=self.vision_encoder,
            clip_vision_encoder_pretrained=self.vision_pretrained,
            lang_encoder_path=str(self.lang_dir),
            tokenizer_path=str(self.lang_dir),
            cross_attn_every_n_layers=self.cross_attn_every_n_layers,
            use_local_files=True,
            decoder_layers_attr_name=self.decoder_layers_attr_name,
        )
        load_flamingo_weights(model, self.checkpoint, vision_pretrained=self.vision_pretrained is not None, name=self.name)
        if self.trained is not None:
            from safetensors.torch import load_file

            unknown = model.load_state_dict(load_file(str(self.trained)), strict=False).unexpected_keys
            if unknown:
                raise ValueError(f"model {self.name!r}: {self.trained} holds weights this model lacks: {unknown[:3]}")
        return model, image_processor, tokenizer


def load_flamingo_adapter(spec: ModelSpec, **options: Any) -> FlamingoAdapter:
    """Entry point `flamingo`: spec.adapter_options name the language model, vision encoder and checkpoint file;
    options `device` (cuda when available), `dtype` ("auto": bf16 on cuda, fp32 on cpu), `batch_size`."""
    config = {**spec.adapter_options, **options}
    model, image_processor, tokenizer = FlamingoRecipe.of(spec, config).build()
    config.setdefault("dtype", "auto")
    return FlamingoAdapter(
        model, image_processor, tokenizer, context_length=spec.context_length or 2048, **config
    )
