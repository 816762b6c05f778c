"""PyInstaller entry point of forge-gui (windowed executable)."""

from forge_gui.frozen import prepare

prepare()

from forge_gui.gui.app import main  # noqa: E402 (after the environment is prepared)

raise SystemExit(main())
