"""Tiny random models with a locally trained tokenizer: offline stand-ins for real checkpoints in every test suite."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from medadapt.models.cache import build_once

__all__ = [
    "CHATML_TEMPLATE",
    "TINY_SPECIAL_TOKENS",
    "build_stand_in_llava",
    "build_stand_in_lm",
    "build_tiny_causal_lm",
    "build_tiny_flamingo",
    "build_tiny_llava",
    "tiny_clip_vision_config",
    "tiny_flamingo_options",
    "train_tiny_tokenizer",
]

# Bumped whenever what the builders write changes, so cached directories are rebuilt.
_BUILD_VERSION = 1
_VOCAB_SIZE = 1024
_CONTEXT_LENGTH = 512

TINY_SPECIAL_TOKENS: dict[str, str] = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
}
_CHAT_TOKENS = ("<|im_start|>", "<|im_end|>")
IMAGE_TOKEN = "<image>"

# ChatML, as SmolLM2 and many instruct models use it; `bos_token` comes from the tokenizer's post-processor.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

Family = Literal["llama", "mistral"]


def _corpus_lines() -> list[str]:
    """The small original medical/MCQ corpus shipped in the package (letters A–E, "(A)", "Answer:")."""
    text = files("medadapt.models").joinpath("corpus/tiny_corpus.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def train_tiny_tokenizer(
    extra_special: tuple[str, ...] = (), *, corpus: Sequence[str] | None = None, vocab_size: int = _VOCAB_SIZE
) -> Any:
    """A byte-level BPE trained on the shipped corpus (or `corpus`), as a PreTrainedTokenizerFast that prepends BOS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [TINY_SPECIAL_TOKENS[k] for k in ("unk_token", "bos_token", "eos_token", "pad_token")]
    specials += [*_CHAT_TOKENS, *extra_special]
    core = Tokenizer(models.BPE(unk_token=TINY_SPECIAL_TOKENS["unk_token"]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_corpus_lines() if corpus is None else list(corpus), trainer=trainer)
    bos = TINY_SPECIAL_TOKENS["bos_token"]
    core.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, core.token_to_id(bos))]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        model_max_length=_CONTEXT_LENGTH,
        padding_side="left",
        **TINY_SPECIAL_TOKENS,
    )
    extra = [*_CHAT_TOKENS, *extra_special]
    tokenizer.add_special_tokens({"additional_special_tokens": extra})
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def _text_config(family: Family, tokenizer: Any, head_dim: int | None = None) -> Any:
    """A 2-layer, hidden-64 decoder config (GQA 4/2) whose ids match the tiny tokenizer."""
    from transformers import LlamaConfig, MistralConfig

    common: dict[str, Any] = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=_CONTEXT_LENGTH,
        # Wider than the usual 0.02 so that random logits are spread and argmax comparisons mean something.
        initializer_range=0.2,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if head_dim is not None:
        common["head_dim"] = head_dim
    if family == "llama":
        return LlamaConfig(**common)
    if family == "mistral":
        return MistralConfig(sliding_window=None, **common)
    raise ValueError(f"family: expected 'llama' or 'mistral', got {family!r}")


def _random_model(model_class: Any, config: Any, seed: int) -> Any:
    """Initialise deterministically from `seed` without touching the caller's global RNG state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    return model.eval()


def build_tiny_causal_lm(
    out_dir: str | Path,
    family: Family = "llama",
    seed: int = 0,
    *,
    head_dim: int | None = None,
    chat_template: bool = True,
) -> Path:
    """Write (once) a random-init 2-layer Llama/Mistral and its tokenizer to `out_dir`; return the directory.

    `head_dim` (default hidden/heads = 16) exists for engines with a minimum head size: vLLM's CPU attention
    needs 32 or more. `chat_template=False` saves the tokenizer without a chat template, as a base model's
    (e.g. Llama-2-70B's) comes.
    """
    _check_family(family)
    recipe: dict[str, Any] = {
        "kind": "tiny-causal-lm",
        "family": family,
        "seed": int(seed),
        "version": _BUILD_VERSION,
    }
    if head_dim is not None:
        recipe["head_dim"] = int(head_dim)
    if not chat_template:
        recipe["chat_template"] = False

    def build(tmp: Path) -> None:
        tokenizer = train_tiny_tokenizer()
        if not chat_template:
            tokenizer.chat_template = None
        _save_causal_lm(tmp, family, _text_config(family, tokenizer, head_dim), tokenizer, seed)

    return build_once(Path(out_dir), recipe, build)


def _check_family(family: str) -> None:
    if family not in ("llama", "mistral"):
        raise ValueError(f"family: expected 'llama' or 'mistral', got {family!r}")


def _save_causal_lm(tmp: Path, family: Family, config: Any, tokenizer: Any, seed: int) -> None:
    """A random decoder of the family saved with its tokenizer (its generation config knows the pad token)."""
    from transformers import LlamaForCausalLM, MistralForCausalLM

    model_class = LlamaForCausalLM if family == "llama" else MistralForCausalLM
    model = _random_model(model_class, config, seed)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)


def _pil_clip_image_processor() -> Any:
    """The PIL CLIP image processor: the default one wants torchvision, which does not import next to CPU torch."""
    import transformers

    return getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor


def tiny_clip_vision_config(image_size: int = 32, patch_size: int = 8) -> Any:
    """The vision tower of the tiny LLaVA: by default a 32-px CLIP with 8-px patches (16 patches + CLS), 2 layers of
    width 32."""
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        projection_dim=32,
    )


LlavaLayout = Literal["hf", "llava-v0"]
# LLaVA-v0 / LLaVA-Med: CLIP ViT-L/14 at 224 px gives 16×16 = 256 patches, each an `<im_patch>` in the prompt,
# wrapped in `<im_start>`…`<im_end>`. The tiny stand-in keeps the 256 patches with a 64-px image and 4-px patches.
_V0_TOKENS = ("<im_patch>", "<im_start>", "<im_end>")
_V0_IMAGE_SIZE, _V0_PATCH_SIZE = 64, 4
_V0_CONTEXT_LENGTH = 2048


def _save_tiny_llava(
    tmp: Path,
    tokenizer: Any,
    *,
    marker: str,
    image_size: int,
    patch_size: int,
    context_length: int | None,
    vision_feature_layer: int,
    chat_template: str | None,
    seed: int,
) -> None:
    """A random LLaVA over the tiny CLIP tower and `tokenizer`, with its processor, saved into `tmp`."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    text_config = _text_config("llama", tokenizer)
    if context_length is not None:
        text_config.max_position_embeddings = int(context_length)
        tokenizer.model_max_length = int(context_length)
    config = LlavaConfig(  # type: ignore[call-arg]
        vision_config=tiny_clip_vision_config(image_size, patch_size),
        text_config=text_config,
        image_token_index=tokenizer.convert_tokens_to_ids(marker),
        # "full" makes the processor expand <image> to 16 tokens while the tower yields 17 features;
        # "default" drops the CLS feature and num_additional_image_tokens=1 tells the processor so.
        vision_feature_select_strategy="default",
        vision_feature_layer=vision_feature_layer,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = _random_model(LlavaForConditionalGeneration, config, seed)
    image_processor = _pil_clip_image_processor()(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        do_convert_rgb=True,
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        image_token=marker,
        chat_template=chat_template,
    )
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)


def build_tiny_llava(out_dir: str | Path, seed: int = 0, *, layout: LlavaLayout = "hf") -> Path:
    """Write (once) a random-init LLaVA with processor to `out_dir`.

    `layout="hf"`: 32-px CLIP, patch 8, image marker `<image>` (16 tokens). `layout="llava-v0"`: the study's
    LLaVA-v0 / LLaVA-Med layout as medadapt-models' delta conversion writes it: marker `<im_patch>` plus
    `<im_start>`/`<im_end>` tokens, a vision tower with 256 patches (as the real one) and a 2048-token context.
    """
    if layout not in ("hf", "llava-v0"):
        raise ValueError(f"layout: expected 'hf' or 'llava-v0', got {layout!r}")
    recipe: dict[str, Any] = {"kind": "tiny-llava", "seed": int(seed), "version": _BUILD_VERSION}
    if layout != "hf":
        recipe["layout"] = layout
    v0 = layout == "llava-v0"
    marker = _V0_TOKENS[0] if v0 else IMAGE_TOKEN
    image_size, patch_size = (_V0_IMAGE_SIZE, _V0_PATCH_SIZE) if v0 else (32, 8)

    def build(tmp: Path) -> None:
        tokenizer = train_tiny_tokenizer(extra_special=_V0_TOKENS if v0 else (IMAGE_TOKEN,))
        _save_tiny_llava(
            tmp, tokenizer, marker=marker, image_size=image_size, patch_size=patch_size,
            context_length=_V0_CONTEXT_LENGTH if v0 else None, vision_feature_layer=-2 if v0 else -1,
            chat_template=None if v0 else CHATML_TEMPLATE, seed=seed,
        )

    return build_once(Path(out_dir), recipe, build)


# An open_clip vision config small enough for tests (Flamingo's perceiver width follows `vision_cfg.width`).
TINY_OPEN_CLIP = "medadapt-tiny-vit"
_TINY_OPEN_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def tiny_flamingo_options(lang_dir: str | Path) -> dict[str, Any]:
    """Adapter options of a tiny Flamingo over the tiny Llama in `lang_dir`; registers the tiny open_clip config
    in this process (open_clip knows models by name only)."""
    import json
    import tempfile

    import open_clip

    if open_clip.get_model_config(TINY_OPEN_CLIP) is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{TINY_OPEN_CLIP}.json"
            path.write_text(json.dumps(_TINY_OPEN_CLIP_CONFIG), encoding="utf-8")
            open_clip.add_model_config(path)
    return {
        "lang_encoder": str(lang_dir),
        "vision_encoder": TINY_OPEN_CLIP,
        "vision_encoder_pretrained": None,
        "cross_attn_every_n_layers": 1,
        "checkpoint_file": "checkpoint.pt",
    }


def build_tiny_flamingo(out_dir: str | Path, lang_dir: str | Path, seed: int = 0) -> Path:
    """Write (once) `checkpoint.pt` of a random-init Flamingo over the tiny Llama in `lang_dir` (needs open-flamingo).

    The checkpoint holds the whole state (vision encoder included, since the tiny one has no pretrained weights);
    the cross-attention gates are opened (Flamingo initialises them at 0, which would hide the images).
    """
    recipe = {"kind": "tiny-flamingo", "seed": int(seed), "lang": str(lang_dir), "version": _BUILD_VERSION}

    def build(tmp: Path) -> None:
        import torch
        from open_flamingo import create_model_and_transforms

        options = tiny_flamingo_options(lang_dir)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model, _, _ = create_model_and_transforms(
                clip_vision_encoder_path=options["vision_encoder"],
                clip_vision_encoder_pretrained=None,
                lang_encoder_path=str(lang_dir),
                tokenizer_path=str(lang_dir),
                cross_attn_every_n_layers=1,
                use_local_files=True,
                decoder_layers_attr_name="model.layers",
            )
            for name, param in model.named_parameters():
                if name.endswith(("attn_gate", "ff_gate")):
                    param.data.uniform_(0.5, 1.0)
        torch.save({"model_state_dict": model.state_dict()}, tmp / "checkpoint.pt")

    return build_once(Path(out_dir), recipe, build)


def _corpus_digest(corpus: Sequence[str] | None) -> str | None:
    """What identifies a training corpus in a build recipe."""
    if corpus is None:
        return None
    import hashlib

    return hashlib.sha256("\n".join(corpus).encode("utf-8")).hexdigest()[:16]


# A stand-in's trunk shapes no prompt, only the cost of scoring one: a rehearsal scores the paper's prompts at their
# real lengths (up to thousands of tokens) tens of thousands of times, so the trunk is as small as a decoder gets.
STAND_IN_TRUNK: dict[str, int] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 1,
    "num_key_value_heads": 1,
    "head_dim": 32,
}


def build_stand_in_lm(
    out_dir: str | Path,
    *,
    family: Family,
    context_length: int,
    chat_template: str | None,
    extra_special: tuple[str, ...] = (),
    sliding_window: int | None = None,
    corpus: Sequence[str] | None = None,
    vocab_size: int = _VOCAB_SIZE,
    seed: int = 0,
) -> Path:
    """Write (once) a tiny random decoder shaped like a real checkpoint where prompts depend on it.

    The chat template (None: the checkpoint has none), the special tokens that template uses, the context window and
    Mistral's sliding window are the real model's (scaled by the caller); the weights are random and tiny. A
    tokenizer trained on `corpus` with a real-sized vocabulary cuts text about as finely as the real one.
    """
    _check_family(family)
    recipe: dict[str, Any] = {
        "kind": "stand-in-lm",
        "family": family,
        "context_length": int(context_length),
        "chat_template": chat_template,
        "extra_special": list(extra_special),
        "sliding_window": sliding_window,
        "corpus": _corpus_digest(corpus),
        "vocab_size": int(vocab_size),
        "seed": int(seed),
        "trunk": STAND_IN_TRUNK,
        "version": _BUILD_VERSION,
    }

    def build(tmp: Path) -> None:
        tokenizer = train_tiny_tokenizer(tuple(extra_special), corpus=corpus, vocab_size=vocab_size)
        tokenizer.chat_template = chat_template
        tokenizer.model_max_length = int(context_length)
        config = _text_config(family, tokenizer)
        config.update(STAND_IN_TRUNK)
        config.max_position_embeddings = int(context_length)
        if family == "mistral":
            config.sliding_window = sliding_window
        _save_causal_lm(tmp, family, config, tokenizer, seed)

    return build_once(Path(out_dir), recipe, build)


def build_stand_in_llava(
    out_dir: str | Path,
    *,
    context_length: int,
    image_token: str = IMAGE_TOKEN,
    tokens_per_image: int = 16,
    extra_special: tuple[str, ...] = (),
    corpus: Sequence[str] | None = None,
    vocab_size: int = _VOCAB_SIZE,
    seed: int = 0,
) -> Path:
    """Write (once) a tiny random LLaVA whose image marker and image-token count are the real model's.

    `tokens_per_image` must be a square (patches of a square image); the image is 4 px per patch side, so 256 tokens
    (LLaVA-v0's 224 px / patch 14) become a 64-px image with 4-px patches.
    """
    side = round(tokens_per_image**0.5)
    if side * side != tokens_per_image:
        raise ValueError(f"tokens_per_image must be a square number, got {tokens_per_image}")
    patch = 4
    recipe: dict[str, Any] = {
        "kind": "stand-in-llava",
        "context_length": int(context_length),
        "image_token": image_token,
        "tokens_per_image": int(tokens_per_image),
        "extra_special": list(extra_special),
        "corpus": _corpus_digest(corpus),
        "vocab_size": int(vocab_size),
        "seed": int(seed),
        "version": _BUILD_VERSION,
    }

    def build(tmp: Path) -> None:
        tokenizer = train_tiny_tokenizer((image_token, *extra_special), corpus=corpus, vocab_size=vocab_size)
        tokenizer.chat_template = None
        _save_tiny_llava(
            tmp, tokenizer, marker=image_token, image_size=side * patch, patch_size=patch,
            context_length=context_length, vision_feature_layer=-1, chat_template=None, seed=seed,
        )

    return build_once(Path(out_dir), recipe, build)
