"""The event stream of a run: typed events in the order things happen."""

from __future__ import annotations

import collections.abc
import contextlib
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import interlace
from interlace import (
    Answer,
    LLMCompiler,
    LLMEnd,
    LLMStart,
    LLMText,
    ReAct,
    TaskDispatched,
    TaskFinished,
    TaskStarted,
    Tool,
)
from interlace.agents._result import EventStreaming
from interlace.testing import ScriptedLLM

pytestmark = pytest.mark.anyio

PLAN = '1. capital("Italy")\n2. population($1)\n3. join()\n<END_OF_PLAN>'
FINISH = "Thought: about 2.8 million.\nAction: Finish(2800000)"


def capital(country: str) -> str:
    """The capital of a country."""
    return {"Italy": "Rome"}[country]


def population(city: str) -> int:
    """How many people live in a city."""
    return {"Rome": 2_800_000}[city]


TOOLS = [Tool.from_function(capital), Tool.from_function(population)]


def _kinds(events: list[interlace.Event]) -> list[str]:
    out = []
    for e in events:
        label = type(e).__name__
        if isinstance(e, LLMStart | LLMEnd):
            label += f":{e.role}"
        elif isinstance(e, TaskDispatched | TaskStarted | TaskFinished):
            label += f":{e.task_id}"
        if not isinstance(e, LLMText):
            out.append(label)
    return out


async def test_events_of_a_plan_with_two_tools_come_in_order() -> None:
    agent = LLMCompiler(ScriptedLLM([PLAN, FINISH]), TOOLS)
    got = [e async for e in interlace.events(agent, "How many live in Italy's capital?")]
    kinds = _kinds(got)
    assert kinds[0] == "LLMStart:planner"
    assert isinstance(got[-1], Answer) and got[-1].result.answer == "2800000"
    order = {k: kinds.index(k) for k in kinds}
    for task in (1, 2):  # each task: dispatched, started, finished
        assert order[f"TaskDispatched:{task}"] < order[f"TaskStarted:{task}"]
        assert order[f"TaskStarted:{task}"] < order[f"TaskFinished:{task}"]
    assert order["TaskDispatched:1"] < order["LLMEnd:planner"]  # streamed: before the plan ended
    assert order["TaskFinished:1"] < order["TaskDispatched:2"]  # $1: only once 1 succeeded
    assert order["TaskFinished:2"] < order["LLMStart:joiner"] < order["LLMEnd:joiner"]
    assert kinds.count("LLMStart:planner") == 1 and kinds.count("LLMStart:joiner") == 1
    started = [e for e in got if isinstance(e, TaskStarted)]
    assert [s.call for s in started] == ["capital(country='Italy')", "population(city='Rome')"]
    finished = [e for e in got if isinstance(e, TaskFinished)]
    assert [f.status for f in finished] == ["succeeded", "succeeded"]
    assert isinstance(finished[1].outcome, interlace.Succeeded)
    assert finished[1].outcome.value == 2_800_000
    planner = next(e for e in got if isinstance(e, LLMStart) and e.role == "planner").request
    text = "".join(e.text for e in got if isinstance(e, LLMText) and e.request == planner)
    assert text == PLAN.removesuffix("<END_OF_PLAN>")  # the stop sequence is not text
    end = next(e for e in got if isinstance(e, LLMEnd) and e.role == "joiner")
    assert end.completion.usage.completion_tokens > 0


async def test_listen_sends_react_events_to_a_callback() -> None:
    react = 'Thought: find the capital.\nAction: capital("Italy")'
    agent = ReAct(ScriptedLLM([react, "Thought: Rome.\nAction: Finish(Rome)"]), TOOLS)
    seen: list[interlace.Event] = []
    with interlace.listen(seen.append):
        result = await agent.run("What is Italy's capital?")
    assert result.answer == "Rome"
    kinds = [k for k in _kinds(seen) if not k.startswith("TaskDispatched")]
    assert kinds == [
        "LLMStart:react",
        "LLMEnd:react",
        "TaskStarted:1",
        "TaskFinished:1",
        "LLMStart:react",
        "LLMEnd:react",
    ]
    finished = next(e for e in seen if isinstance(e, TaskFinished))
    assert finished.tool == "capital" and finished.status == "succeeded"
    before = len(seen)
    agent = ReAct(ScriptedLLM([react, "Thought: Rome.\nAction: Finish(Rome)"]), TOOLS)
    await agent.run("What is Italy's capital?")  # outside the block: nothing is sent
    assert len(seen) == before


async def test_a_failing_backend_ends_the_stream_with_its_error() -> None:
    class Down(ScriptedLLM):
        async def stream(self, messages, config=interlace.GenerationConfig()):  # type: ignore[no-untyped-def] # noqa: B008
            raise interlace.LLMConnectionError("server down")
            yield  # pragma: no cover

    agent = LLMCompiler(Down(["x"]), TOOLS)
    got: list[interlace.Event] = []
    with pytest.raises(interlace.LLMConnectionError, match="server down"):
        async with contextlib.aclosing(interlace.events(agent, "q")) as stream:
            async for event in stream:
                got.append(event)
    assert [type(e) for e in got] == [LLMStart]


def test_cli_run_never_prints_a_tool_line_inside_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlace.cli import app

    tools = tmp_path / "geo.py"
    tools.write_text(
        "def capital(country: str) -> str:\n"
        '    """The capital of a country."""\n'
        '    return "Rome"\n\n'
        "def population(city: str) -> int:\n"
        '    """How many people live in a city."""\n'
        "    return 2800000\n\n"
        "TOOLS = [capital, population]\n"
    )
    llm = ScriptedLLM([PLAN, FINISH], tpot=0.001)  # small chunks, tools run mid-stream
    monkeypatch.setattr("interlace.cli._options.load_llm", lambda spec, threads=None: llm)
    result = CliRunner().invoke(
        app, ["run", "How many live in Italy's capital?", "--tools", f"{tools}:TOOLS"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for line in lines:  # a tool mark only ever opens its own line
        for mark in ("▶", "✓", "✗"):
            if mark in line:
                assert re.match(rf"^\s*{mark} ", line), line
    assert '1. capital("Italy")' in lines and "2. population($1)" in lines
    planner = [i for i, line in enumerate(lines) if line.startswith("─") and "planner" in line]
    joiner = [i for i, line in enumerate(lines) if line.startswith("─") and "joiner" in line]
    assert planner and joiner and planner[0] < lines.index('1. capital("Italy")') < joiner[0]
    assert joiner[0] < lines.index("Thought: about 2.8 million.")
    started = [i for i, line in enumerate(lines) if "▶ population(city='Rome')" in line]
    assert started and planner[0] < started[0] < joiner[0]
    assert "Answer: 2800000" in result.output


def test_the_library_prints_no_log_output_unless_asked() -> None:
    """A failed tool logs a warning; without a handler configured by the application nothing
    reaches stderr (no last-resort output through a program's own display)."""
    import subprocess
    import sys

    code = (
        "import anyio, interlace\n"
        "from interlace.testing import ScriptedLLM\n"
        "@interlace.tool\n"
        "def boom(x: int) -> int:\n"
        "    '''Fail.\n\n    Args:\n        x: a number.\n    '''\n"
        "    raise RuntimeError('no')\n"
        "llm = ScriptedLLM(['1. boom(1)\\n2. join()<END_OF_PLAN>', 'Action: Finish(none)'])\n"
        "result = anyio.run(interlace.LLMCompiler(llm, [boom]).run, 'q?')\n"
        "assert result.errors, result\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def _compiler() -> interlace.Agent:
    return LLMCompiler(ScriptedLLM([PLAN, FINISH]), TOOLS)


def _react() -> interlace.Agent:
    react = 'Thought: find the capital.\nAction: capital("Italy")'
    return ReAct(ScriptedLLM([react, "Thought: Rome.\nAction: Finish(Rome)"]), TOOLS)


def _asynclm() -> interlace.Agent:
    reply = '[CALL] c1 [HEAD] capital(country="Italy") [END] [TRAP][END] Rome'
    return interlace.AsyncLM(ScriptedLLM(lambda m: reply if m[-1].role == "user" else ""), TOOLS)


@pytest.mark.parametrize(
    "make", [_compiler, _react, _asynclm], ids=["compiler", "react", "asynclm"]
)
async def test_agent_events_method_yields_what_the_module_function_yields(
    make: collections.abc.Callable[[], interlace.Agent],
) -> None:
    question = "How many live in Italy's capital?"
    agent = make()
    assert isinstance(agent, EventStreaming)
    by_method = [e async for e in agent.events(question)]
    by_function = [e async for e in interlace.events(make(), question)]
    assert _kinds(by_method) == _kinds(by_function)
    assert isinstance(by_method[0], LLMStart)
    if isinstance(agent, interlace.AsyncLM):  # the stream engine: one request per interrupt
        assert {e.role for e in by_method if isinstance(e, LLMStart)} == {"cml"}
    assert any(isinstance(e, TaskFinished) and e.status == "succeeded" for e in by_method)
    assert isinstance(by_method[-1], Answer)
    assert by_method[-1].result.answer == by_function[-1].result.answer  # type: ignore[union-attr]
    assert by_method[-1].result.method == agent.name


def test_every_agent_class_has_the_events_method() -> None:
    for cls in (LLMCompiler, ReAct, interlace.AsyncLM, interlace.NativeFunctionCalling):
        assert issubclass(cls, EventStreaming), cls
        assert cls.events is EventStreaming.events  # one mechanism, not one copy per agent
