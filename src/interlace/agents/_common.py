"""Bookkeeping every agent shares: LLM requests counted and traced, errors collected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from interlace.agents._result import RunResult
from interlace.llm._base import LLM, Completion, GenerationConfig, Message, Usage, now
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
    return GenerationConfig(
        max_tokens=config.max_tokens, temperature=config.temperature, stop=merged, seed=config.seed
    )


@dataclass(kw_only=True)
class RunMeter:
    """Running totals of one agent run: LLM requests, tokens, cost, tool calls, errors.

    Attributes:
        trace: the run's trace; every recorded LLM request becomes a ``kind="llm"`` span.
        start: monotonic seconds at which the run started.
    """

    trace: Trace = field(default_factory=Trace)
    start: float = field(default_factory=now)
    llm_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    tool_calls: int = 0
    errors: list[str] = field(default_factory=list)

    def record(self, completion: Completion, role: str, **attrs: Any) -> None:
        """Count one finished LLM request and add its span.

        The span's attrs: ``role``, ``prompt_tokens``, ``completion_tokens``,
        ``cached_prompt_tokens`` (tokens), ``first_token`` (monotonic seconds), ``ttft`` and
        ``tpot`` (seconds, ``None`` when undefined), ``finish_reason``, plus ``attrs``.
        """
        self.llm_calls += 1
        self.usage = self.usage + completion.usage
        self.cost_usd += completion.cost_usd
        timing, usage = completion.timing, completion.usage
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
                    **attrs,
                },
            )
        )

    async def complete(
        self, llm: LLM, messages: Sequence[Message], config: GenerationConfig, role: str
    ) -> Completion:
        """Ask ``llm`` (not streaming) and record the request. LLMError propagates."""
        completion = await llm.complete(messages, config)
        self.record(completion, role)
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
