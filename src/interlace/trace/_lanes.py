"""Greedy lane assignment: which timeline row (Chrome ``tid``, Gantt lane) each span goes in.

Spans are grouped into three families, drawn top to bottom: the LLM (``"llm"`` requests and
decode segments, plus AsyncLM ``"interrupt"`` injections and ``"trap"`` pauses, which happen
between them), tool calls (``"tool"``), and agent events (``"join"``/``"replan"`` rounds and
the whole ``"run"``). Within a family, spans are taken in start order and each goes into the first
lane whose previous span has ended (interval-graph colouring), so overlapping spans never share
a lane and the number of lanes equals the family's peak concurrency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from interlace.trace._spans import Span

_FAMILIES: tuple[tuple[str, str], ...] = (("llm", "LLM"), ("tool", "tool"), ("agent", "agent"))


def span_family(span: Span) -> str:
    """``"llm"`` (llm, interrupt, trap), ``"tool"`` or ``"agent"`` (join, replan, run)."""
    if span.kind in ("llm", "interrupt", "trap"):
        return "llm"
    return "tool" if span.kind == "tool" else "agent"


@dataclass(frozen=True, kw_only=True, slots=True)
class Lane:
    """One timeline row.

    Attributes:
        tid: row number, from 1, top to bottom (the Chrome thread id).
        family: ``"llm"``, ``"tool"`` or ``"agent"``.
        name: label, e.g. ``"LLM"``, ``"tool 2"``.
    """

    tid: int
    family: str
    name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class LaneAssignment:
    """Result of :func:`assign_lanes`.

    Attributes:
        lanes: the non-empty lanes, in ``tid`` order.
        tid_of: span index (position in the input) -> lane ``tid``.
    """

    lanes: tuple[Lane, ...]
    tid_of: dict[int, int]


def _greedy(spans: Sequence[Span], indices: list[int]) -> dict[int, int]:
    """Span index -> 0-based lane within one family."""
    lane_end: list[float] = []
    out: dict[int, int] = {}
    for i in sorted(indices, key=lambda j: (spans[j].start, spans[j].end, j)):
        span = spans[i]
        for lane, end in enumerate(lane_end):
            if end <= span.start:
                lane_end[lane] = span.end
                out[i] = lane
                break
        else:
            out[i] = len(lane_end)
            lane_end.append(span.end)
    return out


def assign_lanes(spans: Sequence[Span]) -> LaneAssignment:
    """Give every span a lane so that no two overlapping spans of a family share one.

    Args:
        spans: the spans, in any order (indices into this sequence key the result).

    Returns:
        The lanes (LLM lanes, then tool lanes, then agent lanes) and each span's ``tid``.
    """
    lanes: list[Lane] = []
    tid_of: dict[int, int] = {}
    for family, label in _FAMILIES:
        indices = [i for i, s in enumerate(spans) if span_family(s) == family]
        local = _greedy(spans, indices)
        count = max(local.values(), default=-1) + 1
        base = len(lanes) + 1
        for k in range(count):
            name = label if count == 1 and family != "tool" else f"{label} {k + 1}"
            lanes.append(Lane(tid=base + k, family=family, name=name))
        for i, k in local.items():
            tid_of[i] = base + k
    return LaneAssignment(lanes=tuple(lanes), tid_of=tid_of)
