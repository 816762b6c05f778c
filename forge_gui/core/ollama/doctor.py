"""What `forge-cli doctor` (and the GUI) report about Ollama."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from forge_gui.core.ollama.client import OllamaClient, OllamaError, accepts_adapters, supports_create_api
from forge_gui.core.ollama.store import default_store, store_dirs


class OllamaStatus(BaseModel):
    url: str
    reachable: bool
    version: str | None = None
    accepts_adapters: bool | None = None  # None: unknown (not reachable)
    models: int | None = None
    store: Path | None = None  # the local model store found, if any
    store_candidates: list[Path] = []
    problem: str | None = None
    hint: str | None = None

    def lines(self) -> list[str]:
        if self.reachable:
            out = [f"Ollama:       {self.version} at {self.url} ({self.models} models)"]
            if self.version and not supports_create_api(self.version):
                out.append("Registration: this Ollama is older than 0.5.5; update it, or use the "
                           "'ollama create -f Modelfile' command Forge prints")
            elif self.accepts_adapters:
                out.append("Registration: whole GGUF or merged adapter; ADAPTER also accepted "
                           "(server older than 0.34.1)")
            else:
                out.append("Registration: whole GGUF or merged adapter (ADAPTER is not accepted "
                           "by 0.34.1 and newer; Forge merges with llama-export-lora)")
        else:
            out = [f"Ollama:       not reachable at {self.url}" if self.url
                   else f"Ollama:       {self.problem}"]
            if self.hint:
                out.append(f"              {self.hint}")
        if self.store:
            out.append(f"Model store:  {self.store}")
        else:
            tried = ", ".join(str(p) for p in self.store_candidates)
            out.append(f"Model store:  none found (looked in {tried})")
        return out


def ollama_status(host: str | None = None) -> OllamaStatus:
    try:
        client = OllamaClient(host)
    except OllamaError as exc:  # OLLAMA_HOST (or --host) is not an address: say what is wrong
        return OllamaStatus(url="", reachable=False, store=default_store(),
                            store_candidates=store_dirs(), problem=exc.message, hint=exc.hint)
    status = OllamaStatus(url=client.url, reachable=False, store=default_store(),
                          store_candidates=store_dirs())
    try:
        with client:
            status.version = client.version()
            status.models = len(client.list_models())
        status.reachable = True
        status.accepts_adapters = accepts_adapters(status.version)
    except OllamaError as exc:
        status.problem, status.hint = exc.message, exc.hint
    return status
