"""What a GGUF file is, read with the `gguf` package: architecture, size, weight types, and
whether upstream llama-finetune can train it (only F32 tensors are trained, docs/training.md)."""

from __future__ import annotations

import collections
import functools
import logging
import mmap
import struct
from pathlib import Path
from typing import Literal

import gguf
from pydantic import BaseModel

from forge_gui.core.base.process import describe_exit
from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp.gguf_header import (
    ArrayInfo,
    HeaderError,
    _Cursor,
    read_header,
    read_strings,
)

log = logging.getLogger(__name__)

GGLA_MAGIC = b"algg"  # legacy LoRA files: b"ggla" stored little-endian
GGUF_MAGIC = b"GGUF"
_KNOWN_STARTS = {b"PK\x03\x04": "a ZIP archive", b"\x89HDF": "an HDF5 file",
                 b"{": "JSON text", b"\x80\x02": "a Python pickle"}


def describe_start(magic: bytes) -> str:
    """What a file's first bytes say, for a person (never a Python bytes repr)."""
    if not magic:
        return "it is empty"
    for start, what in _KNOWN_STARTS.items():
        if magic.startswith(start):
            return f"it looks like {what}"
    if all(32 <= b < 127 for b in magic):
        return f'it starts with the text "{magic.decode("ascii")}"'
    return f"it starts with the bytes {magic.hex(' ')}"
FLOAT_TYPES = {"F32", "F16", "BF16"}

Trainability = Literal["ready", "convert", "quantized", "not-a-model"]


class GGUFInfo(BaseModel):
    path: Path
    size_bytes: int
    general_type: str  # "model" or "adapter"
    architecture: str
    name: str | None = None
    parameters: int
    tensor_types: dict[str, int]  # type name -> tensor count
    tensor_names: list[str]
    tensor_shapes: dict[str, list[int]] = {}  # name -> ne ([in, out] for a 2-D weight)
    file_type: str | None = None
    context_length: int | None = None
    vocab_size: int | None = None
    has_chat_template: bool = False
    chat_template: str | None = None  # tokenizer.chat_template (Jinja), when it has one
    bos_token: str | None = None  # the text of tokenizer.ggml.bos_token_id
    eos_token: str | None = None  # the text of tokenizer.ggml.eos_token_id
    add_bos_token: bool | None = None  # tokenizer.ggml.add_bos_token, when the file says

    @property
    def trainability(self) -> Trainability:
        if self.general_type != "model":
            return "not-a-model"
        weight_types = set(self.tensor_types)
        if weight_types <= {"F32"}:
            return "ready"
        if weight_types <= FLOAT_TYPES:
            return "convert"
        return "quantized"

    def explain_trainability(self) -> str:
        kind = self.trainability
        if kind == "ready":
            return "All weights are F32: llama-finetune can train it as it is."
        if kind == "convert":
            return ("The weights are F16/BF16. llama-finetune trains only F32 tensors, so Forge "
                    f"first converts it losslessly to F32 (about {human_size(self.f32_bytes)}).")
        if kind == "quantized":
            quant = ", ".join(sorted(set(self.tensor_types) - FLOAT_TYPES))
            return (f"The weights are quantized ({quant}). llama-finetune can only train F32 "
                    "weights, and converting a quantized model back does not restore what "
                    "quantization lost. Use an unquantized tag of this model (e.g. one ending "
                    "in -fp16) or the original F16/BF16 GGUF.")
        return (f"This file is a GGUF {self.general_type}, not a model; choose the base model "
                "GGUF instead.")

    def explain_for(self, method: str) -> str:
        """What training this file with a method ("lora" or "full") takes, in a sentence."""
        if method != "lora" or self.trainability == "not-a-model":
            return self.explain_trainability()
        types = ", ".join(sorted(set(self.tensor_types) - {"F32"})) or "F32"
        return (f"the {types} weights stay as they are; only a small adapter is trained, then "
                "merged into a copy of the base.")

    @property
    def f32_bytes(self) -> int:
        return self.parameters * 4

    def training_memory_bytes(self, ctx: int) -> int:
        """Rough peak RAM of llama-finetune: weights + gradients + 2 AdamW moments (4 x F32
        model) plus activations, which grow with the context and the vocabulary."""
        activations = ctx * ((self.vocab_size or 32000) * 3 + 64 * 1024) * 4
        return self.f32_bytes * 4 + activations + 256 * 1024 * 1024


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def is_ggla(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == GGLA_MAGIC


def inspect_gguf(path: Path) -> GGUFInfo:
    """Read a GGUF's header. Raises StepFailed with a plain sentence for anything else."""
    path = Path(path)
    if not path.is_file():
        raise StepFailed(f"{path} does not exist or is not a file.")
    stat = path.stat()
    # Steps ask about the same files again and again: remember by path, mtime and size.
    return _inspect_cached(path, stat.st_mtime_ns, stat.st_size).model_copy(deep=True)


@functools.lru_cache(maxsize=32)
def _inspect_cached(path: Path, mtime_ns: int, size: int) -> GGUFInfo:
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == GGLA_MAGIC:
        raise StepFailed(f"{path} is a legacy GGLA LoRA from the old 'finetune' tool.",
                         "Nothing reads GGLA any more (llama.cpp and Ollama dropped it in 2024). "
                         "Train again with current tools.")
    if magic != GGUF_MAGIC:
        raise StepFailed(f"{path} is not a GGUF file ({describe_start(magic)}).")
    try:
        header = read_header(path)
        needed = data_end(path)
    except struct.error as exc:  # a length read past the end: the file stops mid-header
        raise TruncatedGGUF.of(path, None, size) from exc
    except (HeaderError, OSError) as exc:
        if isinstance(exc, HeaderError) and "end" in str(exc):  # ends inside its header
            raise TruncatedGGUF.of(path, None, size) from exc
        raise StepFailed(f"{path} is not a readable GGUF file: {exc}") from exc
    if needed > size:
        raise TruncatedGGUF.of(path, needed, size)
    fields = header.fields
    arch = str(fields.get("general.architecture") or "unknown")
    types = collections.Counter(_type_name(t.type) for t in header.tensors)
    file_type = fields.get("general.file_type")
    try:
        file_type_name = (gguf.LlamaFileType(file_type).name if isinstance(file_type, int)
                          else None if file_type is None else str(file_type))
    except ValueError:
        file_type_name = str(file_type)
    vocab = fields.get(f"{arch}.vocab_size")
    tokens = fields.get("tokenizer.ggml.tokens")
    if vocab is None and isinstance(tokens, ArrayInfo):
        vocab = tokens.length
    name = fields.get("general.name")
    ctx = fields.get(f"{arch}.context_length")
    specials = _special_tokens(path, fields)
    return GGUFInfo(
        path=path, size_bytes=size,
        general_type=str(fields.get("general.type") or "model"),
        architecture=arch, name=name if isinstance(name, str) else None,
        parameters=sum(t.n_elements for t in header.tensors),
        tensor_types=dict(types), tensor_names=[t.name for t in header.tensors],
        tensor_shapes={t.name: list(t.shape) for t in header.tensors},
        file_type=file_type_name, context_length=ctx if isinstance(ctx, int) else None,
        vocab_size=int(vocab) if isinstance(vocab, int) else None,
        has_chat_template="tokenizer.chat_template" in fields,
        chat_template=template if isinstance(template := fields.get("tokenizer.chat_template"),
                                             str) else None,
        bos_token=specials.get("bos"), eos_token=specials.get("eos"),
        add_bos_token=add_bos if isinstance(add_bos := fields.get("tokenizer.ggml.add_bos_token"),
                                            bool) else None,
    )


def _special_tokens(path: Path, fields: dict) -> dict[str, str]:
    """{"bos": text, "eos": text} of the tokenizer's BOS and EOS tokens (those it names)."""
    tokens = fields.get("tokenizer.ggml.tokens")
    ids: dict[str, int] = {}
    for kind in ("bos", "eos"):
        if isinstance(i := fields.get(f"tokenizer.ggml.{kind}_token_id"), int):
            ids[kind] = i
    if not isinstance(tokens, ArrayInfo) or not ids:
        return {}
    texts = read_strings(path, tokens, set(ids.values()))
    return {kind: texts[i] for kind, i in ids.items() if i in texts}


class TruncatedGGUF(StepFailed):
    """A GGUF whose tensor data runs past the end of the file: a writer stopped part-way,
    most often because the disk filled (tools may still exit 0, docs/data.md)."""

    @classmethod
    def of(cls, path: Path, needed: int | None, size: int) -> TruncatedGGUF:
        have = (f"its tensors need {human_size(needed)}, the file has {human_size(size)}"
                if needed is not None else f"the file stops inside its header at {size} bytes")
        return cls(f"{path} is not a readable GGUF file: it is cut short ({have}); the disk "
                   "may be full.",
                   "Free some space on that disk, then try again.")


def data_end(path: Path) -> int:
    """The size `path` must have to hold every tensor's data: the header, padded to the
    file's alignment, then each tensor at its offset with its size. gguf_header.py's walk,
    keeping the offsets (gguf.GGUFReader takes seconds on a real vocabulary)."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        cur = _Cursor(buf)
        cur.take("4s"), cur.take("I")
        n_tensors, n_kv = cur.take("Q"), cur.take("Q")
        alignment = 32  # GGUF's default (general.alignment)
        for _ in range(n_kv):
            key = cur.string()
            value = cur.value(cur.take("I"))
            if key == "general.alignment" and isinstance(value, int) and value > 0:
                alignment = value
        end = 0
        for _ in range(n_tensors):
            name = cur.string()
            elements = 1
            for _ in range(cur.take("I")):
                elements *= cur.take("Q")
            kind, offset = cur.take("I"), cur.take("Q")
            try:
                block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(kind)]
            except (ValueError, KeyError):
                log.info("%s: tensor %s has type %d, unknown here; its size is not checked",
                         path, name, kind)
                block, type_size = 1, 0
            end = max(end, offset + elements // block * type_size)
        return -(-cur.pos // alignment) * alignment + end if n_tensors else cur.pos


def is_whole(path: Path) -> bool:
    """Every tensor's data lies inside the file (a killed or out-of-space writer leaves it
    short). False for a file that is not a GGUF at all."""
    try:
        return data_end(path) <= path.stat().st_size
    except (OSError, ValueError, HeaderError, struct.error) as exc:
        log.info("%s is not a whole GGUF: %s", path, exc)
        return False


def check_output(path: Path, tool: str, code: int, hint: str | None = None) -> GGUFInfo:
    """What every step that writes a GGUF checks once its tool has ended: exit 0, the file
    there, a readable GGUF with every tensor inside it. A file that fails is removed, so a
    part is never taken for a result (a full disk: tools may exit 0 after a short write)."""
    try:
        if code != 0:
            if path.is_file() and not is_whole(path):
                raise TruncatedGGUF.of(path, _data_end_or_none(path), path.stat().st_size)
            raise StepFailed(f"{tool} failed ({describe_exit(code)}).", hint)
        if not path.is_file():
            raise StepFailed(f"{tool} exited without writing {path}.", hint)
        return inspect_gguf(path)
    except StepFailed as exc:
        if path.is_file():
            log.warning("removing %s: %s", path, exc.message)
            path.unlink()
        if isinstance(exc, TruncatedGGUF) and hint:
            exc.hint = f"{exc.hint} {hint}"
        raise


def _data_end_or_none(path: Path) -> int | None:
    try:
        return data_end(path)
    except (OSError, ValueError, HeaderError, struct.error):
        return None


def _type_name(code: int) -> str:
    try:
        return gguf.GGMLQuantizationType(code).name
    except ValueError:
        return f"type{code}"


def check_same_model(base: GGUFInfo, trained_path: Path) -> GGUFInfo:
    """The trained file must be a GGUF of the base's architecture with the same tensors."""
    try:
        got = inspect_gguf(trained_path)
    except StepFailed as exc:
        raise StepFailed(f"llama-finetune did not write a valid model: {exc.message}") from exc
    if got.architecture != base.architecture:
        raise StepFailed(f"The trained file is a {got.architecture} model, the base is "
                         f"{base.architecture}.")
    if sorted(got.tensor_names) != sorted(base.tensor_names):
        missing = sorted(set(base.tensor_names) - set(got.tensor_names))[:5]
        raise StepFailed("The trained file does not hold the base's tensors"
                         + (f" (missing {', '.join(missing)})." if missing else "."))
    return got
