"""Registering a fine-tuned model with Ollama (docs/ollama.md).

modelfile: Modelfile writer/parser.  template: the TEMPLATE and stops
that reproduce the training text.  hashing: cached sha256.  client: the HTTP API.
store: the local model store (base GGUF discovery).  resolve: what the trainer produced.
register: the pipeline steps.  doctor: what `forge-cli doctor` reports about Ollama.
"""
