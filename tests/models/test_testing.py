"""The tiny offline models every package's tests use: deterministic, cached, loadable with Auto classes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from medadapt.models.testing import build_tiny_causal_lm, build_tiny_llava


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_tiny_causal_lm_is_deterministic_and_cached(tmp_path: Path) -> None:
    a = build_tiny_causal_lm(tmp_path / "a")
    b = build_tiny_causal_lm(tmp_path / "b")
    assert _digest(a) == _digest(b)
    before = (a / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_causal_lm(tmp_path / "a") == a
    assert (a / "model.safetensors").stat().st_mtime_ns == before
    other_seed = build_tiny_causal_lm(tmp_path / "a", seed=1)
    assert _digest(other_seed)["model.safetensors"] != _digest(b)["model.safetensors"]


def test_tiny_causal_lm_loads_with_auto_classes(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_causal_lm(tmp_path / "mistral", family="mistral")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.model_type == "mistral"
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<s>", "</s>", "<pad>")
    assert tokenizer("Answer:")["input_ids"][0] == tokenizer.bos_token_id
    for piece in ("A", "E", "ĠA", "ĠB", "(", "Answer"):
        assert piece in tokenizer.get_vocab()
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    with torch.inference_mode():
        logits = model(**tokenizer(["Question: A or B? Answer:"], return_tensors="pt")).logits
    assert logits.shape[-1] == len(tokenizer)


def test_refuses_to_overwrite_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not built by medadapt"):
        build_tiny_causal_lm(tmp_path / "mine")


def test_family_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="family"):
        build_tiny_causal_lm(tmp_path / "x", family="gpt2")  # type: ignore[arg-type]


def test_tiny_llava_runs_on_an_image(tmp_path: Path) -> None:
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = build_tiny_llava(tmp_path / "llava")
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)
    image = Image.new("RGB", (40, 30), (200, 10, 10))
    batch = processor(images=[image], text=["<image>\nQuestion: which organ? Answer:"], return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
    assert logits.shape[:2] == batch["input_ids"].shape


def test_tiny_llava_v0_layout_has_the_studys_patch_tokens(tmp_path: Path) -> None:
    from transformers import AutoConfig, AutoProcessor

    from medadapt.models.llava import expand_image_markers, image_tokens_per_marker

    path = build_tiny_llava(tmp_path / "v0", layout="llava-v0")
    processor = AutoProcessor.from_pretrained(path)
    vision = AutoConfig.from_pretrained(path).vision_config
    per_image = image_tokens_per_marker(processor)
    assert per_image == (vision.image_size // vision.patch_size) ** 2 == 256  # as CLIP ViT-L/14 at 224 px
    assert processor.image_token == "<im_patch>"
    ids = processor.tokenizer("<im_start>" + "<im_patch>" * per_image + "<im_end>", add_special_tokens=False)
    assert len(ids["input_ids"]) == per_image + 2
    v0_text = "Q\n<im_start>" + "<im_patch>" * per_image + "<im_end>"
    assert expand_image_markers(v0_text, 1, "<im_patch>", per_image) == v0_text
    with pytest.raises(ValueError, match=r"3 '<im_patch>' markers but 1 images.*256 per image"):
        expand_image_markers("<im_patch>" * 3, 1, "<im_patch>", per_image)
    with pytest.raises(ValueError, match="layout"):
        build_tiny_llava(tmp_path / "x", layout="v2")  # type: ignore[arg-type]
