"""Real Go text/template (Ollama's template engine) for tests: tests/go/render_template.go,
built once per session with the Go toolchain (Debian's golang-go, installed by .ci/run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).parent / "go" / "render_template.go"


def build(folder: Path) -> Path:
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("the Go toolchain is not installed (apt-get install golang-go)")
    out = folder / "render_template"
    env = {**os.environ, "GOCACHE": str(folder / "gocache"), "GOPATH": str(folder / "gopath"),
           "GO111MODULE": "off", "GOFLAGS": ""}
    subprocess.run([go, "build", "-o", str(out), str(SOURCE)], check=True, env=env,
                   capture_output=True, timeout=300)
    return out


def render(binary: Path, template: str, messages: list[tuple[str, str]], system: str = "") -> str:
    payload = {"template": template, "system": system,
               "messages": [{"role": r, "content": c} for r, c in messages]}
    done = subprocess.run([str(binary)], input=json.dumps(payload).encode(), capture_output=True,
                          timeout=30)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode())
    return done.stdout.decode("utf-8")
