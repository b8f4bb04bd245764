"""Bookkeeping every agent shares: LLM requests counted and traced, errors collected.

The current run
---------------
A :class:`RunMeter` becomes the *current meter* of the task that creates it
(:func:`current_meter`, a context variable) until :meth:`RunMeter.result` closes the run. Tasks
started inside the run (the executor's tool calls) inherit it, so an LLM request made by a tool —
ParallelQA's ``math`` tool asks the model for an expression — is counted in the run's LLM calls
and usage and traced as its own role through :class:`ToolLLM`, with no special case in any
agent. While a :class:`ToolLLM` request streams, :func:`current_request_role` names its role, so
a backend that must tell tool requests from the agent's own (the replay LLM) can.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from interlace import _events
from interlace._clock import now
from interlace.agents._result import RunResult
from interlace.llm._base import (
    LLM,
    Completion,
    GenerationConfig,
    Message,
    PrefixPrefill,
    StreamItem,
    Usage,
)
from interlace.trace._spans import Span, Trace

MAX_OBSERVATION_CHARS = 1200
"""Observations longer than this (characters) are cut before they go into a prompt."""


def clip(text: str, limit: int = MAX_OBSERVATION_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marking the cut."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " …(truncated)"


def with_stop(config: GenerationConfig, *stops: str) -> GenerationConfig:
    """``config`` with ``stops`` added to its stop sequences (kept once each)."""
    merged = tuple(dict.fromkeys((*config.stop, *stops)))
    return dataclasses.replace(config, stop=merged)


async def prefill_fixed_prompt(llm: LLM, system: str) -> int:
    """Prefill an agent's fixed system message on a backend that can
    (:class:`~interlace.llm.PrefixPrefill`), leaving the user turn open so every question's
    prompt extends it; agents' ``warm()`` (benchmarks call it before the clock starts, for every
    method alike). A no-op once cached.

    Returns:
        Prompt tokens evaluated now (0 on other backends).
    """
    if not isinstance(llm, PrefixPrefill):
        return 0
    messages = [Message(role="system", content=system), Message(role="user", content="")]
    return await llm.prefill(messages, open_end=True)


@dataclass(kw_only=True)
class RunMeter:
    """Running totals of one agent run: LLM requests, tokens, cost, tool calls, errors.

    Attributes:
        trace: the run's trace; every recorded LLM request becomes a ``kind="llm"`` span.
        start: monotonic seconds at which the run started.

    Creating a meter makes it the current one (:func:`current_meter`) until :meth:`result`.
    """

    trace: Trace = field(default_factory=Trace)
    start: float = field(default_factory=now)
    llm_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    tool_calls: int = 0
    errors: list[str] = field(default_factory=list)
    _outer: RunMeter | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._outer = _CURRENT_METER.get()
        _CURRENT_METER.set(self)

    def record(self, completion: Completion, role: str, **attrs: Any) -> None:
        """Count one finished LLM request and add its span.

        The span's attrs: ``role``, ``prompt_tokens``, ``completion_tokens``,
        ``cached_prompt_tokens`` (tokens), ``first_token`` (monotonic seconds), ``ttft`` and
        ``tpot`` (seconds, ``None`` when undefined), ``finish_reason``, ``text`` (the reply, so
        a replay can serve it again), plus ``attrs`` (:meth:`complete` and :class:`ToolLLM` add
        ``prompt_sha``: :func:`prompt_digest` of the request's messages).
        """
        self.llm_calls += 1
        self.usage = self.usage + completion.usage
        self.cost_usd += completion.cost_usd
        self.errors += [f"{role}: {warning}" for warning in completion.warnings]
        timing, usage = completion.timing, completion.usage
        if timing.grammar is not None:
            attrs = {"grammar_s": timing.grammar, **attrs}
        if completion.fixed_prompt_tokens is not None:
            attrs = {"fixed_prompt_tokens": completion.fixed_prompt_tokens, **attrs}
        self.trace.add(
            Span(
                kind="llm",
                name=role,
                start=timing.start,
                end=timing.end,
                attrs={
                    "role": role,
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "cached_prompt_tokens": usage.cached_prompt_tokens,
                    "first_token": timing.first_token,
                    "ttft": timing.ttft,
                    "tpot": timing.tpot(usage.completion_tokens),
                    "finish_reason": completion.finish_reason,
                    "text": completion.text,
                    **attrs,
                },
            )
        )

    def record_prefill(self, role: str, start: float, end: float, tokens: int) -> None:
        """Add the span of a background prefill (:class:`~interlace.llm.PrefixPrefill`): model
        time that belongs to the run although no request answered it.

        The span is ``kind="llm"`` with attrs ``role``, ``prompt_tokens`` (= tokens evaluated),
        ``cached_prompt_tokens`` 0, ``completion_tokens`` 0 and ``background`` True; it adds to
        neither :attr:`llm_calls` nor :attr:`usage` (the request that later reads those tokens
        counts them, as cached).
        """
        attrs = {
            "role": role,
            "prompt_tokens": tokens,
            "completion_tokens": 0,
            "cached_prompt_tokens": 0,
            "first_token": None,
            "ttft": None,
            "tpot": None,
            "finish_reason": "stop",
            "background": True,
        }
        self.trace.add(Span(kind="llm", name=role, start=start, end=end, attrs=attrs))

    async def complete(
        self, llm: LLM, messages: Sequence[Message], config: GenerationConfig, role: str
    ) -> Completion:
        """Ask ``llm`` (not streaming) and record the request. LLMError propagates."""
        completion = await _events.complete(llm, messages, dataclasses.replace(config, role=role))
        self.record(completion, role, prompt_sha=prompt_digest(messages))
        return completion

    def result(
        self,
        *,
        question: str,
        answer: str,
        method: str,
        rounds: int,
        details: Mapping[str, Any],
    ) -> RunResult:
        """The run's :class:`RunResult`, with a ``kind="run"`` span closing the trace."""
        end = now()
        if _CURRENT_METER.get() is self:
            _CURRENT_METER.set(self._outer)
        self.trace.add(Span(kind="run", name=method, start=self.start, end=end))
        return RunResult(
            question=question,
            answer=answer,
            method=method,
            latency=end - self.start,
            llm_calls=self.llm_calls,
            usage=self.usage,
            cost_usd=self.cost_usd,
            tool_calls=self.tool_calls,
            errors=tuple(self.errors),
            rounds=rounds,
            trace=self.trace,
            details=details,
        )


_CURRENT_METER: ContextVar[RunMeter | None] = ContextVar("interlace_run_meter", default=None)
_REQUEST_ROLE: ContextVar[str | None] = ContextVar("interlace_request_role", default=None)
_DEFAULT_CONFIG = GenerationConfig()


def current_meter() -> RunMeter | None:
    """The :class:`RunMeter` of the run this code executes in, or ``None`` outside any run."""
    return _CURRENT_METER.get()


def current_request_role() -> str | None:
    """The role of the :class:`ToolLLM` request streaming in this task (``None``: the agent's)."""
    return _REQUEST_ROLE.get()


def prompt_digest(messages: Sequence[Message]) -> str:
    """A short fingerprint of a request's prompt (16 hex digits of SHA-256 over roles and texts).

    Stored as the ``prompt_sha`` attr of ``kind="llm"`` spans, so a replay can tell whether it
    sent the recorded prompt.
    """
    payload = json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False)
    # surrogatepass: model text may hold a lone surrogate; the digest must not raise on it
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class ToolLLM(LLM):
    """The LLM as a tool uses it: each request is recorded into the current run under ``role``.

    A tool built inside a benchmark (e.g. ``make_math(llm)``) cannot see the agent's
    :class:`RunMeter`; wrapping its LLM in ``ToolLLM(llm, role="math")`` makes each finished
    request count in the run's ``llm_calls``/usage/cost and become a ``kind="llm"`` span with
    ``attrs["role"] == role`` and ``attrs["tool"] is True`` (it lies inside the tool's span, so
    the critical path counts it as tool time). Outside a run the request is only forwarded.

    Args:
        inner: the backend.
        role: the role name in traces and ``interlace eval`` (e.g. ``"math"``).
    """

    def __init__(self, inner: LLM, role: str) -> None:
        self.inner = inner
        self.role = role
        self.model = inner.model

    async def stream(
        self, messages: Sequence[Message], config: GenerationConfig = _DEFAULT_CONFIG
    ) -> AsyncIterator[StreamItem]:
        """Forward to ``inner``; record the final :class:`Completion` into the current run."""
        outer = _REQUEST_ROLE.get()
        _REQUEST_ROLE.set(self.role)
        try:
            config = dataclasses.replace(config, role=self.role)
            async for item in _events.stream(self.inner, messages, config):
                if isinstance(item, Completion) and (meter := current_meter()) is not None:
                    meter.record(item, self.role, prompt_sha=prompt_digest(messages), tool=True)
                yield item
        finally:
            _REQUEST_ROLE.set(outer)

    async def aclose(self) -> None:
        """Nothing to release: the wrapped backend belongs to its owner."""
