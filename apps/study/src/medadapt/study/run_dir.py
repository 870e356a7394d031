"""The layout of a run directory, in one place: every module that reads or writes one takes its folder and file
names (and the shard folder naming) from here.

```
<run_dir>/
  study.yaml               the resolved config (STUDY_FILE)
  manifest.json            every start: hardware, versions, config (MANIFEST_FILE)
  config_history.jsonl     how a grown run's config changed (HISTORY_FILE)
  logs/study.log           the study log (LOGS_DIR, LOG_NAME)
  store/<shard>/           one folder per (model, task): units, predictions, prompts, plan.json
  finetune/<shard>/        the LoRA sweep of one (model, task) (medadapt-finetune's layout inside)
  report/                  report.json, the CSV tables, PNG figures and report.html
  rehearsal/               rehearsal.json and the rehearsal's data (a rehearsal only)
```"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

STUDY_FILE = "study.yaml"
MANIFEST_FILE = "manifest.json"
HISTORY_FILE = "config_history.jsonl"
LOGS_DIR = "logs"
LOG_NAME = "study.log"

STORE_DIR = "store"
UNITS_FILE = "units.jsonl"
PREDICTIONS_FILE = "predictions.jsonl"
PROMPTS_FILE = "prompts.jsonl"
PLAN_FILE = "plan.json"

FINETUNE_DIR = "finetune"
TRIALS_DIR = "trials"  # medadapt-finetune's sweep folder: one subfolder per trial, result.json when finished
TRIAL_RESULT_FILE = "result.json"

REPORT_DIR = "report"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
ACCURACY_CSV = "accuracy.csv"
COMPARISONS_CSV = "comparisons.csv"
RATES_CSV = "rates.csv"
PROMPT_SENSITIVITY_CSV = "prompt_sensitivity.csv"
HEADLINE_CSV = "headline.csv"
VERDICT_CONTEXT_CSV = "verdict_context.csv"
# Figures are report/forest-<variant>.png and report/verdicts-<variant>.png (report.figures names them).

REHEARSAL_DIR = "rehearsal"
REHEARSAL_FILE = "rehearsal.json"
REHEARSAL_DATA_DIR = "data"


def _safe_component(text: str) -> str:
    """`text` when it is already file-system safe; otherwise its safe spelling plus a hash of the original, so two
    labels never share a folder (`tiny model` and `tiny_model` both spell `tiny_model`). `~` is never kept from a
    label, so a suffixed name cannot equal a plain one."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text)
    if safe == text:
        return text
    return f"{safe}~{hashlib.sha256(text.encode('utf-8')).hexdigest()[:10]}"


def shard_name(model_label: str, task: str) -> str:
    """A file-system-safe folder name for one (model, task) shard; distinct labels never share one (registry task
    names contain no `--`)."""
    return f"{_safe_component(model_label)}--{_safe_component(task)}"


def store_dir(run_dir: Path) -> Path:
    """The folder of every shard of the store."""
    return Path(run_dir) / STORE_DIR


def shard_dir(run_dir: Path, shard: str) -> Path:
    """The folder of one (model, task) shard of the store."""
    return store_dir(run_dir) / shard


def finetune_dir(run_dir: Path, model_label: str, task: str) -> Path:
    """The sweep folder of one model fine-tuned on one task."""
    return Path(run_dir) / FINETUNE_DIR / shard_name(model_label, task)


def report_dir(run_dir: Path) -> Path:
    """The folder the report is written to."""
    return Path(run_dir) / REPORT_DIR


def rehearsal_dir(run_dir: Path) -> Path:
    """The folder a rehearsal records its stand-ins and data in."""
    return Path(run_dir) / REHEARSAL_DIR


def log_file(run_dir: Path) -> Path:
    """The study log of a run."""
    return Path(run_dir) / LOGS_DIR / LOG_NAME
