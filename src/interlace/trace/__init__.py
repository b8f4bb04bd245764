"""Traces: spans of every LLM request and tool call of a run, their export and analysis."""

from interlace.trace._lanes import Lane, LaneAssignment, assign_lanes
from interlace.trace._serial import (
    TIME_ATTRS,
    dumps_trace,
    span_from_dict,
    span_to_dict,
    trace_from_dict,
    trace_from_jsonl,
    trace_to_chrome,
    trace_to_dict,
    trace_to_jsonl,
)
from interlace.trace._spans import Span, SpanKind, Trace
from interlace.trace.analysis import (
    CriticalPath,
    PathStep,
    average_metrics,
    critical_path,
    metrics,
)

__all__ = [
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
]
