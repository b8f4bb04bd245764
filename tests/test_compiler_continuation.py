"""LLMCompiler's token economy: one conversation, results in completion order, prefilled ahead."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import anyio
import pytest

from interlace import LLMCompiler, Tool, tool
from interlace.agents._compiler import render_results
from interlace.llm import Message, PrefixPrefill
from interlace.testing import ScriptedLLM


class PrefillingLLM(ScriptedLLM):
    """A scripted LLM that declares the prefill capability and records each call."""

    def __init__(self, replies: Sequence[str]) -> None:
        super().__init__(replies)
        self.prefills: list[tuple[tuple[Message, ...], bool, bool]] = []

    async def prefill(
        self, messages: Sequence[Message], *, open_end: bool = False, background: bool = False
    ) -> int:
        self.prefills.append((tuple(messages), open_end, background))
        return 1


def _tools() -> tuple[list[object], anyio.Event]:
    second_done = anyio.Event()

    @tool
    async def slow(topic: str) -> str:
        """Waits until fast() has finished, then answers.

        Args:
            topic: anything.
        """
        await second_done.wait()
        return f"slow says {topic}"

    @tool
    async def fast(topic: str) -> str:
        """Answers at once.

        Args:
            topic: anything.
        """
        second_done.set()
        return f"fast says {topic}"

    return [slow, fast], second_done


PLAN = '1. slow("a")\n2. fast("b")\n3. join()'


def test_the_scripted_double_declares_the_capability() -> None:
    assert isinstance(PrefillingLLM([]), PrefixPrefill)
    assert not isinstance(ScriptedLLM([]), PrefixPrefill)


@pytest.mark.anyio
async def test_the_joiner_continues_the_planner_conversation_with_results_in_finish_order() -> None:
    tools, _ = _tools()
    llm = ScriptedLLM([PLAN, "Thought: both\nAction: Finish(ab)"])
    result = await LLMCompiler(llm, tools).run("Q?")  # type: ignore[arg-type]
    planner, joiner = llm.requests
    assert joiner.messages[: len(planner.messages)] == planner.messages
    assert joiner.messages[len(planner.messages)] == Message(role="assistant", content=PLAN)
    results = joiner.messages[-1].content
    assert results.index("fast says b") < results.index("slow says a")  # completion order
    assert results.startswith("Results, in the order the calls finished.")
    assert result.answer == "ab" and result.errors == ()


@pytest.mark.anyio
async def test_results_are_prefilled_in_the_background_as_tasks_finish() -> None:
    tools, _ = _tools()
    llm = PrefillingLLM([PLAN, "Thought: both\nAction: Finish(ab)"])
    result = await LLMCompiler(llm, tools).run("Q?")  # type: ignore[arg-type]
    assert llm.prefills and all(open_end and bg for _, open_end, bg in llm.prefills)
    spans = [s for s in result.trace.spans if s.name == "joiner-prefill"]
    assert len(spans) == len(llm.prefills) and all(s.attrs["background"] for s in spans)
    assert result.llm_calls == 2  # background prefills are model time, not requests
    joiner = llm.requests[1].messages
    last, _, _ = llm.prefills[-1]
    # the prefilled prompt is the joiner's prompt so far: same messages, last one a prefix
    assert last[:-1] == joiner[:-1] and joiner[-1].content.startswith(last[-1].content)
    assert "fast says b" in last[-1].content
    seen = [p[-1].content for p, _, _ in llm.prefills]
    assert all(b.startswith(a) for a, b in itertools.pairwise(seen))  # append-only


@pytest.mark.anyio
async def test_no_background_prefill_when_disabled() -> None:
    tools, _ = _tools()
    llm = PrefillingLLM([PLAN, "Thought: both\nAction: Finish(ab)"])
    await LLMCompiler(llm, tools, prefill_results=False).run("Q?")  # type: ignore[arg-type]
    assert llm.prefills == []


@pytest.mark.anyio
async def test_the_agents_attach_their_grammars() -> None:
    tools, _ = _tools()
    llm = ScriptedLLM(
        [PLAN, "Thought: x\nAction: Replan(more)", PLAN, "Thought: y\nAction: Finish(z)"]
    )
    await LLMCompiler(llm, tools, max_replans=1).run("Q?")  # type: ignore[arg-type]
    names = [r.config.grammar.name if r.config.grammar else None for r in llm.requests]
    assert names == ["plan", "joiner", "plan", "joiner-final"]
    assert 'call1_slow: "slow("' in llm.requests[0].config.grammar.lark  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_a_plan_cut_by_the_token_budget_is_reported() -> None:
    tools, _ = _tools()
    llm = ScriptedLLM(['1. fast("b")\n2. fast("c")', "Thought: t\nAction: Finish(b)"])
    result = await LLMCompiler(llm, tools).run("Q?")  # type: ignore[arg-type]
    assert any("cut off before join()" in e for e in result.errors)


@pytest.mark.anyio
async def test_a_result_whose_str_raises_does_not_escape_the_run() -> None:
    class Weird:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    @tool
    def odd(x: str) -> object:
        """Returns an object that cannot be printed.

        Args:
            x: anything.
        """
        return Weird()

    llm = ScriptedLLM(['1. odd("a")\n2. join()', "Thought: t\nAction: Finish(n/a)"])
    result = await LLMCompiler(llm, [odd]).run("Q?")
    assert result.answer == "n/a" and "Weird" in llm.requests[1].messages[-1].content


@pytest.mark.anyio
async def test_observations_are_cut_to_the_budget_by_relevance() -> None:
    @tool
    def search(topic: str) -> str:
        """An encyclopedia paragraph.

        Args:
            topic: anything.
        """
        return (
            "Ed Wood was an American filmmaker. He made low-budget films. "
            "Wood was born in Poughkeepsie, New York. He served in the Marine Corps."
        )

    llm = ScriptedLLM(['1. search("Ed Wood")\n2. join()', "Thought: t\nAction: Finish(x)"])
    await LLMCompiler(llm, [search], observation_tokens=20).run("Where was Ed Wood born?")
    results = llm.requests[1].messages[-1].content
    assert "Poughkeepsie" in results and "Marine" not in results and "American" in results


_PARAGRAPH = (
    "The Sahara is a desert spanning North Africa. It covers 9,200,000 square kilometres. "
    "It is the largest hot desert in the world. Its climate has changed over the millennia."
)


def _search_and_count() -> list[Tool]:
    @tool
    def search(topic: str) -> str:
        """An encyclopedia paragraph.

        Args:
            topic: anything.
        """
        return _PARAGRAPH

    @tool
    def count(text: str) -> int:
        """The number of characters of a text.

        Args:
            text: anything.
        """
        return len(text)

    return [search, count]


@pytest.mark.anyio
async def test_a_result_a_later_task_consumed_gets_a_quarter_of_the_budget() -> None:
    tools = _search_and_count()
    plan = '1. search("Sahara")\n2. count($1)\n3. search("Sahara")\n4. join()'
    llm = PrefillingLLM([plan, "Thought: t\nAction: Finish(x)"])
    await LLMCompiler(llm, tools, observation_tokens=40).run(
        "How many square kilometres is the Sahara?"
    )
    results = llm.requests[1].messages[-1].content
    lines = {line.split(":", 1)[0]: line for line in results.splitlines() if ":" in line}
    # task 3 (nobody consumed it) keeps up to 40 tokens; task 1 (count took it) gets 10
    assert "9,200,000" in lines["Observation 3"] and "9,200,000" not in lines["Observation 1"]
    assert lines["Observation 1"].startswith("Observation 1: The Sahara is a desert")
    assert lines["Observation 2"] == f"Observation 2: {len(_PARAGRAPH)}"  # the tool had it whole
    # what was prefilled ahead is the same text: the joiner's prompt extends it
    last, _, _ = llm.prefills[-1]
    assert llm.requests[1].messages[-1].content.startswith(last[-1].content)


def test_consumed_tasks_reads_the_references_of_a_plan() -> None:
    from interlace.agents._compiler import consumed_budget, consumed_tasks

    assert consumed_tasks('1. a("x")\n2. b($1)\n3. c("$1 and $2")\n4. join()') == {1, 2}
    assert consumed_tasks("not a plan") == frozenset()
    assert (consumed_budget(96), consumed_budget(2), consumed_budget(0)) == (24, 1, 0)


def test_render_results_lists_what_never_ran_after_what_finished() -> None:
    text = render_results([], None, "Q?", final=True)
    assert "No more tool calls are possible" in text and text.endswith("\n")


@pytest.mark.anyio
async def test_answer_choices_go_into_the_joiner_and_react_grammars() -> None:
    from interlace import ReAct

    tools, _ = _tools()
    llm = ScriptedLLM([PLAN, "Thought: t\nAction: Finish(yes)"])
    await LLMCompiler(llm, tools, answer_choices=("yes", "no")).run("Q?")  # type: ignore[arg-type]
    joiner = llm.requests[1].config.grammar
    assert joiner is not None and 'answer: "yes" | "no"' in joiner.lark
    react = ReAct(ScriptedLLM([]), tools, answer_choices=("Oasis", "Blur"))  # type: ignore[arg-type]
    assert (
        react.config.grammar is not None and 'answer: "Oasis" | "Blur"' in react.config.grammar.lark
    )
