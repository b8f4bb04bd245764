"""AsyncLM: asynchronous function calling with CML (Gim, Lee, Zhong 2024, arXiv 2412.07017).

The model writes ``[CALL] id [HEAD] fn(args) [END]`` blocks and keeps decoding while the calls run;
results come back as ``[INTR] id [HEAD] value [END]`` interrupts at the next safe token, and
``[TRAP][END]`` pauses until one arrives. Two engines:

* on a local model with a token engine (``llm.exclusive()``) — method ``"async"`` — interrupts are
  appended to the live KV cache; nothing already decoded is prefilled again, and constrained
  decoding keeps the model from writing ``[INTR]`` or a malformed block;
* on any streaming :class:`~interlace.llm.LLM` — method ``"async-naive"`` — the request is ended
  when an interrupt is due and a new one is sent with the text so far as a final, partial
  assistant message. Backends that continue a trailing assistant message (llama.cpp, vLLM with
  ``continue_final_message``, Anthropic-style prefill) resume mid-reply; OpenAI's chat API starts
  a new reply instead, which still works but repeats more prompt tokens.

The baselines (:mod:`interlace.agents._sync`) reuse this class with another policy, so the prompt,
tools, model and measurements are identical across methods.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import anyio

from interlace._clock import now
from interlace.agents._result import RunResult
from interlace.cml._interrupts import InterruptManager
from interlace.cml._latency import latency_model
from interlace.cml._monitor import TokenMask
from interlace.cml._runtime import (
    CMLLoop,
    Decoder,
    EngineDecoder,
    Invocable,
    LoopResult,
    Policy,
    RepeatPolicy,
    ReprefillDecoder,
    StreamDecoder,
)
from interlace.llm._base import LLM, GenerationConfig, Message, TokenLevel, Usage
from interlace.trace._spans import Trace

_MASKS: weakref.WeakKeyDictionary[Any, TokenMask] = weakref.WeakKeyDictionary()

_SYSTEM = """\
You call functions by writing, anywhere in your reply:
[CALL] id [HEAD] function_name(arg=value, ...) [END]
id is a short label you pick (c1, c2, ...). {how}
Use only the functions below, with literal argument values.
{examples}Functions:
{functions}"""

_HOW = {
    "async": "Calls run in the background while you keep writing. A result comes back later as "
    "[INTR] id [HEAD] result [END]. Write every call you can right away, slowest first. When you "
    "need a result to go on, write [TRAP][END] to wait for one.",
    "sync": "After each call you get its result as [INTR] id [HEAD] result [END]. Write every "
    "call that is needed; write [TRAP][END] when you need results before going on.",
}

_EXAMPLE = """\
Example. Request: weather in Oslo and in Lima.
[CALL] c1 [HEAD] get_weather(city="Oslo") [END]
[CALL] c2 [HEAD] get_weather(city="Lima") [END]
[TRAP][END]
"""


def render_system_prompt(functions: str, *, policy: Policy, examples: str | None = None) -> str:
    """The system prompt for a CML agent.

    Args:
        functions: the function list, as the benchmark or the tools render it.
        policy: selects the one sentence that differs: background (async) or blocking calls.
        examples: worked examples (default: a two-call example).
    """
    how = _HOW["async" if policy == "async" else "sync"]
    example = _EXAMPLE if examples is None else examples
    return _SYSTEM.format(how=how, examples=example, functions=functions)


def _render_tools(tools: Mapping[str, Invocable]) -> str:
    lines = []
    for tool in tools.values():
        render = getattr(tool, "render", None)
        lines.append(render() if callable(render) else tool.name)
    return "\n".join(lines)


class AsyncLM:
    """An agent that calls functions asynchronously with CML (see module docstring).

    Args:
        llm: the model. Method ``"async"`` needs a local model (``llm.exclusive()``); without one
            the agent falls back to the stream engine and reports ``"async-naive"``.
        tools: the tools (anything with ``name`` and ``async invoke(args, kwargs)``).
        functions: function list text for the prompt (default: each tool's ``render()``).
        naive: force the stream engine (``"async-naive"``) even on a local model.
        max_tokens: generated-token budget of one run.
        timeout: seconds one call may run before its interrupt reports a timeout.
        interrupt_tokens: token budget of one interrupt value (longer values are cut).
        examples: worked examples for the prompt (``None``: the built-in one).
        constrained: apply the CML decoding constraints on the local engine.
        repeats: ``"end"`` (default): a call identical to an earlier one is not run and ends the
            generation (small models loop that way); ``"allow"``: run repeats like any call.
    """

    policy: Policy = "async"

    def __init__(
        self,
        llm: LLM,
        tools: Sequence[Invocable],
        *,
        functions: str | None = None,
        naive: bool = False,
        max_tokens: int = 384,
        timeout: float | None = 30.0,
        interrupt_tokens: int | None = 256,
        examples: str | None = None,
        constrained: bool = True,
        repeats: RepeatPolicy = "end",
    ) -> None:
        self.llm = llm
        self.tools: dict[str, Invocable] = {t.name: t for t in tools}
        self.functions = functions if functions is not None else _render_tools(self.tools)
        self.local = isinstance(llm, TokenLevel)  # a declared capability
        self.naive = naive or not self.local
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.interrupt_tokens = interrupt_tokens
        self.examples = examples
        self.constrained = constrained
        self.repeats: RepeatPolicy = repeats
        self.name = self._method_name()
        self._loop: CMLLoop | None = None
        self.mask_build_s = 0.0
        self._early_user: list[str] = []

    def _method_name(self) -> str:
        return "async-naive" if self.naive else "async"

    def messages(self, question: str) -> list[Message]:
        """The prompt messages for ``question``."""
        system = render_system_prompt(self.functions, policy=self.policy, examples=self.examples)
        return [Message(role="system", content=system), Message(role="user", content=question)]

    def interrupt(self, text: str) -> None:
        """Inject a user message into the running generation (at the next safe token)."""
        if self._loop is None:
            self._early_user.append(text)
        else:
            self._loop.user_message(text)

    async def run(self, question: str) -> RunResult:
        """Answer ``question``; the calls made are in ``details["calls"]``.

        ``answer`` is the prose the model wrote outside CML blocks or, when it wrote none (as
        for BFCL, where the calls are the answer), its ``[CALL]`` blocks one per line.
        """
        trace = Trace()
        start = now()
        async with self._decoder(question, trace) as (decoder, usage_of):
            loop = CMLLoop(
                decoder,
                self.tools,
                policy=self.policy,
                trace=trace,
                manager=InterruptManager(max_tokens=self.interrupt_tokens),
                max_tokens=self.max_tokens,
                timeout=self.timeout,
                repeats=self.repeats,
            )
            self._loop = loop
            for text in self._early_user:
                loop.user_message(text)
            self._early_user = []
            try:
                result = await loop.run()
            finally:
                self._loop = None
            usage, llm_calls, cost = usage_of()
        end = now()
        return self._result(question, result, trace, start, end, usage, llm_calls, cost)

    async def warm(self, question: str) -> int:
        """Prefill the prompt for ``question`` into the local model's prefix cache, so a
        following :meth:`run` starts without prompt processing (benchmarks call this before
        starting the clock). Does nothing on a non-local backend.

        Returns:
            Prompt tokens evaluated now (0 when the prompt was already cached or not local).

        Raises:
            LLMContextOverflowError: the prompt does not fit the context window.
        """
        if not self.local:
            return 0
        async with self.llm.exclusive() as engine:  # type: ignore[attr-defined]
            tokens, reused = await _prefill(engine, self.messages(question))
            return len(tokens) - reused

    @contextlib.asynccontextmanager
    async def _decoder(self, question: str, trace: Trace) -> AsyncIterator[tuple[Decoder, Any]]:
        messages = self.messages(question)
        if not self.local:
            config = GenerationConfig(max_tokens=self.max_tokens)
            stream = StreamDecoder(self.llm, messages, config)
            try:
                yield (
                    stream,
                    lambda: (
                        _stream_usage(stream),
                        stream.requests,
                        stream.cost_usd,
                    ),
                )
            finally:
                await stream.aclose()
            return
        async with self.llm.exclusive() as engine:  # type: ignore[attr-defined]
            with trace.span("llm", "prefill") as attrs:
                tokens, reused = await _prefill(engine, messages)
                attrs["tokens"] = len(tokens)
                attrs["cached"] = reused
            mask = await self._mask(engine) if self.constrained else None
            naive = self.naive and self.policy == "async"
            decoder = ReprefillDecoder(engine, mask) if naive else EngineDecoder(engine, mask)
            yield (
                decoder,
                lambda: (
                    Usage(
                        prompt_tokens=len(tokens) + _extra_prompt(decoder),
                        completion_tokens=decoder.generated,
                    ),
                    1 + getattr(decoder, "injections", 0),
                    0.0,
                ),
            )

    async def _mask(self, engine: Any) -> TokenMask:
        """The constrained-decoding mask, built once per model (the vocabulary's ~151k token
        texts are read once; later runs on the same ``llm`` reuse it)."""
        key = self.llm
        mask = _MASKS.get(key)
        if mask is None:

            def build() -> TokenMask:
                n_vocab = len(engine.logits())
                vocab = [
                    engine.token_bytes(i).decode("utf-8", errors="replace") for i in range(n_vocab)
                ]
                return TokenMask(vocab, eos=engine.eos_token)

            t0 = now()
            mask = await anyio.to_thread.run_sync(build)
            self.mask_build_s = now() - t0
            _MASKS[key] = mask
        return mask

    def _result(
        self,
        question: str,
        loop: LoopResult,
        trace: Trace,
        start: float,
        end: float,
        usage: Usage,
        llm_calls: int,
        cost: float,
    ) -> RunResult:
        calls = [
            {
                "id": r.call.id,
                "name": r.call.name,
                "arguments": dict(r.call.kwargs),
                "args": list(r.call.args),
                "ok": r.ok,
                "gen_s": r.gen_end - r.gen_start,
                "exec_s": (r.end - r.start) if r.start is not None and r.end is not None else None,
            }
            for r in loop.records
        ]
        gen = [r.gen_end - r.gen_start for r in loop.records]
        exe = [(r.end or 0.0) - (r.start or 0.0) for r in loop.records]
        decode = (
            loop.last_token - loop.first_token
            if loop.first_token is not None and loop.last_token is not None
            else 0.0
        )
        details: dict[str, Any] = {
            "calls": calls,
            "text": loop.text,
            "interrupts": loop.interrupts,
            "finish": loop.finish,
            "repeats": [c.text.strip() for c in loop.repeats],
            "decode_latency": decode,
            "latency_model": latency_model(gen, exe).as_dict(),
            "mask_build_s": self.mask_build_s,
        }
        return RunResult(
            question=question,
            answer=loop.answer.strip() or "\n".join(r.call.text for r in loop.records),
            method=self.name,
            latency=end - start,
            llm_calls=llm_calls,
            usage=usage,
            cost_usd=cost,
            tool_calls=len(calls),
            errors=tuple(loop.errors),
            rounds=1 + loop.interrupts,
            trace=trace,
            details=details,
        )


async def _prefill(engine: Any, messages: Sequence[Message]) -> tuple[list[int], int]:
    """Prefill the chat prompt of ``messages``; its tokens and how many came from the cache."""
    prompt = engine.chat_prefix(messages)
    tokens: list[int] = engine.tokenize(prompt, add_bos=True, special=True)
    if hasattr(engine, "prefill"):  # reuses a cached common prefix (system prompt)
        fixed: int = engine.fixed_prefix(messages, tokens)  # pinned: the KV policy of _engine
        reused: int = await anyio.to_thread.run_sync(
            functools.partial(engine.prefill, tokens, fixed=fixed)
        )
        return tokens, reused
    await anyio.to_thread.run_sync(engine.truncate, 0)
    await anyio.to_thread.run_sync(engine.eval, tokens)
    return tokens, 0


def _stream_usage(stream: StreamDecoder) -> Usage:
    if stream.usage.completion_tokens:
        return stream.usage
    return Usage(completion_tokens=stream.generated)


def _extra_prompt(decoder: EngineDecoder) -> int:
    """Prompt tokens evaluated after the first prefill: the interrupts, or for the naive
    baseline the whole context prefilled again at each interrupt."""
    if isinstance(decoder, ReprefillDecoder):
        return decoder.reprefilled
    return decoder.injected_tokens
