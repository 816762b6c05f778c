"""Forge: fine-tune a local language model and run it in Ollama."""



def __getattr__(name: str) -> str:
    # Looked up on first use: importlib.metadata costs ~25 ms, too much for the GUI's start-up.
    if name != "__version__":
        raise AttributeError(f"module 'forge_gui' has no attribute {name!r}")
    from importlib import metadata

    try:
        version = metadata.version("forge-gui")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        version = "0.0.0+source"
    globals()["__version__"] = version
    return version
