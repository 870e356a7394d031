"""Every task of the study: registry, loaders for original and Hugging Face layouts, the study's preprocessing."""

from __future__ import annotations

from medadapt.prompts.tasks.loading import load_task
from medadapt.prompts.tasks.registry import TASKS, TaskSpec, get_task, list_tasks, question_text
from medadapt.prompts.tasks.task_data import DataFormatError, TaskData

__all__ = [
    "TASKS",
    "DataFormatError",
    "TaskData",
    "TaskSpec",
    "get_task",
    "list_tasks",
    "load_task",
    "question_text",
]
