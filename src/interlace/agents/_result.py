"""What every agent returns: :class:`RunResult`, the :class:`Agent` protocol, and
:class:`EventStreaming`, which gives this library's agents their ``events()`` method."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from interlace import _events
from interlace.llm._base import Usage
from interlace.trace._spans import Trace


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """The outcome of answering one question with one method.

    Attributes:
        question: the question as asked.
        answer: the final answer text ("" only if the method produced none; see ``errors``).
        method: the method's name (``"compiler"``, ``"react"``, ``"sync"``, ``"async"``, ...).
        latency: end-to-end wall time, seconds.
        llm_calls: number of LLM requests made (planner, joiner, math tool, ReAct steps, ...).
        usage: summed token usage over those requests.
        cost_usd: summed price of those requests, US dollars.
        tool_calls: number of tool calls dispatched.
        errors: human-readable descriptions of everything that went wrong but did not stop the
            run (parse errors, tool failures, forced finishes); empty when all went well.
        rounds: planner rounds (1 + replans) for LLMCompiler, steps for ReAct, turns otherwise.
        trace: every span of the run.
        details: method-specific extras (plan text, calls made for BFCL, ...), JSON-serialisable.
    """

    question: str
    answer: str
    method: str
    latency: float
    llm_calls: int
    usage: Usage
    cost_usd: float
    tool_calls: int
    errors: tuple[str, ...] = ()
    rounds: int = 1
    trace: Trace = field(default_factory=Trace)
    details: Mapping[str, Any] = field(default_factory=dict)


class Agent(Protocol):
    """Anything that answers a question: LLMCompiler, ReAct, the AsyncLM methods.

    ``name`` and ``run`` are all an agent needs. The agents of this library also have
    ``events(question)`` (:class:`EventStreaming`); for an agent of your own that only has
    ``run``, :func:`interlace.events` ``(agent, question)`` yields the same events.
    """

    name: str

    async def run(self, question: str) -> RunResult:
        """Answer ``question``. Never raises for model or tool failures (they go in ``errors``);
        raises :class:`~interlace.LLMError` only when the backend itself is unusable."""
        ...


class EventStreaming:
    """The ``events()`` method of an agent class that defines ``name`` and ``run``.

    One mechanism for every agent: :meth:`events` is :func:`interlace.events` on ``self``.
    """

    name: str

    async def run(self, question: str) -> RunResult:  # pragma: no cover - every agent overrides
        """Answer ``question`` (the agent class defines it)."""
        raise NotImplementedError(f"{type(self).__name__} must define run(question)")

    def events(self, question: str) -> AsyncIterator[_events.Event]:
        """Run on ``question`` and yield the run's events as they happen, ending with an
        :class:`~interlace.Answer` that holds the :class:`RunResult`.

        Usage::

            async for event in agent.events("Who directed Vertigo?"):
                ...

        Iterate to the end, or close the iterator in the task that iterates it
        (``contextlib.aclosing``): closing early cancels the run.

        Raises:
            LLMError: the backend failed (as :meth:`run` raises it), after the events that
                came before.
        """
        return _events.events(self, question)
