"""LLMCompiler: streamed planning, parallel tasks, joiner parsing and fallbacks, replanning."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import anyio
import pytest

from interlace._errors import LLMConnectionError
from interlace._tools import Tool
from interlace.agents import LLMCompiler, RunResult
from interlace.llm import LLM, GenerationConfig, Message, StreamItem, now
from interlace.testing import ScriptedLLM, ScriptedRequest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_search(starts: dict[str, float] | None = None) -> Tool:
    async def search(query: str) -> str:
        """Look a topic up."""
        if starts is not None:
            starts[query] = now()
        if query == "boom":
            raise RuntimeError("index offline")
        return f"about {query}"

    return Tool.from_function(search)


PLAN = (
    'Thought: look up both films first and then compare them\n1. search("Alien")\n'
    "Thought: the second film is independent of the first one so it can run at once\n"
    '2. search("Heat")\n3. join()\n<END_OF_PLAN>'
)
FINISH = "Thought: both found\nAction: Finish(Star Wars (film))"


def planner_end(result: RunResult) -> float:
    spans = [s for s in result.trace.spans if s.kind == "llm" and s.attrs["role"] == "planner"]
    assert len(spans) == 1
    return spans[0].end


@pytest.mark.anyio
async def test_tasks_start_while_the_plan_still_streams() -> None:
    starts: dict[str, float] = {}
    llm = ScriptedLLM([PLAN, FINISH], ttft=0.01, tpot=0.01)
    result = await LLMCompiler(llm, [make_search(starts)]).run("Which?")
    assert set(starts) == {"Alien", "Heat"}
    assert starts["Alien"] < planner_end(result) - 0.1  # ~20 more chunks were still to come
    assert result.answer == "Star Wars (film)"
    assert result.tool_calls == 2 and result.llm_calls == 2 and result.rounds == 1
    assert result.details["plans"] == [PLAN.removesuffix("<END_OF_PLAN>")]
    assert result.errors == ()


@pytest.mark.anyio
async def test_without_streaming_tasks_wait_for_the_whole_plan() -> None:
    starts: dict[str, float] = {}
    llm = ScriptedLLM([PLAN, FINISH], ttft=0.01, tpot=0.01)
    result = await LLMCompiler(llm, [make_search(starts)], stream=False).run("Which?")
    assert min(starts.values()) >= planner_end(result)
    assert result.answer == "Star Wars (film)"


@pytest.mark.anyio
async def test_independent_tasks_overlap() -> None:
    started: set[str] = set()
    both = anyio.Event()

    async def wait_for_both(name: str) -> str:
        started.add(name)
        if len(started) == 2:
            both.set()
        with anyio.fail_after(2):
            await both.wait()
        return name

    async def left() -> str:
        """Left half."""
        return await wait_for_both("left")

    async def right() -> str:
        """Right half."""
        return await wait_for_both("right")

    tools = [Tool.from_function(left), Tool.from_function(right)]
    llm = ScriptedLLM(["1. left()\n2. right()\n3. join()\n", "Action: Finish(both)"])
    result = await LLMCompiler(llm, tools).run("Run both")
    assert result.answer == "both"
    assert result.errors == ()  # a timeout in either tool would be listed here
    tool_spans = sorted((s for s in result.trace.spans if s.kind == "tool"), key=lambda s: s.start)
    assert len(tool_spans) == 2 and tool_spans[1].start < tool_spans[0].end


@pytest.mark.anyio
async def test_a_failing_tool_is_shown_to_the_joiner_and_dependents_skipped() -> None:
    llm = ScriptedLLM(
        [
            '1. search("boom")\n2. search($1)\n3. search("ok")\n4. join()\n',
            "Thought: one worked\nAction: Finish(about ok)",
        ]
    )
    result = await LLMCompiler(llm, [make_search()]).run("Q?")
    joiner_prompt = llm.requests[1].messages[-1].content
    assert "index offline" in joiner_prompt
    assert "Skipped" in joiner_prompt
    assert "Observation 3: about ok" in joiner_prompt
    assert result.answer == "about ok"
    assert result.tool_calls == 2
    assert any("index offline" in e for e in result.errors)
    assert any("Skipped" in e for e in result.errors)


@pytest.mark.anyio
async def test_unreadable_plan_lines_are_reported() -> None:
    llm = ScriptedLLM(['1. search("a"\n2. search("b")\n3. join()\n', "Action: Finish(b)"])
    result = await LLMCompiler(llm, [make_search()]).run("Q?")
    joiner_prompt = llm.requests[1].messages[-1].content
    assert 'search("a"' in joiner_prompt and "Observation 2: about b" in joiner_prompt
    assert 'search("b")' not in joiner_prompt  # a result that came is shown by its id alone
    assert any('search("a"' in e for e in result.errors)


@pytest.mark.anyio
async def test_missing_action_line_asks_once_more() -> None:
    llm = ScriptedLLM(
        ['1. search("a")\n2. join()\n', "Thought: it is Paris", "Action: Finish(Paris)"]
    )
    result = await LLMCompiler(llm, [make_search()]).run("Capital?")
    assert result.answer == "Paris"
    assert "Finish(" in llm.requests[2].messages[-1].content
    assert any("no Finish/Replan" in e for e in result.errors)
    assert result.llm_calls == 3


@pytest.mark.anyio
async def test_missing_action_line_never_gives_an_empty_answer() -> None:
    llm = ScriptedLLM(['1. search("a")\n2. join()\n', "Thought: it is Paris", ""])
    result = await LLMCompiler(llm, [make_search()]).run("Capital?")
    assert result.answer == "it is Paris"
    assert len(result.errors) == 2


@pytest.mark.anyio
async def test_a_stated_answer_without_action_is_used_directly() -> None:
    llm = ScriptedLLM(['1. search("a")\n2. join()\n', "Thought: ok\nAnswer: Rome"])
    result = await LLMCompiler(llm, [make_search()]).run("Capital?")
    assert result.answer == "Rome"
    assert result.llm_calls == 2
    assert result.errors


def _role(request: ScriptedRequest) -> str:
    """The role of a request, from the grammar the agent attached (never from prompt text)."""
    grammar = request.config.grammar
    return "none" if grammar is None else grammar.name


@pytest.mark.anyio
async def test_a_replan_that_repeats_a_plan_is_the_last_round() -> None:
    plan = '1. search("same")\n2. join()\n'

    def reply(messages: Sequence[Message]) -> str:
        last = messages[-1].content
        if last.endswith("then join().") or last.endswith("already worked."):
            return plan if len(planned) % 2 else '1.  search("same")\n\n2. join()'
        if last.startswith("Reply with one line"):
            return "Action: Finish(from the same results)"
        return "Thought: not sure\nAction: Replan(again)"

    planned: list[str] = []
    llm = ScriptedLLM(lambda m: (planned.append("x"), reply(m))[1])
    result = await LLMCompiler(llm, [make_search()], max_replans=3).run("Which?")
    assert result.rounds == 2  # not 4: the second plan is the first one, spaced differently
    assert result.answer == "from the same results"
    joiners = [_role(r) for r in llm.requests if _role(r).startswith("joiner")]
    assert joiners[:2] == ["joiner", "joiner-final"]  # the repeat's joiner may only finish
    assert any("repeats round 1" in e for e in result.errors)


@pytest.mark.anyio
async def test_replans_up_to_max_replans_then_must_finish() -> None:
    def reply(messages: Sequence[Message]) -> str:
        last = messages[-1].content
        if last.endswith("then join().") or last.endswith("already worked."):
            return f'1. search("try {len(calls)}")\n2. join()\n'
        if last.startswith("Reply with one line"):
            return "Action: Finish(best guess)"
        return "Thought: still missing the year\nAction: Replan(need the year)"

    calls: list[str] = []
    starts: dict[str, float] = {}
    llm = ScriptedLLM(lambda m: (calls.append("x"), reply(m))[1])
    result = await LLMCompiler(llm, [make_search(starts)], max_replans=2).run("When?")
    assert result.rounds == 3
    assert result.answer == "best guess"
    planners = [r for r in llm.requests if _role(r) == "plan"]
    assert len(planners) == 3
    # every round continues one conversation: a request starts with the previous one's messages
    for before, after in zip(llm.requests, llm.requests[1:], strict=False):
        if _role(after) != "joiner-final" or _role(before) != "joiner-final":
            assert after.messages[: len(before.messages)] == before.messages or (
                after.messages[-1].content.startswith("Reply with one line")
            )
    second = planners[1].messages
    assert "still missing the year" in second[-2].content  # the joiner's reply, then the cue
    assert "Observation 1: about try 1" in second[-3].content  # earlier results stay visible
    joiners = [r for r in llm.requests if _role(r).startswith("joiner")]
    assert [_role(r) for r in joiners] == ["joiner", "joiner", "joiner-final", "joiner-final"]
    assert "No more tool calls" in joiners[2].messages[-1].content
    assert not any("No more tool calls" in r.messages[-1].content for r in joiners[:2])
    assert any("last round" in e for e in result.errors)
    assert [s.kind for s in result.trace.spans].count("replan") == 2
    assert len(result.details["plans"]) == 3 and len(result.details["thoughts"]) == 3
    assert result.llm_calls == 7 == len(llm.requests)


@pytest.mark.anyio
async def test_usage_is_summed_over_every_request() -> None:
    llm = ScriptedLLM([PLAN, FINISH])
    result = await LLMCompiler(llm, [make_search()]).run("Which?")
    spans = [s for s in result.trace.spans if s.kind == "llm"]
    assert result.usage.completion_tokens == sum(s.attrs["completion_tokens"] for s in spans) > 0
    assert result.usage.prompt_tokens == sum(s.attrs["prompt_tokens"] for s in spans) > 0
    assert {s.attrs["role"] for s in spans} == {"planner", "joiner"}
    assert any(s.kind == "join" for s in result.trace.spans)


DEFAULT_CONFIG = GenerationConfig()


class BrokenLLM(LLM):
    model = "broken"

    async def stream(
        self, messages: Sequence[Message], config: GenerationConfig = DEFAULT_CONFIG
    ) -> AsyncIterator[StreamItem]:
        raise LLMConnectionError("server down")
        yield  # pragma: no cover


@pytest.mark.anyio
async def test_llm_errors_propagate() -> None:
    with pytest.raises(LLMConnectionError, match="server down"):
        await LLMCompiler(BrokenLLM(), [make_search()]).run("Q?")


PLANNER_EXAMPLE = """Question: Which is older, the Eiffel Tower or the Statue of Liberty?
1. search("Eiffel Tower")
2. search("Statue of Liberty")
3. join()
<END_OF_PLAN>"""

JOINER_EXAMPLE = """Question: Which is older, the Eiffel Tower or the Statue of Liberty?
1. search("Eiffel Tower")
Observation: The Eiffel Tower was finished in 1889.
2. search("Statue of Liberty")
Observation: The Statue of Liberty was finished in 1886.
Thought: 1886 is before 1889.
Action: Finish(Statue of Liberty)"""


@pytest.mark.slow
@pytest.mark.anyio
async def test_end_to_end_with_the_real_model() -> None:
    from interlace.llm._local import LocalLLM
    from interlace.llm._models import resolve_model

    name = "qwen2.5-coder-0.5b"
    try:
        resolve_model(name)
    except Exception as exc:  # the model file is missing: fail loudly, never skip
        pytest.fail(f"model {name} is not available ({exc}); run `interlace models fetch {name}`")
    facts = {"paris": "Paris has 2.1 million people.", "rome": "Rome has 2.8 million people."}

    def search(query: str) -> str:
        """Look a city up in the encyclopedia."""
        return next((v for k, v in facts.items() if k in query.lower()), "No article found.")

    llm = LocalLLM(name, n_ctx=2048)
    try:
        agent = LLMCompiler(
            llm,
            [Tool.from_function(search)],
            planner_examples=PLANNER_EXAMPLE,
            joiner_examples=JOINER_EXAMPLE,
            max_replans=0,
            planner_config=GenerationConfig(max_tokens=80),
            joiner_config=GenerationConfig(max_tokens=60),
        )
        result = await agent.run("Which city has more people, Paris or Rome?")
    finally:
        await llm.aclose()
    print(result.answer, result.latency, result.usage, result.details, result.errors)
    assert result.answer.strip()
    assert result.tool_calls >= 1
    roles = [s.attrs["role"] for s in result.trace.spans if s.kind == "llm"]
    assert roles[0] == "planner" and "joiner" in roles
