"""The GUI's one doorway into core: every call the pages make to the data, llama.cpp and
Ollama cores goes through here. Imports are lazy, inside each function, so start-up stays
light: gguf, numpy and httpx load when first needed.

Everything here may block: pages call it through gui/tasks.BackgroundTask, never on the UI
thread (except the cheap name check).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

# -- data ----------------------------------------------------------------------------------

def validate(paths: list[Path], field_map: dict[str, str], progress=None, cancel=None):
    from forge_gui.core import data
    options = data.ValidationOptions(field_map=field_map)
    return data.validate_paths(list(paths), options, progress=progress, cancel=cancel)


def preview(paths: list[Path], field_map: dict[str, str], limit: int = 3) -> list[tuple]:
    """The first valid records' turns ((role, content, input), …), for render_preview."""
    from forge_gui.core import data
    options = data.ValidationOptions(field_map=field_map)
    convs = itertools.islice(data.iter_conversations(list(paths), options), limit)
    return [tuple((t.role, t.content, t.input) for t in conv.turns) for conv in convs]


_DETECTED: dict = {}  # format key -> the format last detected for a base (its template)


def training_format(key: str):
    """The ChatFormat of a key the Data page got from core: the base's own template as last
    detected (training_format_for), or one of Forge's fixed formats."""
    from forge_gui.core.formats.chat_format import FORMATS
    return _DETECTED.get(key) or FORMATS[key]


def render_preview(records: list[tuple], chat_format: str = "plain") -> str:
    """Records rendered exactly as the trainer will see them, in the run's training format."""
    from forge_gui.core.formats.chat_format import messages_of
    fmt = training_format(chat_format)
    if fmt.key == "template":  # the base's own template: the text exactly as trained
        return "\n\n".join(fmt.render_turns(turns) for turns in records)
    if fmt.chat:  # one conversation a sample, the template's own separators
        return "\n\n".join(fmt.render(messages_of(turns)) for turns in records)
    from forge_gui.core.data.render import SAMPLE_SEPARATOR, render_turns
    return SAMPLE_SEPARATOR.join(render_turns(turns) for turns in records)


def training_format_for(info, method: str = "lora") -> tuple[str, str]:
    """(format key, the sentence saying why) a base is trained in (core/formats/chat_format.py)."""
    from forge_gui.core.formats.detect import PLAIN, detect
    if method != "lora":
        return PLAIN.key, "Full fine-tuning trains Forge's plain-text format."
    fmt, why = (detect(info.chat_template, info.bos_token, info.eos_token,
                   info.add_bos_token) if info is not None
                else detect(None))
    _DETECTED[fmt.key] = fmt  # the preview renders with the base's own template
    return fmt.key, why


def read_source_line(file: str | Path, line: int, limit: int = 20_000) -> str:
    """The raw text of one line of an input file (for the error table's double-click)."""
    with open(file, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == line:
                text = raw[:limit].decode("utf-8", errors="replace").rstrip("\r\n")
                return text + (" …(cut)" if len(raw) > limit else "")
    return ""


# -- base model ----------------------------------------------------------------------------

def ollama_host(configured: str | None) -> str:
    """The address the host box starts with: core's reading (--host, OLLAMA_HOST, local)."""
    from forge_gui.core.ollama.client import configured_host
    return configured_host(configured)


def list_ollama_models(host: str) -> list[str]:
    from forge_gui.core.ollama.client import OllamaClient
    models = OllamaClient(host).list_models()
    names = (model.get("name") or model.get("model") for model in models)
    return sorted(n for n in names if n)


def resolve_base(name: str) -> Path:
    from forge_gui.core.ollama import store
    return Path(store.resolve_base_gguf(name))


def inspect_gguf(path: Path):
    from forge_gui.core.llamacpp import gguf_info
    return gguf_info.inspect_gguf(Path(path))


def human_size(n: float) -> str:
    from forge_gui.core.llamacpp import gguf_info
    return gguf_info.human_size(n)


# -- trainer -------------------------------------------------------------------------------

def find_tools(configured: Path | None) -> Any:
    from forge_gui.core.llamacpp import discover
    return discover.find_tools(configured)


def ensure_tools(progress=None, cancel=None) -> Path:
    from forge_gui.core.llamacpp import build
    return build.ensure_tools(progress=progress, cancel=cancel)


def detect_gpus() -> list:
    from forge_gui.core.llamacpp import gpu
    return gpu.detect_gpus()


def ensure_gpu_tools(gpu_backend: str, progress=None, cancel=None) -> Path:
    """Build (once) the tools for a GPU backend: "cuda" or "vulkan" (docs/gpu.md)."""
    from forge_gui.core.llamacpp import build
    return build.ensure_tools(cuda=gpu_backend == "cuda", vulkan=gpu_backend == "vulkan",
                              progress=progress, cancel=cancel)


# -- name and run --------------------------------------------------------------------------

def validate_model_name(name: str) -> str | None:
    from forge_gui.core.base import model_names as names
    return names.validate_model_name(name)


def same_model(a: str, b: str) -> bool:
    """Ollama's view: 'x' and 'x:latest' are one model, and so are 'X' and 'x'."""
    from forge_gui.core.base.model_names import model_key
    return model_key(a) == model_key(b)


def finish_command(name: str, modelfile: Path) -> str:
    """The command that registers a model by hand, quoted as forge-cli prints it."""
    from forge_gui.core.registration.register import finish_command as command
    return command(name, Path(modelfile))


def pipeline_specs(settings) -> list:
    from forge_gui.core.pipeline import train_pipeline
    return train_pipeline.train_specs(settings)


def write_script(settings, path: Path) -> None:
    from forge_gui.core.pipeline import train_pipeline
    train_pipeline.write_script(settings, Path(path))


def generate(host: str, model: str, prompt: str) -> str:
    from forge_gui.core.ollama import client
    return client.OllamaClient(host).generate(model, prompt)


def default_lora_modules() -> str:
    from forge_gui.core.runs.run import LORA_MODULES
    return LORA_MODULES


def training_memory(info, ctx: int, rank: int, modules: str) -> dict[str, int | None]:
    """{"lora": bytes, "full": bytes or None when full fine-tuning cannot train it}."""
    from forge_gui.core.base.lora_modules import parse_modules
    from forge_gui.core.llamacpp import lora

    try:
        names = parse_modules(modules)
    except ValueError:  # the page shows core's sentence; the estimate uses the default layers
        names = parse_modules(default_lora_modules())
    full = None if info.trainability == "quantized" else info.training_memory_bytes(ctx)
    return {"lora": lora.training_memory_bytes(info, ctx, names, rank), "full": full}


def settings_problems(values: dict) -> list[str]:
    """core's sentence for each of these run settings it refuses (forge-cli says the same)."""
    from forge_gui.core.runs.rules import setting_problems
    return setting_problems(values)


def setting_ranges() -> dict[str, Any]:
    """The ranges core's rules allow, for the spin boxes (core/runs/run.py)."""
    from forge_gui.core.runs import rules
    return {"ctx_step": rules.CTX_STEP, "ctx_max": rules.CTX_MAX, "epochs_max": rules.EPOCHS_MAX,
            "lora_rank": rules.LORA_RANK_RANGE, "lora_alpha": rules.LORA_ALPHA_RANGE}


def preflight(values: dict, progress=None, cancel=None):
    """The token-exact preflight the run itself does (core/pipeline/preflight_run.py), for the settings the
    pages hold so far (the name comes later: a placeholder). Raises core's SettingsError or
    StepFailed; returns a PreflightResult."""
    from forge_gui.core.pipeline.preflight_run import PLACEHOLDER_NAME, run_preflight
    from forge_gui.core.runs.run import RunSettings

    settings = RunSettings.checked(**{"name": PLACEHOLDER_NAME, **values})
    return run_preflight(settings, progress, cancel)


# --- runs and evaluation (core/runs/runs_index.py, core/evaluation/evaluate.py) ----------------------------

def list_runs(root: Path | None = None) -> list:
    from forge_gui.core.runs import runs_index
    return runs_index.list_runs(root)


def delete_run(run_dir: Path) -> None:
    from forge_gui.core.runs import runs_index
    runs_index.delete_run(Path(run_dir))


def run_loss_points(run_dir: Path, epochs: int | None = None):
    from forge_gui.core.evaluation.loss_curve import loss_points
    return loss_points(Path(run_dir), epochs)


def run_settings(run_dir: Path):
    """The RunSettings of a run folder (its run.json)."""
    from forge_gui.core.runs.run import RunState
    return RunState.load(Path(run_dir)).settings


def load_evaluation(run_dir: Path, artifacts=None):
    from forge_gui.core.evaluation import evaluate
    return evaluate.load_evaluation(Path(run_dir), artifacts)


def register_again(run_dir: Path, name: str, progress=None, cancel=None):
    from forge_gui.core.pipeline import register_again as again
    return again.register_again(Path(run_dir), name, progress, cancel)


def resume(run_dir: Path):
    """(specs, state, index of the first unfinished step) of a run folder, for the Run page."""
    from forge_gui.core.pipeline import train_pipeline
    from forge_gui.core.runs.run import RunState

    state = RunState.load(run_dir)
    if state.record.status == "done":
        raise ValueError(f"the run in {run_dir} has already finished")
    specs = train_pipeline.train_specs(state.settings)
    return specs, state, train_pipeline.resume_point(state, specs)


def export_job(values: dict, hf_base: str, out_dir: Path, progress=None, cancel=None):
    """The wizard's settings as an Axolotl job folder for a GPU host (core/export/job.py)."""
    from forge_gui.commands.export import default_name
    from forge_gui.core.export.job import ExportSettings, write_job
    from forge_gui.core.runs.run import LORA_LR

    settings = ExportSettings(
        data=list(values.get("data") or []), hf_base=hf_base.strip(),
        name=default_name(hf_base), base=values.get("base"), base_gguf=values.get("base_gguf"),
        field_map=values.get("field_map") or {}, lora_rank=values.get("lora_rank", 16),
        lora_alpha=values.get("lora_alpha", 32.0),
        lora_modules=values.get("lora_modules") or default_lora_modules(),
        learning_rate=LORA_LR if values.get("method") != "lora" else
        values.get("learning_rate") or LORA_LR, epochs=values.get("epochs", 2),
        ctx=values.get("ctx", 2048), val_fraction=values.get("val_fraction", 0.0),
        seed=values.get("seed", 42))
    return write_job(settings, out_dir, progress, cancel)
