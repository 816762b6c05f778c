"""Ollama's HTTP API (docs/ollama.md), with errors that say what to do.

Base URL from the `host` argument, else OLLAMA_HOST (host, host:port, with or without
http:// or https://), else http://127.0.0.1:11434 — read the way Ollama's own client reads it.
Every failure raises an OllamaError (a StepFailed) with a sentence and a hint.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import CancelToken, StepFailed
from forge_gui.core.ollama.hashing import ByteProgress, file_digest

log = logging.getLogger(__name__)

DEFAULT_PORT = 11434
DEFAULT_HOST = f"127.0.0.1:{DEFAULT_PORT}"
# Connecting is quick or not at all; creating a model can take minutes between status lines.
TIMEOUT = httpx.Timeout(10.0, connect=3.0, read=60.0)
CREATE_TIMEOUT = httpx.Timeout(10.0, connect=3.0, read=600.0)
UPLOAD_CHUNK = 1024 * 1024

START_HINT = ("Start Ollama (open the Ollama app, or run 'ollama serve' in a terminal), or set "
              "OLLAMA_HOST if it runs elsewhere.")


class OllamaError(StepFailed):
    """Any failure talking to Ollama."""


class OllamaNotReachable(OllamaError):
    """Nothing answers at the URL (not running, wrong OLLAMA_HOST, firewall)."""


class OllamaHTTPError(OllamaError):
    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class ModelNotFound(OllamaHTTPError):
    pass


class OllamaHostInvalid(OllamaError):
    """OLLAMA_HOST (or --host) cannot be made into a URL."""


HOST_HINT = ("Set it to host:port (for example 127.0.0.1:11434) or http://host:port, or unset "
             "it to use the local server.")


def _bad_host(label: str, raw: str, why: str) -> OllamaHostInvalid:
    return OllamaHostInvalid(f"{label} is {raw!r}, which is not a server address: {why}.",
                             HOST_HINT)


def configured_host(host: str | None = None) -> str:
    """The Ollama address as a person set it: `host` (--host, the app's setting), else
    OLLAMA_HOST, else the local server. What the app's host box starts with; base_url reads it."""
    return (host or "").strip() or os.environ.get("OLLAMA_HOST", "").strip() or DEFAULT_HOST


def base_url(host: str | None = None) -> str:
    """Ollama's reading of OLLAMA_HOST (envconfig.Host), as a URL without a trailing slash.

    Raises OllamaHostInvalid for a value no URL can be made of (docs/ollama.md)."""
    label = "OLLAMA_HOST" if host is None else "The Ollama host"
    original = host if host is not None else os.environ.get("OLLAMA_HOST", "")
    raw = original.strip()
    odd = next((c for c in raw if not c.isprintable() or c.isspace()), None)
    if odd is not None:
        what = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab",
                " ": "a space"}.get(odd, f"the control character U+{ord(odd):04X}")
        raise _bad_host(label, original, f"it contains {what}")
    scheme, sep, rest = raw.partition("://")
    default_port = DEFAULT_PORT
    if not sep:
        scheme, rest = "http", raw
    elif scheme == "http":
        default_port = 80
    elif scheme == "https":
        default_port = 443
    hostport, _, path = rest.partition("/")
    if sep and scheme not in ("http", "https"):
        raise _bad_host(label, original, f"the scheme {scheme!r} is neither http nor https")
    m = re.fullmatch(r"\[(.*)\]:(\d+)|([^:\[\]]*):(\d+)", hostport)
    if m:
        name, port = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
    else:
        bracketed = re.fullmatch(r"\[([^\[\]]*)\](:.*)?", hostport)
        if bracketed and bracketed.group(2):
            raise _bad_host(label, original, f"the port {bracketed.group(2)[1:]!r} is not a number")
        if not bracketed and ("[" in hostport or "]" in hostport):
            raise _bad_host(label, original, "its brackets around an IPv6 address do not match")
        if not bracketed and hostport.count(":") > 1:
            raise _bad_host(label, original, "it has more than one ':' (an IPv6 address needs "
                                             "brackets, like [::1]:11434)")
        if not bracketed and ":" in hostport:
            raise _bad_host(label, original, f"the port {hostport.split(':')[1]!r} is not a number")
        name, port = hostport.strip("[]") or "127.0.0.1", str(default_port)
    if not port.isdigit() or int(port) > 65535:
        name, port = "127.0.0.1", str(DEFAULT_PORT)
    if name in ("", "0.0.0.0", "::"):
        name = "127.0.0.1"  # a bind-all address is where the server listens, not where to connect
    if ":" in name:
        name = f"[{name}]"
    url = f"{scheme}://{name}:{port}"
    url = f"{url}/{path.strip('/')}" if path.strip("/") else url
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:  # whatever the checks above did not foresee
        raise _bad_host(label, original, str(exc).rstrip(".")) from None
    return url


def parse_version(text: str) -> tuple[int, int, int] | None:
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


# Ollama 0.34.1 stopped importing PEFT (safetensors) adapters when creating models; one GGUF
# adapter is still accepted (docs/ollama.md).
LAST_WITHOUT_ADAPTER_SUPPORT = (0, 34, 1)


# GGUF LoRA adapters run since 0.30.0 (GGUF models are served by llama-server, adapters passed
# as --lora); before that `create` took them but the Go engine failed at load (docs/ollama.md).
FIRST_RUNNING_GGUF_ADAPTERS = (0, 30, 0)


def runs_gguf_adapters(version: str) -> bool:
    """True for servers that create and run a model with a GGUF LoRA ADAPTER (0.30.0+)."""
    parsed = parse_version(version)
    if parsed is None or parsed == (0, 0, 0):
        return False
    return parsed >= FIRST_RUNNING_GGUF_ADAPTERS


def accepts_adapters(version: str) -> bool:
    """True for servers older than 0.34.1, which still import PEFT (safetensors) adapters.
    Unknown or dev versions ("0.0.0"): assume not."""
    parsed = parse_version(version)
    if parsed is None or parsed == (0, 0, 0):
        return False
    return parsed < LAST_WITHOUT_ADAPTER_SUPPORT


# /api/create with `files`/`from` (blobs by digest) arrived in Ollama 0.5.5; older servers took
# a whole Modelfile text instead.
OLDEST_CREATE_API = (0, 5, 5)


def supports_create_api(version: str) -> bool:
    """False only for a known version older than 0.5.5 (dev builds "0.0.0" are taken as new)."""
    parsed = parse_version(version)
    return parsed is None or parsed == (0, 0, 0) or parsed >= OLDEST_CREATE_API


class OllamaClient:
    def __init__(self, host: str | None = None, timeout: httpx.Timeout = TIMEOUT) -> None:
        self.url = base_url(host)
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OllamaClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------------- plumbing
    def _request(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.ConnectError as exc:
            raise OllamaNotReachable(f"Ollama is not reachable at {self.url}.", START_HINT) from exc
        except httpx.TimeoutException as exc:
            raise OllamaError(f"Ollama at {self.url} did not answer in time ({path}).",
                              "Check that Ollama is not stuck, then try again.") from exc
        except httpx.HTTPError as exc:
            raise OllamaError(f"Talking to Ollama at {self.url} failed: {exc}", START_HINT) from exc
        return response

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        if response.status_code < 400:
            return
        message = _error_text(response)
        cls = ModelNotFound if response.status_code == 404 else OllamaHTTPError
        hint = ("Check the Ollama server's log; restarting Ollama often helps."
                if response.status_code >= 500 else None)
        raise cls(f"Ollama refused {what} (HTTP {response.status_code}): {message}",
                  response.status_code, hint)

    def _json(self, method: str, path: str, what: str, **kw) -> Any:
        response = self._request(method, path, **kw)
        self._raise_for(response, what)
        try:
            return response.json()
        except ValueError as exc:
            raise OllamaError(f"Ollama answered {what} with something that is not JSON.",
                              "Is OLLAMA_HOST pointing at an Ollama server?") from exc

    # -------------------------------------------------------------- API
    def version(self) -> str:
        return str(self._json("GET", "/api/version", "the version request").get("version", ""))

    def list_models(self) -> list[dict]:
        """/api/tags: each {name, model, size, digest, details{family, parameter_size, …}}."""
        return list(self._json("GET", "/api/tags", "the model list").get("models") or [])

    def show(self, name: str) -> dict:
        """/api/show: template, parameters (text), system, details, model_info. ModelNotFound."""
        return self._json("POST", "/api/show", f"showing '{name}'", json={"model": name})

    def exists(self, name: str) -> bool:
        try:
            self.show(name)
            return True
        except ModelNotFound:
            return False

    def delete(self, name: str) -> None:
        response = self._request("DELETE", "/api/delete", json={"model": name})
        if response.status_code != 404:
            self._raise_for(response, f"deleting '{name}'")

    def blob_exists(self, digest: str) -> bool:
        response = self._request("HEAD", f"/api/blobs/{digest}")
        if response.status_code == 404:
            return False
        self._raise_for(response, "the blob check")
        return True

    def push_blob(self, path: Path, progress: ByteProgress | None = None,
                  cancel: CancelToken | None = None, digest: str | None = None) -> tuple[str, bool]:
        """Make the file a blob on the server: (digest, uploaded?). Skips what is there already."""
        path = Path(path)
        digest = digest or file_digest(path, progress, cancel)
        if self.blob_exists(digest):
            return digest, False
        total = path.stat().st_size

        def body() -> Iterator[bytes]:
            sent = 0
            with open(path, "rb") as fh:
                while chunk := fh.read(UPLOAD_CHUNK):
                    if cancel:
                        cancel.raise_if_cancelled()
                    sent += len(chunk)
                    yield chunk
                    if progress:
                        progress(sent, total)

        response = self._request("POST", f"/api/blobs/{digest}", content=body(),
                                 headers={"Content-Length": str(total)})
        if response.status_code == 400 and "digest" in _error_text(response).lower():
            raise OllamaError(f"Ollama rejected the upload of {path.name}: its content does not "
                              f"match {digest} ({_error_text(response)}).",
                              "The file changed while it was being sent; run again.")
        self._raise_for(response, f"the upload of {path.name}")
        return digest, True

    def create(self, request: dict, progress: Callable[[ProgressEvent], None] | None = None,
               cancel: CancelToken | None = None) -> None:
        """POST /api/create, streaming. Raises OllamaError on an HTTP error or an error line."""
        body = dict(request, stream=True)
        name = body.get("model", "?")
        try:
            with self._http.stream("POST", "/api/create", json=body,
                                   timeout=CREATE_TIMEOUT) as response:
                if response.status_code >= 400:
                    response.read()
                    self._raise_for(response, f"creating '{name}'")
                for line in response.iter_lines():
                    if cancel:
                        cancel.raise_if_cancelled()
                    if not line.strip():
                        continue
                    try:
                        item = json.loads(line)
                    except ValueError as exc:
                        raise OllamaError(f"Ollama sent a line that is not JSON while creating "
                                          f"'{name}': {line[:200]!r}") from exc
                    if item.get("error"):
                        raise OllamaHTTPError(f"Ollama could not create '{name}': {item['error']}",
                                              int(item.get("status") or 500))
                    if progress:
                        progress(_create_event(item))
                    if item.get("status") == "success":
                        return
        except httpx.ConnectError as exc:
            raise OllamaNotReachable(f"Ollama is not reachable at {self.url}.", START_HINT) from exc
        except httpx.TimeoutException as exc:
            raise OllamaError(f"Ollama stopped answering while creating '{name}'.",
                              "Check the Ollama server's log, then try again.") from exc
        except httpx.HTTPError as exc:
            raise OllamaError(f"The connection to Ollama broke while creating '{name}': {exc}",
                              START_HINT) from exc
        raise OllamaError(f"Ollama ended the create stream for '{name}' without 'success'.",
                          "Check with 'ollama list' whether the model exists, then try again.")

    def generate(self, name: str, prompt: str, options: dict | None = None) -> str:
        body: dict = {"model": name, "prompt": prompt, "stream": False}
        if options:
            body["options"] = options
        data = self._json("POST", "/api/generate", f"the prompt to '{name}'", json=body,
                          timeout=CREATE_TIMEOUT)
        return str(data.get("response", ""))


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
        if isinstance(data, dict) and data.get("error"):
            return str(data["error"])
    except ValueError:  # not JSON: the body itself says what went wrong
        log.debug("Ollama answered %s with a body that is not JSON", response.status_code)
    return (response.text or response.reason_phrase or "").strip()[:300]


def _create_event(item: dict) -> ProgressEvent:
    status = str(item.get("status") or "")
    total, done = item.get("total"), item.get("completed")
    fraction = done / total if isinstance(total, int) and total and isinstance(done, int) else None
    return ProgressEvent(step="register", message=status, fraction=fraction)


def parse_show_parameters(text: str) -> list[tuple[str, str]]:
    """/api/show's `parameters` text ("stop   \\"x\\"" per line) as (name, value) pairs."""
    out = []
    for line in (text or "").splitlines():
        name, _, value = line.strip().partition(" ")
        value = value.strip()
        if not name:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                value = json.loads(value)
            except ValueError:
                value = value[1:-1]
        out.append((name, value))
    return out
