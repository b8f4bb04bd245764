"""Where a run's time went: the critical-path lower bound, efficiency and idle shares.

Critical-path lower bound
-------------------------
The bound answers: *how fast could this run have been if every LLM request and tool call kept
its measured duration, but each started the moment the work it had to wait for was done?* It is
the longest path through a DAG of the run's spans (the makespan of a zero-overhead replay, in the
spirit of the LLMCompiler latency analysis, Kim et al. 2023 §3, and AsyncLM's latency model,
Gim et al. 2024 §3.1). Nodes and edges:

* **LLM nodes** — every ``"llm"`` span, except those lying wholly inside a tool span (an LLM
  called *by* a tool, e.g. a math tool, is part of that tool's time). An LLM span that contains
  ``"trap"`` spans is split at them into segments: decoding paused during a trap is waiting,
  not work. An ``"interrupt"`` span (AsyncLM injecting results into the KV cache: prefill) is
  LLM work too and is an LLM node unless it lies inside an ``"llm"`` span.
* **Tool nodes** — every ``"tool"`` span.
* **LLM → next LLM**: one model decodes one request at a time, so each LLM node follows the
  previous one (when they did not overlap in the recording).
* **tool → LLM**: an LLM node waits for every tool call that was emitted by an *earlier* LLM
  node and ended before it started — the joiner waits for its round's observations, a ReAct
  step for its observation, an AsyncLM segment resumed after a trap for the result it trapped on.
* **dependency → tool**: a tool call waits for the tool calls named in its ``deps`` (resolved
  to the latest span of that ``task_id`` that ended before it started).
* **emitter ⇢ tool (partial)**: a tool call's *emitter* is the latest LLM node that started at or
  before its dispatch (``attrs["dispatched"]``, else its start). The call cannot start before
  the emitter had written its line, i.e. before ``emitter.start + w``, where the *planner wait*
  ``w`` is ``clamp(emitted - emitter.start, 0, emitter.duration)``. The emission time is
  ``attrs["emitted"]`` when the recorder gives it; otherwise it is estimated conservatively:
  a call without dependencies is dispatched as soon as it is parsed, so ``emitted =
  dispatched``; a call with dependencies was written after every lower-numbered call of the
  same emitter, so ``emitted = max(emitted of those)`` (never later than its own dispatch).
  A non-streaming planner therefore costs its whole duration; a streaming one only the prefix
  up to each line.

Every edge is one the recorded run obeyed (a predecessor ended — or reached the emission point
— before its successor started; 2 µs of slack absorbs timestamp rounding), so by induction each
node's replay finish is at most its recorded end: the bound never exceeds the measured latency
and ``efficiency = bound / latency`` lies in ``[0, 1]``. ReAct, whose spans all chain, has
efficiency close to 1 by construction; the gap (``slack``) is dispatch, parsing and queueing
overhead the method could still remove.

Idle shares
-----------
Over the measured latency: ``llm_wait_share`` is the fraction of time tools were running while
the LLM was idle (the LLM waiting for tools), ``tool_wait_share`` the fraction the LLM was
working while no tool ran (tools waiting for the LLM), ``overlap_share`` both at once.

LLM requests and roles
----------------------
:func:`llm_requests` reads every LLM request of a trace in one form, whichever recorder wrote
it: an agent's ``kind="llm"`` span (``attrs["role"]``, ``prompt_tokens``,
``cached_prompt_tokens``, ``completion_tokens``, ``ttft``; ``attrs["tool"]`` when a tool made
it), or a CML run's ``"prefill"`` span (``tokens``, ``cached``) with the ``"decode"`` segments
after it (``tokens``), role ``"cml"``. :func:`role_usage` sums them per role.

Token-throughput bound
----------------------
The critical path keeps each LLM span's measured duration, so on a token-bound backend it is
as slow as the run (efficiency 1.00 everywhere). :func:`token_bound` instead asks what the
run's own tokens need at a backend speed (:class:`~interlace.trace.LLMSpeed`): the sum over the
agent's requests of ``ttft + uncached_prompt / prefill + (output - 1) * tpot``, plus the tool
time on the critical path that no LLM work overlapped (the LLM had to wait for it). Requests
made by tools are part of their tool's time, as on the critical path. ``token_bound / latency``
below 1 is time lost to overhead, idle waiting or a backend slower than the speed model.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from interlace.trace._serial import trace_from_dict
from interlace.trace._spans import TIMESTAMP_SLACK, Span, Trace, dependency_edges
from interlace.trace._speed import LLMSpeed, RequestTiming, fit_speed

_EPS = TIMESTAMP_SLACK


@dataclass(frozen=True, kw_only=True, slots=True)
class _Node:
    span: int  # index into trace.spans
    kind: str  # "llm" or "tool"
    start: float
    end: float

    @property
    def duration(self) -> float:
        return max(self.end - self.start, 0.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class PathStep:
    """One piece of work on the critical path.

    Attributes:
        span: index of the span in ``trace.spans``.
        kind: ``"llm"`` or ``"tool"``.
        name: the span's name.
        task_id: the span's task id (tool calls), else ``None``.
        start: where the piece starts, monotonic seconds (the span's start, or a segment's
            start when a trap splits an LLM span).
        seconds: how much of the span lies on the path (a planner is on it only up to the line
            its successor waited for).
        partial: ``True`` when only a prefix of the span (``seconds`` long) is on the path.
    """

    span: int
    kind: str
    name: str
    task_id: int | None
    start: float
    seconds: float
    partial: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class CriticalPath:
    """The critical-path lower bound of one trace (see the module docstring).

    Attributes:
        length: the bound, seconds.
        latency: the measured latency (last span end minus origin), seconds.
        steps: the path, first piece of work first.
    """

    length: float
    latency: float
    steps: tuple[PathStep, ...]

    @property
    def efficiency(self) -> float | None:
        """``length / latency`` in ``[0, 1]``; ``None`` for an empty (zero-latency) trace."""
        if self.latency <= 0:
            return None
        return min(1.0, self.length / self.latency)

    @property
    def spans(self) -> frozenset[int]:
        """Indices (into ``trace.spans``) of every span with some time on the path."""
        return frozenset(step.span for step in self.steps)


def _inside(inner: Span, outer: Span) -> bool:
    return outer.start - _EPS <= inner.start and inner.end <= outer.end + _EPS


def _llm_nodes(spans: Sequence[Span]) -> list[_Node]:
    tools = [s for s in spans if s.kind == "tool"]
    traps = sorted((s for s in spans if s.kind == "trap"), key=lambda s: s.start)
    llms = [s for s in spans if s.kind == "llm"]
    nodes: list[_Node] = []
    for i, span in enumerate(spans):
        if span.kind == "interrupt" and not any(_inside(span, s) for s in llms):
            nodes.append(_Node(span=i, kind="llm", start=span.start, end=span.end))
            continue
        if span.kind != "llm" or any(_inside(span, t) for t in tools):
            continue
        cursor = span.start
        for trap in traps:
            if trap.start >= cursor and _inside(trap, span):
                nodes.append(_Node(span=i, kind="llm", start=cursor, end=trap.start))
                cursor = trap.end
        nodes.append(_Node(span=i, kind="llm", start=cursor, end=max(span.end, cursor)))
    nodes.sort(key=lambda n: (n.start, n.end))
    return nodes


def _dispatch_time(span: Span) -> float:
    value = span.attrs.get("dispatched")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return min(float(value), span.start)
    return span.start


def _emitter(llm: Sequence[_Node], at: float) -> int | None:
    """Position in ``llm`` of the latest LLM node started at or before ``at``."""
    best: int | None = None
    for k, node in enumerate(llm):
        if node.start <= at + _EPS:
            best = k
    return best


def _emission_waits(
    spans: Sequence[Span], llm: Sequence[_Node], emitter_of: Mapping[int, int]
) -> dict[int, float]:
    """Tool span index -> planner wait ``w`` (seconds into its emitter)."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, k in emitter_of.items():
        groups[k].append(i)
    waits: dict[int, float] = {}
    for k, members in groups.items():
        node = llm[k]
        members.sort(
            key=lambda i: (spans[i].task_id is None, spans[i].task_id or 0, spans[i].start)
        )
        running = node.start
        for i in members:
            span = spans[i]
            given = span.attrs.get("emitted")
            if isinstance(given, int | float) and not isinstance(given, bool):
                emitted = float(given)
            elif not span.deps:
                emitted = _dispatch_time(span)
            else:
                emitted = min(running, _dispatch_time(span))
            running = max(running, emitted)
            waits[i] = min(max(emitted - node.start, 0.0), node.duration)
    return waits


@dataclass(kw_only=True)
class _Graph:
    nodes: list[_Node]
    # predecessor node position -> seconds of it that must be done (None = all of it)
    preds: list[list[tuple[int, float | None]]]


def _build_graph(spans: Sequence[Span]) -> _Graph:
    llm = _llm_nodes(spans)
    tool_ids = [i for i, s in enumerate(spans) if s.kind == "tool"]
    nodes = list(llm) + [
        _Node(span=i, kind="tool", start=spans[i].start, end=spans[i].end) for i in tool_ids
    ]
    pos_of_tool = {i: len(llm) + n for n, i in enumerate(tool_ids)}
    preds: list[list[tuple[int, float | None]]] = [[] for _ in nodes]
    emitter_of: dict[int, int] = {}
    for i in tool_ids:
        k = _emitter(llm, _dispatch_time(spans[i]))
        if k is not None:
            emitter_of[i] = k
    for k, node in enumerate(llm):
        preds[k].extend((j, None) for j in range(k) if llm[j].end <= node.start + _EPS)
        for i in tool_ids:
            emitted_before = emitter_of.get(i, -1) < k
            if emitted_before and spans[i].end <= node.start + _EPS:
                preds[k].append((pos_of_tool[i], None))
    for src, dst in dependency_edges(spans):
        preds[pos_of_tool[dst]].append((pos_of_tool[src], None))
    for i, wait in _emission_waits(spans, llm, emitter_of).items():
        preds[pos_of_tool[i]].append((emitter_of[i], wait))
    return _Graph(nodes=nodes, preds=preds)


def _topological(graph: _Graph) -> list[int]:
    indegree = [len(p) for p in graph.preds]
    succs: list[list[int]] = [[] for _ in graph.nodes]
    for v, plist in enumerate(graph.preds):
        for u, _ in plist:
            succs[u].append(v)
    order = sorted(
        (v for v, d in enumerate(indegree) if d == 0), key=lambda v: graph.nodes[v].start
    )
    out: list[int] = []
    while order:
        u = order.pop(0)
        out.append(u)
        for v in succs[u]:
            indegree[v] -= 1
            if indegree[v] == 0:
                order.append(v)
    return out  # edges always point forward in recorded time, so the graph is acyclic


def latency(trace: Trace) -> float:
    """Measured latency: last span end minus the trace's origin, seconds (0 if no spans)."""
    return max((s.end - trace.origin for s in trace.spans), default=0.0)


def critical_path(trace: Trace) -> CriticalPath:
    """Compute the critical-path lower bound of a trace and the path that attains it.

    See the module docstring for the DAG. Runs in O(n²) for n spans.
    """
    graph = _build_graph(trace.spans)
    finish, best = _longest(graph)
    if not finish:
        return CriticalPath(length=0.0, latency=latency(trace), steps=())
    last = max(finish, key=lambda v: (finish[v], -v))
    steps = _backtrack(trace.spans, graph, best, last)
    return CriticalPath(length=finish[last], latency=latency(trace), steps=steps)


_Link = tuple[int, float | None]  # predecessor node, seconds of it needed (None = all)


def _longest(graph: _Graph) -> tuple[dict[int, float], dict[int, _Link | None]]:
    """Replay finish time of every node (seconds from origin) and its binding predecessor."""
    finish: dict[int, float] = {}
    best: dict[int, _Link | None] = {}
    for v in _topological(graph):
        ready, arg = 0.0, None
        for u, portion in graph.preds[v]:
            pred = graph.nodes[u]
            t = finish[u] if portion is None else finish[u] - pred.duration + portion
            if t > ready:
                ready, arg = t, (u, portion)
        finish[v] = ready + graph.nodes[v].duration
        best[v] = arg
    return finish, best


def _backtrack(
    spans: Sequence[Span], graph: _Graph, best: Mapping[int, _Link | None], last: int
) -> tuple[PathStep, ...]:
    steps: list[PathStep] = []
    link: _Link | None = (last, None)
    while link is not None:
        cur, portion = link
        node = graph.nodes[cur]
        span = spans[node.span]
        seconds = node.duration if portion is None else portion
        steps.append(
            PathStep(
                span=node.span,
                kind=node.kind,
                name=span.name,
                task_id=span.task_id,
                start=node.start,
                seconds=seconds,
                partial=portion is not None and seconds < node.duration - _EPS,
            )
        )
        link = best[cur]
    return tuple(reversed(steps))


def _union(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _measure(intervals: Sequence[tuple[float, float]]) -> float:
    return sum(b - a for a, b in intervals)


def _intersect(xs: Sequence[tuple[float, float]], ys: Sequence[tuple[float, float]]) -> float:
    total, i, j = 0.0, 0, 0
    while i < len(xs) and j < len(ys):
        lo, hi = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        total += max(0.0, hi - lo)
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return total


def max_concurrency(spans: Iterable[Span]) -> int:
    """Peak number of spans running at once (touching end/start do not overlap)."""
    points = sorted(p for s in spans for p in ((s.start, 1), (s.end, -1)))
    peak = current = 0
    for _, delta in points:
        current += delta
        peak = max(peak, current)
    return peak


def utilisation(trace: Trace) -> dict[str, float]:
    """Busy and idle time of the LLM and the tools, seconds.

    Returns:
        ``llm_time_s`` (union of LLM work, trap pauses excluded), ``tool_time_s`` (union of tool
        calls), ``overlap_s`` (both at once), ``llm_wait_s`` (tools running, LLM idle),
        ``tool_wait_s`` (LLM working, no tool running), ``idle_s`` (neither), ``latency_s``.
    """
    total = latency(trace)
    llm = _union((n.start, n.end) for n in _llm_nodes(trace.spans))
    tools = _union((s.start, s.end) for s in trace.spans if s.kind == "tool")
    llm_time, tool_time = _measure(llm), _measure(tools)
    overlap = _intersect(llm, tools)
    return {
        "latency_s": total,
        "llm_time_s": llm_time,
        "tool_time_s": tool_time,
        "overlap_s": overlap,
        "llm_wait_s": tool_time - overlap,
        "tool_wait_s": llm_time - overlap,
        "idle_s": max(0.0, total - (llm_time + tool_time - overlap)),
    }


def _share(part: float, total: float) -> float | None:
    return part / total if total > 0 else None


def metrics(trace: Trace) -> dict[str, Any]:
    """Per-trace figures for ``interlace eval`` to average per method (JSON-serialisable).

    Keys (seconds unless ``_share``/count; shares are of the measured latency, ``None`` when
    the trace is empty): ``latency_s``, ``critical_path_s``, ``efficiency`` (bound / latency),
    ``slack_s`` (latency - bound), ``critical_llm_s`` / ``critical_tool_s`` (time on the path
    spent in the LLM / in tools), ``llm_time_s``, ``tool_time_s``, ``tool_call_time_s`` (sum of
    tool call durations), ``llm_share``, ``tool_share``, ``overlap_share``, ``llm_wait_share``
    (LLM idle while tools ran), ``tool_wait_share`` (tools idle while the LLM ran),
    ``idle_share``, ``llm_spans``, ``tool_spans``, ``max_tool_concurrency``.
    """
    path = critical_path(trace)
    use = utilisation(trace)
    total = use["latency_s"]
    tools = [s for s in trace.spans if s.kind == "tool"]
    return {
        "latency_s": total,
        "critical_path_s": path.length,
        "efficiency": path.efficiency,
        "slack_s": max(0.0, total - path.length),
        "critical_llm_s": sum(s.seconds for s in path.steps if s.kind == "llm"),
        "critical_tool_s": sum(s.seconds for s in path.steps if s.kind == "tool"),
        "llm_time_s": use["llm_time_s"],
        "tool_time_s": use["tool_time_s"],
        "tool_call_time_s": sum(s.duration for s in tools),
        "llm_share": _share(use["llm_time_s"], total),
        "tool_share": _share(use["tool_time_s"], total),
        "overlap_share": _share(use["overlap_s"], total),
        "llm_wait_share": _share(use["llm_wait_s"], total),
        "tool_wait_share": _share(use["tool_wait_s"], total),
        "idle_share": _share(use["idle_s"], total),
        "llm_spans": sum(1 for s in trace.spans if s.kind == "llm"),
        "tool_spans": len(tools),
        "max_tool_concurrency": max_concurrency(tools),
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class LLMRequest:
    """One LLM request of a trace (see "LLM requests and roles" in the module docstring).

    Attributes:
        role: ``planner``, ``joiner``, ``react``, ``math``, ``cml``, ...
        start, end: monotonic seconds (for a CML run: its prefill to its last decode segment).
        prompt_tokens, cached_prompt_tokens, output_tokens: tokens (cached: served from a
            reused KV-cache prefix).
        ttft: seconds to the first token, ``None`` when not recorded.
        by_tool: a tool made the request (it lies inside the tool's span).
    """

    role: str
    start: float
    end: float
    prompt_tokens: int
    cached_prompt_tokens: int
    output_tokens: int
    ttft: float | None
    by_tool: bool = False

    @property
    def uncached_prompt_tokens(self) -> int:
        """Prompt tokens the backend had to prefill."""
        return max(self.prompt_tokens - self.cached_prompt_tokens, 0)

    def timing(self) -> RequestTiming | None:
        """The request as :func:`~interlace.trace.fit_speed` reads it (``None`` without TTFT,
        and for a CML run, whose span from prefill to last token includes its tool waits)."""
        if self.ttft is None or self.role == "cml":
            return None
        return RequestTiming(
            uncached_prompt_tokens=self.uncached_prompt_tokens,
            output_tokens=self.output_tokens,
            ttft=self.ttft,
            duration=self.end - self.start,
        )


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _seconds_or_none(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def llm_requests(trace: Trace) -> list[LLMRequest]:
    """Every LLM request of ``trace``, in start order (see the module docstring)."""
    tools = [s for s in trace.spans if s.kind == "tool"]
    out: list[LLMRequest] = []
    cml: list[tuple[Span, list[Span]]] = []
    for span in sorted(trace.spans, key=lambda s: s.start):
        if span.kind != "llm":
            continue
        attrs = span.attrs
        if span.name == "prefill" and "role" not in attrs:
            cml.append((span, []))
        elif span.name == "decode" and "role" not in attrs:
            if cml:
                cml[-1][1].append(span)
        else:
            out.append(
                LLMRequest(
                    role=str(attrs.get("role") or span.name),
                    start=span.start,
                    end=span.end,
                    prompt_tokens=_int(attrs.get("prompt_tokens")),
                    cached_prompt_tokens=_int(attrs.get("cached_prompt_tokens")),
                    output_tokens=_int(attrs.get("completion_tokens")),
                    ttft=_seconds_or_none(attrs.get("ttft")),
                    by_tool=attrs.get("tool") is True or any(_inside(span, t) for t in tools),
                )
            )
    for prefill, decodes in cml:
        first = decodes[0].start if decodes else None
        out.append(
            LLMRequest(
                role="cml",
                start=prefill.start,
                end=max([prefill.end, *(d.end for d in decodes)]),
                prompt_tokens=_int(prefill.attrs.get("tokens")),
                cached_prompt_tokens=_int(prefill.attrs.get("cached")),
                output_tokens=sum(_int(d.attrs.get("tokens")) for d in decodes),
                ttft=None if first is None else first - prefill.start,
            )
        )
    out.sort(key=lambda r: r.start)
    return out


ROLE_FIELDS = (
    "calls",
    "uncached_prompt_tokens",
    "cached_prompt_tokens",
    "output_tokens",
    "time_s",
    "ttft_s",
)
"""The per-role figures of :func:`role_usage`, in table order."""


def role_usage(trace: Trace) -> dict[str, dict[str, float]]:
    """Per role: ``calls``, ``uncached_prompt_tokens``, ``cached_prompt_tokens``,
    ``output_tokens`` (tokens), ``time_s`` (seconds the requests took; for ``cml`` also the
    interrupt injections) and ``ttft_s`` (summed time to first token, seconds).

    A CML run is one ``cml`` call (its prompt prefill); the tokens of its interrupts are not
    recorded, and ``async-naive``'s re-prefills count in ``time_s``, not in ``calls``."""
    out: dict[str, dict[str, float]] = {}
    for request in llm_requests(trace):
        row = out.setdefault(request.role, dict.fromkeys(ROLE_FIELDS, 0.0))
        row["calls"] += 1
        row["uncached_prompt_tokens"] += request.uncached_prompt_tokens
        row["cached_prompt_tokens"] += request.cached_prompt_tokens
        row["output_tokens"] += request.output_tokens
        row["ttft_s"] += request.ttft or 0.0
        if request.role != "cml":
            row["time_s"] += request.end - request.start
    if "cml" in out:
        out["cml"]["time_s"] = sum(s.duration for s in trace.spans if _is_cml_work(s))
    return out


def _is_cml_work(span: Span) -> bool:
    if span.kind == "interrupt":
        return True
    return span.kind == "llm" and "role" not in span.attrs and span.name in ("prefill", "decode")


def exposed_tool_seconds(trace: Trace) -> float:
    """Seconds of tool calls on the critical path during which no LLM work ran."""
    path = critical_path(trace)
    llm = _union((n.start, n.end) for n in _llm_nodes(trace.spans))
    pieces = _union((s.start, s.start + s.seconds) for s in path.steps if s.kind == "tool")
    return _measure(pieces) - _intersect(pieces, llm)


def token_bound(trace: Trace, speed: LLMSpeed) -> float:
    """The token-throughput bound of ``trace`` at ``speed``, seconds (module docstring)."""
    requests = [r for r in llm_requests(trace) if not r.by_tool]
    tokens = sum(speed.request_seconds(r.uncached_prompt_tokens, r.output_tokens) for r in requests)
    return tokens + exposed_tool_seconds(trace)


def fit_trace_speed(traces: Iterable[Trace], *, serial: bool = True) -> LLMSpeed | None:
    """:func:`~interlace.trace.fit_speed` over the agents' requests of ``traces`` (``None``
    when none has a recorded time to first token)."""
    rows = [
        t
        for trace in traces
        for r in llm_requests(trace)
        if not r.by_tool and (t := r.timing()) is not None
    ]
    return fit_speed(rows, serial=serial) if rows else None


def average_metrics(items: Iterable[Trace | Mapping[str, Any]]) -> dict[str, float | int | None]:
    """Mean of :func:`metrics` over many runs (e.g. all questions of one method).

    Args:
        items: traces, or dicts already returned by :func:`metrics` (or :func:`trace_to_dict`
            output, recognised by its ``"spans"`` key).

    Returns:
        Each numeric key's mean over the items where it is not ``None`` (``None`` if it never
        is), plus ``"n"``: the number of items.
    """
    rows: list[Mapping[str, Any]] = []
    for item in items:
        if isinstance(item, Trace):
            rows.append(metrics(item))
        elif "spans" in item:
            rows.append(metrics(trace_from_dict(item)))
        else:
            rows.append(item)
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    out: dict[str, float | int | None] = {"n": len(rows)}
    for key in keys:
        values = [
            float(v)
            for row in rows
            if isinstance(v := row.get(key), int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
        ]
        out[key] = sum(values) / len(values) if values else None
    return out
