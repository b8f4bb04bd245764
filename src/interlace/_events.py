"""The event stream of a run: what happens, as it happens, to one listener.

Events (frozen dataclasses; ``time`` is :func:`interlace._clock.now` seconds):

========================  ==================================================================
:class:`LLMStart`         an LLM request was sent (its ``request`` id and ``role``)
:class:`LLMText`          a piece of that request's text, as decoded
:class:`LLMEnd`           the request finished: its :class:`~interlace.Completion` (usage)
:class:`TaskDispatched`   a plan task's dependencies succeeded: the executor took it
:class:`TaskStarted`      its tool call started (after waiting for a concurrency slot)
:class:`TaskFinished`     the call ended, with its outcome
:class:`Replan`           the joiner asked for a new plan
:class:`Interrupt`        AsyncLM injected call results into the decoding context
:class:`Answer`           the run returned (its :class:`~interlace.RunResult`)
========================  ==================================================================

Requests of several roles can stream at once (the planner streams while the math tool asks
the model), so every LLM event carries its ``request`` id: a consumer groups text by it.

Who emits: the runtime, not the agents' control flow. LLM events come from the one request
path (:func:`stream` / :func:`complete`, which agents and tools call instead of the backend's
own methods); task events come from the executor and from :meth:`~interlace.Trace.span` of a
tool call made outside a plan (ReAct); replans and interrupts come from their trace spans.

How to listen: :func:`events` runs an agent and yields its events; :func:`listen` sends the
events of whatever runs inside it to a callback. A listener runs on the event loop, so it
must not block; an exception it raises propagates into the run.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio

from interlace._clock import now
from interlace._errors import ToolTimeoutError, UsageError
from interlace._plan import Ref, Template
from interlace._scheduler import Cancelled, Failed, Outcome, Skipped, Succeeded
from interlace._tools import Invocable, Tool
from interlace.llm._base import LLM, Completion, GenerationConfig, Message, StreamItem, TextDelta
from interlace.llm._toolcalls import NativeToolCalling, NativeTools

if TYPE_CHECKING:
    from interlace._plan import Task
    from interlace.agents._result import Agent, RunResult

__all__ = [
    "Answer",
    "Event",
    "Interrupt",
    "LLMEnd",
    "LLMStart",
    "LLMText",
    "Listener",
    "Replan",
    "TaskDispatched",
    "TaskFinished",
    "TaskStarted",
    "complete",
    "emit",
    "events",
    "listen",
    "render_call",
    "stream",
]

# A library configures no output: without a handler of ours, Python's last-resort handler would
# print every warning (a failed tool call, a failed request) to the stderr of any program that
# imports interlace, through its progress bars. `interlace -v` and applications add their own.
logging.getLogger("interlace").addHandler(logging.NullHandler())
_log = logging.getLogger("interlace.llm")
_tool_log = logging.getLogger("interlace.tools")

OutcomeName = Literal["succeeded", "failed", "cancelled", "skipped"]
OUTCOME_NAMES: tuple[OutcomeName, ...] = ("succeeded", "failed", "cancelled", "skipped")


@dataclass(frozen=True, kw_only=True, slots=True)
class LLMStart:
    """An LLM request was sent.

    Attributes:
        request: this request's id (unique in the process), shared by its later events.
        role: who asks (``"planner"``, ``"joiner"``, ``"react"``, ``"math"``...; ``"llm"``
            when the request carried no role).
        time: monotonic seconds.
    """

    request: int
    role: str
    time: float


@dataclass(frozen=True, kw_only=True, slots=True)
class LLMText:
    """A piece of a request's text, as soon as it was decoded.

    Attributes:
        request: the request's id (:attr:`LLMStart.request`).
        role: its role.
        text: the new text.
        time: monotonic seconds.
    """

    request: int
    role: str
    text: str
    time: float


@dataclass(frozen=True, kw_only=True, slots=True)
class LLMEnd:
    """A request finished (not emitted when it failed: the error propagates).

    Attributes:
        request: the request's id.
        role: its role.
        completion: the final item: whole text, usage (tokens), timing (seconds), cost.
        time: monotonic seconds.
    """

    request: int
    role: str
    completion: Completion
    time: float


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskDispatched:
    """A plan task became ready (its dependencies succeeded) and the executor took it.

    Attributes:
        task_id: the task's number in the plan.
        tool: the tool's name.
        call: the call as text, references shown as ``$N`` (:func:`render_call`).
        time: monotonic seconds.
    """

    task_id: int
    tool: str
    call: str
    time: float


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskStarted:
    """A tool call started.

    Attributes:
        task_id: the plan task (or ReAct step) it executes, ``None`` when there is none.
        tool: the tool's name.
        call: the call as text, references resolved to their values; the tool's name alone
            when the arguments are not known where the call is traced (ReAct). A plan task
            whose references cannot be resolved finishes (failed) without starting.
        time: monotonic seconds.
    """

    task_id: int | None
    tool: str
    call: str
    time: float


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskFinished:
    """A tool call ended.

    Attributes:
        task_id: as in :class:`TaskStarted`.
        tool: the tool's name.
        status: ``"succeeded"``, ``"failed"``, ``"cancelled"`` or ``"skipped"``.
        outcome: the typed outcome (value or error) where the executor ran the call;
            ``None`` for a call traced outside a plan (ReAct), which reports ``status`` only.
        start: monotonic seconds when the call started.
        end: monotonic seconds when it ended.
    """

    task_id: int | None
    tool: str
    status: OutcomeName
    outcome: Outcome | None
    start: float
    end: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Replan:
    """The joiner asked for a new plan.

    Attributes:
        thought: the joiner's reason, as written.
        time: monotonic seconds.
    """

    thought: str
    time: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Interrupt:
    """AsyncLM appended finished calls' results to the decoding context (an interrupt).

    Attributes:
        calls: the call ids whose results were injected.
        time: monotonic seconds.
    """

    calls: tuple[str, ...]
    time: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Answer:
    """The run returned; always the last event of :func:`events`.

    Attributes:
        result: the run's result (answer, latency, usage, trace...).
        time: monotonic seconds.
    """

    result: RunResult
    time: float


Event = (
    LLMStart
    | LLMText
    | LLMEnd
    | TaskDispatched
    | TaskStarted
    | TaskFinished
    | Replan
    | Interrupt
    | Answer
)
Listener = Callable[[Event], None]

_LISTENER: ContextVar[Listener | None] = ContextVar("interlace_event_listener", default=None)
_REQUEST_IDS = itertools.count(1)


def next_request_id() -> int:
    """A new request id (unique in the process) for :class:`LLMStart` and its later events."""
    return next(_REQUEST_IDS)


def emit(event: Event) -> None:
    """Send ``event`` to the current listener (nothing happens without one)."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(event)


def listening() -> bool:
    """Whether a listener is set (emitters skip building events without one)."""
    return _LISTENER.get() is not None


@contextlib.contextmanager
def listen(listener: Listener) -> Iterator[None]:
    """Send the events of everything run inside the block to ``listener``.

    Tasks started inside (tool calls) inherit it. Usage::

        with interlace.listen(print):
            result = await agent.run("Who directed Vertigo?")
    """
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


async def events(agent: Agent, question: str) -> AsyncIterator[Event]:
    """Run ``agent`` on ``question`` and yield its events as they happen, then an
    :class:`Answer` with the result.

    Iterate to the end, or close the iterator in the task that iterates it
    (``contextlib.aclosing``): closing early cancels the run.

    Raises:
        LLMError: the backend failed (as :meth:`~interlace.Agent.run` raises it), after the
            events that came before.
    """
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    failure: list[BaseException] = []

    async def run() -> None:
        with send:
            try:
                with listen(send.send_nowait):
                    result = await agent.run(question)
            except Exception as exc:  # re-raised below, in the consumer's task
                failure.append(exc)
            else:
                send.send_nowait(Answer(result=result, time=now()))

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        with receive:
            async for event in receive:
                yield event
    if failure:
        raise failure[0]


def task_dispatched(task: Task, time: float) -> None:
    """Emit :class:`TaskDispatched` for ``task`` (the executor calls this)."""
    if listening():
        call = render_call(task.tool, task.args, task.kwargs)
        emit(TaskDispatched(task_id=task.id, tool=task.tool, call=call, time=time))


def task_started(
    task: Task,
    time: float,
    tool: Tool | Invocable,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
) -> None:
    """Emit :class:`TaskStarted` for ``task`` calling ``tool`` with ``args`` and ``kwargs``
    (its references resolved; shown by parameter name where the tool binds them; the
    executor calls this)."""
    if listening():
        if isinstance(tool, Tool):
            with contextlib.suppress(Exception):  # a bad call still starts (and then fails)
                args, kwargs = (), tool.bind(tuple(args), kwargs)
        call = render_call(task.tool, args, kwargs)
        emit(TaskStarted(task_id=task.id, tool=task.tool, call=call, time=time))


_STATUS: dict[type, OutcomeName] = {
    Succeeded: "succeeded",
    Failed: "failed",
    Cancelled: "cancelled",
    Skipped: "skipped",
}


def task_finished(task: Task, outcome: Outcome, start: float, end: float) -> None:
    """Log a failed or timed-out call and emit :class:`TaskFinished` (the executor calls
    this when a started task ends)."""
    if isinstance(outcome, Failed):
        what = "timed out" if isinstance(outcome.error, ToolTimeoutError) else "failed"
        error = outcome.error
        _tool_log.warning(
            "%s %s (%s) %s after %.2f s: %s: %s",
            task.title,
            task.tool,
            render_call(task.tool, task.args, task.kwargs),
            what,
            end - start,
            type(error).__name__,
            error,
        )
    if listening():
        status = _STATUS[type(outcome)]
        emit(
            TaskFinished(
                task_id=task.id,
                tool=task.tool,
                status=status,
                outcome=outcome,
                start=start,
                end=end,
            )
        )


def render_call(tool: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """``tool(arg, key=value)`` with literals as ``repr`` and references as ``$N``."""

    def show(value: Any) -> str:
        if isinstance(value, Ref):
            return f"${value.task_id}"
        if isinstance(value, Template):
            return repr(str(value))
        if isinstance(value, list | tuple):
            inner = ", ".join(show(v) for v in value)
            return f"[{inner}]" if isinstance(value, list) else f"({inner})"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{show(k)}: {show(v)}" for k, v in value.items()) + "}"
        return repr(value)

    shown = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    return f"{tool}({', '.join(shown)})"


async def stream(
    llm: LLM,
    messages: Sequence[Message],
    config: GenerationConfig,
    *,
    tools: NativeTools | None = None,
) -> AsyncIterator[StreamItem]:
    """``llm.stream(messages, config)``, emitting :class:`LLMStart`, :class:`LLMText` and
    :class:`LLMEnd` (role: ``config.role``) and logging the request at debug level: the one
    request path agents and tools use.

    Args:
        llm: the backend.
        messages: the prompt.
        config: generation settings; ``config.role`` names the request in events and logs.
        tools: functions to offer natively: the request is then
            ``llm.stream_tools(messages, tools, config)``
            (:class:`~interlace.llm.NativeToolCalling`), with the same events.

    Raises:
        UsageError: ``tools`` given for a backend that cannot offer functions natively.
        LLMError: the backend failed (logged as a warning first).
    """
    role = config.role or "llm"
    if tools is None:
        items = llm.stream(messages, config)
    elif isinstance(llm, NativeToolCalling):
        items = llm.stream_tools(messages, tools, config)
    else:
        raise UsageError(
            f"{type(llm).__name__} ({llm.model!r}) cannot offer functions natively: "
            "stream(llm, messages, config, tools=...) needs a NativeToolCalling backend"
        )
    request = next_request_id()
    offered = "" if tools is None else f", {len(tools.schemas)} functions offered"
    _log.debug(
        "request %d (%s) to %s: %d messages%s", request, role, llm.model, len(messages), offered
    )
    emit(LLMStart(request=request, role=role, time=now()))
    try:
        async for item in items:
            if isinstance(item, TextDelta):
                if item.text:
                    emit(LLMText(request=request, role=role, text=item.text, time=now()))
            else:
                usage = item.usage
                _log.debug(
                    "request %d (%s) done in %.2f s: %d in (%d cached) / %d out tokens, %s",
                    request,
                    role,
                    item.timing.total,
                    usage.prompt_tokens,
                    usage.cached_prompt_tokens,
                    usage.completion_tokens,
                    item.finish_reason,
                )
                for warning in item.warnings:
                    _log.warning("request %d (%s): %s", request, role, warning)
                emit(LLMEnd(request=request, role=role, completion=item, time=now()))
            yield item
    except Exception as exc:
        _log.warning("request %d (%s) failed: %s: %s", request, role, type(exc).__name__, exc)
        raise


async def complete(llm: LLM, messages: Sequence[Message], config: GenerationConfig) -> Completion:
    """:func:`stream` to its end; the final :class:`~interlace.Completion`.

    Raises:
        LLMError: the backend failed.
    """
    final: Completion | None = None
    async for item in stream(llm, messages, config):
        if isinstance(item, Completion):
            final = item
    if final is None:  # pragma: no cover - protocol violation by a backend
        raise RuntimeError(f"{type(llm).__name__}.stream ended without a Completion")
    return final
