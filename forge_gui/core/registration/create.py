"""What is sent to Ollama to create the model (docs/ollama.md, "What Forge gives Ollama"): the
Modelfile and its files (`plan`), the equivalent /api/create body, the modelfile step, and the
upload + create that the register step runs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.process import format_command
from forge_gui.core.base.steps import CancelToken, FunctionStep, ProgressCallback, StepFailed
from forge_gui.core.ollama import params as P
from forge_gui.core.ollama.client import OllamaClient, OllamaError, parse_show_parameters
from forge_gui.core.ollama.hashing import file_digest
from forge_gui.core.ollama.modelfile import Modelfile, ModelfileError, write_modelfile
from forge_gui.core.registration.base_template import choose_for_run
from forge_gui.core.registration.route import base_gguf, client_for
from forge_gui.core.runs.run import RunSettings, RunState

log = logging.getLogger(__name__)


def finish_command(name: str, modelfile: Path) -> str:
    """The command a person runs to register by hand (shown, never run through a shell)."""
    return format_command(["ollama", "create", name, "-f", str(modelfile)])


def _inherited_parameters(settings: RunSettings, shown: dict | None) -> list[tuple[str, str]]:
    """The base model's PARAMETERs (but its stops), when the base is an Ollama model we reach."""
    if shown is None:
        return []
    return [(k, v) for k, v in parse_show_parameters(shown.get("parameters", ""))
            if k in P.TYPES and k not in P.NOT_INHERITED and k not in settings.parameters]


def base_own_template(shown: dict | None) -> tuple[str | None, list[tuple[str, str]]]:
    """The base's own TEMPLATE and stops, for an adapter trained in the base's chat template:
    an Ollama base's (its /api/show answer); otherwise (None, []): Ollama then derives both
    from the GGUF's tokenizer.chat_template, which the merged file keeps."""
    if shown is None:
        return None, []
    stops = [(k, v) for k, v in parse_show_parameters(shown.get("parameters", "")) if k == "stop"]
    return shown.get("template") or None, stops


def _shown(settings: RunSettings) -> dict | None:
    """The base's /api/show answer when the base is an Ollama model we reach, else None."""
    if not settings.base:
        return None
    try:
        with client_for(settings) as client:
            return client.show(settings.base)
    except OllamaError as exc:
        log.info("The base's template and parameters are not inherited (%s): %s",
                 settings.base, exc)
        return None


def plan(state: RunState, inherit: bool = True) -> tuple[Modelfile, dict[str, list[Path]]]:
    """The Modelfile and the local files it refers to: {"model" | "adapter": [paths]}.

    A PEFT adapter is a folder: its config and weights go to Ollama as separate blobs."""
    s, a = state.settings, state.artifacts
    from forge_gui.core.llamacpp.base_format import format_of

    fmt = format_of(a.chat_format, a.base_gguf)  # the format the model was trained in
    shown = _shown(s) if inherit else None
    if a.template_from_base:  # a PEFT adapter trained elsewhere in the base's own template
        template, parameters = base_own_template(shown)
        system = s.system
    else:  # the base's own TEMPLATE where it renders the training prompt (base_template.py)
        choice = choose_for_run(fmt, s, shown)
        if choice.note:
            state.record_note(choice.note)
        template, system, parameters = choice.template, choice.system, list(choice.stops)
    parameters += _inherited_parameters(s, shown)
    parameters += list(s.parameters.items())
    files: dict[str, list[Path]] = {}
    if a.route == "adapter":
        adapter = Path(a.adapter_file)  # type: ignore[arg-type]
        base_ref = s.base or str(base_gguf(state))
        if not s.base:
            files["model"] = [base_gguf(state)]
        files["adapter"] = _adapter_files(adapter)
        mf = Modelfile(from_=base_ref, adapter=str(adapter.resolve()))
    else:
        if not a.output_gguf:
            raise StepFailed("There is no model file to register yet.",
                             "Run the training (or the merge) first.")
        gguf_path = Path(a.output_gguf).resolve()
        files["model"] = [gguf_path]
        mf = Modelfile(from_=str(gguf_path))
    mf.template, mf.system, mf.parameters = template, system, parameters
    return mf, files


def _adapter_files(adapter: Path) -> list[Path]:
    if adapter.is_dir():  # PEFT: what Ollama's own client sends for such a folder
        return sorted(p for p in adapter.iterdir() if p.is_file() and (
            p.suffix == ".json" or p.name.startswith("adapter_model")))
    return [adapter]


def create_request(mf: Modelfile, files: dict[str, list[Path]], digests: dict[Path, str],
                   name: str) -> dict:
    """The /api/create body equivalent to the Modelfile (files by digest, under their names)."""
    request: dict = {"model": name, "parameters": P.to_request(mf.parameters)}
    if mf.template is not None:  # None: Ollama takes the model's own (its GGUF chat template)
        request["template"] = mf.template
    if mf.system is not None:
        request["system"] = mf.system
    if "model" in files:
        request["files"] = {p.name: digests[p] for p in files["model"]}
    else:
        request["from"] = mf.from_
    if "adapter" in files:
        request["adapters"] = {p.name: digests[p] for p in files["adapter"]}
    return request


def build_modelfile(state: RunState) -> FunctionStep:
    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        known = len(state.record.notes)
        mf, _ = plan(state)
        for note in state.record.notes[known:]:  # which TEMPLATE the model gets, and why
            progress(ProgressEvent(step="modelfile", message=note))
        path = state.run_dir / "Modelfile"
        try:
            write_modelfile(path, mf)
        except ModelfileError as exc:
            raise StepFailed(str(exc)) from exc
        state.artifacts.modelfile = path
        state.artifacts.finish_command = finish_command(state.settings.name, path)
        state.save()
        progress(ProgressEvent(step="modelfile", fraction=1.0, message=f"Wrote {path}"))

    return FunctionStep("modelfile", "Write the Modelfile", run)


class _Throttle:
    """Progress for one phase: the message once, then the fraction at most every 1 %."""

    def __init__(self, progress: ProgressCallback, message: str, start: float, span: float):
        self.progress, self.message, self.start, self.span = progress, message, start, span
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        percent = int(100 * done / max(total, 1))
        if percent == self.last:
            return
        first = self.last < 0
        self.last = percent
        self.progress(ProgressEvent(step="register", fraction=self.start + self.span * percent / 100,
                                    message=self.message if first else None))


def _upload(client: OllamaClient, path: Path, progress: ProgressCallback,
            cancel: CancelToken) -> str:
    size = path.stat().st_size
    hashing = _Throttle(progress, f"Checking {path.name} (sha256)", 0.0, 0.5)
    sending = _Throttle(progress, f"Sending {path.name} to Ollama", 0.5, 0.4)
    digest = file_digest(path, hashing, cancel)
    _, uploaded = client.push_blob(path, sending, cancel, digest=digest)
    if not uploaded:
        progress(ProgressEvent(step="register", fraction=0.9,
                               message=f"Ollama already has {path.name} ({size:,} bytes)"))
    return digest


def create(client: OllamaClient, state: RunState, progress: ProgressCallback,
           cancel: CancelToken) -> None:
    """Upload the files Ollama lacks, then create the model (progress 0 → 1 of the step)."""
    s = state.settings
    mf, files = plan(state)
    # Rewrite the Modelfile with exactly what is sent (inherited parameters may differ from
    # when it was first written, e.g. Ollama was down then).
    write_modelfile(state.run_dir / "Modelfile", mf)
    state.artifacts.modelfile = state.run_dir / "Modelfile"
    digests = {p: _upload(client, p, progress, cancel) for group in files.values() for p in group}

    def status(event: ProgressEvent) -> None:
        progress(event.model_copy(update={"fraction": 0.9 if event.fraction is None
                                          else 0.9 + 0.1 * event.fraction}))

    client.create(create_request(mf, files, digests, s.name), status, cancel)
