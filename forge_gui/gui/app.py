"""forge-gui: the desktop wizard.

    forge-gui [PATH...]            open the wizard with these data files/folders on page 1
    forge-gui --screenshots DIR    render every page with sample data into DIR, then exit
    forge-gui --self-test          open, load the sample, reach every page; exit 0 or 1 + reason

Start-up is kept light: only Qt and the wizard's own modules load before the first window;
the cores (gguf, numpy, httpx) load when a page first needs them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


class _VersionAction(argparse.Action):
    """--version, looked up only when asked (importlib.metadata slows the start)."""

    def __init__(self, option_strings, dest, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from forge_gui import __version__

        print(f"forge-gui {__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forge-gui", description="Forge: fine-tune a local "
                                     "language model and run it in Ollama.")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("paths", nargs="*", type=Path, help="training data files or folders to open")
    parser.add_argument("--screenshots", metavar="DIR", type=Path,
                        help="save a PNG of every page (sample data, simulated run) and exit")
    parser.add_argument("--self-test", action="store_true",
                        help="open the wizard, load the sample data, check every page, exit")
    parser.add_argument("--dark", action="store_true", help="use a dark palette")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from forge_gui.core.base.logs import setup_logging

    log_file = setup_logging("forge-gui")  # a file per session; stderr when there is one

    from PySide6.QtCore import Qt, qInstallMessageHandler
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication, QMessageBox

    qInstallMessageHandler(_qt_message)
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)  # 125 % stays 125 %, not 100 or 200
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Forge")
    app.setDesktopFileName("forge")
    from forge_gui.gui import crash

    crash.install(log_file)  # an uncaught error: logged, and a dialog says where the log is
    from forge_gui.core.base import paths

    icon = paths.resources_dir() / "icons" / "forge-256.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))

    if args.dark:
        from forge_gui.gui.palette import dark_palette

        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    if args.screenshots or args.self_test:
        from forge_gui.gui import showcase  # imports the whole wizard: only for these two
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

    from PySide6.QtCore import QTimer

    from forge_gui.gui.wizard import ForgeWizard

    missing = [str(p) for p in args.paths if not p.exists()]
    wizard = ForgeWizard(None, [p for p in args.paths if p.exists()])
    from forge_gui.gui.file_open import FileOpenForwarder

    app.installEventFilter(FileOpenForwarder(wizard))  # macOS "Open With" arrives as an event
    wizard.show()

    def after_first_frame() -> None:
        _ = wizard.app_settings  # load (and validate) the settings now that the window is up
        if wizard.settings_problem:
            QMessageBox.warning(wizard, "Settings reset", wizard.settings_problem)
        if missing:
            QMessageBox.warning(wizard, "Not found", "These paths do not exist:\n" + "\n".join(missing))

    if os.environ.get("FORGE_GUI_QUIT_WHEN_SHOWN"):  # start-up benchmark: first frame, then exit
        QTimer.singleShot(0, _report_shown_and_exit)
    QTimer.singleShot(0, after_first_frame)
    return _quit(app, app.exec())


def _report_shown_and_exit() -> None:
    import time

    print(f"shown {time.time():.6f}", flush=True)
    os._exit(0)


# Qt's offscreen platform (CI, --screenshots) says this for every window: noise, not news.
_QT_NOISE = ("This plugin does not support propagateSizeHints()",)


def _qt_message(mode, context, message: str) -> None:
    if not message.startswith(_QT_NOISE):
        logging.getLogger("qt").warning("%s", message)


def _quit(app, code: int) -> int:
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(5000)  # let background work end before Qt goes
    return code


if __name__ == "__main__":
    raise SystemExit(main())
