"""Split a child process's output into lines as it arrives.

llama.cpp rewrites its status line with '\\r', reads may end in the middle of a line or of a
multi-byte UTF-8 character (the progress bar is made of block characters). Both front ends
feed raw bytes here and get whole lines back.
"""

from __future__ import annotations

import codecs
import re


class LineSplitter:
    """Incremental bytes -> lines, splitting on '\\n', '\\r' and '\\r\\n'."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._last_was_cr = False

    def feed(self, data: bytes) -> list[str]:
        text = self._decoder.decode(data)
        return self._split(text)

    def flush(self) -> list[str]:
        """Return whatever is left once the stream has ended."""
        lines = self._split(self._decoder.decode(b"", final=True))
        if self._pending:
            lines.append(self._pending)
            self._pending = ""
        return lines

    def _split(self, text: str) -> list[str]:
        if self._last_was_cr and text.startswith("\n"):
            text = text[1:]  # the '\n' of a '\r\n' pair split across two reads
        if not text:
            return []
        self._last_was_cr = text.endswith("\r")
        parts = _NEWLINE.split(self._pending + text)
        self._pending = parts.pop()
        return parts


_NEWLINE = re.compile(r"\r\n|\r|\n")
