"""LLM accounting a user can trust: requests made by tools count, and eval shows every role."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

from _bench_helpers import SHARED_DATA
from interlace import Tool
from interlace.agents import LLMCompiler
from interlace.agents._common import RunMeter, ToolLLM, current_meter
from interlace.bench._eval import evaluate_records
from interlace.bench._mathtool import make_math
from interlace.llm._base import Message
from interlace.testing import ScriptedLLM
from interlace.trace import Span, Trace, trace_to_dict
from interlace.trace.analysis import role_usage

PLAN = '1. math("two times three")\n2. math("three times two")\n3. join()\n<END_OF_PLAN>'


def _is_joiner(messages: Sequence[Message]) -> bool:
    """A joiner request, whether it continues the planner's context (an assistant message, the
    plan, is in it) or starts its own (its system prompt, unlike the planner's, has no join())."""
    text = "\n".join(m.content for m in messages)
    continues = any(m.role == "assistant" for m in messages)
    return "Replan" in text and (continues or "join()" not in messages[0].content)


def _reply(messages: Sequence[Message]) -> str:
    """Math: an expression; the joiner: the answer; the planner: :data:`PLAN`."""
    if messages[-1].content.endswith("Expression:"):
        return "2 * 3"
    if _is_joiner(messages):
        return "Thought: both are 6.\nAction: Finish(6)"
    return PLAN


async def _compiler_run() -> Any:
    llm = ScriptedLLM(_reply, ttft=0.001, tpot=0.001)
    agent = LLMCompiler(llm, [Tool.from_function(make_math(llm))])
    return await agent.run("What is two times three, and three times two?"), llm


@pytest.mark.anyio
async def test_math_tool_requests_count_in_the_run_and_have_their_own_role() -> None:
    result, llm = await _compiler_run()
    assert len(llm.requests) == 4  # planner, two math, joiner
    assert result.llm_calls == 4
    assert result.usage.completion_tokens == sum(
        s.attrs["completion_tokens"] for s in result.trace.spans if s.kind == "llm"
    )
    math_spans = [s for s in result.trace.spans if s.kind == "llm" and s.name == "math"]
    assert len(math_spans) == 2
    assert all(s.attrs["tool"] is True and s.attrs["text"] == "2 * 3" for s in math_spans)
    assert all(len(s.attrs["prompt_sha"]) == 16 for s in math_spans)
    tools = [s for s in result.trace.spans if s.kind == "tool"]
    for span in math_spans:  # each lies inside the tool call that made it
        assert any(t.start <= span.start and span.end <= t.end for t in tools)
    assert current_meter() is None  # the run's meter is no longer current once it returned


@pytest.mark.anyio
async def test_tool_llm_outside_a_run_only_forwards() -> None:
    llm = ScriptedLLM(["7"])
    reply = await ToolLLM(llm, "math").complete([Message(role="user", content="x")])
    assert reply.text == "7" and current_meter() is None


@pytest.mark.anyio
async def test_a_tool_request_goes_to_the_meter_of_its_own_run() -> None:
    llm = ScriptedLLM(lambda messages: "1")
    meters: list[RunMeter] = []

    async def one_run(done: anyio.Event) -> None:
        meter = RunMeter()
        meters.append(meter)
        await ToolLLM(llm, "math").complete([Message(role="user", content="x")])
        done.set()

    first, second = anyio.Event(), anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(one_run, first)
        await first.wait()
        tg.start_soon(one_run, second)
    assert [m.llm_calls for m in meters] == [1, 1]


def _record(qid: str, trace: Trace, *, method: str = "compiler", latency: float = 4.0) -> Any:
    return {
        "benchmark": "toy",
        "question_id": qid,
        "method": method,
        "correct": True,
        "latency": latency,
        "config": {"llm": "local", "tool_latency": "0.5s", "search": "offline"},
        "trace": trace_to_dict(trace),
    }


def _llm(role: str, start: float, end: float, **attrs: Any) -> Span:
    return Span(kind="llm", name=role, start=start, end=end, attrs={"role": role, **attrs})


def _usage(prompt: int, cached: int, out: int, ttft: float) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "cached_prompt_tokens": cached,
        "completion_tokens": out,
        "ttft": ttft,
    }


def test_eval_reports_means_per_question_for_every_role() -> None:
    one = Trace(
        origin=0.0,
        spans=[
            _llm("planner", 0.0, 1.0, **_usage(100, 60, 10, 0.5)),
            Span(kind="tool", name="math", start=1.0, end=2.0, task_id=1),
            _llm("math", 1.1, 1.9, tool=True, **_usage(50, 0, 4, 0.4)),
            _llm("joiner", 2.0, 4.0, **_usage(200, 100, 8, 1.0)),
        ],
    )
    two = Trace(origin=0.0, spans=[_llm("planner", 0.0, 3.0, **_usage(120, 0, 20, 2.5))])
    report = evaluate_records([_record("1", one), _record("2", two)])
    (summary,) = report.summaries
    planner, joiner, math = (summary.roles[r] for r in ("planner", "joiner", "math"))
    assert planner == {
        "calls": 1.0,
        "uncached_prompt_tokens": (40 + 120) / 2,
        "cached_prompt_tokens": 30.0,
        "output_tokens": 15.0,
        "time_s": 2.0,
        "ttft_s": 1.5,
        "runs": 2.0,
    }
    assert joiner["calls"] == 0.5 and joiner["uncached_prompt_tokens"] == 50 and joiner["runs"] == 1
    assert (
        math["calls"] == 0.5 and math["output_tokens"] == 2 and math["time_s"] == pytest.approx(0.4)
    )
    assert json.loads(json.dumps(report.to_json()))["summaries"][0]["roles"]["math"]["runs"] == 1


def test_cml_runs_are_one_role_with_prefill_and_decode_tokens() -> None:
    trace = Trace(
        origin=0.0,
        spans=[
            Span(
                kind="llm", name="prefill", start=0.0, end=0.5, attrs={"tokens": 300, "cached": 200}
            ),
            Span(kind="llm", name="decode", start=0.5, end=1.5, attrs={"tokens": 20}),
            Span(kind="tool", name="f", start=1.5, end=2.0, attrs={"call_id": "c1", "ok": True}),
            Span(kind="interrupt", name="inject", start=2.0, end=2.25),
            Span(kind="llm", name="decode", start=2.25, end=2.5, attrs={"tokens": 5}),
        ],
    )
    (cml,) = role_usage(trace).items()
    assert cml == (
        "cml",
        {
            "calls": 1.0,
            "uncached_prompt_tokens": 100.0,
            "cached_prompt_tokens": 200.0,
            "output_tokens": 25.0,
            "time_s": 2.0,
            "ttft_s": 0.5,
        },
    )


def test_run_prints_the_llm_calls_the_math_tool_made(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlace.cli import app

    monkeypatch.setattr("interlace.cli._options.load_llm", lambda spec, n=None: ScriptedLLM(_reply))
    result = CliRunner().invoke(
        app, ["run", "What is two times three?", "--data-dir", str(SHARED_DATA)]
    )
    assert result.exit_code == 0, result.output
    assert "4 LLM calls" in result.output  # planner, math, math, joiner


def test_eval_table_shows_the_role_rows(tmp_path: Path) -> None:
    from interlace.cli import app

    trace = Trace(origin=0.0, spans=[_llm("planner", 0.0, 1.0, **_usage(100, 60, 10, 0.5))])
    store = tmp_path / "s.jsonl"
    store.write_text(json.dumps(_record("1", trace)) + "\n")
    out = CliRunner().invoke(app, ["eval", str(store)], env={"COLUMNS": "220"})
    assert out.exit_code == 0, out.output
    assert "LLM requests per role" in out.output and "planner" in out.output
    assert "token efficiency" in out.output


def test_prompt_digest_takes_any_model_text() -> None:
    from interlace.agents._common import prompt_digest

    lone = [Message(role="assistant", content="plan \ud800 line")]
    assert len(prompt_digest(lone)) == 16
    assert prompt_digest(lone) != prompt_digest([Message(role="assistant", content="plan line")])
