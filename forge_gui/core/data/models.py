"""The data models of training data: conversations, validation reports, prepare results.

These are what the GUI shows, what `--json` prints and what `--report` writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from forge_gui.core.base.steps import StepFailed

Role = Literal["system", "user", "assistant"]

# Lines longer than this are not parsed (a training record is rarely over a few hundred KB).
DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
# A sample over this many characters (~8k tokens) gets a `very_long` warning: most base
# models train with a context far shorter, so the text is cut into windows mid-conversation.
DEFAULT_VERY_LONG_CHARS = 32_000
# A JSON array is parsed whole; above this size we ask for JSONL instead (memory stays flat).
DEFAULT_MAX_ARRAY_BYTES = 64 * 1024 * 1024
# The report keeps this many errors and warnings each; counts per code are always complete.
DEFAULT_MAX_ISSUES = 10_000


class Turn(BaseModel):
    role: Role
    content: str
    input: str | None = None  # Alpaca's `input`, rendered under chat_format.INPUT_HEAD


class Conversation(BaseModel):
    turns: list[Turn]
    file: str  # where the record came from
    line: int  # 1-based physical line where the record starts


class ValidationOptions(BaseModel):
    # new=old renames; `old` may be a dotted path into nested objects/lists,
    # e.g. {"output": "instances.0.output"}.
    field_map: dict[str, str] = Field(default_factory=dict)
    strict: bool = False  # unknown keys are errors, not warnings
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    very_long_chars: int = DEFAULT_VERY_LONG_CHARS
    max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES
    max_issues: int | None = DEFAULT_MAX_ISSUES  # None: keep every issue (memory grows)
    # Processes for validating big JSONL files. 1: this process.
    # The CLI uses the machine's cores; the GUI keeps 1 (forking a Qt app is not safe).
    workers: int = 1
    # How worker processes start; None: fork where the system has it, else one process
    # (spawn works too, but a frozen app must call multiprocessing.freeze_support() first).
    start_method: Literal["fork", "spawn", "forkserver"] | None = None


class Issue(BaseModel):
    """An error (record rejected) or a warning (record kept). line 0 means the whole file."""

    file: str
    line: int
    code: str
    message: str


class FileReport(BaseModel):
    path: str
    records: int = 0
    valid: int = 0
    invalid: int = 0
    format: str | None = None  # "jsonl", "json-array" or "json" (one object)


class SkippedPath(BaseModel):
    path: str
    reason: str


class UnknownSchema(BaseModel):
    """Records whose keys fit none of the formats, reported once per set of keys."""

    file: str
    first_line: int
    records: int
    keys: list[str]
    expected: str
    suggested_map: dict[str, str] | None = None  # what to pass as --map / field_map
    explanation: str


class Stats(BaseModel):
    records: int = 0  # valid records
    turns: int = 0
    exchanges: int = 0  # user -> assistant pairs (what the trainer sees as samples)
    formats: dict[str, int] = Field(default_factory=dict)
    chars: dict[str, int] = Field(default_factory=lambda: {
        "system": 0, "user": 0, "input": 0, "assistant": 0})
    rendered_chars: int = 0  # length of the prepared training text
    approx_tokens: int = 0
    tokens_approximate: bool = True  # chars/4 until a base model's own vocabulary is used
    # Percentiles of one sample's rendered length in characters (and approximate tokens).
    length_percentiles: dict[str, int] = Field(default_factory=dict)
    token_percentiles: dict[str, int] = Field(default_factory=dict)
    duplicates: int = 0
    # False when there were more distinct records than the duplicate table holds (~1.4
    # million): later records were compared with the ones remembered, not added.
    duplicate_check_complete: bool = True


class ValidationReport(BaseModel):
    files: list[FileReport] = Field(default_factory=list)
    valid: int = 0
    invalid: int = 0
    errors: list[Issue] = Field(default_factory=list)
    warnings: list[Issue] = Field(default_factory=list)
    error_counts: dict[str, int] = Field(default_factory=dict)  # per code, complete
    warning_counts: dict[str, int] = Field(default_factory=dict)
    errors_omitted: int = 0  # beyond max_issues, counted but not listed
    warnings_omitted: int = 0
    stats: Stats = Field(default_factory=Stats)
    skipped_paths: list[SkippedPath] = Field(default_factory=list)
    unknown_schemas: list[UnknownSchema] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form
    @property
    def ok(self) -> bool:
        """True when there is something to train on and nothing was rejected."""
        return not self.error_counts and self.valid > 0


class PrepareResult(BaseModel):
    out: Path
    val_out: Path | None = None
    samples: int
    held_out: int
    bytes: int
    report: ValidationReport


class DataInvalid(StepFailed):
    """Training data has invalid records; nothing was written."""

    def __init__(self, message: str, report: ValidationReport, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.report = report


class DataInputError(Exception):
    """A path the user gave cannot be read at all (missing, permission). CLI exit 2."""
