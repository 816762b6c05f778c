"""The pipeline steps that turn a fine-tune into an Ollama model (docs/ollama.md).

register_specs(settings) -> StepSpecs, appended after the training steps (or used alone by
`forge-cli retrain`):
  resolve   (only with settings.adapter) what was given, the base GGUF, the route  (route.py)
  merge     (only for the merge route)   llama-export-lora -m BASE --lora ADAPTER  (route.py)
  modelfile (always)                     run_dir/Modelfile, equivalent to the create request
                                                                                   (create.py)
  register  (when settings.create)       name check, existence check, blob upload, create
  smoke     (when settings.create)       one prompt through /api/generate

When Ollama cannot be reached the register step fails with OllamaNotReachable, after setting
artifacts.finish_command to the command that registers the model later; the GGUF and the
Modelfile are complete by then, so the run's work is not lost and the step can be retried.
"""

from __future__ import annotations

import logging
from pathlib import Path

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.model_names import find_same_model, model_key, parse_model_name, validate_model_name
from forge_gui.core.base.process import run_process_step
from forge_gui.core.base.steps import CancelToken, FunctionStep, ProgressCallback, StepFailed
from forge_gui.core.formats.chat_format import PLAIN
from forge_gui.core.ollama import params as P
from forge_gui.core.ollama.client import (
    ModelNotFound,
    OllamaClient,
    OllamaError,
    OllamaHTTPError,
    OllamaNotReachable,
    base_url,
    supports_create_api,
)
from forge_gui.core.ollama.modelfile import Modelfile, ModelfileError, render_modelfile, write_modelfile
from forge_gui.core.ollama.resolve import ResolveError, peft_conversion_command
from forge_gui.core.registration.create import build_modelfile, create, create_request, finish_command, plan
from forge_gui.core.registration.route import (
    adapter_route,
    build_merge,
    build_resolve,
    client_for,
    export_lora_tool,
    merge_for,
    merge_step,
)
from forge_gui.core.runs.run import RunSettings, RunState, StepSpec

log = logging.getLogger(__name__)


class InvalidModelName(StepFailed):
    pass


class ModelExists(StepFailed):
    pass


def preflight(settings: RunSettings) -> None:
    """Refuse what would fail at the end, before any work starts (name, parameters, texts)."""
    # Checked with --no-create too: the run ends by printing the command that creates it.
    problem = validate_model_name(settings.name)
    if problem:
        raise InvalidModelName(f"'{settings.name}' cannot be an Ollama model name. {problem}")
    try:
        P.to_request(list(settings.parameters.items()))
    except P.ParameterError as exc:
        raise StepFailed(str(exc)) from exc
    try:  # the texts must survive a Modelfile; a placeholder path stands in for the GGUF
        render_modelfile(Modelfile(from_="/model.gguf", template=PLAIN.go_template,
                                   system=settings.system,
                                   parameters=list(settings.parameters.items())))
    except ModelfileError as exc:
        raise StepFailed(str(exc)) from exc


# ---------------------------------------------------------------------------- register

def _fall_back_to_merge(state: RunState, progress: ProgressCallback, cancel: CancelToken) -> None:
    """Ollama refused the adapter: merge it ourselves and point the Modelfile at the result."""
    progress(ProgressEvent(step="register", message="Ollama refused the adapter; merging it "
                           "into the base with llama-export-lora instead."))
    run_process_step(merge_for(state), on_event=progress, cancel=cancel)
    state.artifacts.route = "merge"
    state.save()


def _connect(client: OllamaClient, state: RunState, progress: ProgressCallback) -> None:
    """The server must answer and be new enough; otherwise the error says how to finish."""
    a = state.artifacts
    try:
        version = client.version()
    except OllamaNotReachable as exc:
        state.save()
        raise OllamaNotReachable(
            f"{exc.message} The model file and the Modelfile are ready in {state.run_dir}.",
            f"{exc.hint} Then retry this step, or register by hand: {a.finish_command}") from exc
    progress(ProgressEvent(step="register", message=f"Ollama {version} at {client.url}"))
    if not supports_create_api(version):
        state.save()
        raise OllamaError(f"Ollama {version} is too old for Forge to register models "
                          "(it needs 0.5.5 or newer).",
                          "Update Ollama, or register by hand with its own command: "
                          f"{a.finish_command}")


def _create_or_merge(client: OllamaClient, state: RunState, progress: ProgressCallback,
                     cancel: CancelToken) -> None:
    a = state.artifacts
    try:
        create(client, state, progress, cancel)
    except OllamaHTTPError as exc:
        if a.route != "adapter" or "adapter" not in exc.message.lower():
            raise
        assert a.adapter_file is not None  # the adapter route is only chosen for an adapter
        if not Path(a.adapter_file).is_file():
            raise ResolveError(
                f"{exc.message} (a PEFT adapter cannot be merged by llama.cpp).",
                "Convert it to a GGUF LoRA, then pass the .gguf file (Forge merges "
                "it into the base): " + peft_conversion_command(Path(a.adapter_file))) from exc
        _fall_back_to_merge(state, progress, cancel)
        create(client, state, progress, cancel)


def _build_register(state: RunState) -> FunctionStep:
    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        s, a = state.settings, state.artifacts
        preflight(s)
        if not (a.modelfile and Path(a.modelfile).is_file()):  # e.g. a retry of this step alone
            a.modelfile = write_modelfile(state.run_dir / "Modelfile", plan(state)[0])
        a.finish_command = finish_command(s.name, a.modelfile)
        with client_for(s) as client:
            _connect(client, state, progress)
            existed = existing_model(client, s.name)
            if existed and not s.force:
                raise model_exists(s.name, existed)
            try:
                _create_or_merge(client, state, progress, cancel)
            except BaseException:
                if not existed:
                    _remove_half_created(client, s.name)
                raise
        a.model, a.finish_command = s.name, None
        state.save()
        progress(ProgressEvent(step="register", fraction=1.0, message=f"Created '{s.name}'"))

    return FunctionStep("register", "Register the model with Ollama", run)


def _remove_half_created(client: OllamaClient, name: str) -> None:
    try:
        if client.exists(name):
            client.delete(name)
    except OllamaError as exc:  # the error being raised already says what went wrong
        log.warning("Could not remove the half-created model %s: %s", name, exc)


# ---------------------------------------------------------------------------- smoke

def _build_smoke(state: RunState) -> FunctionStep:
    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        s, a = state.settings, state.artifacts
        name = a.model or s.name
        progress(ProgressEvent(step="smoke", message=f"Asking {name}: {s.smoke_prompt}"))
        with client_for(s) as client:
            try:
                answer = client.generate(name, s.smoke_prompt)
            except ModelNotFound as exc:
                raise StepFailed(f"Ollama does not know '{name}' after creating it.",
                                 "Check 'ollama list'; then run the registration again.") from exc
        a.smoke_answer = answer.strip()
        state.save()
        progress(ProgressEvent(step="smoke", fraction=1.0, message=a.smoke_answer))

    return FunctionStep("smoke", "Ask the new model one question", run)


# ---------------------------------------------------------------------------- specs

def preflight_server(settings: RunSettings) -> None:
    """Before any work (docs/ollama.md): the Ollama address must be one, and the name must not
    be a model that exists (compared as Ollama compares names) unless settings.force. When
    Ollama cannot be reached now the register step checks again before creating."""
    if settings.create:
        base_url(settings.ollama_host)  # raises OllamaHostInvalid, a StepFailed
    if settings.force:
        return
    try:
        with client_for(settings) as client:
            taken = existing_model(client, settings.name)
    except OllamaError as exc:
        log.info("The name is checked again when registering; Ollama is not reached now: %s", exc)
        return
    if taken:
        raise model_exists(settings.name, taken)


def existing_model(client: OllamaClient, name: str) -> str | None:
    """The model Ollama would replace when creating `name`, as Ollama lists it, or None."""
    found = find_same_model(name, (m.get("name") or m.get("model") for m in client.list_models()))
    if found is None and client.exists(name):  # a server that lists names some other way
        found = name
    return found


def _spelled(name: str) -> str:
    try:
        return parse_model_name(name).short
    except ValueError:
        return name


def model_exists(name: str, taken: str) -> ModelExists:
    same = "" if model_key(taken) == model_key(name) and _spelled(taken) == _spelled(name) else \
        f" as '{taken}' (Ollama does not tell upper and lower case apart)"
    return ModelExists(f"A model named '{name}' already exists in Ollama{same}.",
                       "Choose another name, or replace it (--force on the CLI).")


def register_specs(settings: RunSettings) -> list[StepSpec]:
    """The Ollama steps for a run. Raises StepFailed now for a bad name or parameter."""
    preflight(settings)
    preflight_server(settings)
    specs: list[StepSpec] = []
    if settings.adapter is not None:
        specs += [StepSpec("resolve", "Check the adapter and the base", build_resolve),
                  StepSpec("merge", "Merge the adapter into the base", build_merge)]
    specs.append(StepSpec("modelfile", "Write the Modelfile", build_modelfile))
    if settings.create:
        specs += [StepSpec("register", "Register the model with Ollama", _build_register),
                  StepSpec("smoke", "Ask the new model one question", _build_smoke)]
    return specs


__all__ = ["register_specs", "preflight", "plan", "create_request", "merge_step",
           "finish_command", "adapter_route", "export_lora_tool", "existing_model",
           "model_exists", "InvalidModelName", "ModelExists", "ResolveError"]
