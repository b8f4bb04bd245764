"""Test doubles: an :class:`~interlace.llm.LLM` whose replies and timing you script.

:class:`ScriptedLLM` streams texts you give it (a list of replies, or a function of the messages,
in the spirit of pydantic-ai's ``FunctionModel``) at a speed you choose, so tests can check what
happens *while* a reply streams — e.g. that a tool starts before the planner finished — without
loading a model. It records every request for assertions::

    llm = ScriptedLLM(["1. search('x')\\n2. join()\\n"], ttft=0.01, tpot=0.005)
    result = await LLMCompiler(llm, [search]).run("q")
    assert "Question: q" in llm.requests[0].messages[-1].content

A "token" here is a word-ish chunk: a run of non-space characters with the spaces around it
(regex ``\\s*\\S+\\s*``). Usage counts those chunks, both for the prompt and the reply.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import anyio

from interlace._clock import now
from interlace._errors import UsageError
from interlace.llm._base import (
    LLM,
    Completion,
    FinishReason,
    GenerationConfig,
    Message,
    StreamItem,
    TextDelta,
    Timing,
    Usage,
)

__all__ = ["Replier", "ScriptedLLM", "ScriptedRequest", "count_tokens", "split_tokens"]

Replier = Callable[[Sequence[Message]], str]
"""A function that computes the reply text from the request's messages."""

_DEFAULT_CONFIG = GenerationConfig()
_CHUNK = re.compile(r"\s*\S+\s*")
_WORD = re.compile(r"\S+")


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into ScriptedLLM "tokens": word-ish chunks that concatenate back to it.

    Whitespace-only text is one chunk; empty text is no chunk.
    """
    pieces = _CHUNK.findall(text)
    if not pieces and text:
        return [text]
    return pieces


def count_tokens(text: str) -> int:
    """Number of ScriptedLLM tokens in ``text`` (runs of non-space characters)."""
    return len(_WORD.findall(text))


@dataclass(frozen=True, kw_only=True, slots=True)
class ScriptedRequest:
    """One request a :class:`ScriptedLLM` served.

    Attributes:
        messages: the messages as sent.
        config: the generation settings as sent.
        reply: the scripted text before stop sequences and ``max_tokens`` were applied.
    """

    messages: tuple[Message, ...]
    config: GenerationConfig
    reply: str


class ScriptedLLM(LLM):
    """An LLM that streams scripted replies with controllable timing.

    Args:
        replies: the reply texts, one per request in order, or a function
            ``(messages) -> str`` called once per request.
        ttft: seconds to wait before the first chunk (time to first token).
        tpot: seconds to wait before each further chunk (time per output token).
        model: the model name reported in completions.

    Attributes:
        requests: every request served so far, in order.

    Each request honours ``config.stop`` (the reply is cut before the earliest stop sequence,
    finish reason ``"stop"``) and ``config.max_tokens`` (cut after that many chunks, finish reason
    ``"length"``). Cost is always 0.0.

    Raises:
        UsageError: from :meth:`stream`, when a list of replies is exhausted.
    """

    def __init__(
        self,
        replies: Sequence[str] | Replier,
        *,
        ttft: float = 0.0,
        tpot: float = 0.0,
        model: str = "scripted",
    ) -> None:
        if isinstance(replies, str):
            raise UsageError(
                "ScriptedLLM takes a sequence of replies, not one string: "
                "write ScriptedLLM([text]) instead of ScriptedLLM(text)"
            )
        if ttft < 0 or tpot < 0:
            raise UsageError(f"ScriptedLLM timings must be >= 0 seconds, got {ttft=}, {tpot=}")
        self._replies: Sequence[str] | Replier = replies
        self.ttft = ttft
        self.tpot = tpot
        self.model = model
        self.requests: list[ScriptedRequest] = []

    def _next_reply(self, messages: Sequence[Message]) -> str:
        if callable(self._replies):
            return self._replies(messages)
        index = len(self.requests)
        if index >= len(self._replies):
            last = messages[-1].content if messages else ""
            raise UsageError(
                f"ScriptedLLM ran out of replies: it was given {len(self._replies)} and this is "
                f"request {index + 1} (last message: {last[-200:]!r}). Script more replies, or "
                "pass a function (messages) -> str."
            )
        return self._replies[index]

    async def stream(
        self, messages: Sequence[Message], config: GenerationConfig = _DEFAULT_CONFIG
    ) -> AsyncIterator[StreamItem]:
        """Stream the next scripted reply (see the class docstring for the rules)."""
        start = now()
        reply = self._next_reply(messages)
        self.requests.append(ScriptedRequest(messages=tuple(messages), config=config, reply=reply))
        text, finish = _apply_limits(reply, config)
        first_token: float | None = None
        sent: list[str] = []
        for i, chunk in enumerate(split_tokens(text)):
            await anyio.sleep(self.ttft if i == 0 else self.tpot)
            if first_token is None:
                first_token = now()
            sent.append(chunk)
            yield TextDelta(text=chunk)
        if not sent and self.ttft:
            await anyio.sleep(self.ttft)
        prompt_tokens = sum(count_tokens(m.content) for m in messages)
        yield Completion(
            text="".join(sent),
            model=self.model,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=len(sent)),
            timing=Timing(start=start, first_token=first_token, end=now()),
            finish_reason=finish,
        )


def _apply_limits(reply: str, config: GenerationConfig) -> tuple[str, FinishReason]:
    """Cut ``reply`` at the earliest stop sequence, then at ``max_tokens`` chunks."""
    cut = min((i for i in (reply.find(s) for s in config.stop if s) if i >= 0), default=-1)
    text = reply if cut < 0 else reply[:cut]
    chunks = split_tokens(text)
    if len(chunks) > config.max_tokens:
        return "".join(chunks[: config.max_tokens]), "length"
    return text, "stop"
