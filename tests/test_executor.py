"""run_plan: streaming dispatch, outcomes, limits, cancellation, trace; random-DAG properties."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlace._errors import (
    ArityError,
    LLMError,
    PlanParseError,
    ToolArgumentError,
    ToolExecutionError,
    ToolTimeoutError,
    UnknownToolError,
    UsageError,
)
from interlace._executor import ExecutionLimits, run_plan
from interlace._plan import Ref, Task, TaskId
from interlace._planner import EndOfPlan, JoinParsed, LineError, PlanEvent, PlanParser, TaskParsed
from interlace._scheduler import Cancelled, Failed, Skipped, Succeeded
from interlace._tools import Tool, tool
from interlace.trace._spans import Trace


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def stream_text(text: str, chunk: int = 7) -> AsyncIterator[PlanEvent]:
    parser = PlanParser()
    for i in range(0, len(text), chunk):
        for event in parser.feed(text[i : i + chunk]):
            yield event
    for event in parser.close():
        yield event


async def stream_events(events: Iterable[PlanEvent]) -> AsyncIterator[PlanEvent]:
    for event in events:
        yield event


@tool
async def echo(x: Any) -> Any:
    return x


@tool
def upper(s: str) -> str:
    return s.upper()


@tool
async def fail(x: Any = None) -> None:
    raise RuntimeError("nope")


TOOLS = {"echo": echo, "upper": upper, "fail": fail}


@pytest.mark.anyio
async def test_values_flow_through_refs_templates_and_containers() -> None:
    plan = """1. echo([1, 2])
2. upper("paris")
3. echo({"list": $1, "s": "got $2 and ${1}", "t": ($1, "$2")})
4. join()
<END_OF_PLAN>"""
    with anyio.fail_after(5):
        report = await run_plan(stream_text(plan), TOOLS)
    assert report.values[TaskId(3)] == {
        "list": [1, 2],  # a whole-argument Ref passes the value itself
        "s": "got PARIS and [1, 2]",  # embedded references are rendered with str()
        "t": ([1, 2], "PARIS"),
    }
    assert report.joined and report.ended and not report.cancelled
    assert list(report.records) == [1, 2, 3]
    assert report.line_errors == ()


@pytest.mark.anyio
async def test_failures_never_hang_and_skip_dependents() -> None:
    plan = """1. fail()
2. echo($1)
3. echo("independent")
4. nope($3)
5. echo($4)
6. upper(1, 2)
7. upper(["not", "a", "string"])
8. echo(
9. echo($8)
10. echo($42)
11. join()"""
    with anyio.fail_after(5):
        report = await run_plan(stream_text(plan), TOOLS)
    out = {i: r.outcome for i, r in report.records.items()}
    assert isinstance(out[TaskId(1)], Failed)
    assert isinstance(out[TaskId(1)].error, ToolExecutionError)
    assert isinstance(out[TaskId(1)].error.__cause__, RuntimeError)
    assert out[TaskId(2)] == Skipped(reason=out[TaskId(2)].reason, cause=TaskId(1))  # type: ignore[union-attr]
    assert out[TaskId(3)] == Succeeded(value="independent")
    assert isinstance(out[TaskId(4)], Failed) and isinstance(out[TaskId(4)].error, UnknownToolError)
    assert isinstance(out[TaskId(5)], Skipped) and out[TaskId(5)].cause == 4
    assert isinstance(out[TaskId(6)], Failed) and isinstance(out[TaskId(6)].error, ArityError)
    assert isinstance(out[TaskId(7)], Failed)
    assert isinstance(out[TaskId(7)].error, ToolArgumentError)
    assert isinstance(out[TaskId(8)], Failed) and isinstance(out[TaskId(8)].error, PlanParseError)
    assert report.records[TaskId(8)].task is None
    assert isinstance(out[TaskId(9)], Skipped) and out[TaskId(9)].cause == 8
    assert isinstance(out[TaskId(10)], Failed)  # $42 is not an earlier task: a line error
    assert [e.task_id for e in report.line_errors] == [8, 10]


@pytest.mark.anyio
async def test_task_referencing_a_task_that_never_appears_is_skipped_at_end_of_plan() -> None:
    events = [TaskParsed(task=Task(id=TaskId(2), tool="echo", args=(Ref(TaskId(1)),)))]
    with anyio.fail_after(5):
        report = await run_plan(stream_events(events), TOOLS)
    outcome = report.records[TaskId(2)].outcome
    assert isinstance(outcome, Skipped) and outcome.cause == 1
    assert report.records[TaskId(2)].start is None


@pytest.mark.anyio
async def test_tasks_start_before_the_plan_stream_ends() -> None:
    started = anyio.Event()

    @tool
    async def first() -> str:
        started.set()
        return "one"

    send, receive = anyio.create_memory_object_stream[PlanEvent](10)
    result: dict[str, Any] = {}

    async def run() -> None:
        async with receive:
            result["report"] = await run_plan(receive, {"first": first, "echo": echo})

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            async with send:
                await send.send(TaskParsed(task=Task(id=TaskId(1), tool="first")))
                await started.wait()  # task 1 runs while the plan is still "streaming"
                assert "report" not in result
                task2 = Task(id=TaskId(2), tool="echo", args=(Ref(TaskId(1)),))
                await send.send(TaskParsed(task=task2))
                await send.send(JoinParsed(thought=None))
                await send.send(EndOfPlan())
    report = result["report"]
    assert report.values == {1: "one", 2: "one"}
    assert report.records[TaskId(1)].end <= report.records[TaskId(2)].start


@pytest.mark.anyio
async def test_independent_tasks_run_concurrently() -> None:
    n = 10
    all_started = anyio.Event()
    count = 0

    @tool
    async def wait_for_all(i: int) -> int:
        nonlocal count
        count += 1
        if count == n:
            all_started.set()
        await all_started.wait()  # deadlocks (-> fail_after) unless all 10 run at once
        return i

    plan = "".join(f"{i}. w({i})\n" for i in range(1, n + 1))
    with anyio.fail_after(5):
        report = await run_plan(stream_text(plan), {"w": wait_for_all})
    assert report.values == {i: i for i in range(1, n + 1)}


@pytest.mark.anyio
async def test_concurrency_limit_is_respected() -> None:
    running = peak = 0
    gate = anyio.Event()

    @tool
    async def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            gate.set()
        await gate.wait()
        await anyio.lowlevel.checkpoint()
        running -= 1

    plan = "".join(f"{i}. work()\n" for i in range(1, 11))
    with anyio.fail_after(5):
        report = await run_plan(
            stream_text(plan), {"work": work}, limits=ExecutionLimits(max_concurrency=3)
        )
    assert peak == 3
    assert all(isinstance(r.outcome, Succeeded) for r in report.records.values())


@pytest.mark.anyio
async def test_timeouts_per_tool_and_default() -> None:
    never = anyio.Event()

    @tool
    async def hang() -> None:
        await never.wait()

    @tool(timeout=0.02)
    async def hang_fast() -> None:
        await never.wait()

    plan = "1. hang()\n2. hang_fast()\n"
    limits = ExecutionLimits(default_timeout=0.05)
    with anyio.fail_after(5):
        report = await run_plan(
            stream_text(plan), {"hang": hang, "hang_fast": hang_fast}, limits=limits
        )
    for i in (1, 2):
        outcome = report.records[TaskId(i)].outcome
        assert isinstance(outcome, Failed) and isinstance(outcome.error, ToolTimeoutError)
    assert "0.02" in str(report.records[TaskId(2)].outcome.error)  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_cancel_event_returns_what_finished() -> None:
    cancel = anyio.Event()
    hanging = anyio.Event()
    never = anyio.Event()

    @tool
    async def hang() -> None:
        hanging.set()
        await never.wait()

    async def events() -> AsyncIterator[PlanEvent]:
        yield TaskParsed(task=Task(id=TaskId(1), tool="echo", args=("done",)))
        yield TaskParsed(task=Task(id=TaskId(2), tool="hang"))
        yield TaskParsed(task=Task(id=TaskId(3), tool="echo", args=(Ref(TaskId(2)),)))
        await hanging.wait()
        cancel.set()
        await never.wait()  # the planner is still "streaming" when the run is cancelled

    trace = Trace()
    with anyio.fail_after(5):
        report = await run_plan(events(), {"echo": echo, "hang": hang}, trace=trace, cancel=cancel)
    assert report.cancelled
    assert report.records[TaskId(1)].outcome == Succeeded(value="done")
    assert report.records[TaskId(2)].outcome == Cancelled()
    assert report.records[TaskId(3)].outcome == Cancelled()
    assert {s.task_id: s.attrs["outcome"] for s in trace.spans} == {1: "succeeded", 2: "cancelled"}


@pytest.mark.anyio
async def test_cancel_after_deadline() -> None:
    never = anyio.Event()

    @tool
    async def hang() -> None:
        await never.wait()

    limits = ExecutionLimits(cancel_after=0.05, default_timeout=None)
    with anyio.fail_after(5):
        report = await run_plan(
            stream_text("1. hang()\n2. echo(2)\n"), {"hang": hang, "echo": echo}, limits=limits
        )
    assert report.cancelled
    assert report.records[TaskId(1)].outcome == Cancelled()
    assert report.records[TaskId(2)].outcome == Succeeded(value=2)


@pytest.mark.anyio
async def test_stream_error_propagates_and_cancels_tools() -> None:
    never = anyio.Event()
    cancelled = False

    @tool
    async def hang() -> None:
        nonlocal cancelled
        try:
            await never.wait()
        finally:
            cancelled = True

    async def events() -> AsyncIterator[PlanEvent]:
        yield TaskParsed(task=Task(id=TaskId(1), tool="hang"))
        await anyio.lowlevel.checkpoint()
        raise LLMError("backend died")

    with anyio.fail_after(5), pytest.raises(LLMError, match="backend died"):
        await run_plan(events(), {"hang": hang})
    assert cancelled


@pytest.mark.anyio
async def test_trace_spans_per_executed_task() -> None:
    trace = Trace()
    plan = "1. echo(1)\n2. echo($1)\n3. nope()\n"
    with anyio.fail_after(5):
        report = await run_plan(stream_text(plan), TOOLS, trace=trace)
    spans = sorted(trace.spans, key=lambda s: s.task_id or 0)
    assert [(s.kind, s.name, s.task_id, s.deps) for s in spans] == [
        ("tool", "echo", 1, ()),
        ("tool", "echo", 2, (1,)),
    ]
    rec = report.records[TaskId(2)]
    assert spans[1].attrs == {"outcome": "succeeded", "dispatched": rec.dispatched}
    assert rec.dispatched is not None and rec.start is not None and rec.end is not None
    assert rec.dispatched <= rec.start <= rec.end


@pytest.mark.anyio
async def test_line_error_after_join_and_duplicates_are_reported() -> None:
    dup = Task(id=TaskId(1), tool="echo", args=(2,))
    events = [
        TaskParsed(task=Task(id=TaskId(1), tool="echo", args=(1,))),
        TaskParsed(task=dup),
        JoinParsed(thought="t"),
        LineError(error=PlanParseError("late", line="x", task_id=5)),
        TaskParsed(task=Task(id=TaskId(6), tool="echo", args=(6,))),
    ]
    with anyio.fail_after(5):
        report = await run_plan(stream_events(events), TOOLS)
    assert report.values == {1: 1}
    assert report.join_thought == "t"
    assert len(report.line_errors) == 3


# -- properties -------------------------------------------------------------------------------


@st.composite
def timed_dags(draw: st.DrawFn) -> list[tuple[int, list[int], float, bool]]:
    n = draw(st.integers(min_value=1, max_value=15))
    out = []
    for i in range(1, n + 1):
        deps = (
            draw(st.lists(st.integers(min_value=1, max_value=i - 1), max_size=3)) if i > 1 else []
        )
        duration = draw(st.sampled_from([0.0, 0.0, 0.001, 0.003]))
        ok = draw(st.integers(0, 5)) > 0
        out.append((i, sorted(set(deps)), duration, ok))
    return out


@settings(max_examples=40, deadline=None)
@given(dag=timed_dags(), limit=st.integers(min_value=1, max_value=4))
def test_random_dags(dag: list[tuple[int, list[int], float, bool]], limit: int) -> None:
    running = peak = 0
    spec = {i: (duration, ok) for i, _, duration, ok in dag}
    started: list[int] = []

    async def job(i: int, *deps: Any) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        started.append(i)
        try:
            await anyio.sleep(spec[i][0])
            if not spec[i][1]:
                raise RuntimeError(f"task {i} fails")
            return i
        finally:
            running -= 1

    tools = {"job": Tool.from_function(job)}
    text = "".join(f"{i}. job({i}{''.join(f', ${d}' for d in deps)})\n" for i, deps, _, _ in dag)

    async def main() -> Any:
        with anyio.fail_after(10):  # terminates
            return await run_plan(
                stream_text(text, 5), tools, limits=ExecutionLimits(max_concurrency=limit)
            )

    report = anyio.run(main)
    assert peak <= limit
    assert sorted(report.records) == [i for i, _, _, _ in dag]  # exactly one outcome each
    assert len(started) == len(set(started))
    for i, deps, _, ok in dag:
        record = report.records[TaskId(i)]
        dep_records = [report.records[TaskId(d)] for d in deps]
        if all(isinstance(r.outcome, Succeeded) for r in dep_records):
            assert isinstance(record.outcome, Succeeded if ok else Failed)
            for r in dep_records:  # never before its dependencies finished
                assert r.end is not None and record.start is not None and r.end <= record.start
        else:
            assert isinstance(record.outcome, Skipped) and i not in started


def test_limits_reject_nonsense() -> None:
    with pytest.raises(UsageError, match="max_concurrency"):
        ExecutionLimits(max_concurrency=0)
    with pytest.raises(UsageError, match="default_timeout"):
        ExecutionLimits(default_timeout=-1)


@pytest.mark.anyio
async def test_tool_name_case_is_folded_when_unambiguous() -> None:
    with anyio.fail_after(5):
        report = await run_plan(stream_text('1. ECHO("x")\n2. join()'), TOOLS)
    record = report.records[TaskId(1)]
    assert record.outcome == Succeeded(value="x")
    assert record.task is not None and record.task.tool == "echo"
