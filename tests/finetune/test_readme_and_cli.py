from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from medadapt.finetune.__main__ import main, read_pairs
from medadapt.finetune.distributed import ACCELERATE_CONFIGS, DEEPSPEED_CONFIGS, config_text

README = Path(__file__).resolve().parents[2] / "packages" / "finetune" / "README.md"


def test_readme_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    block = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block is not None
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)  # the example writes under the current directory
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert re.match(r"r\d+-lr", capsys.readouterr().out)
    assert namespace["model_spec"].lora  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", DEEPSPEED_CONFIGS)
def test_deepspeed_configs_are_json_with_the_zero_stage(name: str) -> None:
    config = json.loads(config_text("deepspeed", name))
    assert config["zero_optimization"]["stage"] == int(name[-1])
    assert config["gradient_clipping"] == 1.0


def test_configs_command_writes_a_launchable_accelerate_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ACCELERATE_CONFIGS:
        assert main(["configs", name, "--out", str(tmp_path), "--num-processes", "2"]) == 0
        path = Path(capsys.readouterr().out.strip())
        config = yaml.safe_load(path.read_text())
        assert config["num_processes"] == 2
        ds_file = (config.get("deepspeed_config") or {}).get("deepspeed_config_file")
        if ds_file:
            assert Path(ds_file).is_absolute() and json.loads(Path(ds_file).read_text())["zero_optimization"]


def test_pairs_file_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"prompt": "Q", "target": "A"}\n{"prompt": "Q"}\n')
    with pytest.raises(ValueError, match=r"train.jsonl:2: field 'target'"):
        read_pairs(path)
