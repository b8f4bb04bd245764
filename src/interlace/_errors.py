"""Every exception interlace raises, in one tree.

::

    InterlaceError                  root: catch this to catch anything of ours
    ├── UsageError                  the developer called the API wrongly (your code's fault)
    ├── PlanError                   an LLM-written plan cannot run (the model's fault)
    │   ├── PlanParseError          a plan line is not `N. tool(args)` / `join()` / `Thought:`
    │   └── PlanValidationError     the plan parses but is not a valid DAG
    │       ├── UnknownToolError        names a tool that is not registered
    │       ├── DanglingReferenceError  `$N` names a task that does not exist (yet)
    │       ├── DuplicateTaskError      a task id repeats or does not increase
    │       ├── CycleError              the dependencies form a cycle
    │       └── ArityError              arguments do not bind to the tool's signature
    ├── ToolError                   a tool call did not produce a value
    │   ├── ToolArgumentError       an argument does not fit the tool's schema
    │   │   └── ExpressionError     the math tool's expression is not plain arithmetic
    │   ├── ToolExecutionError      the tool raised (the original is ``__cause__``)
    │   ├── ToolTimeoutError        the tool ran longer than its timeout
    │   └── ToolSourceError         tools could not be loaded (MCP server down, bad listing)
    ├── LLMError                    the language model backend failed
    │   ├── LLMConnectionError      could not reach the server / network down
    │   ├── LLMAuthenticationError  the key was refused
    │   ├── LLMModelNotFoundError   the server does not know the model / no such GGUF
    │   ├── LLMContextOverflowError the prompt does not fit the context window
    │   ├── LLMRateLimitError       still rate-limited after the retries
    │   └── LLMResponseError        the server's reply breaks the protocol (malformed stream)
    ├── CMLError                    a CML block (AsyncLM) is malformed
    ├── CallSyntaxError             a call body `name(args)` (plan line, CML block, ReAct action)
    │                               does not parse; front ends wrap it (PlanParseError, CMLError)
    └── DataError                   benchmark data missing, corrupt or unreachable
        ├── DatasetNotFoundError    the file is not in the data directory
        ├── ChecksumError           the downloaded bytes do not match the sha256
        └── NetworkUnavailableError no network to download from

Model-caused errors (``PlanError``, ``ToolError``, ``CMLError``) are normally not raised to the
caller of an agent: they become task outcomes and observations the joiner sees.
"""

from __future__ import annotations


class InterlaceError(Exception):
    """Root of every exception raised by interlace."""


class UsageError(InterlaceError):
    """Raised when interlace is called wrongly: the caller's code must change."""


class PlanError(InterlaceError):
    """Raised when a plan written by the planner cannot be run as written."""


class PlanParseError(PlanError):
    """Raised when a plan line cannot be parsed.

    Attributes:
        line: the offending line, verbatim.
        task_id: the task id the line declared, when it could be read, else ``None``.
    """

    def __init__(self, message: str, *, line: str, task_id: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.task_id = task_id


class PlanValidationError(PlanError):
    """Raised when a parsed plan is not a valid DAG over the registered tools."""


class UnknownToolError(PlanValidationError):
    """Raised when a task names a tool that is not registered."""


class DanglingReferenceError(PlanValidationError):
    """Raised when ``$N`` refers to a task that does not exist or comes later."""


class DuplicateTaskError(PlanValidationError):
    """Raised when a task id repeats or is not larger than the previous one."""


class CycleError(PlanValidationError):
    """Raised when task dependencies form a cycle."""


class ArityError(PlanValidationError):
    """Raised when a task's arguments cannot be bound to its tool's signature."""


class ToolError(InterlaceError):
    """Raised when a tool call does not produce a value."""


class ToolArgumentError(ToolError):
    """Raised when an argument does not fit the tool's schema (names tool, argument, type)."""


class ToolExecutionError(ToolError):
    """Raised when the tool itself raised; the original exception is ``__cause__``."""


class ToolTimeoutError(ToolError):
    """Raised when a tool call exceeds its timeout (seconds)."""


class ToolSourceError(ToolError):
    """Raised when the tools of a source cannot be loaded: an MCP server that does not start,
    cannot be reached or sends a listing we cannot use. The source's fault, not the caller's."""


class LLMError(InterlaceError):
    """Raised when the language model backend fails."""


class LLMConnectionError(LLMError):
    """Raised when the backend cannot be reached after the retries."""


class LLMAuthenticationError(LLMError):
    """Raised when the backend refuses the credentials."""


class LLMModelNotFoundError(LLMError):
    """Raised when the backend does not know the model, or a GGUF path does not exist."""


class LLMContextOverflowError(LLMError):
    """Raised when the prompt plus ``max_tokens`` does not fit the context window."""


class LLMRateLimitError(LLMError):
    """Raised when the backend still answers 429 after the retries."""


class LLMResponseError(LLMError):
    """Raised while reading a reply that breaks the protocol: a stream chunk that is not JSON,
    not an object, or lacks the fields of a chat completion chunk. The server's fault."""


class CMLError(InterlaceError):
    """Raised when a CML control block is malformed."""


class CallSyntaxError(InterlaceError):
    """Raised by :func:`interlace._calls.parse_call` when a model-written call body
    ``name(args, key=value)`` is not the call syntax (the model's fault). Plan, CML and ReAct
    front ends turn it into their own error (the original as ``__cause__``).

    Attributes:
        body: the body as written (possibly cut to 200 characters).
    """

    def __init__(self, message: str, *, body: str = "") -> None:
        super().__init__(message)
        self.body = body


class DataError(InterlaceError):
    """Raised when benchmark data is missing, corrupt or cannot be fetched."""


class DatasetNotFoundError(DataError):
    """Raised when a dataset file is not in the data directory."""


class ChecksumError(DataError):
    """Raised when a fetched file's sha256 does not match the expected one."""


class NetworkUnavailableError(DataError):
    """Raised when a download is needed and no network is reachable."""


class ExpressionError(ToolArgumentError):
    """Raised when the math tool's arithmetic expression (written by the model) is not plain
    arithmetic over numbers, or cannot be evaluated (division by zero, overflow)."""
