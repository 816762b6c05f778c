"""How a fine-tune reaches Ollama (docs/ollama.md, "Adapters"): the resolve step (what was
given, the base, the route) and the merge step (llama-export-lora BASE + ADAPTER).

Routes: "from-file" (a whole-model GGUF), "adapter" (FROM the base, the LoRA as ADAPTER; Ollama
0.30+ for GGUF adapters) or "merge" (merged into the base first; every Ollama version).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import CancelToken, FunctionStep, ProcessStep, ProgressCallback, StepFailed
from forge_gui.core.llamacpp.gguf_info import check_output, inspect_gguf
from forge_gui.core.ollama.client import OllamaClient, OllamaError, runs_gguf_adapters
from forge_gui.core.ollama.resolve import Resolved, check_adapter_matches, choose_route, resolve_output
from forge_gui.core.ollama.store import resolve_base_gguf
from forge_gui.core.runs.run import RunSettings, RunState

log = logging.getLogger(__name__)

MERGED_NAME = "merged.gguf"
PEFT_GGUF_NAME = "adapter-from-peft.gguf"


def client_for(settings: RunSettings) -> OllamaClient:
    return OllamaClient(settings.ollama_host)


def server_version(settings: RunSettings) -> str | None:
    """Ollama's version, or None when it cannot be reached (the caller says what follows)."""
    try:
        with client_for(settings) as client:
            return client.version()
    except OllamaError as exc:
        log.info("Ollama's version is unknown: %s", exc)
        return None


def base_gguf(state: RunState) -> Path:
    s, a = state.settings, state.artifacts
    if a.base_gguf:
        return a.base_gguf
    if s.base_gguf:
        return s.base_gguf
    if s.base:
        return resolve_base_gguf(s.base)
    raise StepFailed("An adapter needs the base model it was trained on.",
                     "Pass --base with an Ollama model name or a GGUF file.")


def export_lora_tool(tools_dir: Path | None) -> Path:
    """llama-export-lora through the llama.cpp tool discovery (configured, bundled, PATH, cache)."""
    from forge_gui.core.llamacpp.discover import locate

    found = locate("llama-export-lora", tools_dir)
    if found:
        return Path(found[1])
    raise StepFailed("llama-export-lora was not found; it is needed to merge the adapter.",
                     "Run 'forge-cli setup-llama-cpp' to build the llama.cpp tools.")


def build_resolve(state: RunState) -> FunctionStep:
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
        base = base_gguf(state)
        if resolved.kind == "peft":  # a GGUF LoRA from here on (docs/ollama.md, "PEFT")
            resolved = convert_peft(state, resolved, base, progress)
        check_adapter_matches(resolved, base)
        a.base_gguf = base
        version = server_version(s)
        arch = inspect_gguf(base).architecture
        route, why = choose_route(resolved, version, s.use_adapter, arch)
        a.route = route
        state.save()
        progress(ProgressEvent(step="resolve", message=why))

    return FunctionStep("resolve", "Check the adapter and the base", run,
                        log_path=state.log_path("resolve"))


def convert_peft(state: RunState, peft: Resolved, base: Path,
                 progress: ProgressCallback) -> Resolved:
    """The PEFT folder as a GGUF LoRA for the base (run_dir/PEFT_GGUF_NAME), without torch; the
    model then gets the base's own chat template (the adapter was trained in it)."""
    from forge_gui.core.peft.convert import convert

    arch = inspect_gguf(base).architecture
    out = state.run_dir / PEFT_GGUF_NAME
    progress(ProgressEvent(step="resolve", message=f"Converting the PEFT adapter to a GGUF LoRA "
                                                   f"for the {arch} base"))
    convert(peft.path, base, out)
    a = state.artifacts
    a.adapter_file, a.template_from_base = out, True
    state.save()
    return Resolved(kind="gguf-lora", path=out, architecture=arch,
                    note=f"converted {peft.path.name} to {out.name}")


def merge_step(tool: Path, base: Path, adapter: Path, out: Path, log: Path | None = None,
               on_done: Callable[[Path], None] | None = None) -> ProcessStep:
    """llama-export-lora BASE + ADAPTER -> OUT; the check proves OUT is a whole-model GGUF."""
    def check(code: int) -> None:
        hint = f"The tool's output is in {log}." if log else None
        info = check_output(out, "llama-export-lora", code, hint)  # a cut-short file is removed
        if info.general_type != "model":
            raise StepFailed(f"llama-export-lora wrote {out.name}, but it is not a model.", hint)
        if on_done:
            on_done(out)

    argv = [str(tool), "-m", str(base), "--lora", str(adapter), "-o", str(out)]
    return ProcessStep(key="merge", label="Merge the adapter into the base (llama-export-lora)",
                       argv=argv, cwd=out.parent, outputs=[out], check=check, log_path=log)


def merge_for(state: RunState) -> ProcessStep:
    """The merge step of this run: its adapter into its base, as run_dir/merged.gguf."""
    a = state.artifacts

    def done(out: Path) -> None:
        a.output_gguf = out

    return merge_step(export_lora_tool(state.settings.tools_dir), base_gguf(state),
                      a.adapter_file, state.run_dir / MERGED_NAME,  # type: ignore[arg-type]
                      state.log_path("merge"), done)


def adapter_route(state: RunState) -> tuple[str, str]:
    """How a trained GGUF LoRA reaches Ollama: ("adapter" | "merge", why). ADAPTER only when
    asked for and the server runs GGUF adapters (0.30+); merging works everywhere."""
    s = state.settings
    if not s.use_adapter:
        return "merge", ("The adapter is merged into the base with llama-export-lora (works on "
                         "every Ollama version).")
    version = server_version(s) if s.create else None
    if version and runs_gguf_adapters(version):
        return "adapter", (f"Ollama {version} runs GGUF adapters: the model is created FROM "
                           "the base with the adapter as ADAPTER (no second copy of the base).")
    why = (f"Ollama {version} is older than 0.30 and cannot run a GGUF adapter" if version else
           "Ollama was not reached (or --no-create) to check that it runs adapters")
    return "merge", f"{why}, so the adapter is merged into the base instead."


def build_merge(state: RunState) -> ProcessStep | None:
    return merge_for(state) if state.artifacts.route == "merge" else None
