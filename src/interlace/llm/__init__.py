"""Language-model backends behind one small streaming protocol."""

from interlace.llm._base import (
    LLM,
    Completion,
    FinishReason,
    GenerationConfig,
    LLMStats,
    Message,
    Role,
    StreamItem,
    TextDelta,
    Timing,
    Usage,
    now,
)

__all__ = [
    "LLM",
    "Completion",
    "FinishReason",
    "GenerationConfig",
    "LLMStats",
    "Message",
    "Role",
    "StreamItem",
    "TextDelta",
    "Timing",
    "Usage",
    "now",
]
