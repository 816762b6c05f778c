"""Ollama's side, as plain wrappers that take paths, names and values (docs/ollama.md): never a
run's settings or state (the run's registration steps are core/registration).

modelfile: Modelfile writer/parser.  params: PARAMETER types.  hashing: cached sha256.
client: the HTTP API.  store: the local model store (base GGUF discovery).  resolve: what the
trainer produced and its route.  doctor: what `forge-cli doctor` reports about Ollama.
"""
