"""forge-gui entry point (the wizard arrives in gui/wizard.py)."""

from __future__ import annotations

import argparse
import sys

from forge_gui import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="forge-gui", description="Forge desktop app")
    parser.add_argument("--version", action="version", version=f"forge-gui {__version__}")
    parser.add_argument("paths", nargs="*", help="training data files or folders to open")
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication(sys.argv[:1])
    window = QLabel("Forge")
    window.setWindowTitle("Forge")
    window.resize(640, 480)
    window.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
