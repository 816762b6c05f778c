"""The token-exact preflight as a dry run: what the Trainer page's "Count tokens exactly" runs.

It is the run's own steps up to and including "preflight" (core/pipeline/train_pipeline.py), walked by
core's walker in a scratch run folder, so the page gives the verdict the run itself will give
(the same format, context, windows or conversations, memory check and sentences). A full
fine-tune's F32 conversion is left out: it changes no token and can take minutes.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import CancelToken, ProgressCallback
from forge_gui.core.pipeline.walk import PipelineObserver, run_pipeline
from forge_gui.core.runs.run import RunSettings, RunState

log = logging.getLogger(__name__)

PLACEHOLDER_NAME = "forge-preflight"  # the name is chosen after the Trainer page


@dataclass(frozen=True)
class PreflightResult:
    tokens: int
    count: int  # training windows (LoRA: packed conversations)
    unit: str  # "windows"
    ctx: int  # the window the tool really trains with (LoRA: chosen from the data)
    notes: list[str] = field(default_factory=list)  # what the run would tell the user

    def sentence(self) -> str:
        return (f"{self.tokens:,} tokens with the base's own tokenizer: {self.count} training "
                f"{self.unit} of {self.ctx} tokens per epoch.")


class _Relay(PipelineObserver):
    def __init__(self, progress: ProgressCallback | None) -> None:
        self._progress = progress

    def progress(self, event: ProgressEvent) -> None:
        if self._progress is not None:
            self._progress(event)


def run_preflight(settings: RunSettings, progress: ProgressCallback | None = None,
                  cancel: CancelToken | None = None) -> PreflightResult:
    """Walk base → validate → prepare → preflight for `settings` (never Ollama: nothing is
    registered or asked). Raises the StepFailed the run would raise."""
    from forge_gui.core.llamacpp.tool_steps import training_ctx
    from forge_gui.core.pipeline.train_pipeline import train_specs

    scratch = settings.model_copy(update={"create": False, "force": True,
                                          "name": settings.name or PLACEHOLDER_NAME})
    specs = train_specs(scratch)
    end = next(i for i, spec in enumerate(specs) if spec.key == "preflight")
    walk = [spec for spec in specs[:end + 1] if spec.key != "convert"]
    with tempfile.TemporaryDirectory(prefix="forge-preflight-") as tmp:
        state = RunState.create(scratch, Path(tmp) / "run")
        before = [spec for spec in walk if spec.key != "preflight"]
        run_pipeline(before, state, _Relay(progress), cancel)
        if state.artifacts.train_base_gguf is None:  # full: the tokens are the base's own
            state.artifacts.train_base_gguf = state.artifacts.base_gguf
        run_pipeline(walk[len(before):], state, _Relay(progress), cancel)
        a = state.artifacts
        log.info("preflight: %s tokens, %s windows", a.tokens, a.windows)
        return PreflightResult(tokens=a.tokens or 0, count=a.windows or 0, unit="windows",
                               ctx=a.train_ctx or training_ctx(scratch.ctx),
                               notes=list(state.record.notes))
