"""The LoRA trainer's source is verified file by file against the pinned manifest."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp import lora_source

VENDOR = os.environ.get(lora_source.SOURCE_ENV)
needs_vendor = pytest.mark.skipif(not VENDOR, reason="the pinned fork's trimmed archive "
                                  "(../shared/vendor) is not beside this checkout")


def _retar(source: Path, out: Path, edit=None, extra: dict[str, bytes] | None = None) -> Path:
    """Copy an archive, changing one member or adding files (a tampered or a full archive)."""
    with tarfile.open(source, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        top = None
        for member in src.getmembers():
            top = top or member.name.split("/")[0]
            data = src.extractfile(member).read() if member.isfile() else None
            if data is not None and edit:
                data = edit(member.name, data)
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return out


def test_the_manifest_is_the_pinned_one():
    manifest = lora_source.read_manifest()
    assert "examples/training/finetune-lora.cpp" in manifest
    assert len(manifest) > 1000


@needs_vendor
def test_a_full_archive_is_verified_and_trimmed_to_the_manifest(tmp_path, monkeypatch):
    full = _retar(Path(VENDOR), tmp_path / "full.tar.gz",
                  extra={"docs/build.md": b"docs", "tools/server/server.cpp": b"int main(){}"})
    monkeypatch.setenv(lora_source.SOURCE_ENV, str(full))
    tree = lora_source.extract_verified(tmp_path)
    assert (tree / "examples" / "training" / "finetune-lora.cpp").is_file()
    assert not (tree / "docs").exists() and not (tree / "tools" / "server").exists()
    assert lora_source.extract_verified(tmp_path) == tree  # verified once, then reused


@needs_vendor
def test_a_changed_file_is_refused_before_anything_is_built(tmp_path, monkeypatch):
    def edit(name, data):
        return data + b"\n// injected\n" if name.endswith("finetune-lora.cpp") else data

    bad = _retar(Path(VENDOR), tmp_path / "bad.tar.gz", edit=edit)
    monkeypatch.setenv(lora_source.SOURCE_ENV, str(bad))
    with pytest.raises(StepFailed, match="differ from the pinned commit.*finetune-lora.cpp"):
        lora_source.extract_verified(tmp_path)
    assert not lora_source.source_dir(tmp_path).exists()


def test_a_source_that_is_not_an_archive_is_one_sentence(tmp_path, monkeypatch):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"<html>rate limited</html>")
    monkeypatch.setenv(lora_source.SOURCE_ENV, str(junk))
    with pytest.raises(StepFailed, match="is not a readable source archive"):
        lora_source.extract_verified(tmp_path)
