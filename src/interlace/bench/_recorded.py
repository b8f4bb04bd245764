"""What a stored run recorded of its LLM requests, as a replay serves them again.

Each ``kind="llm"`` span with a ``role`` is one request: its tokens, its reply text
(``attrs["text"]``) and prompt digest (``attrs["prompt_sha"]``). Stores written before spans
carried texts get them rebuilt from the record's ``details`` (:func:`recorded_requests`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from interlace._errors import UsageError
from interlace.llm._base import FinishReason
from interlace.trace._serial import trace_from_dict
from interlace.trace._spans import Span, Trace


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordedRequest:
    """One LLM request of a stored run, as the replay serves it again.

    Attributes:
        index: position among the run's recorded requests (start order).
        role: the role it was recorded under.
        text: its output text (``None``: not recorded and not reconstructable).
        exact: ``text`` is the recorded text (``False``: rebuilt from the record's details).
        prompt_tokens, cached_prompt_tokens, output_tokens: tokens, as recorded.
        prompt_sha: the recorded prompt digest (``None``: the store has none).
        by_tool: a tool made the request.
        finish_reason: as recorded.
        background: a background prefill (:class:`~interlace.llm.PrefixPrefill`), not a
            request: ``prompt_tokens`` were evaluated and nothing was decoded.
    """

    index: int
    role: str
    text: str | None
    exact: bool
    prompt_tokens: int
    cached_prompt_tokens: int
    output_tokens: int
    prompt_sha: str | None
    by_tool: bool
    finish_reason: FinishReason = "stop"
    background: bool = False

    @property
    def uncached_prompt_tokens(self) -> int:
        """Prompt tokens the recorded backend prefilled."""
        return max(self.prompt_tokens - self.cached_prompt_tokens, 0)


def llm_spans(trace: Trace) -> list[Span]:
    """The trace's ``kind="llm"`` spans that name a role, in start order."""
    return sorted(
        (s for s in trace.spans if s.kind == "llm" and "role" in s.attrs), key=lambda s: s.start
    )


def recorded_requests(record: Mapping[str, Any]) -> list[RecordedRequest]:
    """The LLM requests of one store record, in start order, with their texts.

    Texts come from each span's ``attrs["text"]``; a store written before spans carried it gets
    texts rebuilt from ``details`` (:func:`_reconstruct`), marked ``exact=False``.

    Raises:
        UsageError: the record has no trace.
    """
    data = record.get("trace")
    if not isinstance(data, Mapping):
        raise UsageError(
            f"record {record.get('question_id')!r}/{record.get('method')!r} has no trace"
        )
    trace = trace_from_dict(dict(data))
    spans = llm_spans(trace)
    tools = [s for s in trace.spans if s.kind == "tool"]
    rebuilt = _reconstruct(record, trace, spans)
    out = []
    for i, span in enumerate(spans):
        attrs = span.attrs
        text = attrs.get("text")
        exact = isinstance(text, str)
        finish = attrs.get("finish_reason")
        out.append(
            RecordedRequest(
                index=i,
                role=str(attrs["role"]),
                text=text if isinstance(text, str) else rebuilt.get(i),
                exact=exact,
                prompt_tokens=_count(attrs.get("prompt_tokens")),
                cached_prompt_tokens=_count(attrs.get("cached_prompt_tokens")),
                output_tokens=_count(attrs.get("completion_tokens")),
                prompt_sha=sha if isinstance(sha := attrs.get("prompt_sha"), str) else None,
                by_tool=attrs.get("tool") is True
                or (
                    attrs.get("background") is not True  # the agent's, even while a tool ran
                    and any(t.start <= span.start and span.end <= t.end for t in tools)
                ),
                finish_reason=finish if finish in ("stop", "length", "cancelled") else "stop",
                background=attrs.get("background") is True,
            )
        )
    return out


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _reconstruct(record: Mapping[str, Any], trace: Trace, spans: Sequence[Span]) -> dict[int, str]:
    """Output texts rebuilt from ``details`` for stores whose spans carry no text.

    Planner: ``details["plans"]`` in order. ReAct: ``details["steps"][i]["text"]``. Joiner: its
    round's thought and decision (``kind="join"/"replan"`` spans) as ``Thought: ...`` /
    ``Action: Finish(answer)`` or ``Action: Replan(thought)``; a joiner round that needed a
    nudge gets only its thought, and the nudge ``Action: Finish(answer)``. ReAct's final
    turn: ``Action: Finish(answer)``.
    """
    details = record.get("details") or {}
    answer = str(record.get("prediction") or "")
    plans = [str(p) for p in details.get("plans") or []]
    steps = [str(s.get("text", "")) for s in details.get("steps") or [] if isinstance(s, Mapping)]
    joins = sorted((s for s in trace.spans if s.kind in ("join", "replan")), key=lambda s: s.start)
    nudged = {
        k
        for k, j in enumerate(joins)
        if any(s.attrs.get("role") == "joiner-nudge" and j.start <= s.start <= j.end for s in spans)
    }
    counters: dict[str, int] = defaultdict(int)
    out: dict[int, str] = {}
    for i, span in enumerate(spans):
        role = str(span.attrs["role"])
        k = counters[role]
        counters[role] += 1
        if role == "planner" and k < len(plans):
            out[i] = plans[k]
        elif role == "react" and k < len(steps):
            out[i] = steps[k]
        elif role in ("react-final", "joiner-nudge"):
            out[i] = f"Action: Finish({answer})"
        elif role == "joiner" and k < len(joins):
            out[i] = _joiner_text(joins[k], answer, nudged=k in nudged)
    return out


def _joiner_text(join: Span, answer: str, *, nudged: bool) -> str:
    thought = str(join.attrs.get("thought") or "").strip()
    head = f"Thought: {thought}\n" if thought else ""
    if nudged:
        return head.strip() or "Thought:"
    if join.attrs.get("decision") == "replan":
        return f"{head}Action: Replan({thought or 'the observations do not answer it'})"
    return f"{head}Action: Finish({answer})"
