"""A GGUF cut short (a full disk while a tool writes it) is never taken for a result: every
step that writes one checks that each tensor's data lies inside the file, says so in one
sentence naming the path and the disk, and removes the part (docs/training.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from forge_gui.core.base.process import run_process_step
from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp.discover import find_tools
from forge_gui.core.llamacpp.gguf_info import (
    TruncatedGGUF,
    check_output,
    data_end,
    inspect_gguf,
    is_whole,
)
from forge_gui.core.llamacpp.lora import checkpoint_is_complete
from forge_gui.core.llamacpp.trainer import TrainRequest, TrainResult, get_trainer
from forge_gui.core.pipeline.train_options import train_options
from forge_gui.core.runs.run import RunSettings


def _cut(src: Path, dest: Path, size: int) -> Path:
    with open(src, "rb") as fh:
        dest.write_bytes(fh.read(size))
    return dest


@pytest.mark.parametrize("kind", ["f32", "q8_0", "lora"])
def test_a_gguf_cut_anywhere_is_found_short(tiny_gguf, tmp_path, kind):
    whole = tiny_gguf[kind]
    size = whole.stat().st_size
    end = data_end(whole)
    assert size - 32 < end <= size  # the last tensor ends the file (up to its padding)
    assert is_whole(whole) and inspect_gguf(whole)
    for cut in (end - 1, end // 2, 200):  # in the last tensor, mid-data, inside the header
        part = _cut(whole, tmp_path / f"{kind}-{cut}.gguf", cut)
        assert not is_whole(part)
        with pytest.raises(TruncatedGGUF) as exc:
            inspect_gguf(part)
        assert str(part) in exc.value.message and "the disk may be full" in exc.value.message


def test_a_short_output_is_removed_and_a_whole_one_kept(tiny_gguf, tmp_path):
    part = _cut(tiny_gguf["f32"], tmp_path / "part.gguf", data_end(tiny_gguf["f32"]) - 100)
    for code in (0, 1):  # tools exit 0 or not after a short write
        shutil.copy(part, tmp_path / "out.gguf")
        with pytest.raises(TruncatedGGUF, match="the disk may be full"):
            check_output(tmp_path / "out.gguf", "llama-quantize", code, "The log is in x.")
        assert not (tmp_path / "out.gguf").exists()
    kept = shutil.copy(tiny_gguf["f32"], tmp_path / "whole.gguf")
    assert check_output(Path(kept), "llama-quantize", 0).architecture == "llama"
    assert Path(kept).exists()
    with pytest.raises(StepFailed, match=r"exit code 3"):
        check_output(Path(kept), "llama-quantize", 3)
    assert not Path(kept).exists()  # a failed tool's output is never a result


def test_a_checkpoint_with_a_short_part_is_incomplete(tiny_gguf, tmp_path):
    folder = tmp_path / "checkpoint_step_00000004"
    folder.mkdir()
    (folder / "metadata.txt").write_text("epoch=0\nlora_rank=4\nlora_alpha=8\ntarget_modules=x\n")
    shutil.copy(tiny_gguf["lora"], folder / "model.gguf")
    shutil.copy(tiny_gguf["lora"], folder / "optimizer.gguf")
    assert checkpoint_is_complete(folder)
    _cut(tiny_gguf["lora"], folder / "optimizer.gguf", data_end(tiny_gguf["lora"]) - 1)
    assert not checkpoint_is_complete(folder)


@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MB file system (tmpfs): writes past it fail with ENOSPC."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.tools
@pytest.mark.parametrize("log_on_the_full_disk", [False, True])
def test_llama_finetune_writing_to_a_full_disk_leaves_no_model(llama_tools, tiny_gguf,
                                                               colour_data, small_disk,
                                                               tmp_path, log_on_the_full_disk):
    """The real tool writes its 17 MB model into 4 MB: one sentence, and no file left, also
    when the tool's log (in the run folder) is on that disk and fills first."""
    from forge_gui.core.data import ValidationOptions, prepare_training_data

    text = tmp_path / "train.txt"
    prepare_training_data([colour_data], text, options=ValidationOptions())
    output = small_disk / "trained-f32.gguf"
    settings = RunSettings(name="t", data=[colour_data], base_gguf=tiny_gguf["f32"],
                           method="full", ctx=256, epochs=1)
    request = TrainRequest(train_text=text, base=inspect_gguf(tiny_gguf["f32"]), output=output,
                           options=train_options(settings), tools=find_tools(llama_tools),
                           log_path=(small_disk if log_on_the_full_disk else tmp_path) / "train.log")
    step = get_trainer("full").build_step(request, TrainResult())
    with pytest.raises(TruncatedGGUF) as exc:
        run_process_step(step)
    assert str(output) in exc.value.message and "the disk may be full" in exc.value.message
    assert not output.exists()


def test_a_tool_goes_on_when_its_log_cannot_be_written_any_more(small_disk, caplog):
    """The run folder's disk fills: the log stops, the tool goes on, so the output check
    (not a bare 'disk is full' from the log) says what happened to what it writes."""
    import sys

    from forge_gui.core.base.process import stream

    with open(small_disk / "filler", "wb") as filler:  # fill the disk to the last byte
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass
    seen = []
    script = "import sys\nfor i in range(2000): print('line', i, 'x' * 60)\n"
    outcome = stream([sys.executable, "-c", script], on_output=seen.append,
                     log_path=small_disk / "logs" / "tool.log")
    assert outcome.ok
    assert b"line 1999" in b"".join(seen)
    assert "cannot be written any more" in caplog.text
