"""Small widgets shared by the pages."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton


def action_button(text: str, accessible_name: str, on_click: Callable[[], object]) -> QPushButton:
    """A push button with its mnemonic text, an accessible name and its action."""
    button = QPushButton(text)
    button.setAccessibleName(accessible_name)
    button.clicked.connect(on_click)
    return button


def note_label(accessible_name: str, text: str = "") -> QLabel:
    """A label that wraps its sentence, with an accessible name."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setAccessibleName(accessible_name)
    return label


def show_progress(bar: QProgressBar, event) -> None:
    """A ProgressEvent on a bar: its fraction, and its message after the percentage."""
    if event.fraction is not None:
        bar.setValue(int(event.fraction * 100))
    if event.message:
        bar.setFormat(f"%p% — {event.message}")
