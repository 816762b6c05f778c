"""The model of Go's text/template the Ollama test double renders TEMPLATEs with: the one in
core (forge_gui/core/formats/gotemplate.py, which the pipeline's TEMPLATE check uses)."""

from forge_gui.core.formats.gotemplate import TemplateError, render

__all__ = ["TemplateError", "render"]
