"""One module per wizard page; each page is thin and calls core through gui/backend.py."""

from __future__ import annotations

from PySide6.QtWidgets import QWizardPage


class ForgePage(QWizardPage):
    def contribute(self, values: dict) -> None:
        """Add this page's part of the RunSettings to `values`."""

    def remember(self, settings) -> None:
        """Store this page's choices in the AppSettings for the next launch."""

    def forge(self):
        return self.wizard()
