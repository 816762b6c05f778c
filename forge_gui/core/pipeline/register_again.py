"""Register a finished run's model with Ollama again, under another name (the Runs window's
"Register as…"; what `forge-cli retrain --adapter RUN/model.gguf --name NAME` does)."""

from __future__ import annotations

from pathlib import Path

from forge_gui.core.base.steps import StepFailed
from forge_gui.core.pipeline.walk import PipelineObserver, run_pipeline
from forge_gui.core.registration.register import register_specs
from forge_gui.core.runs.run import RunSettings, RunState


def register_again_settings(run_dir: Path, name: str, force: bool = False) -> RunSettings:
    """RunSettings that register a finished run's model with Ollama under `name` (what
    `forge-cli retrain --adapter RUN/model.gguf --name NAME` does), keeping its system prompt,
    parameters, base (needed when the result is only a LoRA adapter) and Ollama address."""
    old = RunState.load(Path(run_dir))
    a = old.artifacts
    model = next((Path(p) for p in (a.output_gguf, a.trained_gguf) if p and Path(p).is_file()),
                 None)
    if model is None:
        raise StepFailed(f"The run in {run_dir} has no model file to register (it did not get "
                         "that far, or the file was deleted).")
    s = old.settings
    return s.model_copy(update={
        "data": [], "name": name, "adapter": model, "use_adapter": False, "create": True,
        "force": force})


def register_again(run_dir: Path, name: str, progress=None, cancel=None, force: bool = False):
    """Register the run's model as `name`, in a new run folder (the Modelfile, the request,
    the first answer); returns that RunState. Raises StepFailed with a sentence."""
    from forge_gui.core.runs.run import RunState

    settings = register_again_settings(run_dir, name, force)
    specs = register_specs(settings)  # a bad or taken name fails here, before a folder exists

    class _Progress(PipelineObserver):
        def progress(self, event) -> None:
            if progress is not None:
                progress(event)

    state = RunState.create(settings)
    run_pipeline(specs, state, _Progress(), cancel)
    return state
