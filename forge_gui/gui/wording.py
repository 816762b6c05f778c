"""Core's messages in the app's own words (docs/gui.md, "Messages").

Core writes one sentence for both front ends, and its hints name what forge-cli users type
(`--force`, `--ctx 256`, `forge-cli doctor`). Everything the app shows from core passes
through `in_app_words`, which says the same with the app's controls. A test feeds it every
such hint core can give and checks that no command-line flag is left.
"""

from __future__ import annotations

import re

_REWRITES: list[tuple[re.Pattern, str]] = [(re.compile(p), r) for p, r in [
    (r"replace it \(--force on the CLI\)",
     'tick "Replace the existing model of that name" on the Name page'),
    (r"--force on the CLI", 'the "Replace" box on the Name page'),
    (r"e\.g\. --ctx (\d+)", r"e.g. a training context of \1 tokens on the Trainer page"),
    (r"Pass --base NAME or --base-gguf FILE\.", "Choose a base model on the Base model page."),
    (r"Pass --base with an Ollama model name or a GGUF file\.",
     "Choose the base model on the Base model page."),
    (r"Pass the model file itself with --base-gguf FILE\.",
     "Choose its GGUF file on the Base model page instead."),
    (r"Run 'forge-cli setup-llama-cpp'[^.]*\.",
     'Build them on the Trainer page ("Build the tools now").'),
    (r"forge-cli setup-llama-cpp( --cuda)?", '"Build the tools now" on the Trainer page'),
    (r"Run 'forge-cli doctor' to see which tools are found\.",
     "The Trainer page shows which tools are found."),
    (r"\('forge-cli doctor' shows what is found\)", "(the Trainer page shows what is found)"),
    (r"Run 'forge-cli validate' on it to see each problem, or read ",
     "The Data page lists each problem; the full report is "),
    (r"Run: forge-cli validate-training-data .* to see every problem\.",
     "The Data page lists every problem."),
    (r" \(--strict\)", ""),
]]


def in_app_words(text: str) -> str:
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text
