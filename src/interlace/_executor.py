"""The async driver of a plan: run tasks while the plan is still streaming (LLMCompiler, §3.2).

:func:`run_plan` consumes the planner's event stream and, in the same anyio task group, starts
each task the moment the :class:`~interlace._scheduler.Scheduler` says its dependencies
succeeded. There is no polling and no sleeping: every state change (an event arrives, a tool
finishes) dispatches the tasks it made ready.

Guarantees:

* Every task gets exactly one outcome; a tool that raises, times out or gets bad arguments
  fails its task (its dependents are skipped) and never hangs or crashes the run.
* At most ``limits.max_concurrency`` tools run at once (ready tasks beyond that wait in a
  FIFO queue; ``TaskRecord.dispatched`` is when a task became ready, ``start`` when it ran).
* Each call has a timeout: ``Tool.timeout`` if set, else ``limits.default_timeout`` (seconds).
* Cancellation: set the ``cancel`` event, or give ``limits.cancel_after`` (seconds). Running
  tools are cancelled, unfinished tasks get :class:`~interlace._scheduler.Cancelled`, and
  ``run_plan`` *returns* the report (``report.cancelled`` is True) with everything that
  finished. Cancelling the caller's own scope propagates as usual (no report).
* If the event stream itself raises (e.g. an ``LLMError``), running tools are cancelled and
  that exception is re-raised unchanged.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc

from interlace import _events
from interlace._clock import now
from interlace._errors import (
    ArityError,
    PlanParseError,
    PlanValidationError,
    ToolError,
    ToolExecutionError,
    ToolTimeoutError,
    UsageError,
)
from interlace._plan import Ref, Task, TaskId, Template, bind_task
from interlace._planner import EndOfPlan, JoinParsed, LineError, PlanEvent, TaskParsed
from interlace._scheduler import Cancelled, Failed, Outcome, Scheduler, Skipped, Succeeded
from interlace._tools import Invocable, Tool, execution_error
from interlace.trace._spans import Span, Trace

__all__ = [
    "ExecutionLimits",
    "ExecutionReport",
    "TaskRecord",
    "invoke_tool",
    "resolve_arguments",
    "run_plan",
    "run_task",
]

#: Hook for a tool: attrs it adds to the span of the plan task it runs for (remote tools record
#: the Ray worker). Each task's call starts with a fresh dict; ``None`` outside ``run_plan``.
call_span_attrs: ContextVar[dict[str, Any] | None] = ContextVar("call_span_attrs", default=None)

_OUTCOME_NAMES: dict[type, str] = {
    Succeeded: "succeeded",
    Failed: "failed",
    Cancelled: "cancelled",
    Skipped: "skipped",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionLimits:
    """Run-wide limits for :func:`run_plan`.

    Attributes:
        max_concurrency: most tool calls running at the same time (>= 1).
        default_timeout: seconds a call may take when its tool sets no timeout; ``None``: no limit.
        cancel_after: seconds after which the whole run is cancelled (the report is still
            returned); ``None``: never.
    """

    max_concurrency: int = 32
    default_timeout: float | None = 60.0
    cancel_after: float | None = None

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise UsageError(
                f"ExecutionLimits(max_concurrency={self.max_concurrency}): must be >= 1, "
                "e.g. ExecutionLimits(max_concurrency=1) to run one tool at a time"
            )
        for name in ("default_timeout", "cancel_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise UsageError(f"ExecutionLimits({name}={value}): seconds must be >= 0 or None")


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskRecord:
    """What happened to one task.

    Attributes:
        task: the task, or ``None`` when its line did not parse.
        outcome: its terminal outcome.
        dispatched: monotonic seconds when it became ready and was handed to the executor.
        start: monotonic seconds when its tool call started (after waiting for a concurrency slot).
        end: monotonic seconds when its tool call ended.
    """

    task: Task | None
    outcome: Outcome
    dispatched: float | None = None
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True, kw_only=True)
class ExecutionReport:
    """The result of :func:`run_plan`.

    Attributes:
        records: one record per task id (including ids of lines that failed to parse).
        line_errors: every parse error of the plan, in order (with or without a task id).
        joined: a ``join()`` line was read.
        join_thought: the ``Thought:`` written before ``join()``, if any.
        ended: the ``<END_OF_PLAN>`` marker was read.
        cancelled: the run was cancelled (``cancel`` event or ``limits.cancel_after``).
    """

    records: Mapping[TaskId, TaskRecord]
    line_errors: tuple[PlanParseError, ...] = ()
    joined: bool = False
    join_thought: str | None = None
    ended: bool = False
    cancelled: bool = False

    @property
    def values(self) -> Mapping[TaskId, Any]:
        """The value of every task that succeeded, by id."""
        return {
            i: r.outcome.value for i, r in self.records.items() if isinstance(r.outcome, Succeeded)
        }


def resolve_arguments(value: Any, values: Mapping[TaskId, Any]) -> Any:
    """Replace references in an argument value: Ref -> the value, Template -> its string.

    Lists, tuples, sets and dicts are rebuilt with their items resolved.

    Raises:
        KeyError: a referenced task has no value in ``values``.
    """
    if isinstance(value, Ref):
        return values[value.task_id]
    if isinstance(value, Template):
        return value.render(values)
    if isinstance(value, list):
        return [resolve_arguments(v, values) for v in value]
    if isinstance(value, tuple):
        return tuple(resolve_arguments(v, values) for v in value)
    if isinstance(value, (set, frozenset)):
        return type(value)(resolve_arguments(v, values) for v in value)
    if isinstance(value, dict):
        return {
            resolve_arguments(k, values): resolve_arguments(v, values) for k, v in value.items()
        }
    return value


async def invoke_tool(
    tool: Tool | Invocable,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - enforced with a cancel scope
) -> Succeeded | Failed:
    """Call ``tool`` and turn whatever happens into an outcome: the one invocation path of
    plan tasks, CML calls and ReAct actions (DESIGN.md, "One runtime").

    Any ``Exception`` the tool raises becomes a :class:`~interlace.ToolExecutionError` (the
    original as ``__cause__``); argument problems stay :class:`~interlace.ArityError` /
    :class:`~interlace.ToolArgumentError`; an exceeded limit is a
    :class:`~interlace.ToolTimeoutError`. Cancellation of the caller is not an outcome: it
    propagates.

    Args:
        tool: a :class:`Tool` (its sync functions run in worker threads) or any
            :class:`Invocable`.
        args: positional argument values.
        kwargs: keyword argument values.
        timeout: seconds the call may take when the tool sets no ``timeout`` of its own
            (``None``: no limit).

    Returns:
        ``Succeeded(value)`` or ``Failed(error)``; never raises on a tool's behalf.
    """
    if isinstance(tool, Tool):
        limit = tool.timeout if tool.timeout is not None else timeout
        try:
            return Succeeded(value=await tool.invoke(args, kwargs, timeout=limit))
        except (ToolError, ArityError) as exc:
            return Failed(error=exc)
        except Exception as exc:  # outside the function itself (validation); still an outcome
            return Failed(error=execution_error(tool.name, exc))
    deadline = anyio.current_time() + timeout if timeout is not None else float("inf")
    with anyio.CancelScope(deadline=deadline) as scope:
        try:
            return Succeeded(value=await tool.invoke(args, kwargs))
        except (ToolError, ArityError) as exc:
            return Failed(error=exc)
        except Exception as exc:
            return Failed(error=execution_error(tool.name, exc))
    if scope.cancelled_caught:
        return Failed(error=ToolTimeoutError(f"tool {tool.name!r} timed out after {timeout} s"))
    raise AssertionError("unreachable: the call neither returned nor timed out")


class _Run:
    """State of one :func:`run_plan` call."""

    def __init__(
        self,
        tools: Mapping[str, Invocable],
        limits: ExecutionLimits,
        trace: Trace | None,
        task_group: anyio.abc.TaskGroup,
    ) -> None:
        self.tools = tools
        self.limits = limits
        self.trace = trace
        self.task_group = task_group
        self.scheduler = Scheduler()
        self.on_finish: Callable[[Task, Outcome], None] | None = None
        self.on_outcome: Callable[[TaskRecord], None] | None = None
        self.queue: deque[Task] = deque()  # ready, waiting for a concurrency slot
        self.active = 0  # tool calls started and not finished (<= limits.max_concurrency)
        self.values: dict[TaskId, Any] = {}
        self.times: dict[TaskId, list[float | None]] = {}  # [dispatched, start, end]
        self.line_errors: list[PlanParseError] = []
        self.joined = False
        self.join_thought: str | None = None
        self.ended = False
        self.finished = anyio.Event()

    async def consume(self, events: AsyncIterable[PlanEvent]) -> None:
        async for event in events:
            self.handle(event)
            self.dispatch()
            self.announce()
        self.close()

    def handle(self, event: PlanEvent) -> None:
        closed = self.scheduler.closed
        if isinstance(event, TaskParsed):
            if closed:
                message = f"task {event.task.id} comes after the end of the plan; ignored"
                self.line_errors.append(PlanParseError(message, line=event.task.line))
            else:
                self.add(event.task)
        elif isinstance(event, LineError):
            self.line_errors.append(event.error)
            task_id = event.error.task_id
            known = self.scheduler.outcomes.keys() | self.scheduler.tasks.keys()
            if not closed and task_id is not None and TaskId(task_id) not in known:
                self.scheduler.fail_line(TaskId(task_id), event.error)
        elif isinstance(event, JoinParsed):
            self.joined, self.join_thought = True, event.thought
            self.close()
        elif isinstance(event, EndOfPlan):
            self.ended = True
            self.close()

    def add(self, task: Task) -> None:
        if task.is_join:
            self.joined, self.join_thought = True, task.thought
            self.close()
            return
        if task.id in self.scheduler.tasks or task.id in self.scheduler.outcomes:
            message = f"task id {task.id} repeats; the second one is ignored"
            self.line_errors.append(PlanParseError(message, line=task.line))
            return
        try:
            bound = bind_task(task, self.tools)
        except PlanValidationError as exc:
            self.scheduler.fail_line(task.id, exc, task=task)
            return
        self.scheduler.add(bound)

    def close(self) -> None:
        self.scheduler.close()
        self.dispatch()
        self.announce()
        if self.scheduler.done:
            self.finished.set()

    def announce(self) -> None:
        """Report every outcome decided since the last call to ``on_outcome`` (in order)."""
        finished = self.scheduler.take_finished()
        if self.on_outcome is not None:
            for task_id in finished:
                self.on_outcome(self.record(task_id))

    def record(self, task_id: TaskId) -> TaskRecord:
        dispatched, start, end = self.times.get(task_id, (None, None, None))
        return TaskRecord(
            task=self.scheduler.tasks.get(task_id),
            outcome=self.scheduler.outcomes[task_id],
            dispatched=dispatched,
            start=start,
            end=end,
        )

    def dispatch(self) -> None:
        """Queue newly ready tasks and start as many as the concurrency limit allows."""
        ready = self.scheduler.ready()
        if ready:
            dispatched = now()
            for task in ready:
                self.times[task.id] = [dispatched, None, None]
                _events.task_dispatched(task, dispatched)
            self.queue.extend(ready)
        while self.queue and self.active < self.limits.max_concurrency:
            self.active += 1
            self.task_group.start_soon(self.execute, self.queue.popleft())

    async def execute(self, task: Task) -> None:
        times = self.times[task.id]
        times[1] = now()
        call_span_attrs.set({})
        outcome: Outcome
        try:
            outcome = await self.call(task)
        except anyio.get_cancelled_exc_class():
            # Tools are only ever cancelled with the whole run (timeouts are ToolTimeoutError):
            # everything unfinished is Cancelled, not "skipped because a dependency was".
            self.scheduler.cancel()
            self.finish(task, Cancelled())
            raise
        self.finish(task, outcome)

    async def call(self, task: Task) -> Outcome:
        tool = self.tools[task.tool]
        if task.deps:
            try:
                args = resolve_arguments(task.args, self.values)
                kwargs = resolve_arguments(dict(task.kwargs), self.values)
            except Exception as exc:  # e.g. a value whose __str__ raises in a Template
                error = ToolExecutionError(
                    f"task {task.id}: cannot resolve its references: {exc!r}"
                )
                error.__cause__ = exc
                return Failed(error=error)
        else:
            args, kwargs = task.args, task.kwargs
        _events.task_started(task, self.times[task.id][1] or now(), tool, args, kwargs)
        outcome = await invoke_tool(tool, args, kwargs, timeout=self.limits.default_timeout)
        if isinstance(outcome, Succeeded):
            self.values[task.id] = outcome.value
        return outcome

    def finish(self, task: Task, outcome: Outcome) -> None:
        self.active -= 1
        times = self.times[task.id]
        times[2] = end = now()
        if task.id not in self.scheduler.outcomes:
            self.scheduler.complete(task.id, outcome)
        if self.trace is not None and times[1] is not None:
            # Positional on purpose: this runs once per task, and keywords cost a third more.
            attrs = {"outcome": _OUTCOME_NAMES[type(outcome)], "dispatched": times[0]}
            attrs.update(call_span_attrs.get() or ())
            if task.call_id is not None:  # a CML call: the id the model wrote
                attrs["call_id"] = task.call_id
                attrs["ok"] = isinstance(outcome, Succeeded)
            deps = tuple(sorted(task.deps)) if task.deps else ()
            self.trace.spans.append(Span("tool", task.tool, times[1], end, task.id, deps, attrs))
        _events.task_finished(task, self.scheduler.outcomes[task.id], times[1] or end, end)
        if self.on_finish is not None:
            self.on_finish(task, self.scheduler.outcomes[task.id])
        self.dispatch()
        self.announce()
        if self.scheduler.done:
            self.finished.set()

    def report(self, cancelled: bool) -> ExecutionReport:
        records = {task_id: self.record(task_id) for task_id in sorted(self.scheduler.outcomes)}
        return ExecutionReport(
            records=records,
            line_errors=tuple(self.line_errors),
            joined=self.joined,
            join_thought=self.join_thought,
            ended=self.ended,
            cancelled=cancelled,
        )


async def run_plan(
    events: AsyncIterable[PlanEvent],
    tools: Mapping[str, Invocable],
    *,
    limits: ExecutionLimits = ExecutionLimits(),
    trace: Trace | None = None,
    cancel: anyio.Event | None = None,
    on_finish: Callable[[Task, Outcome], None] | None = None,
    on_outcome: Callable[[TaskRecord], None] | None = None,
) -> ExecutionReport:
    """Run a streamed plan: start each task as soon as its dependencies succeeded.

    Args:
        events: the planner's events (e.g. from :class:`~interlace._planner.PlanParser`),
            consumed concurrently with the running tools. The plan is complete at ``join()``,
            ``<END_OF_PLAN>`` or the end of the stream, whichever comes first.
        tools: the tools by name: :class:`~interlace.Tool` objects (arguments checked against
            the signature before the task runs) or any :class:`~interlace._tools.Invocable`.
        limits: concurrency, default per-call timeout (seconds) and run deadline.
        trace: if given, one ``Span(kind="tool")`` is added per task whose tool call started
            (a CML call's span also has ``attrs["call_id"]`` and ``attrs["ok"]``).
        cancel: setting this event cancels the run; the report is still returned.
        on_finish: called on the event loop, in completion order, each time a started tool
            call ends, with its task id and outcome (LLMCompiler prefills the joiner's
            context with it). It must not block; an exception it raises is not caught.
        on_outcome: called on the event loop with the :class:`TaskRecord` of every task the
            moment its outcome is decided -- started or not: a skipped dependent, a line that
            did not parse, an unknown tool -- in the order outcomes are decided (the final
            cancellation of a cancelled run is not reported). CML renders its interrupts
            from these. It must not block; an exception it raises is not caught.

    Returns:
        One record per task, in id order, plus the plan's parse errors. run_plan returns once
        ``events`` is exhausted and every task has an outcome (events after ``join()`` or
        ``<END_OF_PLAN>`` are drained and ignored, a stray task among them is a line error).

    Raises:
        Exception: whatever ``events`` raised (e.g. ``LLMError``), unchanged.
    """
    error: BaseException | None = None
    with anyio.CancelScope() as run_scope:
        if limits.cancel_after is not None:
            run_scope.deadline = anyio.current_time() + limits.cancel_after
        async with anyio.create_task_group() as task_group:
            run = _Run(tools, limits, trace, task_group)
            run.on_finish = on_finish
            run.on_outcome = on_outcome
            if cancel is not None:
                task_group.start_soon(_cancel_on, cancel, run_scope)
            try:
                await run.consume(events)
            except Exception as exc:
                error = exc
                run_scope.cancel()
            await run.finished.wait()
            task_group.cancel_scope.cancel()  # only the cancel watcher can still be running
    if error is not None:
        raise error
    cancelled = run_scope.cancel_called or run_scope.cancelled_caught
    if cancelled:
        run.scheduler.cancel()
    return run.report(cancelled)


async def run_task(
    task: Task,
    tools: Mapping[str, Invocable],
    *,
    limits: ExecutionLimits = ExecutionLimits(),
    trace: Trace | None = None,
) -> TaskRecord:
    """Run one task (a ReAct action) on the same scheduler and executor path as a plan.

    Args:
        task: a task without dependencies.
        tools: the tools by name (see :func:`run_plan`).
        limits: its timeout (``limits.default_timeout``, unless the tool sets one).
        trace: if given, the call's ``Span(kind="tool")`` is added (``task_id`` = ``task.id``).

    Returns:
        Its record: ``Succeeded``, or ``Failed`` for an unknown tool, bad arguments, a raise or
        a timeout (never raises on the tool's behalf).

    Raises:
        UsageError: the task has dependencies (a lone task has nothing to depend on).
    """
    if task.deps:
        raise UsageError(
            f"run_task({task.title}): a lone task cannot reference {sorted(task.deps)}"
        )

    async def one() -> AsyncIterator[PlanEvent]:
        yield TaskParsed(task=task)

    report = await run_plan(one(), tools, limits=limits, trace=trace)
    return report.records[task.id]


async def _cancel_on(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()
