"""The steps of a training run, as StepSpecs (core builds, front ends run; DESIGN §1).

    base → validate → prepare → convert (F16/BF16 only) → preflight → train → check
         → quantize → completion (one prompt through llama-completion)
         → [Ollama: Modelfile, create, smoke — core/ollama/register.py]

Each spec builds its step from the run state when its turn comes, reading what earlier steps
left in state.artifacts, so the GUI can retry a failed step without redoing the ones before.
"""

from __future__ import annotations

import json
from pathlib import Path

from forge_gui.core.atomic import atomic_write_text
from forge_gui.core.events import ProgressEvent
from forge_gui.core.llamacpp.discover import ToolSet, find_tools
from forge_gui.core.llamacpp.gguf_info import check_same_model, human_size, inspect_gguf
from forge_gui.core.llamacpp.tool_steps import (
    SMOKE_TOKENS, SmokeResult, check_memory, check_windows, convert_to_f32_step, count_tokens,
    quantize_step, smoke_argv, smoke_step, tokenize_argv, training_ctx)
from forge_gui.core.llamacpp.trainer import TrainRequest, TrainResult, get_trainer
from forge_gui.core.pipeline import StepSpec
from forge_gui.core.run import RunSettings, RunState
from forge_gui.core.steps import CancelToken, FunctionStep, ProgressCallback, StepFailed

TRAINED_NAME = "trained-f32.gguf"
PREPARED_NAME = "train.txt"


def train_specs(settings: RunSettings) -> list[StepSpec]:
    """Every step of a run for `settings`, the Ollama steps (Modelfile, create, smoke) last."""
    specs = [
        StepSpec("base", "Check the base model", _base),
        StepSpec("validate", "Validate the training data", _validate),
        StepSpec("prepare", "Prepare the training text", _prepare),
        StepSpec("convert", "Convert the base to F32", _convert),
        StepSpec("preflight", "Count tokens and check memory", _preflight),
        StepSpec("train", "Fine-tune", _train),
        StepSpec("check", "Check the trained model", _check),
        StepSpec("quantize", f"Quantize to {settings.quantize or 'F32'}", _quantize),
        StepSpec("completion", "Try one prompt (llama-completion)", _completion),
    ]
    return specs + ollama_specs(settings)


def ollama_specs(settings: RunSettings) -> list[StepSpec]:
    """Modelfile always; create + Ollama smoke when settings.create (core/ollama/register.py)."""
    from forge_gui.core.ollama.register import register_specs

    return register_specs(settings)


def tools_for(state: RunState) -> ToolSet:
    return find_tools(state.settings.tools_dir)


# --- steps ---------------------------------------------------------------------------------

def record_argv(state: RunState, key: str, argv: list[str]) -> None:
    """commands/<key>.json for a tool a FunctionStep runs (process steps get it from the walk)."""
    atomic_write_text(state.run_dir / "commands" / f"{key}.json",
                      json.dumps({"argv": argv, "cwd": None, "env": {}}, indent=2) + "\n")


def _function(key: str, label: str, state: RunState, work) -> FunctionStep:
    return FunctionStep(key=key, label=label, run=work, log_path=state.log_path(key))


def resolve_base(settings: RunSettings) -> Path:
    if settings.base_gguf:
        return Path(settings.base_gguf).expanduser().resolve()
    if not settings.base:
        raise StepFailed("No base model given.", "Pass --base NAME or --base-gguf FILE.")
    try:
        from forge_gui.core.ollama.store import resolve_base_gguf
    except ImportError:
        raise StepFailed(f"Cannot find the GGUF of Ollama model {settings.base!r} yet.",
                         "Pass the model file itself with --base-gguf FILE.") from None
    return Path(resolve_base_gguf(settings.base))


def _base(state: RunState) -> FunctionStep:
    def work(progress: ProgressCallback, cancel: CancelToken) -> None:
        path = resolve_base(state.settings)
        info = inspect_gguf(path)
        trainer = get_trainer(state.settings.trainer)
        if trainer.needs_f32_base and info.trainability in ("quantized", "not-a-model"):
            raise StepFailed(f"{path.name} cannot be fine-tuned by llama-finetune.",
                             info.explain_trainability())
        state.artifacts.base_gguf = path
        progress(ProgressEvent(step="base", fraction=1.0, message=(
            f"{info.architecture}, {info.parameters / 1e6:.1f}M parameters, "
            f"{info.file_type or '?'}: {info.explain_trainability()}")))
    return _function("base", "Check the base model", state, work)


def _data_api():
    try:
        from forge_gui.core.data import ValidationOptions, prepare_training_data, validate_paths
    except ImportError as exc:
        raise StepFailed(f"The data module is not available: {exc}") from exc
    return ValidationOptions, prepare_training_data, validate_paths


def _validate(state: RunState) -> FunctionStep:
    def work(progress: ProgressCallback, cancel: CancelToken) -> None:
        options_cls, _, validate_paths = _data_api()
        options = options_cls(field_map=state.settings.field_map)
        report = validate_paths(state.settings.data, options, progress, cancel)
        atomic_write_text(state.run_dir / "data-report.json",
                          report.model_dump_json(indent=2) + "\n")
        if not report.ok:
            counts = ", ".join(f"{code}: {n}" for code, n in report.error_counts.items())
            raise StepFailed(f"The training data has {report.invalid} invalid record(s) and "
                             f"{report.valid} valid ones" + (f" ({counts})." if counts else "."),
                             "Run 'forge-cli validate' on it to see each problem, or read "
                             f"{state.run_dir / 'data-report.json'}.")
    return _function("validate", "Validate the training data", state, work)


def _prepare(state: RunState) -> FunctionStep:
    def work(progress: ProgressCallback, cancel: CancelToken) -> None:
        options_cls, prepare, _ = _data_api()
        s = state.settings
        result = prepare(s.data, state.run_dir / PREPARED_NAME,
                         options=options_cls(field_map=s.field_map),
                         fmt=get_trainer(s.trainer).data_format, val_fraction=s.val_fraction,
                         seed=s.seed, progress=progress, cancel=cancel)
        a = state.artifacts
        a.prepared_train, a.prepared_val = result.out, result.val_out
        a.samples, a.held_out = result.samples, result.held_out
    return _function("prepare", "Prepare the training text", state, work)


def _convert(state: RunState):
    info = inspect_gguf(state.artifacts.base_gguf)
    if info.trainability == "ready" or not get_trainer(state.settings.trainer).needs_f32_base:
        state.artifacts.train_base_gguf = info.path
        return None
    out = state.run_dir / "base-f32.gguf"
    state.artifacts.train_base_gguf = out
    return convert_to_f32_step(tools_for(state), info, out, state.log_path("convert"))


def _preflight(state: RunState) -> FunctionStep:
    def work(progress: ProgressCallback, cancel: CancelToken) -> None:
        s, a = state.settings, state.artifacts
        tools = tools_for(state)
        tools.path("llama-finetune")  # fail here, before anything long, when it is missing
        progress(ProgressEvent(step="preflight", message="Counting tokens with the base's vocabulary"))
        record_argv(state, "preflight", tokenize_argv(tools, a.train_base_gguf, a.prepared_train))
        a.tokens = count_tokens(tools, a.train_base_gguf, a.prepared_train, cancel)
        ctx = training_ctx(s.ctx)
        a.windows = check_windows(a.tokens, ctx, s.val_split)
        check_memory(inspect_gguf(a.train_base_gguf), ctx, progress, "preflight")
        progress(ProgressEvent(step="preflight", fraction=1.0, message=(
            f"{a.tokens} tokens → {a.windows} windows of {ctx} tokens")))
    return _function("preflight", "Count tokens and check memory", state, work)


def _train(state: RunState):
    s, a = state.settings, state.artifacts
    output = state.run_dir / TRAINED_NAME
    if output.exists():  # a retry: never train on top of an old result
        output.unlink()
    result = TrainResult()
    request = TrainRequest(train_text=a.prepared_train, base=inspect_gguf(a.train_base_gguf),
                           output=output, settings=s, tools=tools_for(state),
                           log_path=state.log_path("train"))
    step = get_trainer(s.trainer).build_step(request, result)
    inner_check = step.check

    def check(code: int) -> None:
        inner_check(code)
        a.trained_gguf = result.output
        a.train_loss_first = result.train_loss_first
        a.train_loss_last = result.train_loss_last
        a.val_loss_last = result.val_loss_last

    step.check = check
    return step


def _check(state: RunState) -> FunctionStep:
    def work(progress: ProgressCallback, cancel: CancelToken) -> None:
        a = state.artifacts
        got = check_same_model(inspect_gguf(a.train_base_gguf), a.trained_gguf)
        loss = ""
        if a.train_loss_first is not None and a.train_loss_last is not None:
            loss = f"; train loss {a.train_loss_first:.3f} → {a.train_loss_last:.3f}"
        progress(ProgressEvent(step="check", fraction=1.0, message=(
            f"{got.architecture}, {len(got.tensor_names)} tensors, "
            f"{human_size(got.size_bytes)}{loss}")))
    return _function("check", "Check the trained model", state, work)


def context_fix(state: RunState) -> list[str]:
    """llama-finetune saves its training context as the model's context length (e.g. 512 for a
    base made for 128k); put the base's value back while quantizing."""
    a = state.artifacts
    base, trained = inspect_gguf(a.train_base_gguf), inspect_gguf(a.trained_gguf)
    if base.context_length and trained.context_length != base.context_length:
        return [f"{base.architecture}.context_length=int:{base.context_length}"]
    return []


def _quantize(state: RunState):
    a = state.artifacts
    qtype = (state.settings.quantize or "F32").upper()
    overrides = context_fix(state)
    if qtype == "F32" and not overrides:
        a.output_gguf = a.trained_gguf
        return None
    out = state.run_dir / f"model-{qtype}.gguf"
    a.output_gguf = out
    return quantize_step(tools_for(state), a.trained_gguf, out, qtype, "quantize",
                         f"Quantize to {qtype}", state.log_path("quantize"),
                         overrides=overrides)


def smoke_prompt_text(settings: RunSettings) -> str:
    """The smoke prompt rendered in the training format, up to where the answer starts."""
    from forge_gui.core.data.render import render_turns

    turns = []
    if settings.system:
        turns.append(("system", settings.system, None))
    turns += [("user", settings.smoke_prompt, None), ("assistant", "", None)]
    return render_turns(tuple(turns)).removesuffix("\n")


def _completion(state: RunState) -> FunctionStep:
    result = SmokeResult()
    tools, prompt = tools_for(state), smoke_prompt_text(state.settings)
    step = smoke_step(tools, state.artifacts.output_gguf, prompt, result, state.settings.seed,
                      log=state.log_path("completion"))
    record_argv(state, "completion", smoke_argv(tools, state.artifacts.output_gguf, prompt,
                                                state.settings.seed, SMOKE_TOKENS))
    inner = step.run

    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        inner(progress, cancel)
        state.artifacts.completion_answer = result.answer
        state.artifacts.completion_tokens = result.tokens

    step.run = run
    return step


def write_script(settings: RunSettings, path: Path, workdir: Path | None = None) -> Path:
    """Write a bash script doing this run with the same tools (core/llamacpp/script.py).

    Raises StepFailed when the base or the tools are not usable, or the file exists."""
    from forge_gui.core import paths
    from forge_gui.core.llamacpp.script import final_name, render_script
    from forge_gui.core.ollama.modelfile import Modelfile, ModelfileError, render_modelfile
    from forge_gui.core.ollama.template import TEMPLATE, stop_parameters
    from forge_gui.core.run import _slug

    path = Path(path)
    if path.exists():
        raise StepFailed(f"{path} already exists; choose a new file name for the script.")
    base = resolve_base(settings)
    info = inspect_gguf(base)
    if info.trainability in ("quantized", "not-a-model"):
        raise StepFailed(f"{base.name} cannot be fine-tuned.", info.explain_trainability())
    tools = find_tools(settings.tools_dir)
    for name in ("llama-finetune", "llama-quantize", "llama-tokenize", "llama-completion"):
        tools.path(name)
    out_dir = Path(workdir or paths.runs_dir() / f"script-{_slug(settings.name)}").resolve()
    override = (f"{info.architecture}.context_length=int:{info.context_length}"
                if info.context_length else None)
    final = final_name(settings, override)
    try:
        modelfile = render_modelfile(Modelfile(
            from_=f"./{final}", template=TEMPLATE, system=settings.system,
            parameters=stop_parameters() + list(settings.parameters.items())))
    except ModelfileError as exc:
        raise StepFailed(str(exc)) from exc
    text = render_script(settings, base, tools, out_dir, info.trainability == "convert",
                         modelfile, smoke_prompt_text(settings), override)
    atomic_write_text(path, text)
    path.chmod(0o755)
    return path
