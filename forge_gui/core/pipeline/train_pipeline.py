"""The steps of a training run, as StepSpecs (core builds, front ends run; docs/training.md).

    lora: base → validate → prepare → preflight → train (adapter) → check → merge
          → quantize → completion → [Ollama: Modelfile, create, smoke]
    full: base → validate → prepare → convert (F16/BF16) → preflight → train → check
          → quantize → completion → [Ollama: Modelfile, create, smoke]

The Ollama steps are in core/registration/register.py. A LoRA run that registers with ADAPTER (on
request, where the server runs GGUF adapters) skips merge and quantize: the base stays as it is.

Each spec builds its step from the run state when its turn comes, reading what earlier steps
left in state.artifacts, so the GUI can retry a failed step without redoing the ones before.
"""

from __future__ import annotations

from pathlib import Path

from forge_gui.core.base.atomic import atomic_write_text
from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import CancelToken, FunctionStep, ProgressCallback, StepFailed
from forge_gui.core.llamacpp.base_format import format_of
from forge_gui.core.llamacpp.discover import find_tools
from forge_gui.core.llamacpp.gguf_info import check_same_model, human_size, inspect_gguf
from forge_gui.core.llamacpp.tool_steps import (
    SMOKE_TOKENS,
    SmokeResult,
    convert_to_f32_step,
    quantize_step,
    smoke_argv,
    smoke_step,
)
from forge_gui.core.llamacpp.trainer import TrainRequest, TrainResult, get_trainer
from forge_gui.core.pipeline.preflight import (  # noqa: F401  (check_gpu_memory: importers' old home)
    check_gpu_memory,
    preflight_step,
    record_argv,
    recorded,
    tools_for,
)
from forge_gui.core.pipeline.train_options import train_options
from forge_gui.core.runs.run import RunSettings, RunState, StepSpec

TRAINED_NAME = "trained-f32.gguf"
ADAPTER_NAME = "adapter.gguf"
MERGED_NAME = "merged.gguf"
PREPARED_NAME = "train.txt"
PREPARED_CHAT_NAME = "train.jsonl"
CHAT_TEMPLATE_NAME = "chat_template.jinja"
CHECKPOINTS = "checkpoints"
BASE, TRAINED = "base model to train", "trained model"


def train_specs(settings: RunSettings) -> list[StepSpec]:
    """Every step of a run for `settings`, the Ollama steps (Modelfile, create, smoke) last."""
    lora = settings.method == "lora"
    quant = settings.quantize or "F32"
    specs = [
        StepSpec("base", "Check the base model", _base),
        StepSpec("validate", "Validate the training data", _validate),
        StepSpec("prepare", "Prepare the training text", _prepare),
        *([] if lora else [StepSpec("convert", "Convert the base to F32", _convert)]),
        StepSpec("preflight", "Count tokens and check memory", preflight_step),
        StepSpec("train", "Train a LoRA adapter" if lora else "Fine-tune", _train),
        StepSpec("check", "Check the trained adapter" if lora else "Check the trained model",
                 _check),
        *([StepSpec("merge", "Merge the adapter into the base", _merge)] if lora else []),
        StepSpec("quantize", "Quantize (the base's own type)" if quant == "auto"
                 else f"Quantize to {quant}", _quantize),
        StepSpec("completion", "Try one prompt (llama-completion)", _completion),
    ]
    from forge_gui.core.evaluation.evaluate import eval_specs

    return specs + eval_specs(settings) + ollama_specs(settings)


def ollama_specs(settings: RunSettings) -> list[StepSpec]:
    """Modelfile always; create + Ollama smoke when settings.create (core/registration/register.py)."""
    from forge_gui.core.registration.register import register_specs

    return register_specs(settings)


def resume_point(state: RunState, specs: list[StepSpec]) -> int:
    """Index of the first step that has not finished (done or skipped): where a resumed run
    starts. Earlier steps' results are in state.artifacts; a LoRA train step picks up its last
    complete checkpoint by itself."""
    finished = {rec.key for rec in state.record.steps if rec.status in ("done", "skipped")}
    for index, spec in enumerate(specs):
        if spec.key not in finished:
            return index
    return len(specs) - 1


# --- steps ---------------------------------------------------------------------------------

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
        from forge_gui.core.formats.detect import PLAIN, detect

        path = resolve_base(state.settings)
        info = inspect_gguf(path)
        trainer = get_trainer(state.settings.method)
        if info.trainability == "not-a-model" or (
                trainer.needs_f32_base and info.trainability == "quantized"):
            raise StepFailed(f"{path.name} cannot be fine-tuned by {trainer.tool}.",
                             info.explain_for(state.settings.method))
        a = state.artifacts
        a.base_gguf = path
        if not trainer.needs_f32_base:  # LoRA trains the base as it is (no convert step)
            a.train_base_gguf = path
        fmt, why = (detect(info.chat_template, info.bos_token, info.eos_token,
                   info.add_bos_token)
                    if trainer.produces_adapter else
                    (PLAIN, "Full fine-tuning trains Forge's plain-text format."))
        a.chat_format, a.chat_format_note = fmt.key, why
        state.record_note(why)
        progress(ProgressEvent(step="base", message=(
            f"{info.architecture}, {info.parameters / 1e6:.1f}M parameters, "
            f"{info.file_type or '?'}: {info.explain_for(state.settings.method)}")))
        progress(ProgressEvent(step="base", fraction=1.0, message=why))
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
        s, a = state.settings, state.artifacts
        fmt = format_of(a.chat_format, a.base_gguf)
        data_format = get_trainer(s.method).data_format(fmt.chat)
        out = state.run_dir / (PREPARED_CHAT_NAME if data_format.endswith("jsonl")
                               else PREPARED_NAME)
        result = prepare(s.data, out, options=options_cls(field_map=s.field_map),
                         fmt=data_format, val_fraction=s.val_fraction,
                         seed=s.seed, progress=progress, cancel=cancel, chat_format=fmt)
        if fmt.jinja_template:  # the tool renders the conversations with exactly this
            atomic_write_text(state.run_dir / CHAT_TEMPLATE_NAME, fmt.jinja_template)
        a.prepared_train, a.prepared_val = result.out, result.val_out
        a.samples, a.held_out = result.samples, result.held_out
    return _function("prepare", "Prepare the training text", state, work)


def _convert(state: RunState):
    info = inspect_gguf(recorded(state.artifacts.base_gguf, BASE))
    if info.trainability == "ready" or not get_trainer(state.settings.method).needs_f32_base:
        state.artifacts.train_base_gguf = info.path
        return None
    out = state.run_dir / "base-f32.gguf"
    state.artifacts.train_base_gguf = out
    return convert_to_f32_step(tools_for(state), info, out, state.log_path("convert"))


def _train(state: RunState):
    s, a = state.settings, state.artifacts
    trainer = get_trainer(s.method)
    output = state.run_dir / (ADAPTER_NAME if trainer.produces_adapter else TRAINED_NAME)
    if output.exists():  # a retry: never train on top of an old result
        output.unlink()
    result = TrainResult()
    request = TrainRequest(train_text=recorded(a.prepared_train, "prepared training text"),
                           base=inspect_gguf(recorded(a.train_base_gguf, BASE)),
                           output=output, options=train_options(s), tools=tools_for(state),
                           log_path=state.log_path("train"))
    if trainer.produces_adapter:
        from forge_gui.core.llamacpp import lora

        template = state.run_dir / CHAT_TEMPLATE_NAME
        request.chat_template = template if template.is_file() else None
        request.checkpoint_dir = state.run_dir / CHECKPOINTS
        request.resume_from = lora.latest_complete_checkpoint(request.checkpoint_dir)
        request.ctx = a.train_ctx
        a.resumed_from = request.resume_from
        state.save()
    step = trainer.build_step(request, result)
    inner_check = step.check

    def check(code: int) -> None:
        inner_check(code)
        if trainer.produces_adapter:
            a.adapter_file = result.output
        else:
            a.trained_gguf = result.output
        a.train_loss_first = result.train_loss_first
        a.train_loss_last = result.train_loss_last
        a.val_loss_last = result.val_loss_last

    step.check = check
    return step


def _check(state: RunState) -> FunctionStep:
    def work(progress: ProgressCallback, cancel: CancelToken) -> None:
        from forge_gui.core.llamacpp import lora

        a = state.artifacts
        loss = ""
        if a.train_loss_first is not None and a.train_loss_last is not None:
            loss = f"; train loss {a.train_loss_first:.3f} → {a.train_loss_last:.3f}"
        if get_trainer(state.settings.method).produces_adapter:
            got = lora.check_adapter(inspect_gguf(recorded(a.train_base_gguf, BASE)),
                                     recorded(a.adapter_file, "trained adapter"))
            pairs = sum(1 for n in got.tensor_names if n.endswith(".lora_a"))
            progress(ProgressEvent(step="check", fraction=1.0, message=(
                f"LoRA adapter for {got.architecture}: {pairs} layers, "
                f"{human_size(got.size_bytes)}{loss}")))
            return
        got = check_same_model(inspect_gguf(recorded(a.train_base_gguf, BASE)),
                               recorded(a.trained_gguf, TRAINED))
        progress(ProgressEvent(step="check", fraction=1.0, message=(
            f"{got.architecture}, {len(got.tensor_names)} tensors, "
            f"{human_size(got.size_bytes)}{loss}")))
    return _function("check", "Check the trained model", state, work)


def _merge(state: RunState):
    """The adapter into the base (llama-export-lora), unless it reaches Ollama as ADAPTER."""
    from forge_gui.core.registration.register import adapter_route, export_lora_tool, merge_step

    a = state.artifacts
    a.route, why = adapter_route(state)
    state.record_note(why)
    if a.route == "adapter":
        return None
    out = state.run_dir / MERGED_NAME
    out.unlink(missing_ok=True)

    def done(path: Path) -> None:
        a.trained_gguf = path

    return merge_step(export_lora_tool(state.settings.tools_dir),
                      recorded(a.train_base_gguf, BASE), recorded(a.adapter_file, "trained adapter"),
                      out, state.log_path("merge"), done)


def output_type(settings: RunSettings, base_path: Path) -> str:
    """The llama-quantize type of the output: "auto" is the base's own type for LoRA (a
    Q4_K_M base gives a Q4_K_M model) and Q8_0 for full fine-tuning (near-lossless)."""
    qtype = (settings.quantize or "F32").upper()
    if qtype != "AUTO":
        return qtype
    if settings.method != "lora":
        return "Q8_0"
    file_type = inspect_gguf(base_path).file_type or ""
    name = file_type.removeprefix("MOSTLY_").removeprefix("ALL_")
    return name if name and not name.startswith("GUESSED") else "Q8_0"


def context_fix(state: RunState) -> list[str]:
    """llama-finetune saves its training context as the model's context length (e.g. 512 for a
    base made for 128k); put the base's value back while quantizing."""
    a = state.artifacts
    base = inspect_gguf(recorded(a.train_base_gguf, BASE))
    trained = inspect_gguf(recorded(a.trained_gguf, TRAINED))
    if base.context_length and trained.context_length != base.context_length:
        return [f"{base.architecture}.context_length=int:{base.context_length}"]
    return []


def _quantize(state: RunState):
    a = state.artifacts
    if a.route == "adapter":  # the base stays as it is; Ollama applies the adapter
        a.output_gguf = None
        return None
    qtype = output_type(state.settings, recorded(a.base_gguf or a.train_base_gguf, BASE))
    overrides = context_fix(state)
    trained = recorded(a.trained_gguf, TRAINED)
    weights = set(inspect_gguf(trained).tensor_types) - {"F32"}
    if (weights <= {qtype} or (qtype == "F32" and not weights)) and not overrides:
        a.output_gguf = trained  # already that type (e.g. an F16 base merged)
        return None
    out = state.run_dir / f"model-{qtype}.gguf"
    a.output_gguf = out
    # A merge into a quantized base holds that base's quantized tensors: they are copied as
    # they are, only the merged (F16) ones are quantized, but the tool wants the flag.
    return quantize_step(tools_for(state), trained, out, qtype, "quantize",
                         f"Quantize to {qtype}", state.log_path("quantize"),
                         allow_requantize=bool(weights - {"F16", "BF16"}),
                         overrides=overrides)


def smoke_prompt_text(settings: RunSettings, chat_format: str | None = None,
                      base: Path | None = None) -> str:
    """The smoke prompt rendered in the training format, up to where the answer starts."""
    messages = [("system", settings.system)] if settings.system else []
    return format_of(chat_format, base).prompt([*messages, ("user", settings.smoke_prompt)])


def _completion(state: RunState) -> FunctionStep:
    a = state.artifacts
    result = SmokeResult()
    fmt = format_of(a.chat_format, a.base_gguf)
    tools, prompt = tools_for(state), smoke_prompt_text(state.settings, fmt.key, a.base_gguf)
    # ADAPTER route: no merged file; the base runs with the adapter applied at load.
    model, lora_file = ((recorded(a.base_gguf, BASE), a.adapter_file) if a.route == "adapter"
                        else (recorded(a.output_gguf, "model to try"), None))
    step = smoke_step(tools, model, prompt, result, state.settings.seed,
                      log=state.log_path("completion"), stop=fmt.stop_marker, lora=lora_file)
    record_argv(state, "completion", smoke_argv(tools, model, prompt, state.settings.seed,
                                                SMOKE_TOKENS, fmt.stop_marker, lora_file))
    inner = step.run

    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        inner(progress, cancel)
        state.artifacts.completion_answer = result.answer
        state.artifacts.completion_tokens = result.tokens

    step.run = run
    return step


def write_script(settings: RunSettings, path: Path, workdir: Path | None = None) -> Path:
    """Write a bash script doing this run with the same tools (core/pipeline/script.py).

    Raises StepFailed when the base or the tools are not usable, or the file exists."""
    from forge_gui.core.base import paths
    from forge_gui.core.ollama.modelfile import Modelfile, ModelfileError, render_modelfile
    from forge_gui.core.pipeline.script import final_name, render_script
    from forge_gui.core.runs.run import _slug

    path = Path(path)
    if path.exists():
        raise StepFailed(f"{path} already exists; choose a new file name for the script.")
    from forge_gui.core.formats.detect import PLAIN, detect
    from forge_gui.core.pipeline.script import script_tools

    base = resolve_base(settings)
    info = inspect_gguf(base)
    lora = settings.method == "lora"
    if info.trainability == "not-a-model" or (not lora and info.trainability == "quantized"):
        raise StepFailed(f"{base.name} cannot be fine-tuned.", info.explain_for(settings.method))
    tools = find_tools(settings.tools_dir)
    for name in script_tools(settings.method):
        tools.path(name)
    out_dir = Path(workdir or paths.runs_dir() / f"script-{_slug(settings.name)}").resolve()
    fmt = detect(info.chat_template, info.bos_token, info.eos_token,
                   info.add_bos_token)[0] if lora else PLAIN
    override = lora_qtype = None
    if lora:  # the merge holds the base's types, merged tensors F16 (docs/training.md)
        qtype = output_type(settings, base)
        merged = (set(info.tensor_types) - {"F32"}) | ({"F16"} if info.tensor_types.keys()
                                                       - {"F32", "F16"} else set())
        lora_qtype = None if merged <= {qtype} else qtype
    elif info.context_length:
        override = f"{info.architecture}.context_length=int:{info.context_length}"
    final = final_name(settings, override, lora_qtype)
    try:
        modelfile = render_modelfile(Modelfile(
            from_=f"./{final}", template=fmt.go_template, system=settings.system,
            parameters=fmt.stop_parameters() + list(settings.parameters.items())))
    except ModelfileError as exc:
        raise StepFailed(str(exc)) from exc
    text = render_script(settings, base, tools, out_dir, info.trainability == "convert" and not lora,
                         modelfile, smoke_prompt_text(settings, fmt.key, base), override, info,
                         fmt,
                         lora_qtype)
    atomic_write_text(path, text)
    path.chmod(0o755)
    return path
