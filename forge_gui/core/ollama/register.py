"""The pipeline steps that turn a fine-tune into an Ollama model (docs/ollama.md).

register_specs(settings) -> StepSpecs, appended after the training steps (or used alone by
`forge-cli retrain`):
  resolve   (only with settings.adapter) what was given, the base GGUF, the route
  merge     (only for the merge route)   llama-export-lora -m BASE --lora ADAPTER -o merged.gguf
  modelfile (always)                     run_dir/Modelfile, equivalent to the create request
  register  (when settings.create)       name check, existence check, blob upload, create
  smoke     (when settings.create)       one prompt through /api/generate

When Ollama cannot be reached the register step fails with OllamaNotReachable, after setting
artifacts.finish_command to the command that registers the model later; the GGUF and the
Modelfile are complete by then, so the run's work is not lost and the step can be retried.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from forge_gui.core.events import ProgressEvent
from forge_gui.core.llamacpp.gguf_info import inspect_gguf
from forge_gui.core.ollama import params as P
from forge_gui.core.ollama.client import (
    ModelNotFound,
    OllamaClient,
    OllamaError,
    OllamaHTTPError,
    OllamaNotReachable,
    base_url,
    parse_show_parameters,
    runs_gguf_adapters,
    supports_create_api,
)
from forge_gui.core.ollama.hashing import file_digest
from forge_gui.core.ollama.modelfile import Modelfile, ModelfileError, render_modelfile, write_modelfile
from forge_gui.core.ollama.names import find_same_model, model_key, parse_model_name, validate_model_name
from forge_gui.core.ollama.resolve import (
    Resolved,
    ResolveError,
    check_adapter_matches,
    choose_route,
    peft_conversion_command,
    resolve_output,
)
from forge_gui.core.ollama.store import resolve_base_gguf
from forge_gui.core.ollama.template import TEMPLATE
from forge_gui.core.pipeline import StepSpec
from forge_gui.core.process import run_process_step
from forge_gui.core.run import RunSettings, RunState
from forge_gui.core.steps import CancelToken, FunctionStep, ProcessStep, ProgressCallback, StepFailed

MERGED_NAME = "merged.gguf"


class InvalidModelName(StepFailed):
    pass


class ModelExists(StepFailed):
    pass


# ---------------------------------------------------------------------------- preflight

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
        render_modelfile(Modelfile(from_="/model.gguf", template=TEMPLATE, system=settings.system,
                                   parameters=list(settings.parameters.items())))
    except ModelfileError as exc:
        raise StepFailed(str(exc)) from exc


# ---------------------------------------------------------------------------- helpers

def finish_command(name: str, modelfile: Path) -> str:
    """The command a person runs to register by hand (shown, never run through a shell)."""
    argv = ["ollama", "create", name, "-f", str(modelfile)]
    if sys.platform == "win32":
        return subprocess.list2cmdline(argv)
    return shlex.join(argv)


def export_lora_tool(tools_dir: Path | None) -> Path:
    """llama-export-lora through the llama.cpp tool discovery (configured, bundled, PATH, cache)."""
    try:
        from forge_gui.core.llamacpp.discover import locate
        found = locate("llama-export-lora", tools_dir)
        if found:
            return Path(found[1])
    except ImportError:  # discovery not available: plain PATH
        pass
    on_path = shutil.which("llama-export-lora")
    if on_path:
        return Path(on_path)
    raise StepFailed("llama-export-lora was not found; it is needed to merge the adapter.",
                     "Run 'forge-cli setup-llama-cpp' to build the llama.cpp tools.")


def _base_gguf(state: RunState) -> Path:
    s, a = state.settings, state.artifacts
    if a.base_gguf:
        return a.base_gguf
    if s.base_gguf:
        return s.base_gguf
    if s.base:
        return resolve_base_gguf(s.base)
    raise StepFailed("An adapter needs the base model it was trained on.",
                     "Pass --base with an Ollama model name or a GGUF file.")


def _client(settings: RunSettings) -> OllamaClient:
    return OllamaClient(settings.ollama_host)


def _server_version(settings: RunSettings) -> str | None:
    try:
        with _client(settings) as client:
            return client.version()
    except OllamaError:
        return None


# ---------------------------------------------------------------------------- resolve

def _build_resolve(state: RunState) -> FunctionStep:
    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        s, a = state.settings, state.artifacts
        resolved: Resolved = resolve_output(s.adapter)  # type: ignore[arg-type]
        a.adapter_file = resolved.path
        if resolved.note:
            progress(ProgressEvent(step="resolve", message=resolved.note))
        if resolved.kind == "whole":
            a.output_gguf, a.route = resolved.path, "from-file"
            state.save()
            return
        base = _base_gguf(state)
        check_adapter_matches(resolved, base)
        a.base_gguf = base
        version = _server_version(s)
        arch = inspect_gguf(base).architecture
        route, why = choose_route(resolved, version, s.use_adapter, arch)
        a.route = route
        state.save()
        progress(ProgressEvent(step="resolve", message=why))

    return FunctionStep("resolve", "Check the adapter and the base", run,
                        log_path=state.log_path("resolve"))


# ---------------------------------------------------------------------------- merge

def merge_step(tool: Path, base: Path, adapter: Path, out: Path, log: Path | None = None,
               on_done=None) -> ProcessStep:
    """llama-export-lora BASE + ADAPTER -> OUT; the check proves OUT is a whole-model GGUF."""
    def check(code: int) -> None:
        hint = f"The tool's output is in {log}." if log else None
        if code != 0:
            raise StepFailed(f"llama-export-lora failed (exit code {code}).", hint)
        info = inspect_gguf(out)
        if info.general_type != "model":
            raise StepFailed(f"llama-export-lora wrote {out.name}, but it is not a model.", hint)
        if on_done:
            on_done(out)

    argv = [str(tool), "-m", str(base), "--lora", str(adapter), "-o", str(out)]
    return ProcessStep(key="merge", label="Merge the adapter into the base (llama-export-lora)",
                       argv=argv, cwd=out.parent, outputs=[out], check=check, log_path=log)


def _merge_for(state: RunState) -> ProcessStep:
    a = state.artifacts

    def done(out: Path) -> None:
        a.output_gguf = out

    return merge_step(export_lora_tool(state.settings.tools_dir), _base_gguf(state),
                      a.adapter_file, state.run_dir / MERGED_NAME,  # type: ignore[arg-type]
                      state.log_path("merge"), done)


def adapter_route(state: RunState) -> tuple[str, str]:
    """How a trained GGUF LoRA reaches Ollama: ("adapter" | "merge", why). ADAPTER only when
    asked for and the server runs GGUF adapters (0.30+); merging works everywhere."""
    s = state.settings
    if not s.use_adapter:
        return "merge", ("The adapter is merged into the base with llama-export-lora (works on "
                         "every Ollama version).")
    version = _server_version(s) if s.create else None
    if version and runs_gguf_adapters(version):
        return "adapter", (f"Ollama {version} runs GGUF adapters: the model is created FROM "
                           "the base with the adapter as ADAPTER (no second copy of the base).")
    why = (f"Ollama {version} is older than 0.30 and cannot run a GGUF adapter" if version else
           "Ollama was not reached (or --no-create) to check that it runs adapters")
    return "merge", f"{why}, so the adapter is merged into the base instead."


def _build_merge(state: RunState) -> ProcessStep | None:
    return _merge_for(state) if state.artifacts.route == "merge" else None


# ---------------------------------------------------------------------------- plan

def _inherited_parameters(settings: RunSettings) -> list[tuple[str, str]]:
    """The base model's PARAMETERs (but its stops), when the base is an Ollama model we reach."""
    if not settings.base:
        return []
    try:
        with _client(settings) as client:
            shown = client.show(settings.base)
    except OllamaError:
        return []
    return [(k, v) for k, v in parse_show_parameters(shown.get("parameters", ""))
            if k in P.TYPES and k not in P.NOT_INHERITED and k not in settings.parameters]


def plan(state: RunState, inherit: bool = True) -> tuple[Modelfile, dict[str, Path]]:
    """The Modelfile and the local files it refers to: {"model" | "adapter": [paths]}.

    A PEFT adapter is a folder: its config and weights go to Ollama as separate blobs."""
    from forge_gui.core.chat_format import FORMATS

    s, a = state.settings, state.artifacts
    fmt = FORMATS[a.chat_format or "plain"]  # the format the model was trained in
    parameters = fmt.stop_parameters()
    parameters += _inherited_parameters(s) if inherit else []
    parameters += list(s.parameters.items())
    files: dict[str, list[Path]] = {}
    if a.route == "adapter":
        adapter = Path(a.adapter_file)  # type: ignore[arg-type]
        base_ref = s.base or str(_base_gguf(state))
        if not s.base:
            files["model"] = [_base_gguf(state)]
        files["adapter"] = _adapter_files(adapter)
        mf = Modelfile(from_=base_ref, adapter=str(adapter.resolve()))
    else:
        if not a.output_gguf:
            raise StepFailed("There is no model file to register yet.",
                             "Run the training (or the merge) first.")
        gguf_path = Path(a.output_gguf).resolve()
        files["model"] = [gguf_path]
        mf = Modelfile(from_=str(gguf_path))
    mf.template, mf.system, mf.parameters = fmt.go_template, s.system, parameters
    return mf, files


def _adapter_files(adapter: Path) -> list[Path]:
    if adapter.is_dir():  # PEFT: what Ollama's own client sends for such a folder
        return sorted(p for p in adapter.iterdir() if p.is_file() and (
            p.suffix == ".json" or p.name.startswith("adapter_model")))
    return [adapter]


def create_request(mf: Modelfile, files: dict[str, list[Path]], digests: dict[Path, str],
                   name: str) -> dict:
    """The /api/create body equivalent to the Modelfile (files by digest, under their names)."""
    request: dict = {"model": name, "template": mf.template,
                     "parameters": P.to_request(mf.parameters)}
    if mf.system is not None:
        request["system"] = mf.system
    if "model" in files:
        request["files"] = {p.name: digests[p] for p in files["model"]}
    else:
        request["from"] = mf.from_
    if "adapter" in files:
        request["adapters"] = {p.name: digests[p] for p in files["adapter"]}
    return request


def _build_modelfile(state: RunState) -> FunctionStep:
    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        mf, _ = plan(state)
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


# ---------------------------------------------------------------------------- register

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


def _create(client: OllamaClient, state: RunState, progress: ProgressCallback,
            cancel: CancelToken) -> None:
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


def _fall_back_to_merge(state: RunState, progress: ProgressCallback, cancel: CancelToken) -> None:
    """Ollama refused the adapter: merge it ourselves and point the Modelfile at the result."""
    a = state.artifacts
    progress(ProgressEvent(step="register", message="Ollama refused the adapter; merging it "
                           "into the base with llama-export-lora instead."))
    step = _merge_for(state)
    run_process_step(step, on_event=progress, cancel=cancel)
    a.route = "merge"
    state.save()


def _build_register(state: RunState) -> FunctionStep:
    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        s, a = state.settings, state.artifacts
        preflight(s)
        if not (a.modelfile and Path(a.modelfile).is_file()):  # e.g. a retry of this step alone
            a.modelfile = write_modelfile(state.run_dir / "Modelfile", plan(state)[0])
        a.finish_command = finish_command(s.name, a.modelfile)
        with _client(s) as client:
            try:
                version = client.version()
            except OllamaNotReachable as exc:
                state.save()
                raise OllamaNotReachable(
                    f"{exc.message} The model file and the Modelfile are ready in "
                    f"{state.run_dir}.",
                    f"{exc.hint} Then retry this step, or register by hand: "
                    f"{a.finish_command}") from exc
            progress(ProgressEvent(step="register", message=f"Ollama {version} at {client.url}"))
            if not supports_create_api(version):
                state.save()
                raise OllamaError(f"Ollama {version} is too old for Forge to register models "
                                  "(it needs 0.5.5 or newer).",
                                  "Update Ollama, or register by hand with its own command: "
                                  f"{a.finish_command}")
            existed = existing_model(client, s.name)
            if existed and not s.force:
                raise model_exists(s.name, existed)
            try:
                try:
                    _create(client, state, progress, cancel)
                except OllamaHTTPError as exc:
                    if a.route != "adapter" or "adapter" not in exc.message.lower():
                        raise
                    if not Path(a.adapter_file).is_file():  # type: ignore[arg-type]
                        raise ResolveError(
                            f"{exc.message} (a PEFT adapter cannot be merged by llama.cpp).",
                            "Convert it to a GGUF LoRA, then pass the .gguf file (Forge merges "
                            "it into the base): "
                            + peft_conversion_command(Path(a.adapter_file))) from exc
                    _fall_back_to_merge(state, progress, cancel)
                    _create(client, state, progress, cancel)
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
    except OllamaError:
        pass  # best effort: the error being raised already says what went wrong


# ---------------------------------------------------------------------------- smoke

def _build_smoke(state: RunState) -> FunctionStep:
    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        s, a = state.settings, state.artifacts
        name = a.model or s.name
        progress(ProgressEvent(step="smoke", message=f"Asking {name}: {s.smoke_prompt}"))
        with _client(s) as client:
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
        with _client(settings) as client:
            taken = existing_model(client, settings.name)
    except OllamaError:
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
        specs += [StepSpec("resolve", "Check the adapter and the base", _build_resolve),
                  StepSpec("merge", "Merge the adapter into the base", _build_merge)]
    specs.append(StepSpec("modelfile", "Write the Modelfile", _build_modelfile))
    if settings.create:
        specs += [StepSpec("register", "Register the model with Ollama", _build_register),
                  StepSpec("smoke", "Ask the new model one question", _build_smoke)]
    return specs


__all__ = ["register_specs", "preflight", "plan", "create_request", "merge_step",
           "finish_command", "InvalidModelName", "ModelExists", "ResolveError"]
