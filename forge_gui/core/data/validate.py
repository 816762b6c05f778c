"""Validation and streaming iteration over training data (the API the GUI and CLI use)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import CancelToken
from forge_gui.core.data.models import Conversation, Turn, ValidationOptions, ValidationReport
from forge_gui.core.data.scan import Scanner

Progress = Callable[[ProgressEvent], None]


def validate_paths(paths: Iterable[Path], options: ValidationOptions | None = None,
                   progress: Progress | None = None,
                   cancel: CancelToken | None = None) -> ValidationReport:
    """Read every record once and report what is wrong, line by line.

    Raises DataInputError for a path that does not exist, steps.Cancelled when cancelled.
    Progress fraction is by bytes read.
    """
    scanner = Scanner([Path(p) for p in paths], options, progress, cancel)
    scanner.parallel = True  # nobody consumes the records: big files may go to workers
    for _ in scanner.records():
        pass
    return scanner.report


def iter_conversations(paths: Iterable[Path], options: ValidationOptions | None = None,
                       progress: Progress | None = None,
                       cancel: CancelToken | None = None) -> Iterator[Conversation]:
    """The valid records, normalised, one at a time (invalid ones are skipped)."""
    scanner = Scanner([Path(p) for p in paths], options, progress, cancel)
    for file, line, turns in scanner.records():
        yield Conversation(turns=[Turn(role=r, content=c, input=i) for r, c, i in turns],
                           file=file, line=line)
