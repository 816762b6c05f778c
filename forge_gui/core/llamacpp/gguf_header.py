"""A fast reader for a GGUF file's header: its key/values and tensor table, nothing else.

gguf.GGUFReader builds Python objects for every element of every array, which takes seconds
for a real tokenizer (32k–256k tokens). Forge only needs scalars, the length of arrays and the
tensor table, so this walks the header with struct and skips array contents.
Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (little-endian, v2/v3).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path

# value type -> struct format of one element (8: string, 9: array are handled apart)
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
            12: "d"}
_STRING, _ARRAY = 8, 9


class HeaderError(ValueError):
    pass


@dataclass
class ArrayInfo:
    """An array value: its element type and length (contents skipped)."""

    item_type: int
    length: int
    offset: int = 0  # where the first element starts in the file


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type: int

    @property
    def n_elements(self) -> int:
        n = 1
        for dim in self.shape:
            n *= dim
        return n


@dataclass
class Header:
    version: int
    fields: dict[str, object] = field(default_factory=dict)
    tensors: list[TensorInfo] = field(default_factory=list)
    # where each key/value record starts and ends in the file (to copy records unchanged), and
    # where the header ends (the tensor data starts at the next multiple of general.alignment)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    end: int = 0


class _Cursor:
    def __init__(self, buf) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise HeaderError("the file ends inside its header")
        value = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += size
        return value[0] if len(value) == 1 else value

    def string(self) -> str:
        n = self.take("Q")
        if self.pos + n > len(self.buf):
            raise HeaderError("a string runs past the end of the file")
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return raw.decode("utf-8", "replace")

    def skip_strings(self, count: int) -> None:
        for _ in range(count):
            (n,) = struct.unpack_from("<Q", self.buf, self.pos)
            self.pos += 8 + n
        if self.pos > len(self.buf):
            raise HeaderError("an array runs past the end of the file")

    def value(self, kind: int):
        if kind in _SCALARS:
            return self.take(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, count = self.take("I"), self.take("Q")
            offset = self.pos
            if item == _STRING:
                self.skip_strings(count)
            elif item in _SCALARS:
                self.pos += struct.calcsize(_SCALARS[item]) * count
            else:
                for _ in range(count):  # nested arrays: rare, walk them
                    self.value(item)
            return ArrayInfo(item, count, offset)
        raise HeaderError(f"unknown value type {kind}")


def read_header(path: Path) -> Header:
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        cur = _Cursor(buf)
        if cur.take("4s") != b"GGUF":
            raise HeaderError("not a GGUF file")
        version = cur.take("I")
        if version not in (2, 3):
            raise HeaderError(f"GGUF version {version} (big-endian or too old) is not read here")
        n_tensors, n_kv = cur.take("Q"), cur.take("Q")
        header = Header(version)
        for _ in range(n_kv):
            start = cur.pos
            key = cur.string()
            header.fields[key] = cur.value(cur.take("I"))
            header.spans[key] = (start, cur.pos)
        for _ in range(n_tensors):
            name = cur.string()
            dims = tuple(cur.take("Q") for _ in range(cur.take("I")))
            header.tensors.append(TensorInfo(name, dims, cur.take("I")))
            cur.take("Q")  # offset of the data
        header.end = cur.pos
        return header


def read_strings(path: Path, array: ArrayInfo, wanted: set[int]) -> dict[int, str]:
    """The elements of a string array (e.g. tokenizer.ggml.tokens) at these indexes."""
    found: dict[int, str] = {}
    if array.item_type != _STRING or not wanted:
        return found
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        cur = _Cursor(buf)
        cur.pos = array.offset
        for index in range(min(array.length, max(wanted) + 1)):
            if index in wanted:
                found[index] = cur.string()
            else:
                cur.skip_strings(1)
    return found
