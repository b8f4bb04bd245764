"""The public surface is declared once, in ``interlace.__init__``, and is what we think it is."""

from __future__ import annotations

import interlace

EXPECTED = {
    # core
    "Tool", "tool", "Plan", "Task", "TaskId", "Ref", "Template", "PlanParser", "parse_plan",
    "Scheduler", "Outcome", "Succeeded", "Failed", "Cancelled", "Skipped",
    "run_plan", "ExecutionLimits", "ExecutionReport", "TaskRecord",
    # tool sources
    "mcp_stdio_tools", "mcp_http_tools", "langchain_tools", "remote_tool",
    # agents
    "Agent", "RunResult", "LLMCompiler", "ReAct", "AsyncLM", "SyncCalling",
    "NativeFunctionCalling",
    # models
    "LLM", "Message", "GenerationConfig", "Completion", "TextDelta", "Usage", "LocalLLM",
    "OpenAICompatLLM", "load_llm",
    # traces and the event stream of a run
    "Span", "Trace", "events", "listen", "Event", "LLMStart", "LLMText", "LLMEnd",
    "TaskDispatched", "TaskStarted", "TaskFinished", "Replan", "Interrupt", "Answer",
    # errors
    "InterlaceError", "UsageError", "PlanError", "PlanParseError", "PlanValidationError",
    "UnknownToolError", "DanglingReferenceError", "DuplicateTaskError", "CycleError",
    "ArityError", "ToolError", "ToolArgumentError", "ToolExecutionError", "ToolTimeoutError",
    "ToolSourceError",
    "LLMError", "LLMConnectionError", "LLMAuthenticationError", "LLMModelNotFoundError",
    "LLMContextOverflowError", "LLMRateLimitError", "CMLError", "DataError",
    "DatasetNotFoundError", "ChecksumError", "NetworkUnavailableError",
    "__version__",
}  # fmt: skip


def test_public_names_are_exactly_the_declared_ones() -> None:
    assert set(interlace.__all__) == EXPECTED
    for name in interlace.__all__:
        assert getattr(interlace, name) is not None, name


def test_every_error_descends_from_the_root() -> None:
    for name in EXPECTED:
        obj = getattr(interlace, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, interlace.InterlaceError), name


def test_import_does_not_load_the_embedded_backend() -> None:
    """``llama_cpp`` and numpy are imported only when a local model is used."""
    import subprocess
    import sys

    check = (
        "import sys, interlace, interlace.cli, interlace.bench, interlace.testing\n"
        "heavy = sorted({'llama_cpp', 'numpy'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
        "interlace.LocalLLM\n"
        "assert 'llama_cpp' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_lazy_names_are_the_real_ones() -> None:
    from interlace.llm._engine import TokenEngine
    from interlace.llm._local import LocalLLM

    assert interlace.LocalLLM is LocalLLM
    assert interlace.llm.TokenEngine is TokenEngine
    assert "LocalLLM" in interlace.__all__ and "TokenEngine" in interlace.llm.__all__
