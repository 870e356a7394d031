"""`medadapt rehearse`: a config run end to end with tiny stand-ins of its registry models and small task slices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from medadapt.models import get_model
from medadapt.study.cli import app
from medadapt.study.rehearsal import RehearsalScale, build_stand_in, stand_in_template

# transformers 5 deprecates the name peft still calls while preparing a LoRA model for training.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

COMPARISON_FIELDS = ("general", "medical", "task", "setting", "decoding", "variant")


def _config(tmp: Path, name: str, pairs: list[dict[str, str]], tasks: list[str], **extra: object) -> Path:
    data = {
        "name": name,
        "data_dir": "/nonexistent/the-rehearsal-replaces-it",
        "pairs": pairs,
        "tasks": tasks,
        "settings": ["zero-shot", {"name": "3-shot", "shots": 3, "tasks": [tasks[0]]}],
        "decodings": ["greedy", "constrained"],
        "prompt_selection": {"mode": "model-specific", "n_formats": 1, "n_shot_seeds": 2, "max_val_items": 500},
        "medopt": True,
        "finetune": {"enabled": True, "tasks": [tasks[0]], "ranks": [4], "learning_rates": [1e-3],
                     "max_epochs": 10, "batch_size": 16},
        "limits": {"batch_size": 8, "max_new_tokens": 64},
        **extra,
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _rehearse(config: Path, out: Path, cache: Path) -> dict:
    result = CliRunner().invoke(app, ["rehearse", str(config), "--out", str(out), "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads((out / "report" / "report.json").read_text(encoding="utf-8"))


def _name(ref: str | dict) -> str:
    return ref if isinstance(ref, str) else ref["name"]


def _expected_rows(config: Path) -> set[tuple[str, ...]]:
    """Every pair × task × setting × decoding × variant the config asks for (fine-tuned: its tasks, greedy)."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    rows = set()
    for entry in data["pairs"]:
        pair = {which: _name(entry[which]) for which in ("general", "medical")}
        for task in data["tasks"]:
            for setting in data["settings"]:
                name = setting if isinstance(setting, str) else setting["name"]
                if not isinstance(setting, str) and task not in setting["tasks"]:
                    continue
                for decoding in data["decodings"]:
                    for variant in ("own prompts", "medopt"):
                        rows.add((pair["general"], pair["medical"], task, name, decoding, variant))
        for task in data["finetune"]["tasks"]:
            rows.add((pair["general"], pair["medical"], task, "fine-tuned", "greedy", "fine-tuned"))
    return rows


def _rows(report: dict) -> set[tuple[str, ...]]:
    return {tuple(row[f] for f in COMPARISON_FIELDS) for row in report["comparisons"]}


def _statuses(run: Path, shard: str) -> set[str]:
    lines = (run / "store" / shard / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["status"] for line in lines}


def test_stand_ins_keep_what_shapes_prompts(tmp_path: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    # A base model has no template; a chat model whose registry patch fills a *missing* template has none either.
    assert stand_in_template(get_model("llama-2-70b")) is None
    assert stand_in_template(get_model("clinical-camel-70b")) is None
    assert "<|start_header_id|>" in (stand_in_template(get_model("llama-3-70b-instruct")) or "")
    scale = RehearsalScale()
    mistral = build_stand_in(get_model("mistral-7b-instruct-v0.1"), tmp_path, scale)
    assert mistral.chat_template_patch == "mistral-v0.1" and mistral.system_prompt_key == "default"
    tokenizer = AutoTokenizer.from_pretrained(mistral.hf_id_or_path)
    with pytest.raises(Exception, match="roles"):  # the study's Mistral template rejects a system turn
        tokenizer.apply_chat_template([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                                      tokenize=False)
    assert tokenizer("x")["input_ids"][0] == tokenizer.bos_token_id
    config = AutoConfig.from_pretrained(mistral.hf_id_or_path)
    assert config.sliding_window == 4096 // scale.context_divisor
    assert mistral.context_length == config.max_position_embeddings == 8192 // scale.context_divisor
    llama3 = build_stand_in(get_model("llama-3-8b"), tmp_path, scale)
    assert "<|eot_id|>" in AutoTokenizer.from_pretrained(llama3.hf_id_or_path).get_vocab()


def test_rehearsal_runs_the_whole_grid_and_records_its_overrides(tmp_path: Path) -> None:
    # A chat general model beside a non-chat medical one, a long-context task whose notes overflow Llama-2's
    # scaled window, fine-tuning, and 3-shot selection over 1 + 1 formats × 2 shot draws.
    config = _config(
        tmp_path, "shapes", [{"general": "llama-2-7b-chat", "medical": "biomedgpt-lm-7b"}], ["medqa", "ehrnoteqa"]
    )
    out = tmp_path / "run"
    report = _rehearse(config, out, tmp_path / "cache")
    assert _rows(report) == _expected_rows(config)
    assert {row["verdict"] for row in report["comparisons"]} <= {"win", "tie", "loss"}
    record = json.loads((out / "rehearsal" / "rehearsal.json").read_text(encoding="utf-8"))
    assert record["overrides"]["val_items"] == 1 and record["data"] == {"medqa": "synthetic", "ehrnoteqa": "synthetic"}
    assert record["stand_ins"]["biomedgpt-lm-7b"]["chat"] is False
    study = yaml.safe_load((out / "study.yaml").read_text(encoding="utf-8"))
    # Per-unit work shrinks, the grid does not.
    assert study["prompt_selection"]["max_val_items"] == 1 and study["limits"]["max_test_items"] == 4
    assert (study["prompt_selection"]["n_formats"], study["prompt_selection"]["n_shot_seeds"]) == (1, 2)
    plan = json.loads((out / "store" / "llama-2-7b-chat--medqa" / "plan.json").read_text(encoding="utf-8"))
    three_shot = [e for e in plan["entries"] if e["setting"] == "3-shot" and e["role"] == "own"]
    assert all(len(e["candidates"]) == (1 + 1) * 2 for e in three_shot)
    assert "too_long" in _statuses(out, "llama-2-7b-chat--ehrnoteqa")
    assert _statuses(out, "llama-2-7b-chat--medqa") == {"ok"}


def test_rehearsal_stands_in_for_the_note_filter_tokenizer_no_pair_brings(tmp_path: Path) -> None:
    """The default note filter counts n2c2 tokens with Llama-2-7B's tokenizer; without Llama-2-7B in a pair, the
    rehearsal builds a stand-in for it too instead of stopping on the missing checkpoint."""
    config = _config(tmp_path, "notes", [{"general": "llama-3-8b", "medical": "openbiollm-8b"}],
                     ["n2c2_2008-obesity_asthma"], settings=["zero-shot"])
    out = tmp_path / "run"
    report = _rehearse(config, out, tmp_path / "cache")
    assert {row["task"] for row in report["comparisons"]} == {"n2c2_2008-obesity_asthma"}
    record = json.loads((out / "rehearsal" / "rehearsal.json").read_text(encoding="utf-8"))
    assert set(record["stand_ins"]) == {"llama-3-8b", "openbiollm-8b", "llama-2-7b"}
    assert record["stand_ins"]["llama-2-7b"]["family"] == get_model("llama-2-7b").family


# paper-llm.yaml's 70B executions: vLLM over 4 GPUs, or transformers spread over 4 GPUs in 4-bit weights.
VLLM_TP4 = {"engine": "vllm", "tensor_parallel_size": 4, "gpu_memory_utilization": 0.9, "batch_size": 256, "gpus": 4}
HF_SPREAD = {"engine": "hf", "device_map": "auto", "quantization": "4bit", "gpus": 4}


def test_rehearsal_of_the_paper_shapes(tmp_path: Path) -> None:
    text = _config(
        tmp_path, "paper-text",
        [{"general": {"name": "llama-2-70b", "execution": VLLM_TP4},
          "medical": {"name": "clinical-camel-70b", "execution": HF_SPREAD}}],
        ["medqa", "ehrnoteqa"], execution={"dtype": "bfloat16", "batch_size": 32},
    )
    vlm = _config(tmp_path, "paper-vlm", [{"general": "llava-v0-7b", "medical": "llava-med-7b"}], ["pathvqa"])
    for config in (text, vlm):
        report = _rehearse(config, tmp_path / config.stem, tmp_path / "cache")
        assert _rows(report) == _expected_rows(config)
    # The GPU executions were checked, then run on CPU with the stand-ins' own adapter; both are on record.
    record = json.loads((tmp_path / "paper-text" / "rehearsal" / "rehearsal.json").read_text(encoding="utf-8"))
    general, medical = record["execution"]["llama-2-70b"], record["execution"]["clinical-camel-70b"]
    assert general["configured"] == {**VLLM_TP4, "dtype": "bfloat16"}
    assert general["rehearsed"] == {"engine": "hf", "dtype": "float32", "batch_size": 32}
    assert medical["configured"] == {**HF_SPREAD, "dtype": "bfloat16", "batch_size": 32}
    assert medical["rehearsed"] == {"engine": "hf", "dtype": "float32", "batch_size": 32}


def test_rehearsal_stops_on_an_execution_option_the_engine_refuses(tmp_path: Path) -> None:
    config = _config(
        tmp_path, "bad-execution",
        [{"general": {"name": "llama-2-7b", "execution": {"engine": "hf", "tensor_parallel_size": 2}},
          "medical": "meditron-7b"}],
        ["medqa"],
    )
    result = CliRunner().invoke(app, ["rehearse", str(config), "--out", str(tmp_path / "run"),
                                      "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code != 0
    assert "llama-2-7b" in result.output and "tensor_parallel_size" in result.output and "'hf'" in result.output
