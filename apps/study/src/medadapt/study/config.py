"""The YAML study config: what to compare, on what, how, and how to decide; validated before anything runs."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator, model_validator

from medadapt.study.errors import StudyError
from medadapt.study.execution import Execution

Decoding = Literal["greedy", "constrained"]
Split = Literal["train", "val", "test"]
# Strict numbers: in lax mode pydantic takes `true` as 1 and "8" as 8, so a typo would run with a wrong value.
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Seed = Annotated[int, Strict(), Field(ge=0, description="numpy and random seeds must be non-negative")]


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRef(_Strict):
    """A model given by registry name, or by local path with the few registry fields a path cannot tell."""

    name: str | None = Field(default=None, description="registry name, or the display name of a local model")
    path: str | None = Field(default=None, description="local checkpoint directory (HF layout)")
    revision: str | None = None
    prompt_style: str | None = Field(default=None, description="prompt style (default: the registry's, or inferred)")
    lora: str | None = Field(default=None, description="a LoRA adapter directory applied on top")
    execution: Execution | None = Field(default=None, description="how this model runs (over the study's execution)")
    prompt_candidates: Literal["grid", "default-only"] | None = Field(
        default=None, description="prompt templates to select from (default: the registry's; grid otherwise)"
    )
    skip_tasks: list[str] | None = Field(
        default=None, description="tasks this model does not run (fnmatch patterns; default: the registry's)"
    )

    @model_validator(mode="after")
    def _name_or_path(self) -> ModelRef:
        if self.name is None and self.path is None:
            raise ValueError("give `name` (a registry name) or `path` (a local checkpoint directory)")
        return self

    @property
    def label(self) -> str:
        """The name shown in tables: the registry name, or the directory name of a local model."""
        if self.name is not None:
            return self.name
        assert self.path is not None
        return Path(self.path).name


def _model_ref(value: Any) -> Any:
    """A bare string is a registry name, or a local path when it looks like one."""
    if isinstance(value, str):
        looks_like_path = value.startswith((".", "/", "~")) or ("/" in value and Path(value).expanduser().exists())
        return {"path": value} if looks_like_path else {"name": value}
    return value


class Pair(_Strict):
    """A general-domain base model and its medically adapted counterpart."""

    general: ModelRef
    medical: ModelRef

    @field_validator("general", "medical", mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> Any:
        return _model_ref(value)


class Setting(_Strict):
    """Zero-shot or k-shot prompting."""

    name: str
    shots: Int = Field(ge=0, le=32)
    tasks: list[str] | None = Field(default=None, description="only these tasks (default: all); the study ran "
                                    "3-shot on every task but EHRNoteQA and n2c2")

    def applies_to(self, task: str) -> bool:
        """Whether this setting runs on `task`."""
        return self.tasks is None or task in self.tasks


def _setting(value: Any) -> Any:
    """Accept `zero-shot`, `3-shot` or a mapping."""
    if isinstance(value, str):
        if value == "zero-shot":
            return {"name": value, "shots": 0}
        head, _, tail = value.partition("-")
        if tail == "shot" and head.isdigit():
            return {"name": value, "shots": int(head)}
        raise ValueError(f"unknown setting {value!r}; allowed: 'zero-shot', '<k>-shot' (e.g. '3-shot') or a mapping")
    return value


class Race(_Strict):
    """How a racing selection drops candidates: blocks of validation items growing geometrically, and the chance
    of ever dropping the candidate exhaustive selection would choose (split over every test of the race;
    docs/protocol.md#racing-selection)."""

    first_block: int = Field(default=32, ge=1, description="validation items in the first block")
    growth: float = Field(
        default=1.25, ge=1.0,
        description="each block is this many times the previous one (more, smaller blocks drop candidates sooner)",
    )
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0, description="chance allowed of dropping the exhaustive winner")


class PromptSelection(_Strict):
    """Default prompt only, or model-specific selection on validation (docs/protocol.md#model-specific-prompt-selection)."""

    mode: Literal["default", "model-specific"] = "default"
    n_formats: Int = Field(default=10, ge=0, le=1000, description="grammar samples (seeds 0..n-1) besides the default")
    n_shot_seeds: Int = Field(default=10, ge=1, le=1000, description="few-shot draws (seeds 0..n-1) for k-shot")
    max_val_items: Int = Field(default=500, ge=1, description="validation items scored per candidate")
    val_seed: Seed = 42
    test_shot_seed: Seed = Field(default=42, description="few-shot draw of the default prompt (the study's dataset seed)")
    shot_method: Literal["random", "knn"] = "random"
    knn_embedder: str = Field(default="tfidf", description="kNN demos: 'tfidf' or 'package.module:Class'")
    strategy: Literal["exhaustive", "racing"] = Field(
        default="exhaustive", description="every candidate on every item (the study), or a race that drops the "
        "candidates confidently worse than the leader"
    )
    race: Race = Field(default_factory=Race)


class FineTune(_Strict):
    """LoRA sweep of both models of every pair, then zero-shot greedy evaluation of the best trial."""

    enabled: Bool = False
    tasks: list[str] = Field(default_factory=list, description="tasks to fine-tune on (default: all with a train split)")
    ranks: list[Annotated[int, Strict(), Field(ge=1)]] = Field(default_factory=lambda: [16, 32, 64])
    # Lax floats: YAML 1.1 reads `1e-5` as a string, which pydantic converts (bools are refused below).
    learning_rates: list[Annotated[float, Field(gt=0)]] = Field(default_factory=lambda: [1e-5, 2e-5, 5e-5, 1e-4, 2e-4])
    max_epochs: Int = Field(default=10, ge=1)
    max_train_items: Int | None = Field(default=None, ge=1)
    batch_size: Int = Field(default=8, ge=1)
    decodings: list[Decoding] = Field(default_factory=lambda: list[Decoding](["greedy"]))

    @field_validator("learning_rates", mode="before")
    @classmethod
    def _no_bools(cls, value: Any) -> Any:
        if isinstance(value, list) and any(isinstance(v, bool) for v in value):
            raise ValueError("learning rates must be numbers, not true/false")
        return value


class Statistics(_Strict):
    """How a cell is decided: the study's CI rule by default, or a corrected p-value."""

    n_resamples: Int = Field(default=10_000, ge=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    method: Literal["percentile", "bca"] = "percentile"
    rule: Literal["ci", "corrected-p"] = "ci"
    correction: Literal["none", "holm", "fdr_bh"] = "holm"
    seed: Seed = 0


class Limits(_Strict):
    """Caps for quick studies and the engine's batch sizes."""

    max_test_items: Int | None = Field(default=None, ge=1, description="first N test items per task (None: all)")
    max_greedy_items: Int | None = Field(default=None, ge=1, description="greedy decoding: first N of those")
    batch_size: Int = Field(default=8, ge=1)
    max_new_tokens: Int = Field(default=64, ge=1)


# One folder name: no separator, no control character, not `.`/`..`, no surrounding spaces, not an option (`-x`).
UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]|^[\s-]|\s$|^\.{1,2}$")


class NoteFilter(_Strict):
    """The study's length filter of clinical notes (docs/protocol.md: n2c2 test notes over 3,000 Llama-2 tokens)."""

    tasks: list[str] = Field(default_factory=lambda: ["n2c2_*"], description="tasks filtered (fnmatch patterns)")
    tokenizer: str = Field(default="llama-2-7b", description="registry name or local tokenizer directory")
    max_tokens: int = Field(default=3000, ge=1)
    splits: list[Split] = Field(default_factory=lambda: list[Split](["test"]), description="the study: test only")

    def applies_to(self, task: str) -> bool:
        """Whether the filter covers this task (one of its fnmatch patterns matches the name)."""
        from fnmatch import fnmatchcase

        return any(fnmatchcase(task, pattern) for pattern in self.tasks)


class StudyConfig(_Strict):
    """One comparison study: pairs × tasks × settings × decodings, prompt selection, medopt, fine-tuning, stats."""

    name: str = "study"
    data_dir: Path = Field(description="root of the task data (relative paths are relative to the config file)")
    cache_dir: Path | None = None
    pairs: list[Pair] = Field(min_length=1)
    tasks: list[str] = Field(min_length=1)
    settings: list[Annotated[Setting, Field()]] = Field(default_factory=lambda: [Setting(name="zero-shot", shots=0)])
    decodings: list[Decoding] = Field(default_factory=lambda: list[Decoding](["constrained"]), min_length=1)
    prompt_selection: PromptSelection = Field(default_factory=PromptSelection)
    medopt: Bool = True
    finetune: FineTune = Field(default_factory=FineTune)
    statistics: Statistics = Field(default_factory=Statistics)
    limits: Limits = Field(default_factory=Limits)
    study_compat: Bool = Field(default=False, description="reproduce the study's prompt bugs (docs/protocol.md#defects-of-the-original-by-number, 5–7)")
    option_policy: Literal["variants", "study"] = "variants"
    extraction: Literal["strict", "study"] = "strict"
    execution: Execution = Field(default_factory=Execution, description="how every model runs unless it says")
    overlong: Literal["exclude", "wrong"] = Field(
        default="exclude",
        description="a prompt longer than a model's context: left out of that comparison for both models, or wrong",
    )
    note_filter: NoteFilter | None = Field(default_factory=NoteFilter, description="null: keep every note")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        """The run directory is runs/<name>: one plain path component, never a way out of runs/."""
        if not value or len(value) > 128 or UNSAFE_NAME.search(value):
            raise ValueError("the study name must be one folder name under runs/ (no / or \\, not . or .., "
                             "no control characters, no leading - or surrounding spaces, at most 128 characters)")
        return value

    @field_validator("settings", mode="before")
    @classmethod
    def _coerce_settings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_setting(item) for item in value]
        return value

    @model_validator(mode="after")
    def _unique(self) -> StudyConfig:
        for field in ("tasks", "decodings"):
            values = getattr(self, field)
            if len(set(values)) != len(values):
                raise ValueError(f"{field} lists a value twice: {values}")
        names = [s.name for s in self.settings]
        if len(set(names)) != len(names):
            raise ValueError(f"settings lists a name twice: {names}")
        seen: dict[str, dict[str, Any]] = {}
        for ref in (r for p in self.pairs for r in (p.general, p.medical)):
            # Paths are compared once resolved (check_distinct_models, below): `m` and `./m` are one model.
            settings = ref.model_dump(exclude={"path", "lora"})
            if seen.setdefault(ref.label, settings) != settings:
                # models() keeps one entry per name: a second, different one would be silently ignored.
                raise ValueError(f"model {ref.label!r} is listed twice with different settings; give every "
                                 "occurrence the same entry (a YAML anchor does) or another name")
        return self

    def resolve_paths(self, base: Path) -> StudyConfig:
        """Make data, cache and local model paths absolute against the config file's folder."""

        def absolute(path: Path | str) -> Path:
            p = Path(path).expanduser()
            return p if p.is_absolute() else (base / p).resolve()

        def ref(model: ModelRef) -> ModelRef:
            updates: dict[str, Any] = {}
            if model.path is not None:
                updates["path"] = str(absolute(model.path))
            if model.lora is not None:
                updates["lora"] = str(absolute(model.lora))
            return model.model_copy(update=updates)

        return self.model_copy(
            update={
                "data_dir": absolute(self.data_dir),
                "cache_dir": None if self.cache_dir is None else absolute(self.cache_dir),
                "pairs": [Pair(general=ref(p.general), medical=ref(p.medical)) for p in self.pairs],
            }
        )

    def models(self) -> list[ModelRef]:
        """Every distinct model of the study, medical ones first (general models' medopt runs need them)."""
        seen: dict[str, ModelRef] = {}
        for pair in self.pairs:
            seen.setdefault(pair.medical.label, pair.medical)
        for pair in self.pairs:
            seen.setdefault(pair.general.label, pair.general)
        return list(seen.values())


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The keys allowed at `loc` (the parent of an unknown key), found by walking the config's types."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return None
    target = _unwrap_model(current)
    return sorted(target.model_fields) if target is not None else None


def _unwrap_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in get_args(tp):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def _step(tp: Any, part: Any) -> Any:
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if isinstance(part, int):
        if get_origin(tp) in (list, tuple):
            return get_args(tp)[0]
        return None
    if get_origin(tp) in (Union, types.UnionType):
        for arg in get_args(tp):
            found = _step(arg, part)
            if found is not None:
                return found
        return None
    model = _unwrap_model(tp)
    if model is None or part not in model.model_fields:
        return None
    return model.model_fields[part].annotation


def _describe(error: Any) -> str:
    """One line for one pydantic error: the dotted path of the key, what is wrong, what is allowed."""
    loc = tuple(error["loc"])
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(StudyConfig, loc[:-1])
        message = "unknown key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
    elif error["type"] == "missing":
        message = "required key is missing"
    elif "input" in error and error["type"] not in ("model_type",):
        message += f" (got {error['input']!r})"
    return f"{path or '<top level>'}: {message}"


def reference_identity(ref: ModelRef) -> tuple[str | None, ...]:
    """What makes two config entries the same model: the resolved checkpoint path (or the registry name), revision,
    LoRA and prompt style. Never the label: two folders named `model` in different places are two models."""
    source = str(Path(ref.path).expanduser().resolve()) if ref.path is not None else ref.name
    lora = str(Path(ref.lora).expanduser().resolve()) if ref.lora is not None else None
    return ("path" if ref.path is not None else "registry", source, ref.revision, lora, ref.prompt_style)


def _describe_ref(ref: ModelRef) -> str:
    kind, source, revision, lora, style = reference_identity(ref)
    extras = [f"revision {revision}"] if revision else []
    extras += [f"LoRA {lora}"] if lora else []
    extras += [f"prompt_style {style}"] if style else []
    return f"{kind} {source}" + (f" ({', '.join(extras)})" if extras else "")


def check_distinct_models(config: StudyConfig, source: str) -> None:
    """One label per model and one model per label: a label names the model's store folder and table rows, so two
    models under one label would be scored as one (and compared with itself)."""
    owner: dict[str, tuple[str, ModelRef]] = {}
    for index, pair in enumerate(config.pairs):
        for role in ("general", "medical"):
            ref: ModelRef = getattr(pair, role)
            where = f"pairs[{index}].{role}"
            first = owner.setdefault(ref.label, (where, ref))
            if reference_identity(first[1]) != reference_identity(ref):
                raise StudyError(
                    f"{source}: {first[0]} and {where} are different models ({_describe_ref(first[1])}; "
                    f"{_describe_ref(ref)}) with the same label {ref.label!r}; give each a distinct `name`"
                )


def parse_config(data: Any, *, source: str, base: Path) -> StudyConfig:
    """Validate a parsed YAML document; errors become one StudyError line naming the file and key."""
    if not isinstance(data, dict):
        raise StudyError(f"{source}: the study config must be a mapping of keys, got {type(data).__name__}")
    try:
        config = StudyConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise StudyError(f"{source}: {_describe(first)}{suffix}") from None
    resolved = config.resolve_paths(base)
    check_distinct_models(resolved, source)
    return resolved


def load_config(path: Path) -> StudyConfig:
    """Read and validate a study config file."""
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"study config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise StudyError(f"{path}{where}: malformed YAML: {problem}") from None
    return parse_config(data, source=str(path), base=path.resolve().parent)


def config_to_dict(config: StudyConfig) -> dict[str, Any]:
    """A JSON-ready dump of the resolved config, for the run manifest."""
    return typing.cast(dict[str, Any], config.model_dump(mode="json"))
