"""The Ray executor asks each model's GPUs per job: on a local Ray with 4 declared (logical) GPUs, a model whose
execution says `gpus: 2` runs in a worker that was given 2 GPUs, the other model in one given 1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from medadapt.study.config import parse_config
from medadapt.study.demo import demo_config
from medadapt.study.errors import StudyError
from medadapt.study.executors import run_ray
from medadapt.study.run_dir import log_file
from medadapt.study.runner import prepare_run_dir
from medadapt.study.study_plan import plan_waves

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_ray_job_gets_the_gpus_its_model_asks_for(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="the Ray executor needs the [ray] extra")
    general, medical = tiny_models
    data = demo_config(general, medical, tiny=True)
    data.update(finetune={"enabled": False}, tasks=["mmlu_anatomy"], settings=["zero-shot"], decodings=["constrained"],
                prompt_selection={"mode": "default"}, medopt=False)
    data["limits"]["max_test_items"] = 2
    data["pairs"][0]["general"]["execution"] = {"gpus": 2}
    config = parse_config(data, source="test", base=Path.cwd())
    run_dir = tmp_path / "run"
    prepare_run_dir(run_dir, config)
    ray.init(num_cpus=2, num_gpus=4, include_dashboard=False, log_to_driver=False)
    try:
        run_ray(plan_waves(config, run_dir, split_tasks=True), "local", Console(quiet=True))
        too_many = parse_config(
            {**data, "execution": {"gpus": 8}}, source="test", base=Path.cwd()
        )
        with pytest.raises(StudyError, match="'tiny-medical' asks 8 GPUs per job; the Ray cluster has 4"):
            run_ray(plan_waves(too_many, tmp_path / "other", split_tasks=True), "local", Console(quiet=True))
    finally:
        ray.shutdown()
    log = log_file(run_dir).read_text(encoding="utf-8")
    gpus = {m.group(1): len(m.group(2).split(",")) for m in re.finditer(r"ray job (\S+) on \S+: GPUs \[([^\]]*)\]", log)}
    assert gpus == {"tiny-general": 2, "tiny-medical": 1}
