"""forge-gui: the desktop wizard.

    forge-gui [PATH...]            open the wizard with these data files/folders on page 1
    forge-gui --screenshots DIR    render every page with sample data into DIR, then exit
    forge-gui --self-test          open, load the sample, reach every page; exit 0 or 1 + reason

Start-up is kept light: only Qt and the wizard's own modules load before the first window;
the cores (gguf, numpy, httpx) load when a page first needs them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from forge_gui import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forge-gui", description="Forge: fine-tune a local "
                                     "language model and run it in Ollama.")
    parser.add_argument("--version", action="version", version=f"forge-gui {__version__}")
    parser.add_argument("paths", nargs="*", type=Path, help="training data files or folders to open")
    parser.add_argument("--screenshots", metavar="DIR", type=Path,
                        help="save a PNG of every page (sample data, simulated run) and exit")
    parser.add_argument("--self-test", action="store_true",
                        help="open the wizard, load the sample data, check every page, exit")
    parser.add_argument("--dark", action="store_true", help="use a dark palette")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from PySide6.QtCore import Qt, qInstallMessageHandler
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication, QMessageBox

    qInstallMessageHandler(_qt_message)
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)  # 125 % stays 125 %, not 100 or 200
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Forge")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("forge")
    from forge_gui.core import paths

    icon = paths.resources_dir() / "icons" / "forge-256.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))

    from forge_gui.gui import showcase

    if args.dark:
        app.setStyle("Fusion")
        app.setPalette(showcase.dark_palette())
    if args.screenshots:
        written = showcase.take_screenshots(args.screenshots)
        print("\n".join(str(p) for p in written))
        return _quit(app, 0)
    if args.self_test:
        problem = showcase.self_test()
        if problem:
            print(f"forge-gui self-test: FAILED: {problem}", file=sys.stderr)
            return _quit(app, 1)
        print("forge-gui self-test: ok")
        return _quit(app, 0)

    from forge_gui.core.app_settings import load_settings
    from forge_gui.gui.wizard import ForgeWizard

    settings, problem = load_settings()
    missing = [str(p) for p in args.paths if not p.exists()]
    wizard = ForgeWizard(settings, [p for p in args.paths if p.exists()])
    wizard.show()
    if os.environ.get("FORGE_GUI_QUIT_WHEN_SHOWN"):  # start-up benchmark: first frame, then exit
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, app.quit)
    if problem:
        QMessageBox.warning(wizard, "Settings reset", problem)
    if missing:
        QMessageBox.warning(wizard, "Not found", "These paths do not exist:\n" + "\n".join(missing))
    return _quit(app, app.exec())


# Qt's offscreen platform (CI, --screenshots) says this for every window: noise, not news.
_QT_NOISE = ("This plugin does not support propagateSizeHints()",)


def _qt_message(mode, context, message: str) -> None:
    if not message.startswith(_QT_NOISE):
        print(message, file=sys.stderr)


def _quit(app, code: int) -> int:
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(5000)  # let background work end before Qt goes
    return code


if __name__ == "__main__":
    raise SystemExit(main())
