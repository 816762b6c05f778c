"""Forge's core: pure Python, no Qt. Front ends (the CLI and the GUI) run what core builds."""
