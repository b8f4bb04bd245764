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
from interlace.llm._engine import PrefixCache, Snapshot, TokenEngine
from interlace.llm._local import LocalLLM, StopFilter
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

__all__ = [
    "BACKEND_SPEC_HELP",
    "DEFAULT_MODEL",
    "DEFAULT_PRICES",
    "LLM",
    "MODELS",
    "PRESETS",
    "PRICES_ENV",
    "BackendSpec",
    "Completion",
    "FinishReason",
    "GenerationConfig",
    "LLMStats",
    "LocalLLM",
    "Message",
    "ModelInfo",
    "ModelPart",
    "ModelSpec",
    "OpenAICompatLLM",
    "PrefixCache",
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
    "Usage",
    "cache_dir",
    "fetch_model",
    "list_models",
    "load_llm",
    "now",
    "parse_spec",
    "resolve_model",
]
