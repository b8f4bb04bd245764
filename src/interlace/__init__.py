"""interlace: fast LLM function calling.

LLMCompiler (Kim et al. 2023, arXiv 2312.04511) and AsyncLM (Gim, Lee, Zhong 2024,
arXiv 2412.07017) on one runtime. The public API is re-exported here once.

:class:`LocalLLM` (the embedded llama.cpp backend) is imported on first use, so
``import interlace`` loads neither ``llama_cpp`` nor numpy.
"""

from typing import TYPE_CHECKING, Any

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
    ToolSourceError,
    ToolTimeoutError,
    UnknownToolError,
    UsageError,
)
from interlace._events import (
    Answer,
    Event,
    Interrupt,
    LLMEnd,
    LLMStart,
    LLMText,
    Replan,
    TaskDispatched,
    TaskFinished,
    TaskStarted,
    events,
    listen,
)
from interlace._executor import ExecutionLimits, ExecutionReport, TaskRecord, run_plan
from interlace._langchain import langchain_tools
from interlace._mcp import mcp_http_tools, mcp_stdio_tools
from interlace._plan import Plan, Ref, Task, TaskId, Template
from interlace._planner import PlanParser, parse_plan
from interlace._ray_tools import remote_tool
from interlace._scheduler import Cancelled, Failed, Outcome, Scheduler, Skipped, Succeeded
from interlace._tools import Tool, tool
from interlace.agents import (
    Agent,
    AsyncLM,
    LLMCompiler,
    NativeFunctionCalling,
    ReAct,
    RunResult,
    SyncCalling,
)
from interlace.llm import (
    LLM,
    Completion,
    GenerationConfig,
    Message,
    OpenAICompatLLM,
    TextDelta,
    Usage,
    load_llm,
)
from interlace.trace import Span, Trace

if TYPE_CHECKING:
    from interlace.llm import LocalLLM


def __getattr__(name: str) -> Any:
    """``LocalLLM`` on first use (it imports ``llama_cpp`` and numpy)."""
    if name == "LocalLLM":
        from interlace.llm import LocalLLM

        globals()[name] = LocalLLM
        return LocalLLM
    raise AttributeError(f"module 'interlace' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "LLM",
    "Agent",
    "Answer",
    "ArityError",
    "AsyncLM",
    "CMLError",
    "Cancelled",
    "ChecksumError",
    "Completion",
    "CycleError",
    "DanglingReferenceError",
    "DataError",
    "DatasetNotFoundError",
    "DuplicateTaskError",
    "Event",
    "ExecutionLimits",
    "ExecutionReport",
    "Failed",
    "GenerationConfig",
    "InterlaceError",
    "Interrupt",
    "LLMAuthenticationError",
    "LLMCompiler",
    "LLMConnectionError",
    "LLMContextOverflowError",
    "LLMEnd",
    "LLMError",
    "LLMModelNotFoundError",
    "LLMRateLimitError",
    "LLMStart",
    "LLMText",
    "LocalLLM",
    "Message",
    "NativeFunctionCalling",
    "NetworkUnavailableError",
    "OpenAICompatLLM",
    "Outcome",
    "Plan",
    "PlanError",
    "PlanParseError",
    "PlanParser",
    "PlanValidationError",
    "ReAct",
    "Ref",
    "Replan",
    "RunResult",
    "Scheduler",
    "Skipped",
    "Span",
    "Succeeded",
    "SyncCalling",
    "Task",
    "TaskDispatched",
    "TaskFinished",
    "TaskId",
    "TaskRecord",
    "TaskStarted",
    "Template",
    "TextDelta",
    "Tool",
    "ToolArgumentError",
    "ToolError",
    "ToolExecutionError",
    "ToolSourceError",
    "ToolTimeoutError",
    "Trace",
    "UnknownToolError",
    "Usage",
    "UsageError",
    "__version__",
    "events",
    "langchain_tools",
    "listen",
    "load_llm",
    "mcp_http_tools",
    "mcp_stdio_tools",
    "parse_plan",
    "remote_tool",
    "run_plan",
    "tool",
]
