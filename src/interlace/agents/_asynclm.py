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

The baselines are this same class with another calling policy (``policy="sync"`` /
``"sync-parallel"``; :func:`interlace.agents._sync.SyncCalling` builds them), so the prompt,
tools, model and measurements are identical across methods. With ``futures=True`` a call may
take an earlier call's result (``[CALL] c2 [HEAD] f(x=$c1) [END]``): the scheduler dispatches
it when ``c1`` succeeds (where LLMCompiler's DAG meets AsyncLM's decoding).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import anyio

from interlace import _events
from interlace._clock import now
from interlace._errors import UsageError
from interlace._grammars import SchemaTool, cml_grammar
from interlace._plan import iter_refs
from interlace.agents._result import EventStreaming, RunResult
from interlace.cml._interrupts import InterruptManager
from interlace.cml._latency import latency_model
from interlace.cml._monitor import TokenMonitor
from interlace.cml._runtime import (
    CMLEngine,
    CMLLoop,
    Decoder,
    EngineDecoder,
    Invocable,
    LoopResult,
    Policy,
    RepeatPolicy,
    ReprefillDecoder,
    StreamDecoder,
    written_futures,
)
from interlace.llm._base import (
    LLM,
    Completion,
    FinishReason,
    GenerationConfig,
    Grammar,
    Message,
    Timing,
    TokenLevel,
    Usage,
)
from interlace.trace._spans import Trace

if TYPE_CHECKING:  # numpy stays unimported until a local model decodes
    from interlace.llm._constrain import Constraint, GrammarCompiler


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

_FUTURES = (
    " A call may use the result of an earlier call before it has come back: write $id as the "
    "argument, e.g. [CALL] c2 [HEAD] get_weather(city=$c1) [END]; it runs as soon as c1 is done, "
    "so do not wait for c1 to write it."
)

_EXAMPLE = """\
Example. Request: weather in Oslo and in Lima.
[CALL] c1 [HEAD] get_weather(city="Oslo") [END]
[CALL] c2 [HEAD] get_weather(city="Lima") [END]
[TRAP][END]
"""

_FUTURES_EXAMPLE = """\
Example. Request: weather in the capital of Peru.
[CALL] c1 [HEAD] get_capital(country="Peru") [END]
[CALL] c2 [HEAD] get_weather(city=$c1) [END]
[TRAP][END]
"""


def render_system_prompt(
    functions: str, *, policy: Policy, examples: str | None = None, futures: bool = False
) -> str:
    """The system prompt for a CML agent.

    Args:
        functions: the function list, as the benchmark or the tools render it.
        policy: selects the one sentence that differs: background (async) or blocking calls.
        examples: worked examples (default: a two-call example, plus a dependent one with
            futures).
        futures: tell the model it may pass ``$id`` (an earlier call's result) as an argument.
    """
    how = _HOW["async" if policy == "async" else "sync"] + (_FUTURES if futures else "")
    if examples is None:
        examples = _EXAMPLE + (_FUTURES_EXAMPLE if futures else "")
    return _SYSTEM.format(how=how, examples=examples, functions=functions)


@runtime_checkable
class RenderedTool(Protocol):
    """A tool that renders its own prompt line (``Tool``, BFCL functions): declared, so the
    prompt is built without probing attributes."""

    def render(self) -> str:
        """``name(arg: type, ...) - description``."""
        ...


def _render_tools(tools: Mapping[str, Invocable]) -> str:
    return "\n".join(t.render() if isinstance(t, RenderedTool) else t.name for t in tools.values())


class AsyncLM(EventStreaming):
    """The CML agent: calls written in CML, run with a calling policy (see module docstring).

    One class for AsyncLM and its baselines: ``policy="async"`` (default) overlaps calls with
    decoding; ``"sync"`` and ``"sync-parallel"`` (:func:`~interlace.agents._sync.SyncCalling`)
    block. Prompt, tools, model and measurements are the same for every policy.

    Args:
        llm: the model. Method ``"async"`` needs a local model (a
            :class:`~interlace.llm.TokenLevel` backend); without one the agent falls back to
            the stream engine and reports ``"async-naive"``.
        tools: the tools (anything with ``name`` and ``async invoke(args, kwargs)``).
        policy: ``"async"``, ``"sync"`` or ``"sync-parallel"``.
        futures: a call may take an earlier call's result (``f(x=$c1)``), dispatched by the
            scheduler when ``c1`` succeeds; the prompt says so (method name ``+ "-futures"``).
        functions: function list text for the prompt (default: each tool's ``render()``).
        naive: force the stream engine (``"async-naive"``) even on a local model.
        max_tokens: generated-token budget of one run.
        timeout: seconds one call may run before its interrupt reports a timeout.
        interrupt_tokens: token budget of one interrupt value (longer values are cut).
        examples: worked examples for the prompt (``None``: the built-in one).
        constrained: decode under the CML grammar (:meth:`grammar`) on the local engine.
        repeats: ``"end"`` (default): a call identical to an earlier one is not run and ends the
            generation (small models loop that way); ``"allow"``: run repeats like any call.
    """

    def __init__(
        self,
        llm: LLM,
        tools: Sequence[Invocable],
        *,
        policy: Policy = "async",
        futures: bool = False,
        functions: str | None = None,
        naive: bool = False,
        max_tokens: int = 384,
        timeout: float | None = 30.0,
        interrupt_tokens: int | None = 256,
        examples: str | None = None,
        constrained: bool = True,
        repeats: RepeatPolicy = "end",
    ) -> None:
        if policy not in ("async", "sync", "sync-parallel"):
            raise UsageError(f"AsyncLM(policy={policy!r}): use 'async', 'sync' or 'sync-parallel'")
        self.policy: Policy = policy
        self.futures = futures
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
        self.grammar_build_s = 0.0
        self._early_user: list[str] = []

    def _method_name(self) -> str:
        naive = "async-naive" if self.naive else "async"
        base = naive if self.policy == "async" else self.policy
        return base + ("-futures" if self.futures else "")

    def messages(self, question: str) -> list[Message]:
        """The prompt messages for ``question``."""
        system = render_system_prompt(
            self.functions, policy=self.policy, examples=self.examples, futures=self.futures
        )
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
            request = _LocalRequest.open(self.llm.model) if self.local else None
            loop = CMLLoop(
                request.wrap(decoder) if request is not None else decoder,
                self.tools,
                policy=self.policy,
                trace=trace,
                manager=InterruptManager(max_tokens=self.interrupt_tokens),
                max_tokens=self.max_tokens,
                timeout=self.timeout,
                repeats=self.repeats,
                futures=self.futures,
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
            grammar_s = 0.0
            if isinstance(decoder, EngineDecoder):
                result.errors += decoder.warnings
                grammar_s = decoder.grammar_seconds
            if request is not None:
                request.close(result, usage, grammar_s)
        end = now()
        return self._result(question, result, trace, start, end, usage, llm_calls, cost, grammar_s)

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
            if self.constrained and isinstance(engine, GrammarEngine):
                # llguidance's view of the vocabulary: ~1-2 s once per model, not in a run
                await anyio.to_thread.run_sync(engine.grammars.prepare)
            tokens, reused = await _prefill(engine, self.messages(question))
            return len(tokens) - reused

    @contextlib.asynccontextmanager
    async def _decoder(self, question: str, trace: Trace) -> AsyncIterator[tuple[Decoder, Any]]:
        messages = self.messages(question)
        if not self.local:
            config = GenerationConfig(max_tokens=self.max_tokens, role="cml")
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
            constraint, problem = await self._constraint(engine) if self.constrained else (None, "")
            naive = self.naive and self.policy == "async"
            decoder = (
                ReprefillDecoder(engine, constraint) if naive else EngineDecoder(engine, constraint)
            )
            if problem:
                decoder.warnings.append(problem)
            yield (
                decoder,
                lambda: (
                    Usage(
                        prompt_tokens=len(tokens) + _extra_prompt(decoder),
                        completion_tokens=decoder.generated,
                    ),
                    1 + decoder.injections,
                    0.0,
                ),
            )

    def grammar(self) -> Grammar:
        """The CML grammar of this agent's tools (:func:`~interlace._grammars.cml_grammar`):
        what constrained decoding holds every generation to."""
        return cml_grammar([_schema(t) for t in self.tools.values()], futures=self.futures)

    async def _constraint(self, engine: Any) -> tuple[Constraint | None, str]:
        """A fresh state of :meth:`grammar` for one generation and ``""``; ``None`` where the
        engine cannot constrain (the CML replay's), or ``None`` and the reason where the grammar
        does not compile (it goes in the run's errors; the run goes on unconstrained, never
        fails for it)."""
        if not isinstance(engine, GrammarEngine):
            return None, ""
        from interlace.llm._constrain import GrammarError

        t0 = now()
        try:
            constraint = await anyio.to_thread.run_sync(engine.grammars.constraint, self.grammar())
        except GrammarError as exc:
            return None, f"{exc}; decoding went on unconstrained"
        finally:
            self.grammar_build_s = now() - t0
        return constraint, ""

    def _deps(self, loop: LoopResult) -> list[list[int]] | None:
        """For each call, the indices of the calls its futures name (``None`` without futures)."""
        if not self.futures:
            return None
        index = {r.call.task_id: i for i, r in enumerate(loop.records)}
        refs = [[*iter_refs(list(r.call.args)), *iter_refs(list(r.call.kwargs.values()))]
                for r in loop.records]  # fmt: skip
        return [
            sorted({index[f.task_id] for f in found if index.get(f.task_id, i) < i})
            for i, found in enumerate(refs)
        ]

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
        grammar_s: float,
    ) -> RunResult:
        names = {r.call.task_id: r.call.id for r in loop.records}
        calls = [
            {
                "id": r.call.id,
                "name": r.call.name,
                "arguments": written_futures(r.kwargs, names),
                "args": written_futures(list(r.args), names),
                "ok": r.ok,
                "ran": r.start is not None,
                "gen_s": r.gen_end - r.gen_start,
                "exec_s": (r.end - r.start) if r.start is not None and r.end is not None else None,
            }
            for r in loop.records
        ]
        gen = [r.gen_end - r.gen_start for r in loop.records]
        exe = [
            (r.end - r.start) if r.start is not None and r.end is not None else 0.0
            for r in loop.records
        ]
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
            "latency_model": latency_model(gen, exe, deps=self._deps(loop)).as_dict(),
            "grammar_build_s": self.grammar_build_s,
            "grammar_s": grammar_s,
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


async def _prefill(engine: CMLEngine, messages: Sequence[Message]) -> tuple[list[int], int]:
    """Prefill the chat prompt of ``messages``; its tokens and how many came from the cache
    (the engine reuses a cached common prefix and pins the fixed one: the KV policy of
    ``llm/_engine.py``)."""
    prompt = engine.chat_prefix(messages)
    tokens = engine.tokenize(prompt, add_bos=True, special=True)
    fixed = engine.fixed_prefix(messages, tokens)
    reused = await anyio.to_thread.run_sync(functools.partial(engine.prefill, tokens, fixed=fixed))
    return tokens, reused


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


@runtime_checkable
class GrammarEngine(Protocol):
    """An engine that constrains decoding (the embedded ``TokenEngine``): a declared
    capability; the CML replay's engine has none."""

    @property
    def grammars(self) -> GrammarCompiler: ...


@runtime_checkable
class _HasSchema(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def parameters(self) -> Mapping[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class _Unschemed:
    """A tool without a JSON schema: an object schema without ``properties``, for which the
    grammar lets the arguments be any one-line text."""

    name: str
    parameters: Mapping[str, Any] = dataclasses.field(default_factory=lambda: {"type": "object"})


def _schema(tool: Invocable) -> SchemaTool:
    return tool if isinstance(tool, _HasSchema) else _Unschemed(tool.name)


class _LocalRequest:
    """The event stream's view of one local CML generation: :class:`~interlace.LLMStart`,
    an :class:`~interlace.LLMText` per decoded piece (role ``"cml"``; interrupts are not the
    model's text: they have their own event) and :class:`~interlace.LLMEnd`. The stream
    engine's requests go through the one request path instead (one request per interrupt)."""

    ROLE = "cml"

    def __init__(self, model: str) -> None:
        self.model = model
        self.request = _events.next_request_id()
        self.start = now()
        self.first: float | None = None

    @classmethod
    def open(cls, model: str) -> _LocalRequest | None:
        """A request that emits, or ``None`` when nobody listens (nothing to build)."""
        if not _events.listening():
            return None
        request = cls(model)
        _events.emit(_events.LLMStart(request=request.request, role=cls.ROLE, time=request.start))
        return request

    def wrap(self, decoder: Decoder) -> Decoder:
        return _EmittingDecoder(decoder, self)

    def text(self, piece: str) -> None:
        if piece:
            t = now()
            self.first = self.first if self.first is not None else t
            _events.emit(_events.LLMText(request=self.request, role=self.ROLE, text=piece, time=t))

    def close(self, loop: LoopResult, usage: Usage, grammar_s: float) -> None:
        end = now()
        timing = Timing(start=self.start, first_token=self.first, end=end, grammar=grammar_s)
        finish: FinishReason = "length" if loop.finish == "length" else "stop"
        completion = Completion(
            text=loop.text, model=self.model, usage=usage, timing=timing, finish_reason=finish
        )
        _events.emit(
            _events.LLMEnd(request=self.request, role=self.ROLE, completion=completion, time=end)
        )


class _EmittingDecoder:
    """A :class:`Decoder` that reports each decoded piece to a :class:`_LocalRequest`."""

    def __init__(self, inner: Decoder, request: _LocalRequest) -> None:
        self._inner = inner
        self._request = request

    @property
    def generated(self) -> int:
        return self._inner.generated

    async def step(self, monitor: TokenMonitor) -> str | None:
        piece = await self._inner.step(monitor)
        if piece is not None:
            self._request.text(piece)
        return piece

    async def inject(self, text: str) -> None:
        await self._inner.inject(text)
