"""llama.cpp: the pinned tool build, discovery and probing, GGUF inspection, the trainer.

    build.ensure_tools(cuda=False, progress=None, cancel=None) -> bin folder (builds once)
    build.cached_tools_dir() -> bin folder or None
    discover.find_tools(configured=None) -> ToolSet (path/version/flavour/backend per tool)
    gguf_info.inspect_gguf(path) -> GGUFInfo (architecture, size, types, trainability)
    trainer.get_trainer("llama.cpp") -> Trainer (builds the training ProcessStep)
    progress.FinetuneProgressParser(epochs, val_split) -> parse_line for llama-finetune
    tool_steps: F32 conversion, token preflight, quantize, the llama-completion try

The wrappers take plain values (paths, numbers, a format), never a run's settings or state.
The pipeline that strings them together is forge_gui.core.pipeline.train_pipeline.train_specs;
core/pipeline/script.py writes the same run as a bash script.
"""
