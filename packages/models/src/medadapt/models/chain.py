"""Visual-expert chaining (the Visual Med-Alpaca design): image → type → image-to-text expert → text for any LLM.

It lets every text-only pair be compared on the VQA tasks: the image becomes a description merged into the prompt,
and scoring/generation are the text adapter's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from medadapt.models.adapter_io import Generation, ModelInput, ScoreResult, as_model_inputs
from medadapt.models.protocol import Adapter, OptionTokensLike
from medadapt.models.registry import ModelSpec

__all__ = [
    "ChainAdapter",
    "ColourStatsClassifier",
    "ImageToText",
    "ImageTypeClassifier",
    "VLMCaptioner",
    "load_chain_adapter",
]

IMAGE_MARKER = "<image>"


class ImageTypeClassifier(Protocol):
    """Names the kind of a medical image (e.g. "radiology", "pathology") to pick a visual expert."""

    def classify(self, image_path: str) -> str: ...


class ImageToText(Protocol):
    """A visual expert: turns one image into text (a caption, a report, a plot's data)."""

    def describe(self, image_path: str) -> str: ...


class ColourStatsClassifier:
    """Greyscale images → "radiology", coloured ones → "pathology": a dependency-free baseline router."""

    def __init__(self, saturation_threshold: float = 0.08) -> None:
        self.saturation_threshold = saturation_threshold

    def classify(self, image_path: str) -> str:
        from PIL import Image, ImageStat

        if not Path(image_path).is_file():
            raise FileNotFoundError(f"image file {image_path!r} does not exist")
        with Image.open(image_path) as image:
            saturation = ImageStat.Stat(image.convert("HSV")).mean[1] / 255.0
        return "pathology" if saturation > self.saturation_threshold else "radiology"


class VLMCaptioner:
    """Any image-capable adapter used as a visual expert: greedy text for one instruction and the image."""

    def __init__(
        self,
        adapter: Adapter,
        instruction: str = "Describe the medical image.",
        max_new_tokens: int = 48,
        stop: Sequence[str] = ("\n\n",),
    ) -> None:
        if not adapter.capabilities.images:
            raise ValueError(
                "VLMCaptioner: the adapter does not accept images (capabilities.images is False)"
            )
        self.adapter = adapter
        self.instruction = instruction
        self.max_new_tokens = max_new_tokens
        self.stop = tuple(stop)

    def describe(self, image_path: str) -> str:
        prompt = ModelInput(f"{IMAGE_MARKER}\n{self.instruction}\n", (image_path,))
        return self.adapter.generate([prompt], self.max_new_tokens, self.stop)[0].text.strip()


class ChainAdapter:
    """Adapter protocol over a text adapter: images are routed to experts and replaced by their descriptions."""

    def __init__(
        self,
        text_adapter: Adapter,
        classifier: ImageTypeClassifier,
        experts: Mapping[str, ImageToText],
        template: str = "Image ({kind}): {description}\n",
        fallback: str | None = None,
    ) -> None:
        if not experts:
            raise ValueError("experts: at least one image-to-text expert is needed")
        self.text_adapter = text_adapter
        self.classifier = classifier
        self.experts = dict(experts)
        self.template = template
        self.fallback = fallback or next(iter(self.experts))
        self.capabilities = replace(text_adapter.capabilities, images=True)
        self._descriptions: dict[str, str] = {}

    @property
    def tokenizer(self) -> Any:
        return self.text_adapter.tokenizer

    def describe(self, image_path: str) -> str:
        """The merged text for one image (cached: prompt-format search reuses the same images many times)."""
        if image_path not in self._descriptions:
            kind = self.classifier.classify(image_path)
            expert = self.experts.get(kind, self.experts[self.fallback])
            self._descriptions[image_path] = self.template.format(
                kind=kind, description=expert.describe(image_path)
            )
        return self._descriptions[image_path]

    def merge(self, prompt: ModelInput) -> ModelInput:
        """Text-only prompt: each image marker replaced by its description; images without a marker go first."""
        text = prompt.text
        leading = []
        for path in prompt.images:
            description = self.describe(path)
            if IMAGE_MARKER in text:
                text = text.replace(IMAGE_MARKER, description, 1)
            else:
                leading.append(description)
        return ModelInput("".join(leading) + text, add_special_tokens=prompt.add_special_tokens)

    def score_options(
        self, prompts: Sequence[Any], option_tokens: OptionTokensLike | Sequence[OptionTokensLike]
    ) -> ScoreResult:
        return self.text_adapter.score_options(
            [self.merge(p) for p in as_model_inputs(prompts)], option_tokens
        )

    def generate(
        self, prompts: Sequence[Any], max_new_tokens: int = 64, stop: Sequence[str] = ()
    ) -> list[Generation]:
        return self.text_adapter.generate(
            [self.merge(p) for p in as_model_inputs(prompts)], max_new_tokens, stop
        )

    def close(self) -> None:
        self.text_adapter.close()
        for expert in self.experts.values():
            close = getattr(getattr(expert, "adapter", None), "close", None)
            if close is not None:
                close()


def load_chain_adapter(spec: ModelSpec, **options: Any) -> ChainAdapter:
    """Entry point `chain`: spec.adapter_options = {text_model, experts: {kind: vlm model}, classifier?, template?}.

    `text_model` and each expert are registry names or local paths, loaded with load_adapter.
    """
    from medadapt.models.loading import load_adapter

    config = {**spec.adapter_options, **options}
    try:
        text_model = config.pop("text_model")
        expert_models = config.pop("experts")
    except KeyError as err:
        raise KeyError(
            f"model {spec.name!r}: adapter 'chain' needs adapter_options[{err.args[0]!r}]"
        ) from None
    classifier = config.pop("classifier", None) or ColourStatsClassifier()
    experts = {
        kind: VLMCaptioner(load_adapter(ref)) if isinstance(ref, str) else ref
        for kind, ref in expert_models.items()
    }
    text = load_adapter(text_model) if isinstance(text_model, str) else text_model
    return ChainAdapter(text, classifier, experts, **config)
