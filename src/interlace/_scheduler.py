"""The task fetching unit as a sans-I/O state machine (LLMCompiler, §3.2).

:class:`Scheduler` knows tasks and their dependencies, nothing about time, threads or the
event loop. The executor feeds it (``add``, ``fail_line``, ``complete``, ``close``) and asks
it which tasks may start (``ready``). Because it does no I/O it is tested exhaustively with
hypothesis and costs a few microseconds per task.

Every task ends in exactly one terminal :data:`Outcome`:

* :class:`Succeeded` -- the tool returned a value.
* :class:`Failed` -- the tool raised, timed out or got bad arguments, the tool is unknown, or
  the plan line did not parse.
* :class:`Cancelled` -- the run was cancelled before the task finished.
* :class:`Skipped` -- a dependency did not succeed, a referenced task never appeared before
  the plan was closed, or the task is part of (or depends on) a dependency cycle.

State of a task: *waiting* (some dependency has no outcome yet) -> *ready* (all dependencies
succeeded; returned by the next :meth:`Scheduler.ready`) -> *running* -> terminal. A waiting
task is skipped the moment one of its dependencies ends without success.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interlace._errors import DuplicateTaskError, InterlaceError, UsageError
from interlace._plan import Task, TaskId

__all__ = ["Cancelled", "Failed", "Outcome", "Scheduler", "Skipped", "Succeeded", "describe"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Succeeded:
    """The tool returned ``value``."""

    value: Any


@dataclass(frozen=True, kw_only=True, slots=True)
class Failed:
    """The task could not produce a value; ``error`` says why (a ToolError or PlanError)."""

    error: InterlaceError


@dataclass(frozen=True, kw_only=True, slots=True)
class Cancelled:
    """The run was cancelled before the task finished."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Skipped:
    """The task never ran because a dependency did not succeed.

    Attributes:
        reason: human-readable explanation (shown to the joiner).
        cause: the dependency that did not succeed (or never appeared), if there is one.
    """

    reason: str
    cause: TaskId | None = None


Outcome = Succeeded | Failed | Cancelled | Skipped


def describe(outcome: Outcome) -> str:
    """A short phrase for an outcome: ``"succeeded"``, ``"failed: <error>"``, ..."""
    if isinstance(outcome, Succeeded):
        return "succeeded"
    if isinstance(outcome, Failed):
        return f"failed: {type(outcome.error).__name__}: {outcome.error}"
    if isinstance(outcome, Cancelled):
        return "was cancelled"
    return f"was skipped ({outcome.reason})"


class Scheduler:
    """Dependency bookkeeping for one plan: which tasks may run now, and how each one ended.

    No method blocks, sleeps or does I/O. Typical driver loop::

        scheduler.add(task)                  # as tasks are parsed
        for task in scheduler.ready(): ...   # start these
        scheduler.complete(task.id, Succeeded(value=...))
        scheduler.close()                    # the plan is complete
        assert scheduler.done
    """

    def __init__(self) -> None:
        self._tasks: dict[TaskId, Task] = {}
        self._outcomes: dict[TaskId, Outcome] = {}
        self._unmet: dict[TaskId, int] = {}  # waiting task -> dependencies without outcome
        self._dependents: dict[TaskId, list[TaskId]] = {}  # id -> waiting tasks that need it
        self._ready: dict[TaskId, Task] = {}
        self._running: set[TaskId] = set()
        self._closed = False
        self._finished: list[TaskId] = []  # ids that got an outcome since take_finished()

    # -- feeding -----------------------------------------------------------------------------

    def add(self, task: Task) -> None:
        """Register a task; it becomes ready at once if its dependencies already succeeded.

        Raises:
            DuplicateTaskError: the id is already known.
            UsageError: the task is a ``join()`` or the scheduler is closed.
        """
        self._check_new(task.id)
        if task.is_join:
            raise UsageError("join() is not a task to run; close() the scheduler instead")
        self._tasks[task.id] = task
        unmet = 0
        for dep in task.deps:
            outcome = self._outcomes.get(dep)
            if outcome is None:
                unmet += 1
                self._dependents.setdefault(dep, []).append(task.id)
            elif not isinstance(outcome, Succeeded):
                self._skip_from(task.id, dep, outcome)
                return
        if unmet:
            self._unmet[task.id] = unmet
        else:
            self._ready[task.id] = task

    def fail_line(
        self, task_id: TaskId, error: InterlaceError, *, task: Task | None = None
    ) -> None:
        """Record that task ``task_id`` failed before it could run (bad line, unknown tool).

        Its waiting dependents are skipped.

        Args:
            task_id: the id the broken line declared.
            error: why it failed (usually a PlanError).
            task: the parsed task, when there is one (e.g. an unknown tool).

        Raises:
            DuplicateTaskError: the id is already known.
            UsageError: the scheduler is closed.
        """
        self._check_new(task_id)
        if task is not None:
            self._tasks[task_id] = task
        self._finish(task_id, Failed(error=error))

    def close(self) -> None:
        """No more tasks will be added: skip tasks that wait for ids that never appeared."""
        if self._closed:
            return
        self._closed = True
        missing = [dep for dep in self._dependents if dep not in self._tasks]
        for dep in sorted(missing):
            if dep in self._outcomes:
                continue
            for waiting in self._dependents.pop(dep):
                if waiting in self._unmet:
                    reason = f"it references ${dep}, which is not a task of this plan"
                    self._set_skipped(waiting, Skipped(reason=reason, cause=dep))
        self._settle()

    # -- running -----------------------------------------------------------------------------

    def ready(self) -> list[Task]:
        """The tasks whose dependencies all succeeded, in order; they are now *running*."""
        if not self._ready:
            return []
        tasks = list(self._ready.values())
        self._running.update(self._ready)
        self._ready.clear()
        return tasks

    def complete(self, task_id: TaskId, outcome: Outcome) -> None:
        """Record the terminal outcome of a known, unfinished task (running or not).

        Raises:
            UsageError: the task is unknown or already has an outcome.
        """
        if task_id not in self._tasks or task_id in self._outcomes:
            state = "already finished" if task_id in self._outcomes else "unknown"
            raise UsageError(f"complete({task_id}): task is {state}")
        self._finish(task_id, outcome)

    def cancel(self) -> list[TaskId]:
        """Cancel every unfinished task and close; returns the ids cancelled (in id order)."""
        self._closed = True
        ids = sorted({*self._unmet, *self._ready, *self._running})
        for task_id in ids:
            self._outcomes[task_id] = Cancelled()
        self._finished.extend(ids)
        self._unmet.clear()
        self._ready.clear()
        self._running.clear()
        self._dependents.clear()
        return ids

    def take_finished(self) -> list[TaskId]:
        """The ids that got their outcome since the last call, in the order they got it (a
        task skipped because a dependency failed comes right after that dependency)."""
        finished, self._finished = self._finished, []
        return finished

    # -- queries -----------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once closed and every task has an outcome."""
        return self._closed and not (self._unmet or self._ready or self._running)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` (or :meth:`cancel`) was called."""
        return self._closed

    @property
    def outcomes(self) -> Mapping[TaskId, Outcome]:
        """Terminal outcomes so far, by task id (line-error ids included)."""
        return self._outcomes

    @property
    def tasks(self) -> Mapping[TaskId, Task]:
        """Every task added (and those passed to :meth:`fail_line`), by id."""
        return self._tasks

    @property
    def running(self) -> frozenset[TaskId]:
        """Ids returned by :meth:`ready` that have no outcome yet."""
        return frozenset(self._running)

    # -- internals ---------------------------------------------------------------------------

    def _check_new(self, task_id: TaskId) -> None:
        if self._closed:
            raise UsageError(f"task {task_id} added after the plan was closed")
        if task_id in self._tasks or task_id in self._outcomes:
            raise DuplicateTaskError(f"task {task_id} was already added")

    def _finish(self, task_id: TaskId, outcome: Outcome) -> None:
        self._outcomes[task_id] = outcome
        self._finished.append(task_id)
        self._running.discard(task_id)
        self._ready.pop(task_id, None)
        self._unmet.pop(task_id, None)
        dependents = self._dependents.pop(task_id, None)
        if dependents:
            if isinstance(outcome, Succeeded):
                for waiting in dependents:
                    left = self._unmet.get(waiting)
                    if left is None:
                        continue
                    if left == 1:
                        del self._unmet[waiting]
                        self._ready[waiting] = self._tasks[waiting]
                    else:
                        self._unmet[waiting] = left - 1
            else:
                for waiting in dependents:
                    if waiting in self._unmet:
                        self._skip_from(waiting, task_id, outcome)
        if self._closed:
            self._settle()

    def _skip_from(self, task_id: TaskId, dep: TaskId, outcome: Outcome) -> None:
        reason = f"dependency ${dep} {describe(outcome)}"
        self._set_skipped(task_id, Skipped(reason=reason, cause=dep))

    def _set_skipped(self, task_id: TaskId, skipped: Skipped) -> None:
        """Skip a task and, transitively, everything waiting on it."""
        stack = [(task_id, skipped)]
        while stack:
            current, outcome = stack.pop()
            self._unmet.pop(current, None)
            self._outcomes[current] = outcome
            self._finished.append(current)
            for waiting in self._dependents.pop(current, ()):
                if waiting in self._unmet:
                    reason = f"dependency ${current} {describe(outcome)}"
                    stack.append((waiting, Skipped(reason=reason, cause=current)))

    def _settle(self) -> None:
        """After close: tasks still waiting while nothing can run are stuck in a cycle."""
        if self._running or self._ready or not self._unmet:
            return
        for task_id in sorted(self._unmet):
            if task_id not in self._unmet:
                continue
            deps = sorted(d for d in self._tasks[task_id].deps if d not in self._outcomes)
            cause = deps[0] if deps else None
            reason = "it is part of, or depends on, a dependency cycle"
            self._set_skipped(task_id, Skipped(reason=reason, cause=cause))
