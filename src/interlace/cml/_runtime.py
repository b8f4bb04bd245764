"""The CML decode loop shared by AsyncLM and its baselines.

One loop drives every method; only the *policy* (when calls start and when decoding waits)
differs, so the four methods share prompts, tools, model and measurements (AsyncLM, arXiv
2412.07017, Section 4):

``sync``           a completed ``[CALL]`` starts at once; decoding waits for its result.
``sync-parallel``  calls are collected; at ``[TRAP][END]`` or end of sequence all of them start
                   together and decoding waits for all.
``async``          a completed ``[CALL]`` starts at once; decoding goes on; results are injected
                   at the next step outside a critical section; ``[TRAP][END]`` waits for one.

End of sequence while calls are outstanding is an *implicit trap*: the loop waits for the
results, injects them and lets the model go on (a model that stops right after its calls would
otherwise never see them).

A *repeated call* — the same function with the same arguments as an earlier call of the run —
is how small models loop (``c1, c2, [INTR]s, c1, c2, ...`` until the token budget). By default
(``repeats="end"``) a repeat is not executed; decoding ends there, the calls still outstanding
(and, for ``sync-parallel``, those collected) run to completion, and ``finish`` is ``"repeat"``.
Pass ``repeats="allow"`` when identical calls are meaningful (a clock, a queue, a state-changing
function called twice on purpose); the ReAct agent applies the same rule to repeated actions.

Decoding runs through a :class:`Decoder`: :class:`EngineDecoder`
(local KV cache, constrained decoding, interrupts appended without re-prefill),
:class:`ReprefillDecoder` (the same, but each interrupt re-prefills the whole context: the naive
baseline on a local model) or :class:`StreamDecoder` (any streaming
:class:`~interlace.llm.LLM`: "async-naive" on other backends, which ends the request on an
interrupt and starts a new one with the text so far as a partial assistant message).
"""

from __future__ import annotations

import codecs
import contextlib
import math
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio

from interlace import _events
from interlace._calls import call_key
from interlace._clock import now
from interlace._errors import UsageError
from interlace._executor import ExecutionLimits, TaskRecord, resolve_arguments, run_plan
from interlace._plan import Ref, Task, TaskId, Template
from interlace._planner import PlanEvent, TaskParsed
from interlace._scheduler import Cancelled, Failed, Skipped, Succeeded
from interlace._tools import Invocable as Invocable  # re-exported: agents import it here
from interlace.cml._grammar import CALL, END, HEAD, Call, is_call_id, render_error, render_value
from interlace.cml._interrupts import CallResult, InterruptManager
from interlace.cml._monitor import (
    BlockError,
    CallEvent,
    TextEvent,
    TokenMonitor,
    TrapEvent,
)
from interlace.llm._base import (
    LLM,
    Completion,
    GenerationConfig,
    Message,
    StreamItem,
    TextDelta,
    Usage,
)
from interlace.trace._spans import Span, Trace

if TYPE_CHECKING:  # numpy stays unimported until a local model decodes
    from interlace.llm._constrain import Constraint

Policy = Literal["sync", "sync-parallel", "async"]
RepeatPolicy = Literal["end", "allow"]


class Decoder(Protocol):
    """One generation that can be extended with injected text.

    Attributes:
        generated: tokens (or stream chunks) the model produced so far.
    """

    @property
    def generated(self) -> int: ...

    async def step(self, monitor: TokenMonitor) -> str | None:
        """Decode one token; its text ('' for a partial character), or ``None`` at the end."""
        ...

    async def inject(self, text: str) -> None:
        """Append ``text`` (interrupts) to the context."""
        ...


class CMLEngine(Protocol):
    """What CML decoding needs from a token-level engine (``TokenEngine`` of the embedded
    backend, the CML replay's engine): the capability declared, never probed with ``hasattr``.
    Methods block; call them in a worker thread."""

    @property
    def eos_token(self) -> int: ...

    @property
    def tokens(self) -> tuple[int, ...]: ...

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]: ...

    def token_bytes(self, token: int) -> bytes: ...

    def eval(self, tokens: Sequence[int]) -> None: ...

    def logits(self) -> Any: ...

    def sample(
        self, *, temperature: float = 0.0, seed: int | None = 0, allowed: Any = None
    ) -> int: ...

    def is_eog(self, token: int) -> bool: ...

    def truncate(self, n: int) -> None: ...

    def chat_prefix(self, messages: Sequence[Message], *, open_end: bool = False) -> str: ...

    def fixed_prefix(self, messages: Sequence[Message], prompt: Sequence[int]) -> int: ...

    def prefill(self, tokens: Sequence[int], *, fixed: int = 0) -> int: ...


class EngineDecoder:
    """Token-by-token decoding on a local ``TokenEngine`` (KV cache kept, no re-prefill).

    Under a constraint (the CML grammar, :func:`~interlace._grammars.cml_grammar`, through
    llguidance: the one grammar mechanism of every role) each token is sampled from the
    grammar's mask, and tokens the grammar forces (``" [HEAD] "`` after a call id, the rest of
    a parameter name) are evaluated as one batch. Interrupts are injected outside the grammar:
    they are not the model's output, and the runtime injects only outside blocks, where the
    grammar is between two pieces of text.

    Args:
        engine: the token engine from ``LocalLLM.exclusive()``, already prefilled with the prompt.
        constraint: the CML grammar's state for this generation (``None``: unconstrained).
        temperature: sampling temperature (0.0 greedy).

    Attributes:
        warnings: what went wrong with the constraint (it is then dropped), for the run's errors.
    """

    def __init__(
        self, engine: CMLEngine, constraint: Constraint | None, *, temperature: float = 0.0
    ) -> None:
        self.engine = engine
        self.constraint = constraint
        self.temperature = temperature
        self.generated = 0
        self.injected_tokens = 0
        self.injections = 0  # requests restarted by interrupts (0 here: appended to the cache)
        self.warnings: list[str] = []
        self._dropped_seconds = 0.0  # grammar time of a constraint dropped mid-generation
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def grammar_seconds(self) -> float:
        """Seconds spent computing masks and forced tokens and consuming tokens."""
        live = self.constraint.seconds if self.constraint is not None else 0.0
        return self._dropped_seconds + live

    async def step(self, monitor: TokenMonitor) -> str | None:
        engine = self.engine
        constraint = self.constraint
        is_end = engine.is_eog

        def _one() -> list[int] | None:
            if constraint is None:
                token = engine.sample(temperature=self.temperature)
                if is_end(token):
                    return None
                engine.eval([token])
                return [token]
            if constraint.done:
                return None
            forced = constraint.forced()
            if forced:
                constraint.accept(forced)
                engine.eval(forced)
                return forced
            token = engine.sample(temperature=self.temperature, allowed=constraint.allowed())
            if is_end(token):
                return None
            if not constraint.accept([token]):
                self._drop(constraint.error or f"token {token} rejected")
            engine.eval([token])
            return [token]

        tokens = await anyio.to_thread.run_sync(_one)
        if tokens is None:
            return None
        self.generated += len(tokens)
        text: str = "".join(self._utf8.decode(engine.token_bytes(t)) for t in tokens)
        return text

    def _drop(self, reason: str) -> None:
        """Decode unconstrained from here on (a grammar in error constrains nothing)."""
        self.warnings.append(f"grammar cml: {reason}; decoding went on unconstrained")
        if self.constraint is not None:
            self._dropped_seconds += self.constraint.seconds
        self.constraint = None

    async def inject(self, text: str) -> None:
        tokens = self.engine.tokenize(text, add_bos=False, special=False)
        self.injected_tokens += len(tokens)
        await anyio.to_thread.run_sync(self.engine.eval, tokens)


class ReprefillDecoder(EngineDecoder):
    """:class:`EngineDecoder` whose interrupts cost what a restarted request costs ("async-naive"
    on a local model: the naive asynchronous baseline of arXiv 2412.07017).

    On each injection the KV cache is dropped and the whole context (prompt, generated text and
    the interrupt) is prefilled again, as a server would on a new request that continues the
    partial assistant message; decoding then continues the same message.

    Attributes:
        reprefilled: tokens prefilled again because of interrupts (over the run).
        injections: interrupts injected, i.e. requests restarted.
    """

    def __init__(
        self, engine: CMLEngine, constraint: Constraint | None, *, temperature: float = 0.0
    ) -> None:
        super().__init__(engine, constraint, temperature=temperature)
        self.reprefilled = 0

    async def inject(self, text: str) -> None:
        engine = self.engine
        self.injections += 1
        new = engine.tokenize(text, add_bos=False, special=False)
        self.injected_tokens += len(new)
        context = [*engine.tokens, *new]
        self.reprefilled += len(context)
        await anyio.to_thread.run_sync(engine.truncate, 0)
        for i in range(0, len(context), _REPREFILL_CHUNK):
            await anyio.to_thread.run_sync(engine.eval, context[i : i + _REPREFILL_CHUNK])


_REPREFILL_CHUNK = 256  # tokens per worker-thread call (cancellation granularity)


class StreamDecoder:
    """Decoding over :meth:`LLM.stream`; an injection ends the request and the next step starts a
    new one whose last message is the assistant text so far (prefix continuation).

    Args:
        llm: any backend.
        messages: the prompt messages (system, user).
        config: generation settings (``max_tokens`` applies to each request).

    Attributes:
        requests: requests started. ``usage``: summed usage of the requests that completed.
        prefix: the assistant text so far (generated and injected).
    """

    def __init__(self, llm: LLM, messages: Sequence[Message], config: GenerationConfig) -> None:
        self.llm = llm
        self.messages = list(messages)
        self.config = config
        self.prefix = ""
        self.generated = 0
        self.requests = 0
        self.usage = Usage()
        self.cost_usd = 0.0
        self._stream: AsyncIterator[StreamItem] | None = None

    def _open(self) -> AsyncIterator[StreamItem]:
        messages = list(self.messages)
        if self.prefix:
            messages.append(Message(role="assistant", content=self.prefix))
        self.requests += 1
        return _events.stream(self.llm, messages, self.config)  # events, logs: role cml

    async def step(self, monitor: TokenMonitor) -> str | None:
        while True:
            if self._stream is None:
                self._stream = self._open()
            try:
                item = await anext(self._stream)
            except StopAsyncIteration:
                self._stream = None
                return None
            if isinstance(item, TextDelta):
                self.generated += 1
                self.prefix += item.text
                return item.text
            if isinstance(item, Completion):
                self.usage = self.usage + item.usage
                self.cost_usd += item.cost_usd
                await self._close()
                return None

    async def inject(self, text: str) -> None:
        await self._close()
        self.prefix += text

    async def aclose(self) -> None:
        """End the open request, if any (call when the run ends early, e.g. on max_tokens)."""
        await self._close()

    async def _close(self) -> None:
        stream, self._stream = self._stream, None
        if isinstance(stream, AsyncGenerator):  # backends' streams are async generators
            await stream.aclose()


@dataclass(kw_only=True)
class CallRecord:
    """One call the model made, with its measured times (monotonic seconds).

    ``gen_start``..``gen_end`` is the decode time spent writing the call (from the previous call,
    wait or injection), ``start``..``end`` its execution (``start`` is ``None`` when it never
    ran: a skipped future, an unknown function). ``outcome`` is the typed result from the
    scheduler once the call ended (``Failed.error`` says why: unknown function, arguments,
    raised, timed out; ``Skipped`` names the call it waited for); ``ok`` and ``value`` (the
    interrupt text) are rendered from it. ``args``/``kwargs`` are the values the tool
    received (futures resolved), or as written when it never ran.
    """

    call: Call
    gen_start: float
    gen_end: float
    start: float | None = None
    end: float | None = None
    ok: bool | None = None
    value: str = ""
    outcome: Succeeded | Failed | Skipped | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class LoopResult:
    """What one CML generation produced."""

    text: str = ""
    answer: str = ""
    records: list[CallRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    interrupts: int = 0
    first_token: float | None = None
    last_token: float | None = None
    finish: str = "stop"
    repeats: list[Call] = field(default_factory=list)


class CMLLoop:
    """Run one CML generation with a policy (see module docstring).

    Every call becomes a :class:`~interlace._plan.Task` on the scheduler and executor that run
    plans (:func:`~interlace._executor.run_plan`, fed as the calls are written): one invocation
    path (any tool exception is a failed call; sync tools in worker threads, timeout enforced),
    one ``tool`` span per call, and interrupts rendered from each call's typed outcome. With
    ``futures=True`` a call may take an earlier call's result (``f(x=$c1)``): the scheduler
    starts it the moment ``c1`` succeeds and skips it, with a reason, if ``c1`` does not.

    Args:
        decoder: where tokens come from.
        tools: callable tools by name.
        policy: ``"sync"``, ``"sync-parallel"`` or ``"async"``.
        trace: spans are recorded here.
        manager: the interrupt manager (its token budget applies).
        max_tokens: budget of generated tokens over the whole run.
        timeout: seconds one call may run before it fails as a timeout interrupt, for tools
            that set no timeout of their own (an ``interlace.Tool``'s ``timeout`` wins).
        repeats: ``"end"`` (default) stops decoding at a repeated call without running it;
            ``"allow"`` runs repeats like any call (see module docstring).
        futures: accept ``$id`` references to earlier calls (``False``: a reference makes the
            call malformed, as before futures existed).

    Raises:
        UsageError: ``repeats`` or ``policy`` is not one of the values above.
    """

    def __init__(
        self,
        decoder: Decoder,
        tools: Mapping[str, Invocable],
        *,
        policy: Policy,
        trace: Trace,
        manager: InterruptManager | None = None,
        max_tokens: int = 512,
        timeout: float | None = 30.0,
        repeats: RepeatPolicy = "end",
        futures: bool = False,
    ) -> None:
        if repeats not in ("end", "allow"):
            raise UsageError(f"repeats must be 'end' or 'allow', not {repeats!r}")
        if policy not in ("sync", "sync-parallel", "async"):
            raise UsageError(f"policy must be 'sync', 'sync-parallel' or 'async', not {policy!r}")
        self.decoder = decoder
        self.tools = tools
        self.policy = policy
        self.trace = trace
        self.manager = manager or InterruptManager()
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.repeats = repeats
        self.monitor = TokenMonitor(futures=futures)
        self.result = LoopResult()
        self._outstanding = 0  # dispatched, not yet injected
        self._collected: list[CallRecord] = []
        self._mark = now()  # start of the current decode segment
        self._seg_tokens = 0
        self._seen: set[tuple[str, str]] = set()  # repeat keys of the calls made
        self._repeated = False
        self._by_task: dict[TaskId, CallRecord] = {}
        self._values: dict[TaskId, Any] = {}  # results of the calls that succeeded
        self._send, self._receive = anyio.create_memory_object_stream[PlanEvent](math.inf)

    async def run(self) -> LoopResult:
        """Decode until the model ends with nothing outstanding, or the token budget runs out.

        Raises:
            Exception: whatever decoding raised (e.g. an ``LLMError`` from the model's stream),
                unchanged (not wrapped in an ``ExceptionGroup``); running calls are cancelled.
        """
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._run_calls)
            try:
                await self._decode()
            except Exception as exc:  # re-raised below, once the calls are cancelled
                error = exc
            finally:
                self._segment()
                tg.cancel_scope.cancel()
        if error is not None:
            raise error
        return self.result

    async def _run_calls(self) -> None:
        """The calls' scheduler and executor: the plan executor, fed as calls are written."""
        limits = ExecutionLimits(default_timeout=self.timeout)
        await run_plan(
            self._receive, self.tools, limits=limits, trace=self.trace, on_outcome=self._ended
        )

    async def _decode(self) -> None:
        while True:
            if not self.monitor.critical and self.manager.pending:
                await self._inject()
            if self.decoder.generated >= self.max_tokens:
                self.result.finish = "length"
                self._handle(self.monitor.close())
                return
            piece = await self.decoder.step(self.monitor)
            if piece is None:
                self._handle(self.monitor.close())
                if not await self._implicit_trap():
                    return
                continue
            stamp = now()
            if self.result.first_token is None:
                self.result.first_token = stamp
            self.result.last_token = stamp
            self._seg_tokens += 1
            self.result.text += piece
            for waiter in self._handle(self.monitor.feed(piece)):
                await waiter()
            if self._repeated:
                self.result.finish = "repeat"
                await self._wait_all()  # let what was started (or collected) finish
                return

    def _handle(self, events: Sequence[object]) -> list[Any]:
        """Apply events; return the waits they require (run in order by the caller)."""
        waits: list[Any] = []
        for event in events:
            if isinstance(event, TextEvent):
                self.result.answer += event.text
            elif isinstance(event, CallEvent):
                waits.extend(self._on_call(event.call))
            elif isinstance(event, TrapEvent):
                waits.append(self._trap)
            elif isinstance(event, BlockError):
                self.result.errors.append(f"malformed block: {event.error}")
                if event.text.startswith(CALL) and event.text.endswith(END):
                    self._on_malformed_call(event)
        return waits

    def _on_malformed_call(self, event: BlockError) -> None:
        """A ``[CALL]`` block that does not parse is answered with an error interrupt (the
        model learns why, as for a failed call); written again, it is a repeat."""
        if self._repeated:
            return
        meta, _, body = event.text[len(CALL) : -len(END)].partition(HEAD)
        if self._is_repeat(("[malformed]", " ".join(body.split())), event.text):
            return
        stamp = now()
        self._outstanding += 1  # answered at once; counted down when injected
        self.manager.put(
            CallResult(
                call_id=meta.strip() if is_call_id(meta.strip()) else "error",
                name="",
                value=f"error: malformed call: {event.error}",
                ok=False,
                start=stamp,
                end=stamp,
            )
        )

    def _is_repeat(self, key: tuple[str, str], text: str) -> bool:
        """Whether the block ``text`` (identified by ``key``) repeats an earlier one; a repeat
        ends the generation (``repeats="end"``), a first occurrence is remembered."""
        if self.repeats != "end":
            return False
        if key in self._seen:
            self._repeated = True
            self.result.errors.append(
                f"repeated call {text.strip()}: not run again; generation ended"
            )
            return True
        self._seen.add(key)
        return False

    def _on_call(self, call: Call) -> list[Any]:
        if self._repeated:
            return []  # decoding ends after this token; later blocks in it are not calls
        if self._is_repeat(("call", call_key(call.name, call.args, call.kwargs)), call.text):
            self.result.repeats.append(call)
            return []
        stamp = now()
        previous = self.result.records[-1].gen_end if self.result.records else self._mark
        record = CallRecord(
            call=call,
            gen_start=max(previous, self._mark),
            gen_end=stamp,
            args=call.args,
            kwargs=dict(call.kwargs),
        )
        self.result.records.append(record)
        if self.policy == "sync-parallel":
            self._collected.append(record)
            return []
        self._dispatch(record)
        return [self._wait_all] if self.policy == "sync" else []

    def _dispatch(self, record: CallRecord) -> None:
        """Hand the call to the scheduler as a task (it starts when its futures resolved)."""
        call = record.call
        task_id = call.task_id if call.task_id is not None else TaskId(len(self._by_task) + 1)
        task = Task(
            id=task_id,
            tool=call.name,
            args=call.args,
            kwargs=call.kwargs,
            line=call.text,
            call_id=call.id,
        )
        self._by_task[task_id] = record
        self._outstanding += 1
        self._send.send_nowait(TaskParsed(task=task))

    def _ended(self, done: TaskRecord) -> None:
        """A call's outcome is decided (``run_plan``'s ``on_outcome``): record it and queue its
        interrupt, rendered from the typed outcome."""
        outcome, task = done.outcome, done.task
        record = self._by_task.get(task.id) if task is not None else None
        if task is None or record is None or isinstance(outcome, Cancelled):
            return  # the run is being cancelled: nothing more is injected
        record.outcome = outcome
        record.start, record.end = done.start, done.end if done.end is not None else now()
        if isinstance(outcome, Succeeded):
            self._values[task.id] = outcome.value
            record.ok, record.value = True, render_value(outcome.value)
        elif isinstance(outcome, Failed):
            record.ok, record.value = False, render_error(outcome.error)
        else:
            record.ok, record.value = False, self._render_skip(outcome)
        if record.start is not None and task.deps:
            with contextlib.suppress(Exception):  # what the tool received, futures resolved
                record.args = resolve_arguments(record.call.args, self._values)
                record.kwargs = resolve_arguments(dict(record.call.kwargs), self._values)
        self.manager.put(
            CallResult(
                call_id=record.call.id,
                name=record.call.name,
                value=record.value,
                ok=bool(record.ok),
                start=record.start if record.start is not None else record.end,
                end=record.end,
            )
        )

    def _render_skip(self, skipped: Skipped) -> str:
        """Interrupt text for a future that never ran, naming the call it waited for."""
        cause = self._by_task.get(skipped.cause) if skipped.cause is not None else None
        if cause is None:
            return f"error: skipped: {skipped.reason}"
        state = "failed" if isinstance(cause.outcome, Failed) else "did not run"
        return f"error: skipped: it needs ${cause.call.id}, which {state}"

    async def _flush_collected(self) -> None:
        collected, self._collected = self._collected, []
        for record in collected:
            self._dispatch(record)

    async def _wait_all(self) -> None:
        await self._flush_collected()
        self._segment()
        with self.trace.span("trap", "wait-all", outstanding=self._outstanding):
            await self.manager.wait_for(self._outstanding)

    async def _trap(self) -> None:
        if self.policy != "async":
            await self._wait_all()
            return
        if self._outstanding == 0 and not self.manager.pending:
            return  # nothing to wait for
        self._segment()
        with self.trace.span("trap", "trap", outstanding=self._outstanding):
            await self.manager.wait()

    async def _implicit_trap(self) -> bool:
        """End of sequence: wait for outstanding calls; True if the model should go on."""
        if not (self._outstanding or self._collected or self.manager.pending):
            return False
        await self._wait_all()
        return True

    async def _inject(self) -> None:
        self._segment()
        results = self.manager.drain()
        self._outstanding -= sum(1 for r in results if not r.from_user)
        self._outstanding = max(self._outstanding, 0)
        text = self.manager.render(results)
        with self.trace.span("interrupt", "inject", calls=[r.call_id for r in results]):
            await self.decoder.inject(text)
        self.result.text += text
        self.result.interrupts += len(results)
        self._mark = now()

    def _segment(self) -> None:
        """Close the current decode segment as an ``llm`` span (if it produced tokens)."""
        end = now()
        if self._seg_tokens:
            self.trace.add(
                Span(
                    kind="llm",
                    name="decode",
                    start=self._mark,
                    end=end,
                    attrs={"tokens": self._seg_tokens},
                )
            )
        self._seg_tokens = 0
        self._mark = end

    def user_message(self, text: str) -> None:
        """Inject a user message while the model generates (at the next safe step)."""
        self.manager.user_message(text)


def written_futures(value: Any, names: Mapping[Any, str]) -> Any:
    """``value`` with every unresolved future written back as the model wrote it: a
    :class:`~interlace._plan.Ref` as ``"$c1"``, a template as its string with ``${c1}`` (for
    JSON records of calls that never ran; ``names`` maps task ids to call ids)."""
    if isinstance(value, Ref):
        return f"${names.get(value.task_id, value.task_id)}"
    if isinstance(value, Template):
        return "".join(
            p if isinstance(p, str) else f"${{{names.get(p.task_id, p.task_id)}}}"
            for p in value.parts
        )
    if isinstance(value, list | tuple):
        return [written_futures(v, names) for v in value]
    if isinstance(value, dict):
        return {k: written_futures(v, names) for k, v in value.items()}
    return value
