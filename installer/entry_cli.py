"""PyInstaller entry point of forge-cli (console executable)."""

from forge_gui.frozen import prepare

prepare()

from forge_gui.cli import main  # noqa: E402 (after the environment is prepared)

raise SystemExit(main())
