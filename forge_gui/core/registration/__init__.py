"""Registering a run's model with Ollama: the run's steps (they read and write RunState),
built on the plain wrappers of core/ollama (client, Modelfile, store, resolve) and the tools.

route: what was given (adapter, GGUF, PEFT folder), the base GGUF and how the model reaches
Ollama (from-file, merge, ADAPTER).  base_template: which TEMPLATE the model gets.
create: the Modelfile and the create request.  register: the pipeline steps (register_specs).
"""
