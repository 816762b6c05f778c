"""Training data: read, validate, normalise, render and prepare (no Qt here)."""

from forge_gui.core.data.mapping import format_map, parse_map
from forge_gui.core.data.models import (
                                        Conversation,
                                        DataInputError,
                                        DataInvalid,
                                        FileReport,
                                        Issue,
                                        PrepareResult,
                                        SkippedPath,
                                        Stats,
                                        Turn,
                                        UnknownSchema,
                                        ValidationOptions,
                                        ValidationReport,
)
from forge_gui.core.data.prepare import prepare_training_data, val_path_for
from forge_gui.core.data.render import STOP_MARKERS, render_conversation, render_turns
from forge_gui.core.data.validate import iter_conversations, validate_paths

__all__ = [
    "Conversation", "DataInputError", "DataInvalid", "FileReport", "Issue", "PrepareResult",
    "SkippedPath", "Stats", "Turn", "UnknownSchema", "ValidationOptions", "ValidationReport",
    "parse_map", "format_map", "prepare_training_data", "val_path_for", "STOP_MARKERS",
    "render_conversation", "render_turns", "iter_conversations", "validate_paths",
]
