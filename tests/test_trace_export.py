"""Trace dict / JSON lines round trips, Chrome trace-event JSON, lane assignment."""

from __future__ import annotations

import json

import pytest

from interlace._errors import UsageError
from interlace.trace import (
    Span,
    Trace,
    assign_lanes,
    dumps_trace,
    trace_from_dict,
    trace_from_jsonl,
    trace_to_chrome,
    trace_to_dict,
    trace_to_jsonl,
)

ORIGIN = 1000.0


def sample() -> Trace:
    t = Trace(origin=ORIGIN)
    t.add(
        Span(kind="llm", name="planner", start=ORIGIN, end=ORIGIN + 2.0, attrs={"role": "planner"})
    )
    t.add(
        Span(
            kind="tool",
            name="search",
            start=ORIGIN + 0.5,
            end=ORIGIN + 1.5,
            task_id=1,
            attrs={"outcome": "succeeded", "dispatched": ORIGIN + 0.4, "args": ("a", 1)},
        )
    )
    t.add(Span(kind="tool", name="search", start=ORIGIN + 0.7, end=ORIGIN + 1.2, task_id=2))
    t.add(
        Span(kind="tool", name="math", start=ORIGIN + 1.6, end=ORIGIN + 2.5, task_id=3, deps=(1, 2))
    )
    t.add(Span(kind="llm", name="joiner", start=ORIGIN + 2.6, end=ORIGIN + 3.0))
    return t


def test_dict_is_relative_to_origin_and_round_trips() -> None:
    d = trace_to_dict(sample())
    assert d["version"] == 1
    first, second = d["spans"][0], d["spans"][1]
    assert (first["start"], first["end"]) == (0.0, 2.0)
    assert second["attrs"]["dispatched"] == pytest.approx(0.4)  # timestamps made relative
    assert second["attrs"]["args"] == ["a", 1]
    back = trace_from_dict(json.loads(json.dumps(d)))
    assert back.origin == 0.0
    assert [s.name for s in back.spans] == ["planner", "search", "search", "math", "joiner"]
    assert back.spans[3].deps == (1, 2) and back.spans[3].task_id == 3
    assert trace_to_dict(back) == d  # a second trip changes nothing


def test_dumps_is_stable() -> None:
    assert dumps_trace(sample()) == dumps_trace(sample())
    assert dumps_trace(trace_from_dict(json.loads(dumps_trace(sample())))) == dumps_trace(sample())


def test_jsonl_one_span_per_line_round_trips() -> None:
    text = trace_to_jsonl(sample())
    lines = text.splitlines()
    assert len(lines) == 5 and all(json.loads(line)["kind"] for line in lines)
    assert trace_to_dict(trace_from_jsonl(text.splitlines())) == trace_to_dict(sample())


def test_bad_input_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="spans"):
        trace_from_dict({"nope": 1})
    with pytest.raises(UsageError, match="kind"):
        trace_from_dict({"spans": [{"kind": "bogus", "name": "x", "start": 0, "end": 1}]})
    with pytest.raises(UsageError, match="line 2"):
        trace_from_jsonl(['{"kind":"llm","name":"a","start":0,"end":1}', "{oops"])
    with pytest.raises(UsageError, match="newer"):
        trace_from_dict({"version": 99, "spans": []})


def test_lanes_separate_overlapping_tool_calls_and_reuse_free_ones() -> None:
    spans = sample().spans
    lanes = assign_lanes(spans)
    names = {lane.tid: lane.name for lane in lanes.lanes}
    assert names[lanes.tid_of[0]] == "LLM" and lanes.tid_of[0] == lanes.tid_of[4]
    assert lanes.tid_of[1] != lanes.tid_of[2]  # tasks 1 and 2 overlap
    assert lanes.tid_of[3] == lanes.tid_of[1]  # task 3 starts after both ended: lane reused
    assert [lane.name for lane in lanes.lanes] == ["LLM", "tool 1", "tool 2"]


def test_chrome_json_structure() -> None:
    chrome = trace_to_chrome(sample())
    json.dumps(chrome)
    events = chrome["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) == 5
    for e in complete:
        assert {"name", "ts", "dur", "pid", "tid", "cat", "args"} <= e.keys()
        assert e["dur"] >= 0
    by_name = {e["name"]: e for e in complete}
    assert by_name["planner"]["ts"] == 0 and by_name["planner"]["dur"] == pytest.approx(2e6)
    assert by_name["math #3"]["ts"] == pytest.approx(1.6e6)  # microseconds since origin
    assert by_name["math #3"]["args"]["deps"] == [1, 2]
    # overlapping tool calls are on different threads, the LLM has its own
    tids = {by_name[n]["tid"] for n in ("search #1", "search #2")}
    assert len(tids) == 2 and by_name["planner"]["tid"] not in tids
    # named lanes
    names = {
        e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"
    }
    assert names[by_name["planner"]["tid"]] == "LLM"
    # one flow (start + finish) per dependency, ending at the dependent's start
    starts = [e for e in events if e["ph"] == "s"]
    finishes = [e for e in events if e["ph"] == "f"]
    assert len(starts) == len(finishes) == 2
    assert {e["id"] for e in starts} == {e["id"] for e in finishes}
    assert all(f["ts"] == by_name["math #3"]["ts"] and f["bp"] == "e" for f in finishes)
    assert all(f["tid"] == by_name["math #3"]["tid"] for f in finishes)
    src_tids = {e["tid"] for e in starts}
    assert src_tids == tids


def test_public_surface() -> None:
    import interlace.trace as trace_pkg

    assert set(trace_pkg.__all__) == {
        "TIME_ATTRS",
        "CriticalPath",
        "Lane",
        "LaneAssignment",
        "PathStep",
        "Span",
        "SpanKind",
        "Trace",
        "assign_lanes",
        "average_metrics",
        "critical_path",
        "dumps_trace",
        "metrics",
        "span_from_dict",
        "span_to_dict",
        "trace_from_dict",
        "trace_from_jsonl",
        "trace_to_chrome",
        "trace_to_dict",
        "trace_to_jsonl",
    }
    assert all(hasattr(trace_pkg, name) for name in trace_pkg.__all__)
