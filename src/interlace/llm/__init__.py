"""Language-model backends behind one small streaming protocol.

The embedded backend (:class:`LocalLLM`, :class:`TokenEngine` and their helpers) needs
``llama_cpp`` and numpy; those are imported on first use of one of its names (PEP 562), so
``import interlace`` and the remote backends do not pay for them.
"""

from typing import TYPE_CHECKING, Any

from interlace.llm._base import (
    LLM,
    Completion,
    FinishReason,
    GenerationConfig,
    Grammar,
    LLMStats,
    Message,
    PrefixPrefill,
    Role,
    StreamItem,
    TextDelta,
    Timing,
    TokenLevel,
    Usage,
    now,
)
from interlace.llm._models import (
    DEFAULT_MODEL,
    MODELS,
    ModelInfo,
    ModelPart,
    ModelSpec,
    cache_dir,
    fetch_model,
    list_models,
    resolve_model,
)
from interlace.llm._openai import PRESETS, OpenAICompatLLM, Preset
from interlace.llm._pricing import DEFAULT_PRICES, PRICES_ENV, Price, PriceTable
from interlace.llm._select import BACKEND_SPEC_HELP, BackendSpec, load_llm, parse_spec
from interlace.llm._toolcalls import NativeToolCalling, NativeTools, ToolCall, ToolChoice
from interlace.llm._wrap import ForwardingLLM

if TYPE_CHECKING:
    from interlace.llm._engine import CacheStats, PrefixCache, Snapshot, TokenEngine
    from interlace.llm._local import LocalLLM, StopFilter

#: Names of the embedded backend, by the module that defines them (imported on first use).
_LAZY = {
    "CacheStats": "interlace.llm._engine",
    "PrefixCache": "interlace.llm._engine",
    "Snapshot": "interlace.llm._engine",
    "TokenEngine": "interlace.llm._engine",
    "LocalLLM": "interlace.llm._local",
    "StopFilter": "interlace.llm._local",
}


def __getattr__(name: str) -> Any:
    """Import an embedded-backend name on first use (see the module docstring)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'interlace.llm' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


__all__ = [
    "BACKEND_SPEC_HELP",
    "DEFAULT_MODEL",
    "DEFAULT_PRICES",
    "LLM",
    "MODELS",
    "PRESETS",
    "PRICES_ENV",
    "BackendSpec",
    "CacheStats",
    "Completion",
    "FinishReason",
    "ForwardingLLM",
    "GenerationConfig",
    "Grammar",
    "LLMStats",
    "LocalLLM",
    "Message",
    "ModelInfo",
    "ModelPart",
    "ModelSpec",
    "NativeToolCalling",
    "NativeTools",
    "OpenAICompatLLM",
    "PrefixCache",
    "PrefixPrefill",
    "Preset",
    "Price",
    "PriceTable",
    "Role",
    "Snapshot",
    "StopFilter",
    "StreamItem",
    "TextDelta",
    "Timing",
    "TokenEngine",
    "TokenLevel",
    "ToolCall",
    "ToolChoice",
    "Usage",
    "cache_dir",
    "fetch_model",
    "list_models",
    "load_llm",
    "now",
    "parse_spec",
    "resolve_model",
]
