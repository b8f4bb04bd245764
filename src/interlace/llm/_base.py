"""The one small protocol every language-model backend implements.

A backend implements :meth:`LLM.stream`; interlace provides the rest (:meth:`LLM.complete`,
:meth:`LLM.complete_sync`). ``stream`` yields :class:`TextDelta` items as text is decoded and
always ends with exactly one :class:`Completion` carrying exact usage and timing.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import anyio

from interlace._clock import now as now  # re-exported: interlace.llm.now
from interlace.llm._toolcalls import ToolCall

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Message:
    """One chat message.

    Attributes:
        role: who speaks; ``"tool"`` is a function's result (native function calling).
        content: the text.
        tool_calls: the calls an ``"assistant"`` message made natively
            (:class:`~interlace.llm.NativeToolCalling`).
        tool_call_id: the call a ``"tool"`` message answers (:attr:`ToolCall.id`).
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Grammar:
    """A context-free grammar the output of one request must follow (constrained decoding).

    Attributes:
        lark: the grammar in llguidance's Lark dialect (a ``start`` rule; see
            :mod:`interlace._grammars` for the ones the agents use).
        name: a short label for reports and errors (``"plan"``, ``"joiner"``...).
    """

    lark: str
    name: str = "grammar"


@dataclass(frozen=True, kw_only=True, slots=True)
class GenerationConfig:
    """Sampling settings for one request.

    Attributes:
        max_tokens: upper bound on generated tokens.
        temperature: 0.0 means greedy decoding.
        stop: stop sequences; the returned text excludes the matched stop sequence.
        seed: sampling seed where the backend supports one.
        grammar: constrain the output to this grammar where the backend can
            (:attr:`LLM.constrains`); other backends ignore it and the caller parses as usual.
        role: who asks, for traces, events and logs (``"planner"``, ``"joiner"``,
            ``"react"``, ``"math"``...); agents set it, backends do not read it. ``None``: a
            request made outside any agent.
    """

    max_tokens: int = 512
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    seed: int | None = 0
    grammar: Grammar | None = None
    role: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage:
    """Token counts of one request, as counted by the backend's tokenizer or API.

    Attributes:
        prompt_tokens: tokens in the prompt (input).
        completion_tokens: tokens generated (output).
        cached_prompt_tokens: prompt tokens served from a reused KV-cache prefix (not prefilled).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Timing:
    """Wall-clock timing of one request, in seconds on ``time.monotonic()``'s clock.

    Attributes:
        start: when the request was issued (monotonic seconds).
        first_token: when the first text arrived (monotonic seconds), ``None`` if no text.
        end: when the request finished (monotonic seconds).
        prefill: seconds spent processing the prompt, where the backend can tell, else ``None``.
        grammar: seconds spent computing grammar masks and forced tokens (constrained
            decoding), ``None`` when the request had no enforced grammar.
    """

    start: float
    first_token: float | None
    end: float
    prefill: float | None = None
    grammar: float | None = None

    @property
    def ttft(self) -> float | None:
        """Time to first token, seconds."""
        return None if self.first_token is None else self.first_token - self.start

    @property
    def total(self) -> float:
        """Request latency, seconds."""
        return self.end - self.start

    def tpot(self, completion_tokens: int) -> float | None:
        """Time per output token after the first, seconds (``None`` below two tokens)."""
        if self.first_token is None or completion_tokens < 2:
            return None
        return (self.end - self.first_token) / (completion_tokens - 1)


FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True, kw_only=True, slots=True)
class TextDelta:
    """A piece of generated text, yielded as soon as it is decoded."""

    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Completion:
    """The final item of every stream: the whole text with exact usage, timing and cost.

    Attributes:
        text: the full generated text (stop sequence excluded).
        model: the model name the backend reports.
        usage: exact token counts.
        timing: request timing.
        finish_reason: ``"stop"`` (stop sequence or end of text), ``"length"`` (hit
            ``max_tokens``) or ``"cancelled"``.
        cost_usd: price of this request in US dollars (0.0 for local models).
        usage_exact: ``False`` when the backend could not report usage (an OpenAI-compatible
            server that sends no usage chunk); ``usage`` is then all zeros, not an estimate.
        warnings: what went wrong without failing the request (e.g. a grammar that could not
            be built, so the text was decoded unconstrained); agents copy them into the run's
            ``errors``.
        fixed_prompt_tokens: how many prompt tokens were the request's fixed prefix (its
            leading system messages), where the backend tells (the embedded engine); the
            prefix was fully served from the cache when ``usage.cached_prompt_tokens`` reaches it.
        tool_calls: the functions the model called natively, in order (only from
            :meth:`~interlace.llm.NativeToolCalling.stream_tools`; empty otherwise).
    """

    text: str
    model: str
    usage: Usage
    timing: Timing
    finish_reason: FinishReason = "stop"
    cost_usd: float = 0.0
    usage_exact: bool = True
    warnings: tuple[str, ...] = ()
    fixed_prompt_tokens: int | None = None
    tool_calls: tuple[ToolCall, ...] = ()


StreamItem = TextDelta | Completion


@dataclass(kw_only=True)
class LLMStats:
    """Running totals over every request an :class:`LLM` instance served."""

    calls: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0

    def record(self, completion: Completion) -> None:
        self.calls += 1
        self.usage = self.usage + completion.usage
        self.cost_usd += completion.cost_usd


class LLM(abc.ABC):
    """A language model backend.

    Subclasses implement :meth:`stream`. Everything else is derived from it.

    Attributes:
        model: the model name, as used for pricing and reports.
    """

    model: str
    constrains: bool = False
    """Whether :attr:`GenerationConfig.grammar` is enforced (else it is ignored)."""

    @abc.abstractmethod
    def stream(
        self, messages: Sequence[Message], config: GenerationConfig = GenerationConfig()
    ) -> AsyncIterator[StreamItem]:
        """Generate a reply to ``messages``, streaming.

        Yields:
            :class:`TextDelta` items in order, then exactly one :class:`Completion`.

        Raises:
            LLMError: a subclass of it when the backend fails.
        """

    async def complete(
        self, messages: Sequence[Message], config: GenerationConfig = GenerationConfig()
    ) -> Completion:
        """Generate a reply and return only the final :class:`Completion`."""
        final: Completion | None = None
        async for item in self.stream(messages, config):
            if isinstance(item, Completion):
                final = item
        if final is None:  # pragma: no cover - protocol violation by a backend
            raise RuntimeError(f"{type(self).__name__}.stream ended without a Completion")
        return final

    def complete_sync(
        self, messages: Sequence[Message], config: GenerationConfig = GenerationConfig()
    ) -> Completion:
        """Blocking convenience wrapper around :meth:`complete` (not for use inside a loop)."""
        return anyio.run(self.complete, messages, config)

    async def aclose(self) -> None:  # noqa: B027 - optional hook, default no-op
        """Release resources (HTTP clients, model weights). Default: nothing to release."""


@runtime_checkable
class PrefixPrefill(Protocol):
    """A backend that can evaluate a prompt into its KV cache ahead of a request (declared by
    implementing this method; :class:`~interlace.llm.LocalLLM` does). LLMCompiler uses it to
    prefill the joiner's context with each observation as its task finishes, while the model
    is otherwise idle."""

    async def prefill(
        self, messages: Sequence[Message], *, open_end: bool = False, background: bool = False
    ) -> int:
        """Evaluate ``messages``' prompt; returns the tokens evaluated now."""
        ...


@runtime_checkable
class TokenLevel(Protocol):
    """A backend whose token engine a caller can hold for token-level decoding (declared by
    implementing :meth:`exclusive`; :class:`~interlace.llm.LocalLLM` does). AsyncLM's method
    ``"async"`` needs it: it injects interrupts into the KV cache between decoded tokens."""

    def exclusive(self, *, background: bool = False) -> AbstractAsyncContextManager[Any]:
        """Hold the model; the context manager yields its token engine (see
        :class:`~interlace.llm.TokenEngine`) and no other request runs meanwhile."""
        ...
