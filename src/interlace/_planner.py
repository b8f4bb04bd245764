"""The incremental plan parser: LLM text chunks in, plan events out (LLMCompiler, §3.1-3.2).

The planner's output is streamed; :class:`PlanParser` turns it into events the moment each
line is complete, so the task fetching unit can start a task while the rest of the plan is
still being decoded. The accepted format is the published LLMCompiler plan format::

    Thought: I need both populations.
    1. search("Paris population")
    2. search("Rome population")
    3. math("ratio of $1 to $2", [$1, $2])
    Thought: I can answer now.
    4. join()
    <END_OF_PLAN>

Line rules (a line is complete at ``"\\n"``, at the end marker, and at :meth:`PlanParser.close`):

* Surrounding spaces, a markdown bullet (``-``, ``*``, ``+``), ``>`` quotes and backticks
  around the line are stripped; fence lines (`````) and blank lines are ignored.
* ``Thought: ...`` attaches to the next task (several thought lines are joined by a space).
* ``N. tool(args)`` and ``N) tool(args)`` are plan lines. The call is read with the one call
  syntax of :mod:`interlace._calls` (the same for CML and ReAct): Python literals (plus JSON
  ``true``/``false``/``null`` and bounded number arithmetic) read with :mod:`ast`, never
  evaluated, and references ``$N``/``${N}`` to earlier tasks (see :mod:`interlace._plan`).
  Positional and keyword arguments both work.
* ``N. join()`` (or a bare ``join()``) ends the task list: :class:`JoinParsed`. Plan lines after
  it are ignored.
* Any other line starting with ``N.`` or ``N)`` that does not parse is a :class:`LineError`
  carrying the id ``N`` (so tasks that reference it are skipped, never silently dropped). A
  repeated or decreasing id is a :class:`LineError` without an id.
* Every other line (prose, "Here is the plan:") is chatter and ignored.
* ``<END_OF_PLAN>`` emits :class:`EndOfPlan`; everything after it is ignored.

Tool names are *not* checked here (the parser does not know the tools): the executor fails a
task that names an unknown tool with :class:`~interlace.UnknownToolError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from interlace._calls import parse_call
from interlace._errors import CallSyntaxError, PlanParseError
from interlace._plan import JOIN, Plan, RefScope, Task, TaskId

__all__ = [
    "END_OF_PLAN",
    "EndOfPlan",
    "JoinParsed",
    "LineError",
    "PlanEvent",
    "PlanParser",
    "TaskParsed",
    "parse_plan",
]

END_OF_PLAN = "<END_OF_PLAN>"


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskParsed:
    """A plan line parsed into a task (its tool is not checked yet)."""

    task: Task


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class LineError:
    """A plan-looking line that could not be parsed; ``error.task_id`` is its id if readable.

    Two LineErrors are equal when their errors have the same type, message, line and id.
    """

    error: PlanParseError

    def _key(self) -> tuple[type, str, str, int | None]:
        return (type(self.error), str(self.error), self.error.line, self.error.task_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LineError) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True, kw_only=True, slots=True)
class JoinParsed:
    """The ``join()`` line: no more tasks in this plan.

    Attributes:
        thought: the ``Thought:`` written just before ``join()``, if any.
        task_id: the join line's number, if it had one.
    """

    thought: str | None = None
    task_id: TaskId | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class EndOfPlan:
    """The ``<END_OF_PLAN>`` marker was read."""


PlanEvent = TaskParsed | LineError | JoinParsed | EndOfPlan

_NUMBERED = re.compile(r"^(\d+)\s*[.)]\s*(.*)$", re.DOTALL)
_THOUGHT = re.compile(r"^thought\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)
_BARE_JOIN = re.compile(r"^join\s*\(\s*\)\s*;?$")
_LEADING_NOISE = re.compile(r"^(?:[-*+>]\s+|[*]{2}(?=\d)|`+)+")
_TRAILING_NOISE = re.compile(r"`+$")


def _clean(line: str) -> str:
    """Strip spaces, bullets, quotes and backticks that small models put around a line."""
    text = _LEADING_NOISE.sub("", line.strip()).strip()
    return _TRAILING_NOISE.sub("", text).strip()


class PlanParser:
    """Incremental LLMCompiler plan parser (see the module docstring for the line rules).

    Feed it text chunks of any size and boundary; each call returns the events completed by
    that chunk. The same text yields the same events however it is cut. ``feed`` never raises
    on model output: problems become :class:`LineError` events.

    Example::

        parser = PlanParser()
        for chunk in stream:
            for event in parser.feed(chunk):
                ...
        events = parser.close()
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._thought: str | None = None
        self._ids: set[int] = set()
        self._last_id: int | None = None
        self._joined = False
        self._ended = False
        self._chunks: list[str] = []

    @property
    def text(self) -> str:
        """Everything fed so far, verbatim."""
        return "".join(self._chunks)

    @property
    def ended(self) -> bool:
        """True once ``<END_OF_PLAN>`` has been read."""
        return self._ended

    def feed(self, chunk: str) -> list[PlanEvent]:
        """Consume a chunk of planner output; return the events it completed."""
        self._chunks.append(chunk)
        if self._ended:
            return []
        events: list[PlanEvent] = []
        # Search from where a marker could start (it may straddle the previous chunk).
        search_from = max(0, len(self._buffer) - len(END_OF_PLAN) + 1)
        self._buffer += chunk
        marker = self._buffer.find(END_OF_PLAN, search_from)
        if marker >= 0:
            complete, self._buffer = self._buffer[:marker], ""
            for line in complete.split("\n"):
                self._line(line, events)
            self._ended = True
            events.append(EndOfPlan())
            return events
        if "\n" in chunk:
            *lines, self._buffer = self._buffer.split("\n")
            for line in lines:
                self._line(line, events)
        return events

    def close(self) -> list[PlanEvent]:
        """End of the stream: parse the last, unterminated line. ``EndOfPlan`` is not invented."""
        events: list[PlanEvent] = []
        if not self._ended and self._buffer:
            self._line(self._buffer, events)
        self._buffer = ""
        return events

    def _line(self, raw: str, events: list[PlanEvent]) -> None:
        text = _clean(raw)
        if not text or text.startswith("```"):
            return
        thought = _THOUGHT.match(text)
        if thought:
            said = thought.group(1).strip()
            self._thought = f"{self._thought} {said}" if self._thought else said
            return
        numbered = _NUMBERED.match(text)
        if numbered is None:
            if _BARE_JOIN.match(text) and not self._joined:
                self._join(None, events)
            return
        if self._joined:
            return
        try:
            task_id = int(numbered.group(1))
        except ValueError:  # absurdly long digit string
            events.append(LineError(error=PlanParseError("task id too long", line=raw)))
            return
        if task_id in self._ids or (self._last_id is not None and task_id <= self._last_id):
            message = f"task id {task_id} repeats or does not increase (after {self._last_id})"
            events.append(LineError(error=PlanParseError(message, line=raw)))
            return
        self._ids.add(task_id)
        self._last_id = task_id
        events.append(self._task(TaskId(task_id), numbered.group(2), raw))

    def _task(self, task_id: TaskId, body: str, raw: str) -> PlanEvent:
        earlier = self._ids - {task_id}
        thought, self._thought = self._thought, None
        try:
            call = parse_call(body, RefScope.numbers(earlier))
        except CallSyntaxError as exc:  # never raises anything else, whatever the text
            error = PlanParseError(
                f"task {task_id}: cannot parse {exc.body!r}: {exc}", line=raw, task_id=task_id
            )
            error.__cause__ = exc
            return LineError(error=error)
        name, args, kwargs = call.name, call.args, call.kwargs
        if name == JOIN:
            self._joined = True
            return JoinParsed(thought=thought, task_id=task_id)
        return TaskParsed(
            task=Task(
                id=task_id, tool=name, args=args, kwargs=kwargs, thought=thought, line=raw.strip()
            )
        )

    def _join(self, task_id: TaskId | None, events: list[PlanEvent]) -> None:
        thought, self._thought = self._thought, None
        self._joined = True
        events.append(JoinParsed(thought=thought, task_id=task_id))


def parse_plan(text: str) -> tuple[Plan, list[PlanParseError]]:
    """Parse a complete plan text at once.

    Returns:
        The plan (tasks in order, without the join) and the line errors found.
    """
    parser = PlanParser()
    events: Iterable[PlanEvent] = [*parser.feed(text), *parser.close()]
    tasks = [e.task for e in events if isinstance(e, TaskParsed)]
    errors = [e.error for e in events if isinstance(e, LineError)]
    return Plan(tasks), errors
