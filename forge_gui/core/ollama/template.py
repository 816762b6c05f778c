"""The TEMPLATE and stop parameters that reproduce Forge's training text (docs/ollama.md, "What Forge gives Ollama").

The trainer saw, for each record (forge_gui.core.data.render_conversation):

    ### System:\\n{system}\\n\\n                        (only when there is a system message)
    ### Instruction:\\n{user}\\n\\n### Input:\\n{input or '(none)'}\\n\\n### Response:\\n{assistant}\\n
    ... further exchanges, each preceded by one more "\\n" (a blank line between them)

TEMPLATE renders Ollama's message list into exactly that text, so after the last user message
the prompt ends with "### Response:\\n" and the model continues as it learned to. What follows a
response in the training text is the next "### Instruction:" (or the next record's
"### System:"), so those are the stop markers.

Ollama's chat has no "input" field: a message is the instruction and Input is always "(none)".
Put extra context into the message itself.
"""

from __future__ import annotations

STOP_MARKERS = ("### Instruction:", "### System:")
NO_INPUT = "(none)"

# Go text/template, as Ollama runs it: .Messages holds every message in order, system ones
# included (Ollama puts the request's or the model's SYSTEM first), so a system message renders
# where it stands, as in the training text. No whitespace sits between actions: nothing to trim.
TEMPLATE = (
    "{{- range $i, $_ := .Messages }}"
    "{{- $last := eq (len (slice $.Messages $i)) 1 }}"
    "{{- if eq .Role \"system\" }}### System:\n{{ .Content }}\n\n"
    "{{ else if eq .Role \"user\" }}### Instruction:\n{{ .Content }}\n\n"
    "### Input:\n" + NO_INPUT + "\n\n### Response:\n"
    "{{ else if eq .Role \"assistant\" }}{{ .Content }}\n{{ if not $last }}\n{{ end }}"
    "{{ end }}"
    "{{- end }}"
)


def stop_parameters() -> list[tuple[str, str]]:
    """PARAMETER lines (name, value) that end a turn where the training text does."""
    return [("stop", marker) for marker in STOP_MARKERS]
