"""LangChain ``BaseTool`` objects as interlace tools (langchain-core is in the dev extra)."""

from __future__ import annotations

import pytest
from langchain_core.tools import StructuredTool, ToolException
from langchain_core.tools import tool as lc_tool

from interlace import LLMCompiler, ToolExecutionError, UsageError, langchain_tools
from interlace.testing import ScriptedLLM

pytestmark = pytest.mark.anyio


@lc_tool
def multiply(a: int, b: int = 2) -> int:
    """Multiply two integers.

    Args:
        a: the first factor.
        b: the second factor.
    """
    return a * b


def _refuse(city: str) -> str:
    """Look up a city (always refuses)."""
    raise ToolException(f"no data for {city}")


refuse = StructuredTool.from_function(_refuse, name="lookup")


async def test_schema_description_and_calls_come_from_langchain() -> None:
    (t,) = langchain_tools(multiply)
    assert t.name == "multiply" and t.description == "Multiply two integers."
    assert t.parameters["required"] == ["a"]
    assert t.render() == "multiply(a: int, b: int = 2) - Multiply two integers."
    assert await t.invoke(("3",), {}) == 6
    assert await t.invoke((3,), {"b": 5}) == 15


async def test_a_tool_exception_is_a_failed_task() -> None:
    tools = langchain_tools([multiply, refuse])
    with pytest.raises(ToolExecutionError, match="no data for Oslo"):
        await tools[1].invoke(("Oslo",), {})
    plan = '1. lookup("Oslo")\n2. multiply(4)\n3. join()\n<END_OF_PLAN>'
    llm = ScriptedLLM([plan, "Thought: 8.\nAction: Finish(8)"])
    result = await LLMCompiler(llm, tools, max_replans=0).run("Twice 4?")
    assert result.answer == "8"
    assert any("no data for Oslo" in e for e in result.errors)


def test_only_langchain_tools_are_accepted() -> None:
    with pytest.raises(UsageError, match="BaseTool"):
        langchain_tools([multiply, print])
