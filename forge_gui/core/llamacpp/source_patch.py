"""Forge's own patch to the pinned LoRA trainer's source, applied exactly or not at all.

The fork of llama.cpp that trains LoRA adapters did not learn on real models; the patch in
resources/llama.cpp/ fixes that and feeds the trainer packed, pre-rendered conversations
(docs/training.md, "What Forge changes in the LoRA trainer"). It is pinned by its sha256 and
applied after the source was verified file by file (lora_source.py), so what is built is the
pinned commit plus this patch and nothing else.

The applier is deliberately strict: a hunk applies only at the line it names, with every
context and removed line equal, or the whole patch is refused. Patching a tree that drifted
must fail loudly, not apply "close enough".

    apply_patch(tree, patch_text) -> the files it changed
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from forge_gui.core.base.atomic import atomic_write_bytes

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class PatchError(ValueError):
    """The patch does not apply to this tree (or is not a unified diff)."""


@dataclass
class _Hunk:
    old_start: int
    lines: list[str] = field(default_factory=list)  # with their ' ', '-', '+' prefix


@dataclass
class _FilePatch:
    path: str
    hunks: list[_Hunk] = field(default_factory=list)


def parse(patch_text: str) -> list[_FilePatch]:
    files: list[_FilePatch] = []
    current: _FilePatch | None = None
    hunk: _Hunk | None = None
    for line in patch_text.splitlines():
        if line.startswith("diff --git "):
            current, hunk = None, None
        elif line.startswith("--- "):
            continue
        elif line.startswith("+++ "):
            name = line[4:].strip()
            if not name.startswith("b/"):
                raise PatchError(f"unexpected target {name!r}")
            current = _FilePatch(name[2:])
            files.append(current)
        elif m := _HUNK.match(line):
            if current is None:
                raise PatchError("a hunk before any file header")
            hunk = _Hunk(int(m.group(1)))
            current.hunks.append(hunk)
        elif hunk is not None and line[:1] in (" ", "-", "+"):
            hunk.lines.append(line)
        elif hunk is not None and line == "":
            hunk.lines.append(" ")  # an empty context line whose space was trimmed
        elif line.startswith("\\ No newline") or line.startswith("index "):
            continue
    if not files:
        raise PatchError("no file in the patch")
    return files


def _apply_file(original: list[str], fp: _FilePatch) -> list[str]:
    out: list[str] = []
    at = 0  # index into original
    for hunk in fp.hunks:
        start = hunk.old_start - 1 if hunk.old_start > 0 else 0
        if start < at:
            raise PatchError(f"{fp.path}: hunks overlap at line {hunk.old_start}")
        out.extend(original[at:start])
        at = start
        for line in hunk.lines:
            tag, text = line[0], line[1:]
            if tag == "+":
                out.append(text)
                continue
            if at >= len(original) or original[at] != text:
                raise PatchError(f"{fp.path}: line {at + 1} is not what the patch expects")
            if tag == " ":
                out.append(text)
            at += 1
    out.extend(original[at:])
    return out


def apply_patch(tree: Path, patch_text: str) -> list[Path]:
    """Apply every hunk to the files under `tree`; all or nothing (files are checked first)."""
    results: dict[Path, bytes] = {}
    for fp in parse(patch_text):
        path = tree / fp.path
        if not path.is_file():
            raise PatchError(f"{fp.path} is not in the tree")
        data = path.read_bytes().decode("utf-8")
        ends_with_newline = data.endswith("\n")
        patched = _apply_file(data.split("\n")[:-1] if ends_with_newline else data.split("\n"), fp)
        results[path] = ("\n".join(patched) + ("\n" if ends_with_newline else "")).encode("utf-8")
    for path, patched_bytes in results.items():
        atomic_write_bytes(path, patched_bytes)
    return list(results)
