from forge_gui.cli import main

raise SystemExit(main())
