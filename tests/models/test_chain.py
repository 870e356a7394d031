"""Visual-expert chaining: routing by image type and merging descriptions into the text prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from medadapt.models.adapter_io import ModelInput
from medadapt.models.chain import ChainAdapter, ColourStatsClassifier


class _Recorder:
    """A text adapter stand-in that records the prompts it receives."""

    def __init__(self) -> None:
        from medadapt.models.adapter_io import Capabilities

        self.capabilities = Capabilities(None, True, 512, False, {})
        self.tokenizer = None
        self.seen: list[str] = []

    def generate(self, prompts, max_new_tokens=64, stop=()):  # type: ignore[no-untyped-def]
        self.seen += [p.text for p in prompts]
        return []

    def score_options(self, prompts, option_tokens):  # type: ignore[no-untyped-def]
        self.seen += [p.text for p in prompts]

    def close(self) -> None:
        pass


class _Expert:
    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    def describe(self, image_path: str) -> str:
        self.calls += 1
        return self.text


def test_routes_by_image_type_and_merges(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (16, 16), (220, 40, 60)).save(tmp_path / "slide.png")
    Image.new("L", (16, 16), 120).save(tmp_path / "xray.png")
    classifier = ColourStatsClassifier()
    assert classifier.classify(str(tmp_path / "slide.png")) == "pathology"
    assert classifier.classify(str(tmp_path / "xray.png")) == "radiology"
    text, radiology, pathology = _Recorder(), _Expert("a chest film"), _Expert("stained tissue")
    chain = ChainAdapter(text, classifier, {"radiology": radiology, "pathology": pathology})
    assert chain.capabilities.images
    chain.generate(
        [
            ModelInput("<image>\nQuestion: what?", (str(tmp_path / "xray.png"),)),
            ModelInput("Question: and this?", (str(tmp_path / "slide.png"),)),
            ModelInput("Q again <image>", (str(tmp_path / "xray.png"),)),
        ]
    )
    assert text.seen == [
        "Image (radiology): a chest film\n\nQuestion: what?",
        "Image (pathology): stained tissue\nQuestion: and this?",
        "Q again Image (radiology): a chest film\n",
    ]
    assert radiology.calls == 1  # descriptions are cached per image


def test_missing_image_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.png"):
        ColourStatsClassifier().classify(str(tmp_path / "nope.png"))
