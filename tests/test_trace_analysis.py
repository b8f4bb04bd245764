"""Critical-path lower bound and idle shares on hand-built traces."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlace.trace import Span, Trace, average_metrics, critical_path, metrics, trace_to_dict


def llm(start: float, end: float, name: str = "planner", **attrs: Any) -> Span:
    return Span(kind="llm", name=name, start=start, end=end, attrs=attrs)


def tool(task_id: int, start: float, end: float, deps: tuple[int, ...] = (), **attrs: Any) -> Span:
    return Span(
        kind="tool", name="search", start=start, end=end, task_id=task_id, deps=deps, attrs=attrs
    )


def trace(*spans: Span) -> Trace:
    return Trace(origin=0.0, spans=list(spans))


def test_react_is_strictly_sequential() -> None:
    # step, tool, step, tool, step with 0.1 s gaps of overhead between each
    t = trace(
        llm(0.0, 1.0, "react"),
        tool(1, 1.1, 3.1, dispatched=1.05),
        llm(3.2, 4.2, "react"),
        tool(2, 4.3, 5.3, dispatched=4.25),
        llm(5.4, 6.0, "react"),
    )
    path = critical_path(t)
    assert path.length == pytest.approx(1.0 + 2.0 + 1.0 + 1.0 + 0.6)
    assert path.latency == pytest.approx(6.0)
    assert [s.kind for s in path.steps] == ["llm", "tool", "llm", "tool", "llm"]
    assert path.efficiency == pytest.approx(5.6 / 6.0)


def test_parallel_calls_count_only_the_longest() -> None:
    # non-streaming planner, three independent calls, joiner after all of them
    t = trace(
        llm(0.0, 1.0),
        tool(1, 1.2, 2.2, dispatched=1.1),
        tool(2, 1.2, 4.2, dispatched=1.1),
        tool(3, 1.3, 1.8, dispatched=1.1),
        llm(4.5, 5.0, "joiner"),
    )
    path = critical_path(t)
    assert path.length == pytest.approx(1.0 + 3.0 + 0.5)
    assert [(s.kind, s.task_id) for s in path.steps] == [("llm", None), ("tool", 2), ("llm", None)]
    assert path.efficiency == pytest.approx(4.5 / 5.0)


def test_diamond_follows_the_longer_branch() -> None:
    #   1 -> {2 (long), 3 (short)} -> 4
    t = trace(
        llm(0.0, 1.0),
        tool(1, 1.0, 2.0),
        tool(2, 2.1, 5.1, deps=(1,)),
        tool(3, 2.1, 2.6, deps=(1,)),
        tool(4, 5.3, 5.8, deps=(2, 3)),
        llm(6.0, 6.5, "joiner"),
    )
    path = critical_path(t)
    assert path.length == pytest.approx(1.0 + 1.0 + 3.0 + 0.5 + 0.5)
    assert [s.task_id for s in path.steps if s.kind == "tool"] == [1, 2, 4]


def test_streaming_planner_counts_only_the_prefix_it_waited_for() -> None:
    # planner streams 0..4 s; call 1 is dispatched at 0.5 s and runs 5 s: the bound is
    # 0.5 (planner prefix) + 5 (tool) + 1 (joiner), not 4 + 5 + 1.
    t = trace(
        llm(0.0, 4.0),
        tool(1, 0.5, 5.5, dispatched=0.5),
        tool(2, 2.0, 3.0, dispatched=2.0),
        llm(5.6, 6.6, "joiner"),
    )
    path = critical_path(t)
    assert path.length == pytest.approx(0.5 + 5.0 + 1.0)
    first = path.steps[0]
    assert first.kind == "llm" and first.partial and first.seconds == pytest.approx(0.5)


def test_dependent_call_inherits_the_emission_of_earlier_lines() -> None:
    # call 2 depends on 1 and was dispatched late (when 1 finished); without an "emitted"
    # attr its planner wait is estimated from call 1's emission (0.5 s), not from 3.5 s.
    t = trace(
        llm(0.0, 4.0),
        tool(1, 0.5, 3.5, dispatched=0.5),
        tool(2, 3.5, 4.5, deps=(1,), dispatched=3.5),
    )
    assert critical_path(t).length == pytest.approx(max(0.5 + 3.0 + 1.0, 4.0))
    # an explicit emission time is used as given
    t2 = trace(
        llm(0.0, 4.0),
        tool(1, 0.5, 1.5, dispatched=0.5),
        tool(2, 3.9, 4.9, deps=(1,), dispatched=3.9, emitted=3.8),
    )
    assert critical_path(t2).length == pytest.approx(3.8 + 1.0)


def test_replan_rounds_chain_planner_joiner_planner() -> None:
    t = trace(
        llm(0.0, 1.0),
        tool(1, 1.0, 2.0),
        llm(2.0, 2.5, "joiner"),
        llm(2.5, 3.5),
        tool(1, 3.5, 4.0),  # task ids restart in round two
        tool(2, 4.0, 5.0, deps=(1,)),
        llm(5.0, 5.5, "joiner"),
    )
    path = critical_path(t)
    assert path.length == pytest.approx(5.5)
    assert path.efficiency == pytest.approx(1.0)


def test_trap_pause_is_not_llm_work() -> None:
    # AsyncLM: one decode span 0..6 with a trap 2..4 waiting for a call dispatched at 1 s
    t = trace(
        llm(0.0, 6.0, "asynclm"),
        tool(1, 1.0, 3.9, dispatched=1.0),
        Span(kind="trap", name="trap", start=2.0, end=4.0),
    )
    path = critical_path(t)
    # 1 s of decoding, the 2.9 s call, then the 2 s after the trap
    assert path.length == pytest.approx(1.0 + 2.9 + 2.0)
    use = metrics(t)
    assert use["llm_time_s"] == pytest.approx(4.0)
    assert use["llm_wait_share"] == pytest.approx(1.9 / 6.0)  # 2..3.9


def test_llm_inside_a_tool_counts_as_tool_time() -> None:
    t = trace(llm(0.0, 1.0), tool(1, 1.0, 3.0), llm(1.5, 2.5, "math"), llm(3.0, 3.5, "joiner"))
    assert critical_path(t).length == pytest.approx(3.5)
    assert metrics(t)["llm_spans"] == 3
    assert metrics(t)["llm_time_s"] == pytest.approx(1.5)


def test_idle_shares() -> None:
    t = trace(llm(0.0, 2.0), tool(1, 1.0, 5.0, dispatched=1.0), llm(5.0, 6.0, "joiner"))
    m = metrics(t)
    assert m["latency_s"] == pytest.approx(6.0)
    assert m["overlap_share"] == pytest.approx(1.0 / 6.0)
    assert m["llm_wait_share"] == pytest.approx(3.0 / 6.0)  # 2..5: tool runs, LLM idle
    assert m["tool_wait_share"] == pytest.approx(2.0 / 6.0)  # 0..1 and 5..6
    assert m["idle_share"] == pytest.approx(0.0)
    assert m["max_tool_concurrency"] == 1
    json.dumps(m)  # JSON-serialisable


def test_empty_trace() -> None:
    m = metrics(Trace(origin=0.0))
    assert m["efficiency"] is None and m["critical_path_s"] == 0.0


def test_average_metrics_accepts_traces_dicts_and_metric_rows() -> None:
    a = trace(llm(0.0, 1.0), tool(1, 1.0, 2.0))  # efficiency 1
    b = trace(llm(0.0, 1.0), tool(1, 2.0, 3.0))  # bound 2 / latency 3
    avg = average_metrics([a, trace_to_dict(b), metrics(Trace(origin=0.0))])
    assert avg["n"] == 3
    assert avg["efficiency"] == pytest.approx((1.0 + 2.0 / 3.0) / 2)  # the empty one is None
    assert avg["latency_s"] == pytest.approx((2.0 + 3.0 + 0.0) / 3)


@st.composite
def random_traces(draw: st.DrawFn) -> Trace:
    """A planner, tool calls each started after its (earlier) deps ended, then a joiner."""
    plan_end = draw(st.floats(0.1, 3.0))
    spans = [llm(0.0, plan_end)]
    ends: dict[int, float] = {}
    for task in range(1, draw(st.integers(0, 6)) + 1):
        deps = tuple(d for d in ends if draw(st.booleans()))
        dispatched = draw(st.floats(0.0, plan_end))
        start = max([dispatched, *(ends[d] for d in deps)]) + draw(st.floats(0.0, 0.5))
        end = start + draw(st.floats(0.0, 2.0))
        ends[task] = end
        spans.append(tool(task, start, end, deps=deps, dispatched=dispatched))
    join_start = max([plan_end, *ends.values()]) + draw(st.floats(0.0, 0.5))
    spans.append(llm(join_start, join_start + draw(st.floats(0.0, 1.0)), "joiner"))
    return trace(*spans)


@settings(max_examples=150, deadline=None)
@given(random_traces())
def test_bound_never_exceeds_latency_and_covers_every_chain(t: Trace) -> None:
    path = critical_path(t)
    assert path.length <= path.latency + 1e-9
    # at least as long as any single span, and as the joiner's own chain
    assert path.length >= max(s.duration for s in t.spans) - 1e-9
    assert path.length >= t.spans[-1].duration + t.spans[0].duration - 1e-9
    assert sum(step.seconds for step in path.steps) == pytest.approx(path.length)


def test_asynclm_segments_and_interrupts() -> None:
    # decode 0..1 emits a call at 0.5 s; trap 1..3; inject 3..3.2 (prefill: LLM work); decode
    t = trace(
        llm(0.0, 1.0, "decode"),
        Span(kind="tool", name="search", start=0.5, end=3.0),
        Span(kind="trap", name="trap", start=1.0, end=3.0),
        Span(kind="interrupt", name="inject", start=3.0, end=3.2),
        llm(3.2, 4.0, "decode"),
    )
    path = critical_path(t)
    assert path.length == pytest.approx(0.5 + 2.5 + 0.2 + 0.8)
    assert [s.kind for s in path.steps] == ["llm", "tool", "llm", "llm"]
    assert metrics(t)["llm_time_s"] == pytest.approx(2.0)


def _tokens(prompt: int, cached: int, out: int, role: str = "react") -> dict[str, Any]:
    return {
        "role": role,
        "prompt_tokens": prompt,
        "cached_prompt_tokens": cached,
        "completion_tokens": out,
        "ttft": 0.1,
    }


def test_token_bound_is_the_tokens_time_plus_the_tool_time_nothing_overlapped() -> None:
    from interlace.trace._speed import LLMSpeed
    from interlace.trace.analysis import exposed_tool_seconds, token_bound

    speed = LLMSpeed(ttft=0.1, prefill=100.0, tpot=0.05)
    # ReAct: turn, tool (nothing overlaps it), turn
    react = trace(
        llm(0.0, 2.0, "react", **_tokens(150, 50, 11)),
        tool(1, 2.0, 3.0, dispatched=2.0),
        llm(3.0, 4.5, "react", **_tokens(200, 150, 5)),
    )
    first, second = 0.1 + 100 / 100 + 10 * 0.05, 0.1 + 50 / 100 + 4 * 0.05
    assert exposed_tool_seconds(react) == pytest.approx(1.0)
    assert token_bound(react, speed) == pytest.approx(first + second + 1.0)
    # a streaming planner: the tool runs from 1.0 to 3.0 while the planner decodes until 2.0, so
    # only 1.0 s of it is exposed; the math request inside the tool is tool time, not tokens
    compiler = trace(
        llm(0.0, 2.0, "planner", **_tokens(100, 0, 21, "planner")),
        tool(1, 1.0, 3.0, dispatched=1.0),
        llm(1.5, 2.5, "math", tool=True, **_tokens(400, 0, 3, "math")),
        llm(3.0, 3.5, "joiner", **_tokens(100, 80, 3, "joiner")),
    )
    planner, joiner = 0.1 + 1.0 + 20 * 0.05, 0.1 + 0.2 + 2 * 0.05
    assert exposed_tool_seconds(compiler) == pytest.approx(1.0)
    assert token_bound(compiler, speed) == pytest.approx(planner + joiner + 1.0)


def test_llm_requests_reads_agent_spans_in_start_order() -> None:
    from interlace.trace.analysis import llm_requests

    t = trace(
        llm(3.0, 3.5, "joiner", **_tokens(100, 80, 3, "joiner")),
        llm(0.0, 2.0, "planner", **_tokens(100, 0, 21, "planner")),
        tool(1, 1.0, 3.0),
        llm(1.5, 2.5, "math", **_tokens(40, 0, 3, "math")),  # no tool attr: inside a tool span
    )
    requests = llm_requests(t)
    assert [(r.role, r.by_tool, r.uncached_prompt_tokens) for r in requests] == [
        ("planner", False, 100),
        ("math", True, 40),
        ("joiner", False, 20),
    ]
