"""Every task of the study as a declarative record: name, option count, kind, system-prompt key, splits."""

from __future__ import annotations

import dataclasses
from typing import Literal

from medadapt.prompts.example import QAExample

MMLU_SUBJECTS: tuple[str, ...] = (
    "anatomy",
    "clinical-knowledge",
    "college-biology",
    "college-medicine",
    "high-school-biology",
    "medical-genetics",
    "nutrition",
    "professional-medicine",
    "virology",
)
MMMU_SUBJECTS: tuple[str, ...] = (
    "basic-medical-science",
    "clinical-medicine",
    "diagnostics-and-laboratory-medicine",
    "pharmacy",
    "public-health",
)
N2C2_DISEASES: tuple[str, ...] = ("asthma", "cad", "diabetes", "obesity")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One task: how it is loaded (`family`, `subset`, `folder`) and how it is prompted."""

    name: str
    family: str
    kind: Literal["text", "vqa"]
    n_options: int | None
    system_prompt_key: str
    folder: str
    subset: str | None = None
    splits: tuple[str, ...] = ("train", "val", "test")
    # How the study joins context and question into the prompt's question text.
    question_layout: str = "{question}"


def _specs() -> dict[str, TaskSpec]:
    specs = [
        TaskSpec("medqa", "medqa", "text", 5, "mcq", "medqa", subset="5_options"),
        TaskSpec("medqa-usmle", "medqa", "text", 4, "mcq", "medqa", subset="4_options"),
        TaskSpec("medmcqa", "medmcqa", "text", 4, "mcq", "medmcqa"),
        TaskSpec(
            "pubmedqa", "pubmedqa", "text", 3, "mcq", "pubmedqa", question_layout="{context}\n\n{question}"
        ),
        TaskSpec("mednli", "mednli", "text", 3, "mednli", "mednli"),
        TaskSpec(
            "ehrnoteqa",
            "ehrnoteqa",
            "text",
            5,
            "ehrnoteqa",
            "ehrnoteqa",
            question_layout="\n{context}\n\n\n{question}",
        ),
        TaskSpec("casi-sense", "sense", "text", None, "sense", "casi", subset="casi"),
        TaskSpec("mimic-iii-sense", "sense", "text", None, "sense", "mimic-iii", subset="mimic"),
        TaskSpec("vqa-rad", "vqa-rad", "vqa", None, "vqa", "vqa-rad"),
        TaskSpec("pathvqa", "pathvqa", "vqa", 2, "vqa", "pathvqa"),
        TaskSpec("slake", "slake", "vqa", None, "vqa", "slake"),
    ]
    specs += [TaskSpec(f"mmlu_{s}", "mmlu", "text", 4, "mcq", "mmlu", subset=s) for s in MMLU_SUBJECTS]
    specs += [
        TaskSpec(f"n2c2_2008-obesity_{d}", "n2c2", "text", 3, "n2c2", "n2c2_2008", subset=d)
        for d in N2C2_DISEASES
    ]
    specs += [TaskSpec(f"mmmu_{s}", "mmmu", "vqa", None, "vqa", "mmmu", subset=s) for s in MMMU_SUBJECTS]
    return {spec.name: spec for spec in specs}


TASKS: dict[str, TaskSpec] = _specs()


def list_tasks() -> list[str]:
    """Names of every task, in registry order."""
    return list(TASKS)


def get_task(name: str) -> TaskSpec:
    """The task called `name`."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def question_text(example: QAExample) -> str:
    """The question as the study puts it in the prompt (context joined the study's way for that task)."""
    spec = TASKS.get(example.task)
    if example.context is None or spec is None:
        return example.question
    return spec.question_layout.format(context=example.context, question=example.question)
