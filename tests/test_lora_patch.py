"""Forge's patch to the LoRA trainer: pinned, applied exactly or refused, part of the cache key;
and the packing plan the preflight computes the way the patched trainer packs."""

from __future__ import annotations

import hashlib

import pytest

from forge_gui.core.llamacpp import build, lora_source
from forge_gui.core.llamacpp.lora import training_seconds
from forge_gui.core.llamacpp.packing import choose_ctx, plan_windows
from forge_gui.core.llamacpp.source_patch import PatchError, apply_patch

PATCH = """diff --git a/src/a.cpp b/src/a.cpp
--- a/src/a.cpp
+++ b/src/a.cpp
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
"""


def test_the_patch_is_the_pinned_one_and_names_the_build():
    data = lora_source.patch_path().read_bytes()
    assert hashlib.sha256(data).hexdigest() == lora_source.PATCH_SHA256
    assert lora_source.PATCH_SHORT in build.BUILD_KEY
    text = data.decode()
    # the two defects that kept the trainer from learning (docs/training.md)
    assert "dx[i00] = (dz[i00] + x[i00] * scale_x) * rrms;" in text
    assert "ggml_set_zero(acc);" in text


def test_a_hunk_applies_only_where_every_line_matches(tmp_path):
    (tmp_path / "src").mkdir()
    target = tmp_path / "src" / "a.cpp"
    target.write_text("one\ntwo\nthree\n")
    apply_patch(tmp_path, PATCH)
    assert target.read_text() == "one\nTWO\nthree\n"
    with pytest.raises(PatchError):  # applied twice: "two" is no longer there
        apply_patch(tmp_path, PATCH)
    assert target.read_text() == "one\nTWO\nthree\n"


def test_a_file_that_drifted_is_refused_and_left_alone(tmp_path):
    (tmp_path / "src").mkdir()
    target = tmp_path / "src" / "a.cpp"
    target.write_text("one\ntwo and a half\nthree\n")
    with pytest.raises(PatchError, match="line 2"):
        apply_patch(tmp_path, PATCH)
    assert target.read_text() == "one\ntwo and a half\nthree\n"


def test_the_pinned_patch_applies_to_the_pinned_source(tmp_path):
    """The vendored archive (what CI builds from) takes the patch as it is."""
    archive = lora_source.find_archive(tmp_path / "downloads")
    if archive is None:
        pytest.skip("no FORGE_LORA_SOURCE archive here (CI and `make` set it)")
    tree = lora_source.extract_verified(tmp_path)
    assert (tree / ".forge-verified").read_text().split() == [lora_source.MANIFEST_SHA256,
                                                               lora_source.PATCH_SHA256]
    assert "common_opt_segments_dataset_init" in (tree / "common" / "common.cpp").read_text()


def test_short_conversations_pack_into_few_full_windows():
    lengths = [35] * 72  # the starter-sample shape: 2,520 real tokens
    packing = plan_windows(lengths, 256)
    assert packing.windows == 11 and packing.conversations == 72 and not packing.skipped
    # positions computed per real token: 1.12 (one conversation a window, padded: 7.3)
    assert packing.windows * packing.ctx <= 1.15 * sum(lengths)
    assert packing.sentence() == "72 conversations in 11 windows of 256 tokens (89% filled)"


def test_the_window_follows_the_data_up_to_the_users_context():
    assert choose_ctx([35] * 72, 512) == 192  # four typical conversations
    assert choose_ctx([35] * 70 + [300, 310], 512) == 320  # the longest fits
    assert choose_ctx([35] * 70 + [3000], 512) == 512  # at most what the user allowed
    packing = plan_windows([35] * 70 + [3000], 512)
    assert packing.skipped == 1 and "1 longer than the window skipped" in packing.sentence()


def test_the_time_estimate_follows_the_patched_trainers_speed():
    """The Trainer page's estimate: the starter sample (2,852 tokens) on SmolLM2-135M, 2 epochs,
    2 cores trains in about a minute (measured: docs/performance.md); it used to say 88 min."""
    seconds = training_seconds(134_515_008, 2852, 2, "lora", 2)
    assert 20 < seconds < 10 * 60
    assert training_seconds(134_515_008, 2852, 2, "full", 2) > 2 * seconds  # grads, overlap
