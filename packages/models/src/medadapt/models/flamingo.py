"""OpenFlamingo / Med-Flamingo through open-flamingo (own environment: it needs torchvision, see README).

Built offline: the open_clip vision encoder without a `pretrained` tag (weights come from the checkpoint), the
language model and tokenizer from a local LLaMA-7B directory, then the Flamingo checkpoint (`checkpoint.pt` /
`model.pt`, loaded with `weights_only=True`, strict=False as the study did). Prompts are scored one at a time
(Flamingo's forward has no position ids, so left padding would shift positions), on the last position's logits.
open-flamingo's `generate` does not run under transformers 5 (its mixin's forward wants `attention_mask`
positionally), so generation is our own greedy loop over the plain forward: exact, without a KV cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

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
from medadapt.models.hf_loading import prepare_tokenizer
from medadapt.models.llava import load_images
from medadapt.models.option_table import OptionTable
from medadapt.models.protocol import OptionTokensLike
from medadapt.models.registry import ModelSpec, get_model
from medadapt.models.stop_strings import cut_at_stop
from medadapt.models.tokenization import special_tokens

__all__ = ["FlamingoAdapter", "load_flamingo_adapter"]

IMAGE_MARKER = "<image>"
END_OF_CHUNK = "<|endofchunk|>"


class FlamingoAdapter:
    """A Flamingo model (open_flamingo.Flamingo) with its image transform and tokenizer."""

    def __init__(
        self,
        model: Any,
        image_processor: Any,
        tokenizer: Any,
        *,
        context_length: int = 2048,
        decoder_backend: str = "auto",
    ) -> None:
        self.model = model.eval()
        self.image_processor = image_processor
        self._tokenizer = prepare_tokenizer(tokenizer)
        self.decoder_backend = decoder_backend
        self.capabilities = Capabilities(None, True, int(context_length), True, special_tokens(tokenizer))

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def _vision_x(self, prompt: ModelInput) -> Any:
        """(1, T_img, 1, C, H, W) images of one prompt; a blank image when it has none (Flamingo always wants one)."""
        import torch
        from PIL import Image

        images = load_images(prompt.images) if prompt.images else [Image.new("RGB", (224, 224))]
        pixels = torch.stack([self.image_processor(image) for image in images])
        dtype = next(self.model.parameters()).dtype
        return pixels.unsqueeze(1).unsqueeze(0).to(dtype)

    def _text(self, prompt: ModelInput) -> str:
        missing = len(prompt.images) - prompt.text.count(IMAGE_MARKER)
        return IMAGE_MARKER * max(missing, 0) + prompt.text

    def _ids(self, prompt: ModelInput) -> list[int]:
        # OpenFlamingo's text always starts from the tokenizer's BOS unless the prompt's producer decided otherwise.
        add_special = True if prompt.add_special_tokens is None else prompt.add_special_tokens
        return list(self._tokenizer(self._text(prompt), add_special_tokens=add_special)["input_ids"])

    def _last_logits(self, vision_x: Any, ids: list[int]) -> Any:
        import torch

        lang_x = torch.tensor([ids])
        with torch.inference_mode():
            out = self.model(vision_x=vision_x, lang_x=lang_x, attention_mask=torch.ones_like(lang_x))
        return out.logits[:, -1, :]

    def score_options(
        self, prompts: Sequence[Any], option_tokens: OptionTokensLike | Sequence[OptionTokensLike]
    ) -> ScoreResult:
        from medadapt.decoding import constrained_logprobs

        inputs = as_model_inputs(prompts)
        table = OptionTable(option_tokens, len(inputs))
        n = len(inputs)
        ids = [self._ids(p) for p in inputs]
        status: list[str] = [
            STATUS_OK if len(x) <= self.capabilities.context_length else STATUS_TOO_LONG for x in ids
        ]
        logprobs = np.full((n, table.n_options), np.nan, dtype=np.float32)
        lse = np.full(n, np.nan, dtype=np.float32)
        top = np.full(n, -1, dtype=np.int64)
        for i, prompt in enumerate(inputs):
            if status[i] != STATUS_OK:
                continue
            logits = self._last_logits(self._vision_x(prompt), ids[i]).float().contiguous()
            result = constrained_logprobs(logits, table.allowed([i]), backend=self.decoder_backend)
            logprobs[i] = table.combine([i], result.logprobs)[0]
            lse[i], top[i] = result.logsumexp[0], result.top_token[0]
        return ScoreResult(logprobs, lse, top, status, [len(x) for x in ids])

    def generate(
        self, prompts: Sequence[Any], max_new_tokens: int = 64, stop: Sequence[str] = ()
    ) -> list[Generation]:
        inputs = as_model_inputs(prompts)
        stops = [s for s in (*stop, END_OF_CHUNK) if s]
        eos = self._tokenizer.eos_token_id
        out = []
        for prompt in inputs:
            ids = self._ids(prompt)
            if len(ids) >= self.capabilities.context_length:
                out.append(Generation("", STATUS_TOO_LONG, "none", 0))
                continue
            vision_x = self._vision_x(prompt)
            new: list[int] = []
            reason = "length"
            budget = min(max_new_tokens, self.capabilities.context_length - len(ids))
            while len(new) < budget:
                token = int(self._last_logits(vision_x, ids + new).argmax(dim=-1)[0])
                if token == eos:
                    reason = "eos"
                    break
                new.append(token)
                if stops and cut_at_stop(self._tokenizer.decode(new), stops)[1]:
                    break
            text, stopped = cut_at_stop(self._tokenizer.decode(new, skip_special_tokens=False), stops)
            for special in getattr(self._tokenizer, "all_special_tokens", []):
                text = text.replace(special, "")
            out.append(Generation(text, STATUS_OK, "stop" if stopped else reason, len(new)))  # type: ignore[arg-type]
        return out

    def close(self) -> None:
        self.model = None


def load_flamingo_adapter(spec: ModelSpec, **options: Any) -> FlamingoAdapter:
    """Entry point `flamingo`: spec.adapter_options name the language model, vision encoder and checkpoint file."""
    import torch
    from open_flamingo import create_model_and_transforms

    config = {**spec.adapter_options, **options}
    lang = config.pop("lang_encoder", "llama-7b-v1")
    lang_dir = (
        Path(lang) if Path(str(lang)).expanduser().is_dir() else resolve_checkpoint(get_model(str(lang)))
    )
    checkpoint_dir = resolve_checkpoint(spec) if Path(spec.hf_id_or_path).is_dir() else None
    model, image_processor, tokenizer = create_model_and_transforms(
        clip_vision_encoder_path=config.pop("vision_encoder", "ViT-L-14"),
        clip_vision_encoder_pretrained=config.pop("vision_encoder_pretrained", None),
        lang_encoder_path=str(lang_dir),
        tokenizer_path=str(lang_dir),
        cross_attn_every_n_layers=int(config.pop("cross_attn_every_n_layers", 4)),
        use_local_files=True,
        decoder_layers_attr_name=config.pop("decoder_layers_attr_name", "model.layers"),
    )
    checkpoint_file = config.pop("checkpoint_file", "checkpoint.pt")
    if checkpoint_dir is not None:
        path = Path(checkpoint_dir) / checkpoint_file
        if not path.is_file():
            raise FileNotFoundError(f"model {spec.name!r}: missing file {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("model_state_dict", state), strict=False)
    return FlamingoAdapter(
        model, image_processor, tokenizer, context_length=spec.context_length or 2048, **config
    )
