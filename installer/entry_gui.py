"""PyInstaller entry point of forge-gui (windowed executable)."""

import multiprocessing

from forge_gui.frozen import prepare

# A spawned worker (the data scanner's, docs/data.md) re-runs this executable: this call makes
# it run the worker instead of the app. A no-op where workers fork.
multiprocessing.freeze_support()
prepare()

from forge_gui.gui.app import main  # noqa: E402 (after the environment is prepared)

raise SystemExit(main())
