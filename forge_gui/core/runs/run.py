"""A training run: its settings (the recipe) and its folder.

Every run gets its own folder under the user's data dir: the prepared training text, the exact
argv of every step, their logs, the outputs, the Modelfile and run.json, which holds every
setting and what each step produced. Nothing a user gave us is modified.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, model_validator

from forge_gui import __version__
from forge_gui.core.base import paths
from forge_gui.core.base.atomic import atomic_write_text
from forge_gui.core.base.steps import ProcessStep, Step
from forge_gui.core.runs.evaluation_result import EvaluationResult
from forge_gui.core.runs.rules import SettingsError, setting_problems

LORA_MODULES = "attn_q,attn_k,attn_v,attn_o,ffn_gate,ffn_up,ffn_down"
LORA_LR = 1e-3  # packed windows make few steps: 24/24 facts on SmolLM2 (docs/training.md)
FULL_LR = 1e-5

StepStatus = Literal["pending", "running", "done", "skipped", "failed", "cancelled"]

class RunSettings(BaseModel):
    """Everything needed to reproduce a run. What the CLI flags and the wizard pages fill in."""

    data: list[Path]
    field_map: dict[str, str] = Field(default_factory=dict)  # new=old top-level renames
    name: str  # the Ollama model to create
    base: str | None = None  # an Ollama model name, e.g. "llama3.2:1b-instruct-fp16"
    base_gguf: Path | None = None  # a GGUF file chosen directly (wins over resolving `base`)
    trainer: str = "llama.cpp"  # the backend; `method` says what it trains
    # lora: llama-finetune-lora trains an adapter on the base as it is (F16, Q8_0, k-quants);
    # full: upstream llama-finetune trains every weight of an F32 copy (docs/training.md).
    method: Literal["lora", "full"] = "lora"
    epochs: int = 2
    learning_rate: float | None = None  # None: the method's default (LORA_LR / FULL_LR)
    ctx: int = 512
    val_split: float = 0.05  # llama-finetune's -val-split: share of windows used for val loss
    val_fraction: float = 0.0  # records held out of training into a separate eval file
    seed: int = 42
    optimizer: Literal["adamw", "sgd"] = "adamw"
    threads: int | None = None  # None: physical cores
    gpu_layers: int | None = None  # -ngl for GPU builds
    # Output type: "auto" = the base's own type for LoRA, Q8_0 for full fine-tuning;
    # None keeps the trained file as it is.
    quantize: str | None = "auto"
    system: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict)
    create: bool = True  # register with Ollama at the end
    force: bool = False  # replace an existing Ollama model of that name
    tools_dir: Path | None = None
    ollama_host: str | None = None
    smoke_prompt: str = "Say hello in one sentence."
    # Register an existing fine-tune (forge-cli retrain): a GGUF, GGUF LoRA or PEFT folder.
    adapter: Path | None = None
    use_adapter: bool = False  # ADAPTER instead of merging, where the Ollama server allows it
    # LoRA: rank, alpha and the layers that get an adapter (all linear layers learn; the
    # attention-only default of the tool barely moves a model, docs/training.md).
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_modules: str = LORA_MODULES
    checkpoint_every: int = 50  # training steps between checkpoints (resume starts there)

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> RunSettings:
        # run.json of an older version is read as it was written (RunState.load): a run
        # made under looser rules can still be shown and resumed.
        if info.context and info.context.get("stored"):
            return self
        problems = setting_problems(self.__dict__)
        if problems:
            raise ValueError(problems[0])
        return self

    @classmethod
    def checked(cls, **values: Any) -> RunSettings:
        """RunSettings, or SettingsError with one sentence (what both front ends show)."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError(settings_error(exc)) from None

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return LORA_LR if self.method == "lora" else FULL_LR


def settings_error(exc: ValidationError) -> str:
    """The first problem of a ValidationError as one sentence (a rule's own sentence as it is;
    a wrong type names the setting)."""
    first = exc.errors()[0]
    error = (first.get("ctx") or {}).get("error")
    if isinstance(error, ValueError):
        return str(error)
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"The setting {where!r} is not valid: {first.get('msg', 'invalid value')}."


class StepRecord(BaseModel):
    key: str
    label: str
    status: StepStatus = "pending"
    message: str | None = None
    started: str | None = None
    ended: str | None = None


class RunArtifacts(BaseModel):
    """What the steps produced so far; later steps read earlier ones from here."""

    base_gguf: Path | None = None  # the base as resolved (Ollama blob or the user's file)
    train_base_gguf: Path | None = None  # the F32 file llama-finetune trains (maybe converted)
    prepared_train: Path | None = None
    prepared_val: Path | None = None
    samples: int | None = None
    held_out: int | None = None
    tokens: int | None = None
    windows: int | None = None
    train_ctx: int | None = None  # LoRA: the window chosen from the data (core/llamacpp/packing.py)
    trained_gguf: Path | None = None
    output_gguf: Path | None = None  # the file Ollama is given (quantized when asked)
    modelfile: Path | None = None
    model: str | None = None  # set once the model exists in Ollama
    smoke_answer: str | None = None
    # The llama-completion try after training (before Ollama): its answer and token count.
    completion_answer: str | None = None
    completion_tokens: int | None = None
    train_loss_first: float | None = None
    train_loss_last: float | None = None
    val_loss_last: float | None = None
    finish_command: str | None = None  # how to register by hand when Ollama was not reached
    adapter_file: Path | None = None  # the adapter as resolved (a folder may name one file)
    chat_format: str | None = None  # the training text's format (core/chat_format.py)
    chat_format_note: str | None = None  # why that format, for the user
    resumed_from: Path | None = None  # the checkpoint the last training attempt started from
    evaluation: EvaluationResult | None = None  # held-out loss and answers, before and after
    route: str | None = None  # how it reaches Ollama: from-file / merge / adapter
    # The adapter was trained in the base's own chat template (a converted PEFT adapter): the
    # model gets the base's TEMPLATE, not one of Forge's formats (ollama/create.py).
    template_from_base: bool = False


class RunRecord(BaseModel):
    """run.json"""

    forge_version: str = __version__
    created: str
    status: StepStatus = "pending"
    settings: RunSettings
    steps: list[StepRecord] = Field(default_factory=list)
    artifacts: RunArtifacts = Field(default_factory=RunArtifacts)
    notes: list[str] = Field(default_factory=list)  # what the user should know about the run


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


class RunState:
    """A run folder and its run.json, kept in step with every change (atomic writes)."""

    def __init__(self, run_dir: Path, record: RunRecord) -> None:
        self.run_dir = run_dir
        self.record = record

    @classmethod
    def create(cls, settings: RunSettings, workdir: Path | None = None) -> RunState:
        """A new run folder: `workdir` when given (must be empty or new), else under runs_dir()."""
        if workdir is not None:
            run_dir = Path(workdir)
            if run_dir.exists() and any(run_dir.iterdir()):
                raise FileExistsError(f"{run_dir} is not empty; choose a new folder for the run.")
        else:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            base = paths.runs_dir() / f"{stamp}-{_slug(settings.name)}"
            run_dir, n = base, 1
            while run_dir.exists():
                n += 1
                run_dir = base.with_name(f"{base.name}-{n}")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "logs").mkdir(exist_ok=True)
        (run_dir / "commands").mkdir(exist_ok=True)
        state = cls(run_dir, RunRecord(created=_now(), settings=settings))
        state.save()
        return state

    @classmethod
    def load(cls, run_dir: Path) -> RunState:
        record = RunRecord.model_validate_json((Path(run_dir) / "run.json").read_text("utf-8"),
                                               context={"stored": True})
        return cls(Path(run_dir), record)

    @property
    def settings(self) -> RunSettings:
        return self.record.settings

    @property
    def artifacts(self) -> RunArtifacts:
        return self.record.artifacts

    def save(self) -> None:
        atomic_write_text(self.run_dir / "run.json", self.record.model_dump_json(indent=2) + "\n")

    def log_path(self, key: str) -> Path:
        return self.run_dir / "logs" / f"{key}.log"

    def step_record(self, key: str, label: str = "") -> StepRecord:
        for rec in self.record.steps:
            if rec.key == key:
                return rec
        rec = StepRecord(key=key, label=label or key)
        self.record.steps.append(rec)
        return rec

    def mark(self, key: str, status: StepStatus, message: str | None = None, label: str = "") -> None:
        rec = self.step_record(key, label)
        rec.status = status
        rec.message = message
        if status == "running":
            rec.started, rec.ended = _now(), None
        elif status in ("done", "failed", "cancelled", "skipped"):
            rec.ended = _now()
        if status in ("failed", "cancelled"):
            self.record.status = status
        self.save()

    def record_note(self, note: str) -> None:
        """Keep a sentence the user should read (a format chosen, records skipped) in run.json."""
        if note not in self.record.notes:
            self.record.notes.append(note)
            self.save()

    def record_command(self, step: Step) -> None:
        """Write the exact argv (and extra env) of a process step to commands/<key>.json."""
        if not isinstance(step, ProcessStep):
            return
        payload = {"argv": step.argv, "cwd": str(step.cwd) if step.cwd else None, "env": step.env}
        atomic_write_text(self.run_dir / "commands" / f"{step.key}.json",
                          json.dumps(payload, indent=2) + "\n")


@dataclass(eq=False)  # compared by identity: a front end finds a spec's index with specs.index
class StepSpec:
    """One step of a run: builds its step from the run state when its turn comes (a later step
    reads what an earlier one left in state.artifacts), or None when the run does not need it.
    core/pipeline/walk.py walks a list of them."""

    key: str
    label: str
    build: Callable[[RunState], Step | None]
