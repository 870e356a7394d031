"""LLaVA through transformers' Llava classes: image markers expanded to the tower's patch tokens, scored like text."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from medadapt.models.adapter_io import ModelInput
from medadapt.models.checkpoints import resolve_checkpoint
from medadapt.models.hf import HFAdapter
from medadapt.models.hf_loading import attach_lora, default_device, resolve_dtype
from medadapt.models.registry import ModelSpec

__all__ = ["LlavaAdapter", "expand_image_markers", "image_tokens_per_marker", "load_images", "load_llava_adapter"]


def load_images(paths: tuple[str, ...]) -> list[Any]:
    """RGB PIL images; a missing file is named."""
    from PIL import Image

    images = []
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"image file {path!r} does not exist")
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


def image_tokens_per_marker(processor: Any) -> int:
    """How many tokens one image marker becomes: the tower's patch count, measured through the processor."""
    from PIL import Image

    marker = str(getattr(processor, "image_token", "<image>"))
    blank = Image.new("RGB", (8, 8))
    expanded = processor(images=[blank], text=[marker], return_tensors="np")["input_ids"][0]
    return int((expanded == processor.tokenizer.convert_tokens_to_ids(marker)).sum())


def expand_image_markers(text: str, n_images: int, marker: str, per_image: int) -> str:
    """The text with `per_image` markers per image, the model's input layout.

    Accepts one marker per image (HF LLaVA; missing ones are prepended, as LLaVA puts the image first) or
    prompts already holding one marker per patch: the LLaVA-v0 layout `<im_start>` + `<im_patch>`×N +
    `<im_end>` that the study wrote into its prompts (docs/protocol.md, VLM prompts).
    """
    present = text.count(marker)
    if n_images and per_image > 1 and present == n_images * per_image:
        return text
    if present > n_images:
        raise ValueError(
            f"prompt has {present} {marker!r} markers but {n_images} images: expected one per image, or "
            f"{per_image} per image (one per patch of this model's vision tower, the LLaVA-v0 layout)"
        )
    text = (marker + "\n") * (n_images - present) + text
    return text.replace(marker, marker * per_image)


class LlavaAdapter(HFAdapter):
    """A LlavaForConditionalGeneration checkpoint (HF format; see llava_delta for the study's delta weights)."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        dtype: Any = "auto",
        device: str | None = None,
        device_map: Any = None,
        merge_lora: bool = False,
        **options: Any,
    ) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        path = resolve_checkpoint(spec)
        device = default_device(device)
        kwargs: dict[str, Any] = {"dtype": resolve_dtype(dtype, device)}
        if device_map is not None:
            kwargs["device_map"] = device_map
        model: Any = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
        if device_map is None:
            model = model.to(device)
        model = attach_lora(model, spec, merge=merge_lora)
        self.processor = AutoProcessor.from_pretrained(path)
        if spec.context_length is None:
            text_config = getattr(model.config, "text_config", None)
            spec = spec.with_overrides(context_length=getattr(text_config, "max_position_embeddings", 2048))
        options["prefix_reuse"] = False
        super().__init__(spec, model=model, tokenizer=self.processor.tokenizer, **options)
        self.capabilities = replace(self.capabilities, images=True)
        self.image_marker = str(getattr(self.processor, "image_token", "<image>"))
        self.tokens_per_image = image_tokens_per_marker(self.processor)

    def _input_ids(self, prompt: ModelInput) -> list[int]:
        text = expand_image_markers(prompt.text, len(prompt.images), self.image_marker, self.tokens_per_image)
        return self.encode(text, prompt.add_special_tokens)

    def _pixel_values(self, prompts: list[ModelInput]) -> Any:
        """Pixel values for every image of the batch in prompt order, or None when the batch has no image."""
        paths = tuple(p for prompt in prompts for p in prompt.images)
        if not paths:
            return None
        pixels = self.processor.image_processor(images=load_images(paths), return_tensors="pt")[
            "pixel_values"
        ]
        return pixels.to(self.device, dtype=next(self.model.parameters()).dtype)

    def _batch_logits(self, prompts: list[ModelInput], ids: list[list[int]], prefix: Any) -> Any:
        inputs = self._generation_inputs(prompts, ids)
        mask = inputs["attention_mask"]
        inputs["position_ids"] = (mask.cumsum(dim=1) - 1).clamp(min=0)
        return self.model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1, :]

    def _generation_inputs(self, prompts: list[ModelInput], ids: list[list[int]]) -> dict[str, Any]:
        input_ids, mask = self._left_pad(ids)
        out: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
        pixels = self._pixel_values(prompts)
        if pixels is not None:
            out["pixel_values"] = pixels
        return out


def load_llava_adapter(spec: ModelSpec, **options: Any) -> LlavaAdapter:
    """Entry point `llava` of `medadapt.adapters`."""
    return LlavaAdapter(spec, **options)
