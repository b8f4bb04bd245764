"""The analysis on traces recorded by the real agents (ScriptedLLM, no model)."""

from __future__ import annotations

import anyio
import pytest

from interlace._tools import Tool
from interlace.agents._compiler import LLMCompiler
from interlace.agents._react import ReAct
from interlace.testing import ScriptedLLM
from interlace.trace import critical_path, metrics, trace_from_dict, trace_to_dict


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def search(query: str) -> str:
    """Look something up."""
    await anyio.sleep(0.4)  # longer than the whole plan streams (~0.3 s)
    return f"about {query}"


TOOLS = [Tool.from_function(search)]
PLAN = 'Thought: two lookups\n1. search("a")\n2. search("b")\n3. join()\n<END_OF_PLAN>\n'


@pytest.mark.anyio
async def test_compiler_trace_streaming_planner_is_partly_on_the_path() -> None:
    llm = ScriptedLLM([PLAN, "Thought: ok\nAction: Finish(done)\n"], ttft=0.01, tpot=0.02)
    result = await LLMCompiler(llm, TOOLS).run("q")
    path = critical_path(result.trace)
    assert path.length <= path.latency
    assert path.efficiency is not None and path.efficiency > 0.5
    first = path.steps[0]
    assert first.kind == "llm" and first.partial  # search 1 started while the plan streamed
    assert [s.kind for s in path.steps] == ["llm", "tool", "llm"]
    m = metrics(result.trace)
    assert m["max_tool_concurrency"] == 2 and m["overlap_share"] > 0
    # the stored form gives the same figures
    again = metrics(trace_from_dict(trace_to_dict(result.trace)))
    assert again["critical_path_s"] == pytest.approx(m["critical_path_s"], abs=1e-5)


@pytest.mark.anyio
async def test_react_trace_is_one_chain() -> None:
    llm = ScriptedLLM(
        ['Thought: a\nAction: search("a")\n', "Thought: b\nAction: Finish(done)\n"],
        ttft=0.01,
        tpot=0.005,
    )
    result = await ReAct(llm, TOOLS).run("q")
    path = critical_path(result.trace)
    assert [s.kind for s in path.steps] == ["llm", "tool", "llm"]
    assert metrics(result.trace)["overlap_share"] == pytest.approx(0.0)
    assert path.efficiency is not None and path.efficiency > 0.5
