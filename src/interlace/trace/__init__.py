"""Traces: spans of every LLM request and tool call of a run, their export and analysis."""

from interlace.trace._spans import Span, SpanKind, Trace

__all__ = ["Span", "SpanKind", "Trace"]
