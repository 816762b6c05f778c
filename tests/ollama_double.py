"""A faithful stand-in for an Ollama server (Ollama cannot be installed on test machines).

It follows the HTTP API Forge uses (docs/ollama.md) and is strict where Ollama is strict, and
stricter about fields, so a typo in a request fails a test instead of being ignored:
- GET /api/version, GET /api/tags, POST /api/show, DELETE /api/delete
- HEAD/POST /api/blobs/sha256:<hex>: the body's sha256 must equal the digest in the URL
- POST /api/create: NDJSON status lines; Ollama's name rules (tests/ollama_names_rules.py,
  from Ollama's source, never Forge's); every `files`/`adapters` digest must be an
  uploaded blob holding a GGUF; `from` must name an existing model; unknown fields refused
- POST /api/generate: renders the model's TEMPLATE for the prompt with `render` (the fixtures
  give it Go's own text/template, tests/gorender.py; tests/gotemplate.py, a model of it, only
  where none is given) and answers a deterministic sentence that names the model;
  `prompt_rendered` in the answer (not part of Ollama's API) lets tests check exactly what the
  model would have been given.

`mode`: "current" (0.34.1 or later: one GGUF adapter accepted, safetensors/PEFT refused with
"The adapter must be in GGUF format", as Ollama does) or "legacy" (0.34.0: PEFT accepted too);
`version_override` makes it claim another version. `failure`: None,
"http500" (every request), "midstream" (create fails after its first status lines). `delay`:
seconds before each answer and each status line (a slow server); `hold` and `hold_create`
keep requests waiting for an event instead. `stop()` makes it "down":
the port then refuses connections.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gotemplate
import ollama_names_rules as names  # Ollama's rules from its source, not Forge's
from ollama_double_create import check_create

VERSIONS = {"current": "0.34.1", "legacy": "0.34.0"}
CREATE_FIELDS = {"model", "from", "files", "adapters", "template", "system", "parameters",
                 "quantize", "stream", "license", "messages"}
HOLD_LIMIT_S = 120  # a held request goes on after this, so a test that forgets cannot hang


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up early (a timeout test, Cancel) is normal, not a traceback."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        import sys
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class OllamaDouble:
    def __init__(self, store: Path, mode: str = "current", render: Render | None = None) -> None:
        self.store = Path(store)
        self.render: Render = render or _modelled_render
        (self.store / "blobs").mkdir(parents=True, exist_ok=True)
        self.mode = mode
        self.failure: str | None = None
        self.delay = 0.0
        # Events instead of delays: with `hold` set to an Event, every request waits until it
        # is set; with `hold_create`, only /api/create does (the name stays held by its run).
        # `create_arrived` is set when a create request comes in.
        self.hold: threading.Event | None = None
        self.hold_create: threading.Event | None = None
        self.create_arrived = threading.Event()
        self.models: dict[str, dict] = {}  # full name -> create request + created info
        self.requests: list[tuple[str, str]] = []  # (method, path) in order
        self.uploads: list[str] = []  # digests received by POST /api/blobs
        self.generated: list[tuple[str, str]] = []  # (model, the prompt text it was given)
        self.version_override: str | None = None
        # a server that refuses every adapter whatever its version says (a build without
        # adapter support): Forge must fall back to merging
        self.refuse_adapters = False
        self._connections: set = set()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    @property
    def version(self) -> str:
        return self.version_override or VERSIONS[self.mode]

    def stop(self) -> None:
        """Go down: stop listening and drop kept-alive connections (clients pool them)."""
        self._server.shutdown()
        self._server.server_close()
        for conn in list(self._connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def blob_path(self, digest: str) -> Path:
        return self.store / "blobs" / digest.replace(":", "-")

    def blob_head(self, digest: str) -> bytes | None:
        """The first 4 bytes of an uploaded blob (its magic), None when there is none."""
        try:
            with open(self.blob_path(digest), "rb") as fh:
                return fh.read(4)
        except OSError:
            return None

    def add_model(self, name: str, template: str = "{{ .Prompt }}", parameters: dict | None = None,
                  system: str = "", family: str = "llama") -> None:
        """A model that exists already, as if pulled (for show / from / 'exists' tests)."""
        self.models[_full(name)] = {"model": name, "template": template, "system": system,
                                    "parameters": parameters or {}, "family": family, "files": {}}


# render(template, [(role, content)], system) -> the text; RuntimeError when it cannot
Render = Callable[[str, list[tuple[str, str]], str], str]


def _modelled_render(template: str, messages: list[tuple[str, str]], system: str) -> str:
    """tests/gotemplate.py, a model of Go's text/template: only where Go is not given."""
    prompt = messages[-1][1] if messages and messages[-1][0] == "user" else ""
    try:
        return gotemplate.render(template, {
            "System": system, "Messages": [{"Role": r, "Content": c} for r, c in messages],
            "Prompt": prompt, "Response": ""})
    except gotemplate.TemplateError as exc:
        raise RuntimeError(str(exc)) from exc


def _full(name: str) -> str:
    """How /api/tags lists it (DisplayShortest)."""
    return names.display_shortest(name)


def _invalid(name: str) -> bool:
    return not names.is_valid(name)


def _key(double: OllamaDouble, name: str) -> str:
    """Where Ollama keeps `name`: an existing model whose name differs only in case is the
    same one (EqualFold; ollama#7676: creating LLAMA3.2:1B writes over llama3.2:1b)."""
    return next((k for k in double.models if names.equal_fold(k, name)), _full(name))


def _handler_for(double: OllamaDouble):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def setup(self) -> None:
            super().setup()
            double._connections.add(self.connection)

        def finish(self) -> None:
            double._connections.discard(self.connection)
            super().finish()

        # ---------------------------------------------------------- helpers
        def _send(self, status: int, payload: dict | None = None) -> None:
            body = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": message})

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _json_body(self) -> dict | None:
            try:
                data = json.loads(self._body() or b"null")
            except ValueError as exc:
                self._error(400, f"invalid JSON: {exc}")
                return None
            if not isinstance(data, dict):
                self._error(400, "missing request body")
                return None
            return data

        def _begin(self) -> bool:
            double.requests.append((self.command, self.path))
            if double.hold is not None:
                double.hold.wait(HOLD_LIMIT_S)
            if double.delay:
                time.sleep(double.delay)
            if double.failure == "http500":
                self._body()
                self._error(500, "internal server error (test double failure mode)")
                return False
            return True

        # ---------------------------------------------------------- routes
        def do_GET(self) -> None:
            if not self._begin():
                return
            if self.path == "/api/version":
                self._send(200, {"version": double.version})
            elif self.path == "/api/tags":
                self._send(200, {"models": [_tag_entry(double, n, m)
                                            for n, m in sorted(double.models.items())]})
            else:
                self._error(404, "404 page not found")

        def do_HEAD(self) -> None:
            if not self._begin():
                return
            digest = _blob_digest(self.path)
            if digest is None:
                self._send(400)
            else:
                self._send(200 if double.blob_path(digest).is_file() else 404)

        def do_DELETE(self) -> None:
            if not self._begin():
                return
            data = self._json_body()
            if data is None:
                return
            if self.path != "/api/delete":
                return self._error(404, "404 page not found")
            name = str(data.get("model") or "")
            if _invalid(name) or _key(double, name) not in double.models:
                return self._error(404, f"model '{name}' not found")
            del double.models[_key(double, name)]
            self._send(200, {})

        def do_POST(self) -> None:
            if not self._begin():
                return
            if self.path.startswith("/api/blobs/"):
                return self._upload()
            data = self._json_body()
            if data is None:
                return
            routes = {"/api/show": self._show, "/api/create": self._create,
                      "/api/generate": self._generate}
            route = routes.get(self.path)
            if route is None:
                return self._error(404, "404 page not found")
            route(data)

        def _upload(self) -> None:
            digest = _blob_digest(self.path)
            if digest is None:
                self._body()
                return self._error(400, "invalid digest format")
            length = int(self.headers.get("Content-Length") or 0)
            sha = hashlib.sha256()
            target = double.blob_path(digest)
            partial = target.with_name(target.name + "-partial")
            with open(partial, "wb") as fh:
                left = length
                while left:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    sha.update(chunk)
                    fh.write(chunk)
                    left -= len(chunk)
            if "sha256:" + sha.hexdigest() != digest:
                partial.unlink()
                return self._error(400, "digest mismatch, layer invalid")
            partial.replace(target)
            double.uploads.append(digest)
            self._send(201)

        def _show(self, data: dict) -> None:
            name = str(data.get("model") or data.get("name") or "")
            if _invalid(name) or _key(double, name) not in double.models:
                return self._error(404, f"model '{name}' not found")
            model = double.models[_key(double, name)]
            self._send(200, {
                "modelfile": f"# test double\nFROM {name}\n",
                "parameters": _parameters_text(model["parameters"]),
                "template": model["template"],
                "system": model.get("system", ""),
                "details": {"format": "gguf", "family": model["family"],
                            "parameter_size": "tiny", "quantization_level": "Q8_0"},
                "model_info": {"general.architecture": model["family"]},
            })

        def _create(self, data: dict) -> None:
            double.create_arrived.set()
            if double.hold_create is not None:
                double.hold_create.wait(HOLD_LIMIT_S)
            unknown = set(data) - CREATE_FIELDS
            if unknown:
                return self._error(400, f"unknown fields (test double): {sorted(unknown)}")
            name = str(data.get("model") or "")
            if _invalid(name):
                return self._error(400, "invalid model name")
            adapters = data.get("adapters") or {}
            if adapters and double.refuse_adapters:
                return self._error(400, "adapters are not supported by this server")
            if adapters and double.mode == "current":
                # 0.34.1 dropped safetensors import: one GGUF adapter per model, nothing else.
                heads = [double.blob_head(d) for d in adapters.values()]
                if len(adapters) != 1 or heads != [b"GGUF"]:
                    return self._error(400, "The adapter must be in GGUF format")
            problem = check_create(double, data, _key, _invalid)
            if problem:
                return self._error(400, problem)
            self._stream(name, data)

        def _stream(self, name: str, data: dict) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def line(item: dict) -> None:
                if double.delay:
                    time.sleep(double.delay)
                raw = json.dumps(item).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
                self.wfile.flush()

            line({"status": "parsing GGUF"})
            for digest in list((data.get("files") or {}).values()):
                line({"status": f"using existing layer {digest}"})
            if double.failure == "midstream":
                line({"error": "error mid-stream (test double failure mode)"})
            else:
                for digest in list((data.get("adapters") or {}).values()):
                    line({"status": f"using existing layer {digest}"})
                line({"status": "writing manifest"})
                base = double.models.get(_key(double, data["from"])) if data.get("from") else None
                double.models[_key(double, name)] = {
                    **data,
                    "template": data.get("template") or (base or {}).get("template", "{{ .Prompt }}"),
                    "system": data.get("system") or (base or {}).get("system", ""),
                    "parameters": data.get("parameters") or (base or {}).get("parameters", {}),
                    "family": (base or {}).get("family", "llama"),
                }
                line({"status": "success"})
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _generate(self, data: dict) -> None:
            name = str(data.get("model") or "")
            if _invalid(name) or _key(double, name) not in double.models:
                return self._error(404, f"model '{name}' not found, try pulling it first")
            model = double.models[_key(double, name)]
            system = data.get("system") or model.get("system") or ""
            # Ollama's generate: the SYSTEM first, then the prompt as the user's message
            messages = ([("system", system)] if system else [])
            messages.append(("user", str(data.get("prompt", ""))))
            try:
                rendered = double.render(model["template"], messages, system)
            except RuntimeError as exc:
                return self._error(500, f"template: {exc}")
            double.generated.append((name, rendered))
            answer = f"Hello from {name}! (test double, {len(rendered)} prompt characters)"
            payload = {"model": name, "response": answer, "done": True,
                       "prompt_rendered": rendered}
            self._send(200, payload)  # with stream=true, one NDJSON line is a valid stream too

    return Handler


def _blob_digest(path: str) -> str | None:
    m = re.fullmatch(r"/api/blobs/(sha256[:-][0-9a-f]{64})", path)
    return m.group(1).replace("-", ":") if m else None


def _parameters_text(params: dict) -> str:
    lines = []
    for key, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key:<30} {json.dumps(item) if isinstance(item, str) else item}")
    return "\n".join(lines)


def _tag_entry(double: OllamaDouble, name: str, model: dict) -> dict:
    digests = list((model.get("files") or {}).values())
    size = sum(double.blob_path(d).stat().st_size for d in digests if double.blob_path(d).is_file())
    return {"name": name, "model": name, "size": size,
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": {"format": "gguf", "family": model.get("family", "llama"),
                        "parameter_size": "tiny", "quantization_level": "Q8_0"}}
