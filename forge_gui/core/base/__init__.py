"""Ground floor: what every other floor uses and that imports nothing of Forge's above it.

The step value (`steps`, `events`), the one process launcher (`process`, `lines`), atomic
writes and file-system errors (`atomic`, `fs_errors`), where Forge keeps things (`paths`),
its logs and its settings (`logs`, `app_settings`), and the pure rules the run and the
tools both check: Ollama's model names (`model_names`), the LoRA layers (`lora_modules`)."""
