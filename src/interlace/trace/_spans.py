"""Timestamped spans: the raw record of where a run's time went.

Every LLM request, tool call, joiner round, interrupt injection and trap wait of a run is one
:class:`Span` in the run's :class:`Trace`. Timestamps are ``time.monotonic()`` seconds
(:func:`interlace._clock.now`); analyses subtract the trace's ``origin``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from interlace import _events
from interlace._clock import now

SpanKind = Literal["llm", "tool", "join", "replan", "interrupt", "trap", "run"]


_NO_ATTRS: Mapping[str, Any] = MappingProxyType({})
_log = logging.getLogger("interlace.agents")

TIMESTAMP_SLACK = 2e-6
"""Seconds of slack when comparing timestamps (stored traces round them to microseconds)."""


class Span(NamedTuple):
    """One interval of work (immutable; build it with keywords).

    A ``NamedTuple`` rather than a frozen dataclass: the executor builds one per task, and a
    frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost twice as much,
    which kept tracing above 5% of the task fetching unit's overhead.

    Attributes:
        kind: what the interval is: ``"llm"`` (one LLM request, prefill + decode), ``"tool"``
            (one tool call), ``"join"``/``"replan"`` (joiner rounds), ``"interrupt"`` (an
            AsyncLM interrupt injection), ``"trap"`` (decoding paused on a trap), ``"run"``.
        name: human label, e.g. ``"planner"``, ``"joiner"``, ``"search"``.
        start: monotonic seconds.
        end: monotonic seconds (``>= start``).
        task_id: the plan task this span executes, if any.
        deps: ids of the tasks this span's task depended on.
        attrs: extra facts (tokens, ttft, outcome, dispatch time, ...), JSON-serialisable.
    """

    kind: SpanKind
    name: str
    start: float
    end: float
    task_id: int | None = None
    deps: tuple[int, ...] = ()
    attrs: Mapping[str, Any] = _NO_ATTRS

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.end - self.start


@dataclass(kw_only=True)
class Trace:
    """All spans of one run (one question, one method), in the order they ended.

    Attributes:
        origin: monotonic seconds at which the run started.
        spans: recorded spans.
    """

    origin: float = field(default_factory=now)
    spans: list[Span] = field(default_factory=list)

    def add(self, span: Span) -> None:
        """Record a finished span (a ``"replan"`` or ``"interrupt"`` span is also an event:
        :class:`~interlace.Replan`, :class:`~interlace.Interrupt`)."""
        self.spans.append(span)
        if span.kind == "replan":
            _log.info("replan: %s", span.attrs.get("thought") or "(no reason given)")
        if span.kind in ("replan", "interrupt") and _events.listening():
            if span.kind == "replan":
                thought = str(span.attrs.get("thought") or "")
                _events.emit(_events.Replan(thought=thought, time=span.end))
            else:
                calls = tuple(str(c) for c in span.attrs.get("calls") or ())
                _events.emit(_events.Interrupt(calls=calls, time=span.end))

    @contextmanager
    def span(
        self,
        kind: SpanKind,
        name: str,
        *,
        task_id: int | None = None,
        deps: tuple[int, ...] = (),
        **attrs: Any,
    ) -> Iterator[dict[str, Any]]:
        """Time the body as one span; the yielded dict may be filled with more attrs.

        The span is recorded even when the body raises (with ``attrs["error"]`` set). A
        ``"tool"`` span is a tool call made outside a plan (ReAct): it is also a
        :class:`~interlace.TaskStarted` and a :class:`~interlace.TaskFinished` event, whose
        status is ``attrs["outcome"]`` (``"failed"`` when the body raised).
        """
        extra: dict[str, Any] = dict(attrs)
        start = now()
        if kind == "tool":
            _events.emit(_events.TaskStarted(task_id=task_id, tool=name, call=name, time=start))
        try:
            yield extra
        except BaseException as exc:
            extra.setdefault("error", type(exc).__name__)
            raise
        finally:
            end = now()
            self.add(
                Span(
                    kind=kind,
                    name=name,
                    start=start,
                    end=end,
                    task_id=task_id,
                    deps=deps,
                    attrs=extra,
                )
            )
            if kind == "tool":
                _events.emit(
                    _events.TaskFinished(
                        task_id=task_id,
                        tool=name,
                        status=_status(extra),
                        outcome=None,
                        start=start,
                        end=end,
                    )
                )


def _status(attrs: Mapping[str, Any]) -> _events.OutcomeName:
    """A traced tool call's status: its ``outcome`` attr, else failed if it raised."""
    given = attrs.get("outcome")
    for name in _events.OUTCOME_NAMES:
        if given == name:
            return name
    return "failed" if "error" in attrs else "succeeded"


def dependency_edges(spans: Sequence[Span]) -> list[tuple[int, int]]:
    """``(dependency, dependent)`` pairs of tool-span indices, from each tool span's ``deps``.

    A dependency id resolves to the latest-ending tool span with that ``task_id`` that ended
    before the dependent started (task ids may repeat across replanning rounds).
    """
    by_task: dict[int, list[int]] = defaultdict(list)
    for i, span in enumerate(spans):
        if span.kind == "tool" and span.task_id is not None:
            by_task[span.task_id].append(i)
    edges: list[tuple[int, int]] = []
    for j, span in enumerate(spans):
        if span.kind != "tool":
            continue
        for dep in span.deps:
            done = [i for i in by_task.get(dep, []) if spans[i].end <= span.start + TIMESTAMP_SLACK]
            if done:
                edges.append((max(done, key=lambda i: spans[i].end), j))
    return edges
