"""interlace: fast LLM function calling.

LLMCompiler (Kim et al. 2023, arXiv 2312.04511) and AsyncLM (Gim, Lee, Zhong 2024,
arXiv 2412.07017) on one runtime. The public API is re-exported here once.
"""

from interlace._errors import (
    ArityError,
    ChecksumError,
    CMLError,
    CycleError,
    DanglingReferenceError,
    DataError,
    DatasetNotFoundError,
    DuplicateTaskError,
    InterlaceError,
    LLMAuthenticationError,
    LLMConnectionError,
    LLMContextOverflowError,
    LLMError,
    LLMModelNotFoundError,
    LLMRateLimitError,
    NetworkUnavailableError,
    PlanError,
    PlanParseError,
    PlanValidationError,
    ToolArgumentError,
    ToolError,
    ToolExecutionError,
    ToolTimeoutError,
    UnknownToolError,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "ArityError",
    "CMLError",
    "ChecksumError",
    "CycleError",
    "DanglingReferenceError",
    "DataError",
    "DatasetNotFoundError",
    "DuplicateTaskError",
    "InterlaceError",
    "LLMAuthenticationError",
    "LLMConnectionError",
    "LLMContextOverflowError",
    "LLMError",
    "LLMModelNotFoundError",
    "LLMRateLimitError",
    "NetworkUnavailableError",
    "PlanError",
    "PlanParseError",
    "PlanValidationError",
    "ToolArgumentError",
    "ToolError",
    "ToolExecutionError",
    "ToolTimeoutError",
    "UnknownToolError",
    "UsageError",
    "__version__",
]
