"""The Vulkan build, made by Forge's own build code, on Mesa's lavapipe (Vulkan on the CPU):
what a machine without a GPU can check of the GPU path (docs/gpu.md, docs/performance.md).

In CI (CI=true) the training test always runs: .ci/run installs the Vulkan packages and newer
headers (installer/ci/vulkan_headers.sh), the first run builds llama-finetune alone for Vulkan
(~7 min of CPU-bound work on two idle cores, docs/performance.md; cached beside the other
tools afterwards), and a build that cannot be made fails the test. Elsewhere it runs where
that build is cached, or with FORGE_TEST_VULKAN=1, and skips with the reason otherwise. Only
llama-finetune is built: the subset has a cache folder of its own, so it never shadows the
CPU tools the rest of the suite uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_llama import write_colour_dataset

from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp import build, build_options, gpu

pytestmark = [pytest.mark.slow, pytest.mark.tools]

IN_CI = os.environ.get("CI") == "true"
LAVAPIPE = {"GGML_VK_VISIBLE_DEVICES": "0"}  # ggml-vulkan skips CPU devices unless named
BUILD_TIMEOUT = 3600  # the first build in a fresh cache (docs/performance.md); then seconds


def not_here(reason: str) -> None:
    """In CI the Vulkan path must be checked: fail there; skip with the reason elsewhere."""
    if IN_CI:
        pytest.fail(f"CI must train on lavapipe, but {reason} (see .ci/run, docs/gpu.md)")
    pytest.skip(reason)


def vulkan_tools(tools: tuple[str, ...], wanted: bool) -> Path:
    """These tools built for Vulkan (cached in the tools' cache); built here when `wanted`."""
    cached = build.cached_tools_dir("vulkan", tools)
    if cached is None:
        if not wanted:
            pytest.skip(f"no Vulkan build of {', '.join(tools)} cached; FORGE_TEST_VULKAN=1 "
                        "builds it (docs/gpu.md, 'In CI')")
        if problem := build_options.missing_for_build("vulkan"):
            not_here(f"no Vulkan build can be made here: {' '.join(problem)}")
        try:
            cached = build.ensure_tools(vulkan=True, tools=tools)
        except StepFailed as exc:
            log = next(iter(sorted(build.tools_cache_root().glob("build-*-vulkan.log"))), None)
            tail = log.read_text("utf-8", "replace")[-4000:] if log else ""
            pytest.fail(f"the Vulkan build failed: {exc}\n{tail}")
    if not any(g.software for g in gpu.detect_gpus(include_software=True)):
        not_here("no lavapipe device: install mesa-vulkan-drivers and vulkan-tools")
    return cached


@pytest.fixture(scope="session")
def lavapipe_tools(llama_tools):
    """llama-finetune built for Vulkan: always in CI, else where cached or FORGE_TEST_VULKAN=1."""
    return vulkan_tools(("llama-finetune",), IN_CI or os.environ.get("FORGE_TEST_VULKAN") == "1")


@pytest.fixture(scope="session")
def lavapipe_lora(llama_tools):
    """The LoRA trainer built for Vulkan: not in CI (the fork's Vulkan build is ~11 more
    minutes on two cores, docs/performance.md); where cached or with FORGE_TEST_VULKAN=1."""
    return vulkan_tools(("llama-finetune-lora",), os.environ.get("FORGE_TEST_VULKAN") == "1")


def forge(*args: str, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forge_gui.cli", *args], capture_output=True,
                          timeout=timeout, env=env)


def devices(tool, env) -> str:
    done = subprocess.run([str(tool), "--list-devices"], capture_output=True, timeout=60, env=env)
    return done.stdout.decode("utf-8", "replace")


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_the_vulkan_build_trains_the_tiny_model_on_lavapipe(lavapipe_tools, llama_tools,
                                                            tiny_gguf, tmp_path):
    env = {**os.environ, **LAVAPIPE}
    finetune = lavapipe_tools / "llama-finetune"
    plain = {k: v for k, v in os.environ.items() if k != "GGML_VK_VISIBLE_DEVICES"}
    assert "Vulkan0" not in devices(finetune, plain)  # a CPU "GPU" is used only when named
    assert "Vulkan0: llvmpipe" in devices(finetune, env)

    data = write_colour_dataset(tmp_path / "colours.jsonl", records=40)
    # Mesa 22.3's lavapipe crashes in its queue thread in about one run of three, right after
    # "epoch 0" (SIGSEGV, docs/performance.md): that crash, and only it, gets four more tries
    # (each costs a second; three in a row happen in about one CI run of 27, five in 243).
    for attempt in range(5):
        run_dir = tmp_path / f"run{attempt}"
        done = forge("train-run", "--data", str(data), "--base-gguf", str(tiny_gguf["f32"]),
                     "--name", "tiny-vulkan", "--epochs", "2", "--lr", "1e-3", "--ctx", "256",
                     "--val-split", "0.1", "--workdir", str(run_dir), "--no-create", "--json",
                     "--tools-dir", str(lavapipe_tools), "--ngl", "999", "--method", "full",
                     env=env)
        err = done.stderr.decode("utf-8", "replace")
        if done.returncode == 0 or "llama-finetune failed (killed by signal 11 (SIGSEGV))" not in err:
            break
    assert done.returncode == 0, err[-3000:]
    summary = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert summary["train_loss_last"] < 0.6 * summary["train_loss_first"]
    argv = json.loads((run_dir / "commands" / "train.json").read_text())["argv"]
    assert argv[0] == str(finetune) and argv[argv.index("-ngl") + 1] == "999"

    # the same training on the CPU build ends at the same loss: lavapipe computed it right
    cpu = subprocess.run(
        [str(llama_tools / "llama-finetune"), "-m", str(tiny_gguf["f32"]),
         "-f", str(run_dir / "train.txt"), "-o", str(tmp_path / "cpu.gguf"),
         "-c", "256", "-b", "256", "-ub", "256", "--epochs", "2", "-lr", "0.001",
         "-val-split", "0.1", "-opt", "adamw", "--seed", "42"],
        capture_output=True, timeout=600)
    assert cpu.returncode == 0
    last = [line for line in cpu.stderr.decode().replace("\r", "\n").splitlines()
            if line.startswith("train:")][-1]
    cpu_loss = float(last.split("loss=")[1].split("±")[0])
    assert summary["train_loss_last"] == pytest.approx(cpu_loss, abs=0.01)


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_the_lora_trainer_aborts_on_lavapipe_with_layers_offloaded(lavapipe_lora, tiny_gguf,
                                                                   tmp_path):
    """The documented refusal (docs/performance.md): the qvac-fabric fork's llama-finetune-lora,
    built for Vulkan, aborts with a heap corruption at its first step when its layers are on
    lavapipe; with -ngl 0 the same build trains on the CPU."""
    lora = lavapipe_lora / "llama-finetune-lora"
    text = tmp_path / "train.txt"
    text.write_text("### Instruction:\nWhat colour is the red ball?\n\n### Response:\n"
                    "The ball is red.\n\n" * 120)

    def run(ngl: str) -> subprocess.CompletedProcess:
        argv = [str(lora), "-m", str(tiny_gguf["f32"]), "-f", str(text),
                "--output-adapter", str(tmp_path / f"adapter-{ngl}.gguf"),
                "-c", "256", "-b", "256", "-ub", "256", "--num-epochs", "1",
                "--learning-rate", "1e-3", "-fa", "off", "-t", "2", "-ngl", ngl]
        return subprocess.run(argv, capture_output=True, timeout=600, cwd=tmp_path,
                              env={**os.environ, **LAVAPIPE})

    offloaded = run("999")
    output = (offloaded.stdout + offloaded.stderr).decode("utf-8", "replace")
    assert offloaded.returncode == -6, output[-2000:]  # SIGABRT: exit status 134 in a shell
    assert "offloaded 3/3 layers to GPU" in output and "Starting epoch 0" in output
    assert "double linked list" in output or "double-linked list" in output
    assert not (tmp_path / "adapter-999.gguf").exists()

    on_cpu = run("0")
    assert on_cpu.returncode == 0 and (tmp_path / "adapter-0.gguf").is_file()
