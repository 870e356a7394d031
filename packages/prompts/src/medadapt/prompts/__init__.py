"""medadapt-prompts: QA task schema, dataset loaders, the prompt-format grammar, rendering, chat templates and few-shot selection."""

from __future__ import annotations

from importlib.metadata import version as _version

from medadapt.prompts.borrowed_chat import borrowed_chat_template
from medadapt.prompts.chat_templates import allows_system_prompts, apply_chat_template
from medadapt.prompts.example import QAExample
from medadapt.prompts.few_shot import Embedder, ShotIndex, TfidfEmbedder, get_embedder, select_shots
from medadapt.prompts.grammar import enumerate_formats, format_space_size, sample_format
from medadapt.prompts.jinja_sandbox import ChatTemplateError
from medadapt.prompts.model_prompt import (
    Prompt,
    TrainingExample,
    build_prompt,
    build_training_example,
    prompt_hash,
)
from medadapt.prompts.prompt_format import PromptFormat
from medadapt.prompts.prompt_styles import PROMPT_STYLES, PromptStyle, get_prompt_style, list_prompt_styles
from medadapt.prompts.system_prompts import default_system_prompt
from medadapt.prompts.tasks import (
    TASKS,
    DataFormatError,
    TaskData,
    TaskSpec,
    get_task,
    list_tasks,
    load_task,
    question_text,
)

__version__ = _version("medadapt-prompts")

__all__ = [
    "PROMPT_STYLES",
    "TASKS",
    "ChatTemplateError",
    "DataFormatError",
    "Embedder",
    "Prompt",
    "PromptFormat",
    "PromptStyle",
    "QAExample",
    "ShotIndex",
    "TaskData",
    "TaskSpec",
    "TfidfEmbedder",
    "TrainingExample",
    "allows_system_prompts",
    "apply_chat_template",
    "borrowed_chat_template",
    "build_prompt",
    "build_training_example",
    "default_system_prompt",
    "enumerate_formats",
    "format_space_size",
    "get_embedder",
    "get_prompt_style",
    "get_task",
    "list_prompt_styles",
    "list_tasks",
    "load_task",
    "prompt_hash",
    "question_text",
    "sample_format",
    "select_shots",
]
