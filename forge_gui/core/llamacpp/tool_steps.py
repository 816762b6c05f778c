"""The llama.cpp steps around training: F32 conversion, token preflight, quantize, smoke prompt."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psutil

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.process import capture, describe_exit
from forge_gui.core.base.steps import (
    CancelToken,
    FunctionStep,
    ProcessStep,
    ProgressCallback,
    StepFailed,
)
from forge_gui.core.formats.chat_format import PLAIN
from forge_gui.core.llamacpp.discover import ToolSet
from forge_gui.core.llamacpp.gguf_info import GGUFInfo, check_output, human_size

# A file name for each llama-quantize type Forge offers (any type the tool knows also works).
COMMON_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M")
# llama.cpp pads every context to a multiple of 256. llama-finetune trains correctly only when
# -c = -b = -ub equals that padded context (else "the K and V projections will not receive
# gradients"), so training contexts are multiples of 256.
CTX_STEP = 256
SMOKE_TOKENS = 48  # enough for a sentence; the try must stay quick


def _gguf_check(path: Path, what: str, log: Path | None):
    """The check of a step that writes a GGUF: a failed, missing or cut-short file is
    removed and said in one sentence (gguf_info.check_output)."""
    def check(code: int) -> None:
        check_output(path, what, code, f"The tool's output is in {log}." if log else None)
    return check


def quantize_step(tools: ToolSet, source: Path, out: Path, qtype: str, key: str, label: str,
                  log: Path | None = None, allow_requantize: bool = False,
                  overrides: list[str] | None = None) -> ProcessStep:
    """llama-quantize SOURCE OUT TYPE; `overrides` are KEY=TYPE:VALUE metadata fixes."""
    argv = [str(tools.path("llama-quantize"))]
    if allow_requantize:
        argv.append("--allow-requantize")
    for override in overrides or []:
        argv += ["--override-kv", override]
    argv += [str(source), str(out), qtype]
    return ProcessStep(key=key, label=label, argv=argv, cwd=out.parent, outputs=[out],
                       parse_line=_quantize_progress(key), check=_gguf_check(out, label, log),
                       log_path=log)


_QUANT_LINE = re.compile(r"\[\s*(\d+)/\s*(\d+)\]")


def _quantize_progress(key: str):
    def parse(line: str) -> ProgressEvent | None:
        m = _QUANT_LINE.search(line)
        if not m:
            return None
        return ProgressEvent(step=key, fraction=int(m.group(1)) / max(1, int(m.group(2))))
    return parse


def convert_to_f32_step(tools: ToolSet, base: GGUFInfo, out: Path, log: Path | None) -> ProcessStep:
    """F16/BF16 -> F32 is lossless; llama-finetune only trains F32 tensors."""
    if base.trainability == "quantized":
        raise StepFailed(f"{base.path.name} cannot be fine-tuned as it is.",
                         base.explain_trainability())
    return quantize_step(tools, base.path, out, "F32", "convert",
                         f"Convert the base to F32 ({human_size(base.f32_bytes)})", log)


# --- preflight ----------------------------------------------------------------------------

def tokenize_argv(tools: ToolSet, model: Path, text: Path) -> list[str]:
    return [str(tools.path("llama-tokenize")), "-m", str(model), "-f", str(text), "--ids",
            "--show-count", "--no-escape", "--log-disable"]


def count_tokens(tools: ToolSet, model: Path, text: Path, cancel: CancelToken | None = None) -> int:
    """Exact token count of `text` with the model's own vocabulary (llama-tokenize loads only
    the vocabulary). Special tokens are not parsed and a BOS is added, as llama-finetune does."""
    argv = tokenize_argv(tools, model, text)
    try:
        done = capture(argv, cancel=cancel)
    except OSError as exc:
        raise StepFailed(f"Could not start llama-tokenize: {exc.strerror or exc}",
                         "Run 'forge-cli doctor' to see which tools are found.") from exc
    m = re.search(rb"Total number of tokens:\s*(\d+)", done.stdout)
    if not done.ok or not m:
        tail = done.stderr_text.strip().splitlines()[-3:]
        raise StepFailed("llama-tokenize could not count the tokens of the training text "
                         f"({done.describe()}).", " ".join(tail) or None)
    return int(m.group(1))


def lora_ctx(ctx: int) -> int:
    """A LoRA window: Forge's patched trainer packs conversations into windows of any
    multiple of 64 (core/llamacpp/packing.py); llama-finetune's 256 rule does not apply."""
    from forge_gui.core.llamacpp.packing import round_ctx

    return round_ctx(ctx)


def training_ctx(ctx: int) -> int:
    """The context llama-finetune really uses: `ctx` rounded up to a multiple of 256."""
    return max(CTX_STEP, -(-ctx // CTX_STEP) * CTX_STEP)


def training_windows(tokens: int, ctx: int) -> int:
    """Windows llama-finetune cuts the text into: (tokens - ctx - 1) / (ctx / 2) (docs/training.md)."""
    ctx = training_ctx(ctx)
    stride = ctx // 2
    return max(0, (tokens - ctx - 1) // stride)


def train_windows(tokens: int, ctx: int, val_split: float) -> int:
    return int(training_windows(tokens, ctx) * (1.0 - val_split))


def suggest_ctx(tokens: int, val_split: float, wanted_windows: int = 8,
                min_train: int = 1) -> int | None:
    """The largest power-of-two context giving `wanted_windows` training windows, else the
    largest giving `min_train`; None when even the smallest context leaves nothing to train."""
    for wanted in (max(wanted_windows, min_train), min_train):
        ctx = 1 << 20
        while ctx >= CTX_STEP:
            if train_windows(tokens, ctx, val_split) >= wanted:
                return ctx
            ctx //= 2
    return None


def check_memory(base: GGUFInfo, ctx: int, progress: ProgressCallback, step: str,
                 need: int | None = None) -> int:
    """Refuse when training needs more than this computer's RAM; `need` defaults to the full
    fine-tuning estimate (LoRA passes its own, core/llamacpp/lora.py)."""
    need = need if need is not None else base.training_memory_bytes(ctx)
    mem = psutil.virtual_memory()
    if need > mem.total:
        raise StepFailed(f"Training this model needs about {human_size(need)} of memory; this "
                         f"computer has {human_size(mem.total)}.",
                         "Choose a smaller base model or a shorter context.")
    note = (f"Estimated training memory {human_size(need)} "
            f"({human_size(mem.available)} free of {human_size(mem.total)})")
    if need > mem.available:
        note += " — close other programs first, or training may swap"
    progress(ProgressEvent(step=step, message=note))
    return need


# --- smoke prompt -------------------------------------------------------------------------

@dataclass
class SmokeResult:
    answer: str = ""
    tokens: int | None = None  # tokens generated, from llama-completion's timing report


def smoke_argv(tools: ToolSet, model: Path, prompt: str, seed: int, n_predict: int,
               stop: str | None = None, lora: Path | None = None) -> list[str]:
    """llama-completion with the prompt in the training format; `stop` ends the answer where
    the training text ends a turn; `lora` applies an adapter at load (no merged file)."""
    argv = [str(tools.path("llama-completion")), "-m", str(model), "-p", prompt,
            "-n", str(n_predict), "--temp", "0", "--seed", str(seed), "-no-cnv",
            "--no-display-prompt", "-r", stop or STOP_MARKER, "-c", "1024"]
    if lora is not None:
        argv += ["--lora", str(lora)]
    return argv


def smoke_step(tools: ToolSet, model: Path, prompt: str, result: SmokeResult, seed: int,
               n_predict: int = SMOKE_TOKENS, log: Path | None = None, stop: str | None = None,
               lora: Path | None = None) -> FunctionStep:
    """One prompt in the training format through llama-completion. A FunctionStep, not a
    ProcessStep: the answer is on stdout and the tool's log on stderr, and front ends merge
    the two for process steps."""
    argv = smoke_argv(tools, model, prompt, seed, n_predict, stop, lora)

    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        progress(ProgressEvent(step="completion", message="Generating an answer"))
        code, out, err = run_capture(argv, cancel, log)
        if code != 0:
            raise StepFailed(f"llama-completion could not run the model ({describe_exit(code)}).",
                             f"The tool's output is in {log}." if log else None)
        result.answer = extract_answer(out, stop or STOP_MARKER)
        m = _EVAL_RUNS.search(err)
        result.tokens = int(m.group(1)) + 1 if m else None  # + the token of the prompt pass
        progress(ProgressEvent(step="completion", fraction=1.0, message=f"Answer: {result.answer!r}"))

    return FunctionStep(key="completion", label="Try one prompt (llama-completion)", run=run,
                        log_path=log)


STOP_MARKER = PLAIN.stop_marker  # core/chat_format.py: the format is defined there
_EVAL_RUNS = re.compile(r"eval time =.*?/\s*(\d+) runs")


def run_capture(argv: list[str], cancel: CancelToken, log: Path | None) -> tuple[int, str, str]:
    """Run a short tool, stdout kept apart from stderr (written to `log` too), stopping its
    tree on cancel: (exit code, stdout, stderr)."""
    try:
        done = capture(argv, cancel=cancel, stderr_path=log)
    except OSError as exc:
        raise StepFailed(f"Could not start {Path(argv[0]).name}: {exc.strerror or exc}",
                         "Run 'forge-cli doctor' to see which tools are found.") from exc
    return done.returncode, done.stdout_text, done.stderr_text


def extract_answer(output: str, stop: str = STOP_MARKER) -> str:
    """The generated text without the end marker and whatever follows the stop marker."""
    text = output.replace("[end of text]", "")
    cut = text.find(stop)
    return (text[:cut] if cut >= 0 else text).strip()
