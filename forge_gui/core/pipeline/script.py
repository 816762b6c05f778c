"""`forge-cli train --write-script FILE`: the same run as a bash script, with the same tools.

The script holds its inputs in variables (BASE_GGUF=, OUT_DIR=, …) and every other argument
quoted with shlex.quote, so any file name (spaces, quotes, $(), backticks) comes through as it
is. Argument lists come from the same builders the pipeline uses, so the script and forge-cli
run the same commands.
"""

from __future__ import annotations

import datetime as _dt
import json
import shlex
import sys
from pathlib import Path

from forge_gui import __version__
from forge_gui.core.base import paths
from forge_gui.core.llamacpp.discover import ToolInfo, ToolSet
from forge_gui.core.llamacpp.gguf_info import GGUFInfo
from forge_gui.core.llamacpp.tool_steps import smoke_argv, tokenize_argv, training_ctx
from forge_gui.core.llamacpp.trainer import TrainRequest, get_trainer
from forge_gui.core.pipeline.train_options import train_options
from forge_gui.core.runs.run import RunSettings

# Placeholders put into argv by the builders, turned into shell variables when rendered.
_TOOL_VARS = {"llama-finetune": "LLAMA_FINETUNE", "llama-finetune-lora": "LLAMA_FINETUNE_LORA",
              "llama-export-lora": "LLAMA_EXPORT_LORA", "llama-quantize": "LLAMA_QUANTIZE",
              "llama-tokenize": "LLAMA_TOKENIZE", "llama-completion": "LLAMA_COMPLETION"}
_VARS = {"@@TRAIN_BASE@@": "TRAIN_BASE", "@@BASE_GGUF@@": "BASE_GGUF", "@@OUT@@": "OUT_DIR",
         **{f"@@{name}@@": var for name, var in _TOOL_VARS.items()}}
_OUT = "@@OUT@@/"


def shell_word(arg: str) -> str:
    """One argument as bash reads it back exactly; placeholders become "$VAR"."""
    if arg in _VARS:
        return f'"${_VARS[arg]}"'
    if arg.startswith(_OUT):
        return f'"$OUT_DIR"/{shlex.quote(arg[len(_OUT):])}'
    return shlex.quote(arg)


def shell_line(argv: list[str]) -> str:
    return " ".join(shell_word(a) for a in argv)


def _placeholder_tools() -> ToolSet:
    return ToolSet(tools={name: ToolInfo(name=name, path=Path(f"@@{name}@@"))
                          for name in _TOOL_VARS})


def script_tools(method: str) -> tuple[str, ...]:
    """The tools a script for this method runs (they must be usable when it is written)."""
    first = ("llama-finetune-lora", "llama-export-lora") if method == "lora" else (
        "llama-finetune",)
    return (*first, "llama-quantize", "llama-tokenize", "llama-completion")


def _comment(label: str, value: object) -> str:
    # json.dumps keeps a hostile value on one line (no newline can end the comment early)
    return f"# {label:<8} {json.dumps(value, ensure_ascii=False)}"


def _qtype(settings: RunSettings) -> str:
    qtype = (settings.quantize or "F32").upper()
    return "Q8_0" if qtype == "AUTO" else qtype  # scripts are full fine-tunes (Q8_0 default)


def forge_command() -> list[str]:
    if paths.is_frozen():
        return [sys.executable]
    return [sys.executable, "-m", "forge_gui.cli"]


def final_name(settings: RunSettings, context_override: str | None,
               lora_qtype: str | None = None) -> str:
    """The file Ollama gets. LoRA: the merge, or its quantized copy when `lora_qtype` (the
    output type, when it differs from what the merge holds) is set."""
    if settings.method == "lora":
        return f"model-{lora_qtype}.gguf" if lora_qtype else "merged.gguf"
    qtype = _qtype(settings)
    return f"model-{qtype}.gguf" if qtype != "F32" or context_override else "trained-f32.gguf"


def render_script(settings: RunSettings, base_gguf: Path, tools: ToolSet, out_dir: Path,
                  convert: bool, modelfile_text: str, smoke_prompt: str,
                  context_override: str | None = None, base: GGUFInfo | None = None,
                  chat_format=None, lora_qtype: str | None = None) -> str:
    """The bash script for one run. `modelfile_text` refers to the model as ./FILE.
    `context_override` (KEY=int:N) restores the base's context length while quantizing.
    LoRA runs also take the base's info (its weight types), the chat format and the output
    type when the merge must be quantized."""
    s = settings
    lora = s.method == "lora"
    final = final_name(s, context_override, lora_qtype)
    chat = bool(chat_format is not None and chat_format.chat)
    # LoRA reads pre-rendered segments in the base's format (docs/training.md, "How the trainer
    # is fed"); the full fine-tune reads plain text
    data_name = "train.jsonl" if lora else "train.txt"
    trained = "adapter.gguf" if lora else "trained-f32.gguf"
    outputs = [data_name, trained] + (["merged.gguf"] if lora else [])
    outputs += [final] if final not in outputs else []
    lines = [
        "#!/usr/bin/env bash",
        f"# Forge training run, written by forge-cli {__version__} on "
        f"{_dt.datetime.now().astimezone().isoformat(timespec='seconds')}.",
        "# The same steps as 'forge-cli train-run', with the same llama.cpp tools.",
        _comment("Data:", [str(p) for p in s.data]),
        _comment("Base:", s.base or str(base_gguf)),
        _comment("Name:", s.name),
        _comment("Outputs:", [str(out_dir / o) for o in outputs + ["Modelfile"]]),
        "set -euo pipefail",
        "",
        f"BASE_GGUF={shlex.quote(str(base_gguf))}",
        f"OUT_DIR={shlex.quote(str(out_dir))}",
        f"MODEL_NAME={shlex.quote(s.name)}",
        f"FORGE=({' '.join(shlex.quote(a) for a in forge_command())})",
    ]
    for name in script_tools(s.method):
        lines.append(f"{_TOOL_VARS[name]}={shlex.quote(str(tools.path(name)))}")
    ctx = training_ctx(s.ctx)
    min_tokens = ctx + 1 + ctx // 2
    lines += [
        "",
        'if [ -e "$OUT_DIR" ] && [ -n "$(ls -A "$OUT_DIR")" ]; then',
        '  echo "$OUT_DIR is not empty; choose a new folder (OUT_DIR=...)." >&2',
        "  exit 1",
        "fi",
        'mkdir -p "$OUT_DIR"',
        "",
        'echo "==> Prepare the training text"',
    ]
    trainer = get_trainer(s.method)
    prepare = ["prepare-training-data", "-o", _OUT + data_name,
               "--format", trainer.data_format(chat),
               "--val-fraction", f"{s.val_fraction:g}", "--seed", str(s.seed)]
    if s.field_map:
        prepare += ["--map", ",".join(f"{k}={v}" for k, v in s.field_map.items())]
    if lora:  # the base's own format, read from the base GGUF as the run does
        prepare += ["--base-gguf", "@@BASE_GGUF@@"]
    prepare += ["--", *[str(p) for p in s.data]]  # "--": a data path may start with "-"
    lines.append('"${FORGE[@]}" ' + shell_line(prepare))
    lines += ["", 'TRAIN_BASE="$BASE_GGUF"']
    if convert:
        lines += ['echo "==> Convert the base to F32 (llama-finetune trains F32 weights only)"',
                  shell_line(["@@llama-quantize@@", "@@BASE_GGUF@@", _OUT + "base-f32.gguf",
                              "F32"]),
                  'TRAIN_BASE="$OUT_DIR/base-f32.gguf"']
    if not lora:  # the LoRA tool checks its packed windows itself
        tokenize = tokenize_argv(_placeholder_tools(), Path("@@TRAIN_BASE@@"),
                                 Path(_OUT + data_name))
        lines += [
            "",
            'echo "==> Count tokens"',
            f"TOKENS=$({shell_line(tokenize)} | sed -n 's/^Total number of tokens: //p')",
            'echo "$TOKENS tokens"',
            f'if [ "$TOKENS" -le {min_tokens} ]; then',
            f'  echo "Too little text to train at a context of {ctx}: use a shorter --ctx or '
            f'add data." >&2',
            "  exit 1",
            "fi",
        ]
    lines += ["", 'echo "==> Train a LoRA adapter"' if lora else 'echo "==> Fine-tune"']
    types = dict(base.tensor_types) if base is not None else {}
    request = TrainRequest(train_text=Path(_OUT + data_name),
                           base=GGUFInfo.model_construct(path=Path("@@TRAIN_BASE@@"),
                                                         tensor_types=types),
                           output=Path(_OUT + trained), options=train_options(s),
                           tools=_placeholder_tools())
    if lora:
        request.checkpoint_dir = Path(_OUT + "checkpoints")
    lines += [
        shell_line(trainer.argv(request)),
        f'if [ ! -s "$OUT_DIR/{trained}" ]; then',
        f'  echo "{trainer.tool} wrote no {"adapter" if lora else "model"}." >&2',
        "  exit 1",
        "fi",
    ]
    if lora:
        lines += ["", 'echo "==> Merge the adapter into the base"',
                  shell_line(["@@llama-export-lora@@", "-m", "@@BASE_GGUF@@", "--lora",
                              _OUT + trained, "-o", _OUT + "merged.gguf"])]
        if lora_qtype:
            requant = ["--allow-requantize"] if set(types) - {"F32", "F16", "BF16"} else []
            lines += ["", f'echo "==> Quantize to {lora_qtype}"',
                      shell_line(["@@llama-quantize@@", *requant, _OUT + "merged.gguf",
                                  _OUT + final, lora_qtype])]
    elif final != "trained-f32.gguf":
        fix = ["--override-kv", context_override] if context_override else []
        qtype = _qtype(s)
        lines += ["", f'echo "==> Quantize to {qtype}"',
                  shell_line(["@@llama-quantize@@", *fix, _OUT + "trained-f32.gguf",
                              _OUT + final, qtype])]
    stop = chat_format.stop_marker if chat_format is not None else None
    lines += ["", 'echo "==> Try one prompt"',
              shell_line(smoke_argv(_placeholder_tools(), Path(_OUT + final), smoke_prompt,
                                    s.seed, 48, stop)),
              "", 'echo "==> Write the Modelfile"',
              f'printf "%s" {shlex.quote(modelfile_text)} > "$OUT_DIR/Modelfile"']
    if s.create:
        lines += ["", 'echo "==> Register with Ollama"',
                  # from the run folder: FROM ./FILE resolves there whatever Ollama's version
                  '(cd "$OUT_DIR" && ollama create "$MODEL_NAME" -f Modelfile)',
                  'echo "Done: ollama run $MODEL_NAME"']
    else:
        lines += ['echo "To register the model: ollama create $MODEL_NAME -f $OUT_DIR/Modelfile"']
    return "\n".join(lines) + "\n"
