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
from forge_gui.core import paths
from forge_gui.core.llamacpp.discover import ToolInfo, ToolSet
from forge_gui.core.llamacpp.gguf_info import GGUFInfo
from forge_gui.core.llamacpp.tool_steps import smoke_argv, tokenize_argv, training_ctx
from forge_gui.core.llamacpp.trainer import TrainRequest, get_trainer
from forge_gui.core.run import RunSettings

# Placeholders put into argv by the builders, turned into shell variables when rendered.
_VARS = {"@@TRAIN_BASE@@": "TRAIN_BASE", "@@BASE_GGUF@@": "BASE_GGUF", "@@OUT@@": "OUT_DIR",
         "@@llama-finetune@@": "LLAMA_FINETUNE", "@@llama-quantize@@": "LLAMA_QUANTIZE",
         "@@llama-tokenize@@": "LLAMA_TOKENIZE", "@@llama-completion@@": "LLAMA_COMPLETION"}
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
                          for name in ("llama-finetune", "llama-quantize", "llama-tokenize",
                                       "llama-completion")})


def _comment(label: str, value: object) -> str:
    # json.dumps keeps a hostile value on one line (no newline can end the comment early)
    return f"# {label:<8} {json.dumps(value, ensure_ascii=False)}"


def forge_command() -> list[str]:
    if paths.is_frozen():
        return [sys.executable]
    return [sys.executable, "-m", "forge_gui.cli"]


def final_name(settings: RunSettings, context_override: str | None) -> str:
    qtype = (settings.quantize or "F32").upper()
    return f"model-{qtype}.gguf" if qtype != "F32" or context_override else "trained-f32.gguf"


def render_script(settings: RunSettings, base_gguf: Path, tools: ToolSet, out_dir: Path,
                  convert: bool, modelfile_text: str, smoke_prompt: str,
                  context_override: str | None = None) -> str:
    """The bash script for one run. `modelfile_text` refers to the model as ./FILE.
    `context_override` (KEY=int:N) restores the base's context length while quantizing."""
    s = settings
    qtype = (s.quantize or "F32").upper()
    final = final_name(s, context_override)
    outputs = ["train.txt", "trained-f32.gguf"] + ([final] if final != "trained-f32.gguf" else [])
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
    for name, var in (("llama-finetune", "LLAMA_FINETUNE"), ("llama-quantize", "LLAMA_QUANTIZE"),
                      ("llama-tokenize", "LLAMA_TOKENIZE"),
                      ("llama-completion", "LLAMA_COMPLETION")):
        lines.append(f"{var}={shlex.quote(str(tools.path(name)))}")
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
    prepare = ["prepare-training-data", "-o", _OUT + "train.txt",
               "--format", get_trainer(s.trainer).data_format,
               "--val-fraction", f"{s.val_fraction:g}", "--seed", str(s.seed)]
    if s.field_map:
        prepare += ["--map", ",".join(f"{k}={v}" for k, v in s.field_map.items())]
    prepare += ["--", *[str(p) for p in s.data]]  # "--": a data path may start with "-"
    lines.append('"${FORGE[@]}" ' + shell_line(prepare))
    lines += ["", 'TRAIN_BASE="$BASE_GGUF"']
    if convert:
        lines += ['echo "==> Convert the base to F32 (llama-finetune trains F32 weights only)"',
                  shell_line(["@@llama-quantize@@", "@@BASE_GGUF@@", _OUT + "base-f32.gguf",
                              "F32"]),
                  'TRAIN_BASE="$OUT_DIR/base-f32.gguf"']
    tokenize = tokenize_argv(_placeholder_tools(), Path("@@TRAIN_BASE@@"),
                             Path(_OUT + "train.txt"))
    lines += [
        "",
        'echo "==> Count tokens"',
        f"TOKENS=$({shell_line(tokenize)} | sed -n 's/^Total number of tokens: //p')",
        f'echo "$TOKENS tokens"',
        f'if [ "$TOKENS" -le {min_tokens} ]; then',
        f'  echo "Too little text to train at a context of {ctx}: use a shorter --ctx or add '
        f'data." >&2',
        "  exit 1",
        "fi",
        "",
        'echo "==> Fine-tune"',
    ]
    request = TrainRequest(train_text=Path(_OUT + "train.txt"),
                           base=GGUFInfo.model_construct(path=Path("@@TRAIN_BASE@@")),
                           output=Path(_OUT + "trained-f32.gguf"), settings=s,
                           tools=_placeholder_tools())
    lines += [
        shell_line(get_trainer(s.trainer).argv(request)),
        'if [ ! -s "$OUT_DIR/trained-f32.gguf" ]; then',
        '  echo "llama-finetune wrote no model." >&2',
        "  exit 1",
        "fi",
    ]
    if final != "trained-f32.gguf":
        fix = ["--override-kv", context_override] if context_override else []
        lines += ["", f'echo "==> Quantize to {qtype}"',
                  shell_line(["@@llama-quantize@@", *fix, _OUT + "trained-f32.gguf",
                              _OUT + final, qtype])]
    lines += ["", 'echo "==> Try one prompt"',
              shell_line(smoke_argv(_placeholder_tools(), Path(_OUT + final), smoke_prompt,
                                    s.seed, 48)),
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
