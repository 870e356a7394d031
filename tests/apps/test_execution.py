"""Per-model execution settings: config inheritance, engine and option checks before loading, the adapter gets them,
and only result-changing settings enter the run key."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from medadapt.study.config import ModelRef, load_config, parse_config
from medadapt.study.errors import StudyError
from medadapt.study.execution import Execution, resolve_engine, result_identity
from medadapt.study.model_identity import model_identity, resolve_spec
from medadapt.study.model_job import execution_of, load_model
from medadapt.study.preflight import check_models


def _config(tmp_path: Path, general: Any, medical: Any, **extra: Any) -> Any:
    data = {"data_dir": str(tmp_path), "pairs": [{"general": general, "medical": medical}], "tasks": ["pubmedqa"]}
    return parse_config({**data, **extra}, source="test", base=tmp_path)


def test_model_execution_overrides_the_study_default(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        {"name": "llama-2-7b", "execution": {"batch_size": 2, "max_batch_tokens": 512}},
        "meditron-7b",
        execution={"dtype": "float32", "batch_size": 4},
    )
    general, medical = config.pairs[0].general, config.pairs[0].medical
    assert execution_of(config, general) == Execution(dtype="float32", batch_size=2, max_batch_tokens=512)
    assert execution_of(config, medical) == Execution(dtype="float32", batch_size=4)


def test_unknown_engine_is_one_line_naming_the_allowed_ones(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(
        "data_dir: .\npairs:\n  - general: {name: llama-2-7b, execution: {engine: tensorrt}}\n"
        "    medical: meditron-7b\ntasks: [pubmedqa]\n",
        encoding="utf-8",
    )
    with pytest.raises(StudyError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message
    assert "pairs[0].general.execution.engine: unknown engine 'tensorrt'; allowed: auto, " in message
    for engine in ("chain", "flamingo", "hf", "llava", "vllm"):
        assert engine in message


def test_option_the_engine_does_not_take_fails_before_loading(tmp_path: Path) -> None:
    config = _config(
        tmp_path, {"name": "llama-2-7b", "execution": {"engine": "hf", "tensor_parallel_size": 4}}, "meditron-7b"
    )
    # The checkpoints are not on this machine: the error must come from the option check, not from loading.
    with pytest.raises(StudyError, match=r"'llama-2-7b': execution option\(s\) tensor_parallel_size are not accepted "
                                         r"by engine 'hf' \(it accepts: .*device_map"):
        check_models(config)
    quantized = _config(tmp_path, {"name": "llama-2-7b", "execution": {"engine": "hf", "quantization": "awq"}},
                        "meditron-7b")
    with pytest.raises(StudyError, match="quantization 'awq' is not a mode of engine 'hf'; allowed: 8bit, 4bit"):
        check_models(quantized)
    flamingo = _config(tmp_path, "llava-v0-7b", {"name": "med-flamingo-9b", "execution": {"device_map": "auto"}})
    with pytest.raises(StudyError, match="device_map are not accepted by engine 'flamingo'"):
        check_models(flamingo)


def test_vllm_engine_without_vllm_fails_before_loading(tmp_path: Path) -> None:
    if find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    config = _config(tmp_path, {"name": "llama-2-7b", "execution": {"engine": "vllm"}}, "meditron-7b")
    with pytest.raises(StudyError, match=r"'llama-2-7b': engine 'vllm' needs vLLM: pip install"):
        check_models(config)


def test_default_engine_is_the_registry_adapter_or_vllm_on_a_gpu() -> None:
    import torch

    text_default = "vllm" if find_spec("vllm") is not None and torch.cuda.is_available() else "hf"
    assert resolve_engine(Execution(), resolve_spec(ModelRef(name="llama-2-7b"))) == text_default
    assert resolve_engine(Execution(), resolve_spec(ModelRef(name="llava-med-7b"))) == "llava"
    assert resolve_engine(Execution(engine="hf"), resolve_spec(ModelRef(name="llama-2-7b"))) == "hf"


def test_load_model_hands_the_execution_options_to_the_adapter(tmp_path: Path) -> None:
    import torch

    from medadapt.models.testing import build_tiny_causal_lm

    path = build_tiny_causal_lm(tmp_path / "tiny", family="llama", seed=0)
    ref = ModelRef(path=str(path))
    execution = Execution(engine="hf", dtype="bfloat16", batch_size=3, max_batch_tokens=256)
    adapter = load_model(ref, resolve_spec(ref), execution)
    try:
        assert adapter.batch_size == 3
        assert adapter.max_batch_tokens == 256
        assert next(adapter.model.parameters()).dtype == torch.bfloat16
    finally:
        adapter.close()


def test_run_key_holds_what_changes_results_only(tmp_path: Path) -> None:
    ref = ModelRef(name="llama-2-7b")
    spec = resolve_spec(ref)

    def identity(**execution: Any) -> dict[str, Any]:
        settings = Execution(**execution)
        return model_identity(ref, spec, result_identity(settings, resolve_engine(settings, spec)))

    default = identity(engine="hf")
    assert "execution" not in default  # default runs keep the keys they had
    assert default == identity(engine="hf", dtype="auto", batch_size=64, device_map="auto", attn_implementation="sdpa",
                               max_batch_tokens=10, gpus=2)
    assert identity(engine="hf", dtype="bfloat16")["execution"] == {"dtype": "bfloat16"}
    assert identity(engine="hf", quantization="4bit") != default
    assert identity(engine="vllm", tensor_parallel_size=4, gpu_memory_utilization=0.8)["execution"] == {
        "engine": "vllm"
    }
    assert identity(engine="vllm", max_model_len=2048) != identity(engine="vllm")


def test_a_model_listed_twice_must_have_one_entry(tmp_path: Path) -> None:
    # models() keeps one entry per name, so a second entry with other execution settings would be ignored silently.
    data = {
        "data_dir": str(tmp_path),
        "pairs": [
            {"general": {"name": "llama-2-70b", "execution": {"tensor_parallel_size": 4}}, "medical": "meditron-70b"},
            {"general": {"name": "llama-2-70b", "execution": {"tensor_parallel_size": 2}}, "medical": "med42-v1-70b"},
        ],
        "tasks": ["pubmedqa"],
    }
    with pytest.raises(StudyError, match="'llama-2-70b' is listed twice with different settings"):
        parse_config(data, source="test", base=tmp_path)
    data["pairs"][1]["general"] = data["pairs"][0]["general"]
    assert len(parse_config(data, source="test", base=tmp_path).models()) == 3


def test_flamingo_takes_its_precision_and_batch_size() -> None:
    from medadapt.study.execution import Execution, adapter_options

    options = adapter_options(Execution(dtype="bfloat16", batch_size=8), "flamingo", "med-flamingo-9b")
    assert options == {"dtype": "bfloat16", "batch_size": 8}
