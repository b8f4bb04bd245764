"""ReAct baseline: one call per turn, repeats not re-run, forced final answer at max_steps."""

from __future__ import annotations

import pytest

from interlace._tools import Tool
from interlace.agents._react import ReAct
from interlace.testing import ScriptedLLM


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_search(calls: list[str]) -> Tool:
    def search(query: str) -> str:
        """Look a topic up in the encyclopedia."""
        calls.append(query)
        if query == "boom":
            raise RuntimeError("index offline")
        return f"result for {query}"

    return Tool.from_function(search)


@pytest.mark.anyio
async def test_think_act_observe_then_finish() -> None:
    calls: list[str] = []
    llm = ScriptedLLM(
        [
            'Thought: look it up\nAction: search("Lucas")\nObservation: invented by the model',
            "Thought: done\nAction: Finish(Star Wars (film))",
        ]
    )
    result = await ReAct(llm, [make_search(calls)]).run("Which film?")
    assert result.answer == "Star Wars (film)"
    assert calls == ["Lucas"]
    assert result.tool_calls == 1 and result.llm_calls == 2 and result.rounds == 2
    second = llm.requests[1].messages
    assert second[-1].content == "Observation: result for Lucas"
    assert "invented by the model" not in second[-2].content  # cut at the stop sequence
    assert "Observation:" in llm.requests[0].config.stop
    assert [s.kind for s in result.trace.spans].count("llm") == 2
    assert any(s.kind == "tool" and s.name == "search" for s in result.trace.spans)
    assert result.errors == ()


@pytest.mark.anyio
async def test_repeated_identical_action_is_not_run_again() -> None:
    calls: list[str] = []
    llm = ScriptedLLM(
        [
            'Action: search("Lucas")',
            "Action: search('Lucas')",
            "Action: Finish(1977)",
        ]
    )
    result = await ReAct(llm, [make_search(calls)]).run("When?")
    assert calls == ["Lucas"]
    assert result.tool_calls == 1
    # The repeat is not re-run, and the very next turn is the forced final answer turn.
    assert "already did" in llm.requests[2].messages[-1].content
    assert "No more tool calls" in llm.requests[2].messages[-1].content
    assert result.answer == "1977"
    assert result.llm_calls == 3
    assert any("repeated an action: forced a final answer" in e for e in result.errors)


@pytest.mark.anyio
async def test_max_steps_forces_a_final_answer_turn() -> None:
    calls: list[str] = []
    llm = ScriptedLLM(['Action: search("a")', 'Action: search("b")', "Thought: it must be Oslo\n"])
    result = await ReAct(llm, [make_search(calls)], max_steps=2).run("Where?")
    assert calls == ["a", "b"]
    assert "No more tool calls" in llm.requests[2].messages[-1].content
    assert "Finish(" in llm.requests[2].messages[-1].content
    assert result.answer == "it must be Oslo"
    assert any("max_steps" in e for e in result.errors)
    assert result.llm_calls == 3


@pytest.mark.anyio
async def test_forced_final_answer_is_never_empty() -> None:
    llm = ScriptedLLM(['Action: search("a")', ""])
    result = await ReAct(llm, [make_search([])], max_steps=1).run("Where?")
    assert result.answer == "result for a"


@pytest.mark.anyio
async def test_tool_errors_and_unknown_tools_become_observations() -> None:
    llm = ScriptedLLM(
        [
            'Action: search("boom")',
            'Action: lookup("x")',
            "Action: search[plain text]",
            "Finish(ok)",
        ]
    )
    calls: list[str] = []
    result = await ReAct(llm, [make_search(calls)]).run("Q?")
    assert "index offline" in llm.requests[1].messages[-1].content
    assert "no tool named lookup" in llm.requests[2].messages[-1].content
    assert calls == ["boom", "plain text"]
    assert result.answer == "ok"
    assert any("index offline" in e for e in result.errors)


@pytest.mark.anyio
async def test_copied_placeholder_is_not_an_answer() -> None:
    llm = ScriptedLLM(["Action: Finish(answer)", "Action: Finish(Oslo)"])
    result = await ReAct(llm, [make_search([])]).run("Where?")
    assert result.answer == "Oslo"
    assert result.llm_calls == 2
