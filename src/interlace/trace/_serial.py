"""Trace (de)serialisation: a stable JSON dict, JSON lines, and Chrome trace-event JSON.

The dict form is the format the benchmark store keeps, one trace per (question, method) record::

    {"version": 1, "spans": [{"kind": "llm", "name": "planner", "start": 0.0, "end": 1.25,
                              "task_id": null, "deps": [], "attrs": {...}}, ...]}

Times are seconds relative to the trace's origin, rounded to microseconds. Attributes that are
monotonic timestamps (see :data:`TIME_ATTRS`) are made relative the same way; every other
attribute is kept as JSON (tuples become lists, anything else unknown becomes its ``repr``).

The Chrome form (``chrome://tracing``, https://ui.perfetto.dev) uses complete events
(``"ph": "X"``, microseconds) on one process with one thread lane per concurrently running span
(see :func:`interlace.trace.assign_lanes`), plus flow events (``"ph": "s"``/``"f"``) from each
dependency's end to the dependent tool call's start.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, cast

from interlace._errors import UsageError
from interlace.trace._lanes import assign_lanes
from interlace.trace._spans import Span, SpanKind, Trace, dependency_edges

FORMAT_VERSION = 1
"""Version of the dict format written by :func:`trace_to_dict`."""

TIME_ATTRS: frozenset[str] = frozenset({"dispatched", "emitted", "first_token", "ready"})
"""Span attributes that hold monotonic timestamps (seconds) and are stored relative to origin."""

_KINDS: frozenset[str] = frozenset({"llm", "tool", "join", "replan", "interrupt", "trap", "run"})


def _round(t: float) -> float:
    return round(t, 6)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_jsonable(v) for v in items]
    return repr(value)


def _attrs_out(attrs: Mapping[str, Any], origin: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if key in TIME_ATTRS and isinstance(value, int | float) and not isinstance(value, bool):
            out[str(key)] = _round(float(value) - origin)
        else:
            out[str(key)] = _jsonable(value)
    return out


def span_to_dict(span: Span, origin: float = 0.0) -> dict[str, Any]:
    """One span as a JSON-serialisable dict, times in seconds relative to ``origin``."""
    return {
        "kind": span.kind,
        "name": span.name,
        "start": _round(span.start - origin),
        "end": _round(span.end - origin),
        "task_id": span.task_id,
        "deps": list(span.deps),
        "attrs": _attrs_out(span.attrs, origin),
    }


def span_from_dict(d: Mapping[str, Any]) -> Span:
    """Inverse of :func:`span_to_dict` (times stay relative: the trace's origin is 0).

    Raises:
        UsageError: ``d`` is not a span dict (missing or ill-typed ``kind``/``name``/times).
    """
    try:
        kind = str(d["kind"])
        start, end = float(d["start"]), float(d["end"])
        name = str(d["name"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"not a span dict (need kind, name, start, end): {d!r:.200}") from exc
    if kind not in _KINDS:
        raise UsageError(f"unknown span kind {kind!r}; expected one of {sorted(_KINDS)}")
    task_id = d.get("task_id")
    return Span(
        kind=cast(SpanKind, kind),
        name=name,
        start=start,
        end=end,
        task_id=None if task_id is None else int(task_id),
        deps=tuple(int(x) for x in d.get("deps", ())),
        attrs=dict(d.get("attrs") or {}),
    )


def trace_to_dict(trace: Trace) -> dict[str, Any]:
    """The trace as a stable JSON-serialisable dict (see the module docstring for the format).

    Spans keep their recorded order; times are seconds relative to ``trace.origin``.
    """
    return {
        "version": FORMAT_VERSION,
        "spans": [span_to_dict(s, trace.origin) for s in trace.spans],
    }


def trace_from_dict(d: Mapping[str, Any]) -> Trace:
    """Rebuild a :class:`Trace` from :func:`trace_to_dict` output; its ``origin`` is ``0.0``.

    Raises:
        UsageError: ``d`` is not a trace dict, or was written by a newer format version.
    """
    if not isinstance(d, Mapping) or not isinstance(d.get("spans"), list):
        raise UsageError(f"not a trace dict (need a 'spans' list): {d!r:.200}")
    version = d.get("version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UsageError(f"trace format version {version!r} is newer than {FORMAT_VERSION}")
    return Trace(origin=0.0, spans=[span_from_dict(s) for s in d["spans"]])


def dumps_trace(trace: Trace) -> str:
    """:func:`trace_to_dict` as compact JSON text with sorted keys (byte-stable)."""
    return json.dumps(trace_to_dict(trace), sort_keys=True, separators=(",", ":"))


def trace_to_jsonl(trace: Trace) -> str:
    """One span dict per line (sorted keys), in recorded order, with a trailing newline."""
    origin = trace.origin
    lines = (json.dumps(span_to_dict(s, origin), sort_keys=True) for s in trace.spans)
    return "".join(line + "\n" for line in lines)


def trace_from_jsonl(lines: Iterable[str]) -> Trace:
    """Inverse of :func:`trace_to_jsonl`; blank lines are ignored.

    Raises:
        UsageError: a line is not JSON or not a span dict.
    """
    spans: list[Span] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            spans.append(span_from_dict(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise UsageError(f"line {number} is not JSON: {exc}") from exc
    return Trace(origin=0.0, spans=spans)


def _us(t: float) -> float:
    return round(t * 1e6, 3)


def _event_name(span: Span) -> str:
    return f"{span.name} #{span.task_id}" if span.task_id is not None else span.name


def trace_to_chrome(
    trace: Trace, *, process_name: str = "interlace", pid: int = 1
) -> dict[str, Any]:
    """The trace as Chrome trace-event JSON (``{"traceEvents": [...], ...}``).

    Lanes (``tid``) come from :func:`interlace.trace.assign_lanes`: LLM lanes first, then one
    lane per concurrently running tool call, then agent events (join, replan, interrupt, trap,
    run). Each tool call's ``args`` carry its ``task_id``, ``deps`` and attributes; each
    dependency also gets a flow arrow from the dependency's end to the tool call's start.
    Times are microseconds since the trace's origin. To show several runs in one file, give
    each its own ``pid`` and concatenate the ``traceEvents`` lists.
    """
    origin = trace.origin
    lanes = assign_lanes(trace.spans)
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": pid, "tid": 0, "name": "process_name", "args": {"name": process_name}}
    ]
    for lane in lanes.lanes:
        events.append(
            {
                "ph": "M",
                "pid": pid,
                "tid": lane.tid,
                "name": "thread_name",
                "args": {"name": lane.name},
            }
        )
        events.append(
            {
                "ph": "M",
                "pid": pid,
                "tid": lane.tid,
                "name": "thread_sort_index",
                "args": {"sort_index": lane.tid},
            }
        )
    for index, span in enumerate(trace.spans):
        d = span_to_dict(span, origin)
        args = {"task_id": span.task_id, "deps": d["deps"], **d["attrs"]}
        events.append(
            {
                "ph": "X",
                "pid": pid,
                "tid": lanes.tid_of[index],
                "name": _event_name(span),
                "cat": span.kind,
                "ts": _us(span.start - origin),
                "dur": _us(max(span.duration, 0.0)),
                "args": args,
            }
        )
    events.extend(_flow_events(trace, lanes.tid_of, pid))
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def _flow_events(trace: Trace, tid_of: Mapping[int, int], pid: int) -> list[dict[str, Any]]:
    origin = trace.origin
    out: list[dict[str, Any]] = []
    for flow_id, (src, dst) in enumerate(dependency_edges(trace.spans), 1):
        a, b = trace.spans[src], trace.spans[dst]
        common = {
            "pid": pid,
            "cat": "dependency",
            "name": "dependency",
            "id": pid * 100000 + flow_id,
        }
        # the start must lie inside the source slice, so step back one microsecond from its end
        out.append(
            {
                **common,
                "ph": "s",
                "tid": tid_of[src],
                "ts": max(_us(a.start - origin), _us(a.end - origin) - 1),
            }
        )
        out.append(
            {**common, "ph": "f", "bp": "e", "tid": tid_of[dst], "ts": _us(b.start - origin)}
        )
    return out
