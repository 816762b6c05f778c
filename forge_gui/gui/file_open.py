"""Files opened with Forge from the desktop while it runs or as it starts.

macOS does not put a file opened from Finder ("Open With", a drop on the Dock icon) in argv:
it sends the application a QFileOpenEvent, at launch as well as later. Those files go to the
Data page, like the paths given on the command line.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject


class FileOpenForwarder(QObject):
    """An application-wide event filter that hands FileOpen events to the wizard's Data page."""

    def __init__(self, wizard) -> None:
        super().__init__(wizard)
        self._wizard = wizard

    def eventFilter(self, watched, event) -> bool:
        if event.type() != QEvent.Type.FileOpen:
            return False
        path = event.file() or event.url().toLocalFile()
        if path:
            self._wizard.data_page.add_paths([Path(path)])
            self._wizard.raise_()
            self._wizard.activateWindow()
        return True
