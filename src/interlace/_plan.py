"""Plans: tasks, typed references between them, and DAG validation (LLMCompiler, §3.1).

A plan is a numbered list of tool calls; an argument may use the result of an earlier task.
References are typed objects, never strings substituted late:

* :class:`Ref` -- the *whole* argument is another task's result; the tool receives that
  task's value unchanged (a list stays a list).
* :class:`Template` -- a string with references embedded in it; the tool receives the string
  with each reference replaced by ``str(value)``.

The reference rule (how plan text becomes Ref/Template, applied by :func:`parse_references`
and the plan parser):

1. Outside string literals, ``$N`` and ``${N}`` are always references: ``search($1)``.
2. A string literal that is exactly ``"$N"`` or ``"${N}"`` (surrounding spaces allowed) is a
   whole-argument :class:`Ref`.
3. Inside a longer string, ``${N}`` always references task ``N``.
4. Inside a longer string, a bare ``$N`` references task ``N`` only when **all** hold:
   ``N`` is the id of an *earlier* task of this plan; the ``$`` is not preceded by a digit,
   a letter or another ``$``; and ``N`` is not followed by a letter, digit or ``_``, by ``%``,
   by ``.`` or ``,`` and a digit, or by optional spaces and a magnitude word (``thousand``,
   ``million``, ``billion``, ``trillion``, ``k``, ``m``, ``mn``, ``bn``, ``b``, ``t``,
   ``dollars``, ``usd``). So ``"$1 million"``, ``"costs $5"`` (when there is no task 5),
   ``"$1.50"``, ``"$3,000"``, ``"US$2"`` and ``"50%"`` stay plain text, while
   ``"population of $1"`` (task 1 exists) references task 1.

A reference in rules 1-3 to a task that is not earlier is a
:class:`~interlace.DanglingReferenceError` (the parser reports it as a line error).

The same rule serves CML futures (``[CALL] c2 [HEAD] f(city=$c1) [END]``): there ``N`` is a
call id (an ASCII identifier such as ``c1``) instead of a number; :class:`RefScope` says which
form applies and which names are earlier (see :mod:`interlace._calls`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NewType

from interlace._errors import (
    ArityError,
    CycleError,
    DanglingReferenceError,
    DuplicateTaskError,
    PlanValidationError,
    UnknownToolError,
)

if TYPE_CHECKING:
    from interlace._tools import Invocable

__all__ = [
    "JOIN",
    "Plan",
    "Ref",
    "RefScope",
    "Task",
    "TaskId",
    "Template",
    "iter_refs",
    "parse_references",
]

TaskId = NewType("TaskId", int)
"""The number a plan line starts with (``3`` in ``3. search("x")``)."""

JOIN = "join"
"""The pseudo-tool that ends a plan; it is never executed."""


@dataclass(frozen=True, slots=True)
class Ref:
    """A whole-argument reference to the result of task ``task_id`` (``$1`` / ``${1}``)."""

    task_id: TaskId

    def __str__(self) -> str:
        return f"${self.task_id}"


@dataclass(frozen=True, slots=True)
class Template:
    """A string with embedded references, rendered with ``str()`` of each referenced value.

    Attributes:
        parts: literal text and :class:`Ref` pieces, in order (at least one Ref).
    """

    parts: tuple[str | Ref, ...]

    def render(self, values: Mapping[TaskId, Any]) -> str:
        """The string with each reference replaced by ``str(values[ref.task_id])``.

        Raises:
            KeyError: a referenced task has no value in ``values``.
        """
        return "".join(p if isinstance(p, str) else str(values[p.task_id]) for p in self.parts)

    def __str__(self) -> str:
        return "".join(p if isinstance(p, str) else f"${{{p.task_id}}}" for p in self.parts)


def iter_refs(value: Any) -> Iterator[Ref]:
    """Every :class:`Ref` in an argument value, looking inside templates and containers."""
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Template):
        for part in value.parts:
            if isinstance(part, Ref):
                yield part
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from iter_refs(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_refs(key)
            yield from iter_refs(item)


@dataclass(frozen=True, kw_only=True, slots=True)
class Task:
    """One plan line: a tool call whose arguments may hold :class:`Ref`/:class:`Template`.

    Attributes:
        id: the task's number in the plan.
        tool: the tool name (``"join"`` for the final join).
        args: positional argument values.
        kwargs: keyword argument values.
        thought: the ``Thought:`` text written just before this line, if any.
        line: the plan line as written (for error messages and the joiner).
        call_id: the id the model gave a CML call (``"c1"``), ``None`` for a plan task.
        deps: ids of the tasks this task references (computed).
    """

    id: TaskId
    tool: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    thought: str | None = None
    line: str = ""
    call_id: str | None = None
    deps: frozenset[TaskId] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        refs = [*iter_refs(self.args), *iter_refs(list(self.kwargs.values()))]
        object.__setattr__(self, "deps", frozenset(r.task_id for r in refs))

    @property
    def is_join(self) -> bool:
        """True for the final ``join()`` pseudo-task."""
        return self.tool == JOIN

    @property
    def title(self) -> str:
        """How messages name this task: ``"call c1"`` for a CML call, else ``"task 3"``."""
        return f"call {self.call_id}" if self.call_id is not None else f"task {self.id}"


@dataclass(frozen=True, slots=True)
class Plan:
    """A whole plan (a DAG of tasks), e.g. one built by hand or collected from a parser.

    Attributes:
        tasks: the tasks in plan order (a trailing ``join()`` task is allowed).
    """

    tasks: tuple[Task, ...]

    def __init__(self, tasks: Iterable[Task]) -> None:
        object.__setattr__(self, "tasks", tuple(tasks))

    def errors(self, tools: Mapping[str, Invocable]) -> list[PlanValidationError]:
        """Every validation problem, in the order :meth:`validate` would report them."""
        found: list[PlanValidationError] = []
        previous: int | None = None
        ids: set[TaskId] = set()
        for task in self.tasks:
            if task.id in ids or (previous is not None and task.id <= previous):
                found.append(
                    DuplicateTaskError(
                        f"task {task.id} repeats or does not increase (previous id {previous})"
                    )
                )
            ids.add(task.id)
            previous = task.id if previous is None else max(previous, task.id)
        for task in self.tasks:
            if task.is_join:
                continue
            try:
                bind_task(task, tools)
            except PlanValidationError as exc:
                found.append(exc)
        for task in self.tasks:
            missing = sorted(d for d in task.deps if d not in ids)
            if missing:
                found.append(
                    DanglingReferenceError(f"task {task.id} references missing task(s) {missing}")
                )
        cycle = _find_cycle(self.tasks)
        if cycle is not None:
            path = " -> ".join(f"${t}" for t in cycle)
            found.append(CycleError(f"dependencies form a cycle: {path}"))
        else:
            for task in self.tasks:
                later = sorted(d for d in task.deps if d in ids and d >= task.id)
                if later:
                    found.append(
                        DanglingReferenceError(
                            f"task {task.id} references later task(s) {later}; "
                            "a task may only use results of earlier tasks"
                        )
                    )
        return found

    def validate(self, tools: Mapping[str, Invocable]) -> None:
        """Check the plan is a valid DAG over ``tools``.

        Raises:
            DuplicateTaskError: an id repeats or does not increase.
            UnknownToolError: a task names a tool not in ``tools``.
            ArityError: a task's arguments do not bind to its tool's signature.
            DanglingReferenceError: a reference names a missing task, or a later one.
            CycleError: the references form a cycle (only possible in hand-built plans).
        """
        problems = self.errors(tools)
        if problems:
            raise problems[0]


def _find_cycle(tasks: tuple[Task, ...]) -> list[TaskId] | None:
    """A dependency cycle among ``tasks`` as a list of ids (first repeated at the end), or None."""
    by_id = {t.id: t for t in tasks}
    state: dict[TaskId, int] = {}  # 1 = on the stack, 2 = finished
    for root in by_id:
        if root in state:
            continue
        stack: list[tuple[TaskId, Iterator[TaskId]]] = [(root, iter(sorted(by_id[root].deps)))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif child in by_id and state.get(child) == 1:
                path = [n for n, _ in stack]
                return [*path[path.index(child) :], child]
            elif child in by_id and child not in state:
                state[child] = 1
                stack.append((child, iter(sorted(by_id[child].deps))))
    return None


_FORMS = {
    "number": r"\d+",
    "name": r"[A-Za-z_][A-Za-z0-9_]*",
}


@dataclass(frozen=True, slots=True)
class RefScope:
    """The names a ``$name`` reference may use in one call, and the task each one names.

    Attributes:
        ids: earlier names to their task ids (``{"1": 1, "2": 2}`` in a plan, ``{"c1": 1}`` in
            CML).
        form: ``"number"`` (plan task ids, ``$3``) or ``"name"`` (CML call ids, ``$c1``: an
            ASCII identifier).
    """

    ids: Mapping[str, TaskId]
    form: Literal["number", "name"] = "number"

    @classmethod
    def numbers(cls, earlier: Container[int]) -> RefScope:
        """The scope of a plan line: ``$N`` for each ``N`` in ``earlier``."""
        return cls(_NumberIds(earlier), "number")

    def fits(self, name: str) -> bool:
        """Whether ``name`` has this scope's form (``"3"`` for numbers, ``"c1"`` for names)."""
        return re.fullmatch(_FORMS[self.form], name, re.ASCII) is not None

    def lookup(self, name: str) -> TaskId | None:
        """The task ``$name`` names, or ``None`` when it is not an earlier one of this form."""
        return self.ids.get(name) if self.fits(name) else None


class _NumberIds(Mapping[str, TaskId]):
    """``{"N": N}`` for the ids of a container (no copy: plans check every line against it)."""

    def __init__(self, earlier: Container[int]) -> None:
        self._earlier = earlier

    def __getitem__(self, name: str) -> TaskId:
        if name.isascii() and name.isdigit() and len(name) < 20 and int(name) in self._earlier:
            return TaskId(int(name))
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        earlier = self._earlier
        ids = sorted(earlier) if isinstance(earlier, Iterable) else []
        return iter([str(i) for i in ids])

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _patterns(form: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    ident = _FORMS[form]
    whole = re.compile(rf"^\s*\$(?:\{{({ident})\}}|({ident}))\s*$", re.ASCII)
    anywhere = re.compile(rf"\$(?:\{{({ident})\}}|({ident}))", re.ASCII)
    return whole, anywhere


_PATTERNS = {form: _patterns(form) for form in _FORMS}
_MAGNITUDE = re.compile(
    r"\s*(?:thousand|million|billion|trillion|mn|bn|k|m|b|t|dollars?|usd)\b", re.IGNORECASE
)
_NUMBER_TAIL = re.compile(r"[\w%]|[.,]\d")


def _bare_is_reference(text: str, start: int, end: int) -> bool:
    """Rule 4 of the module docstring for a bare ``$N`` (an earlier task) at ``text[start:end]``."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "$"):
        return False
    if _NUMBER_TAIL.match(text, end):
        return False
    return _MAGNITUDE.match(text, end) is None


def _dangling(text: str, written: str, name: str, scope: RefScope) -> DanglingReferenceError:
    what = "task" if scope.form == "number" else "call"
    return DanglingReferenceError(f"{written} in {text!r} does not name an earlier {what} ({name})")


def references(text: str, scope: RefScope) -> str | Ref | Template:
    """Apply the module's reference rule to one string argument, in ``scope``.

    Returns:
        ``text`` unchanged when it holds no reference, a :class:`Ref` when the whole string is
        one, else a :class:`Template`.

    Raises:
        DanglingReferenceError: a whole-string reference or a braced ``${N}`` names no earlier
            task (or call) of the scope.
    """
    if "$" not in text:
        return text
    whole_ref, any_ref = _PATTERNS[scope.form]
    whole = whole_ref.match(text)
    if whole:
        name = whole.group(1) or whole.group(2)
        task_id = scope.lookup(name)
        if task_id is None:
            raise _dangling(text, text.strip(), name, scope)
        return Ref(task_id)
    parts: list[str | Ref] = []
    last = 0
    for match in any_ref.finditer(text):
        braced = match.group(1)
        found = scope.lookup(braced if braced is not None else match.group(2))
        if braced is not None:
            if found is None:
                raise _dangling(text, match.group(0), braced, scope)
        elif found is None or not _bare_is_reference(text, match.start(), match.end()):
            continue
        if match.start() > last:
            parts.append(text[last : match.start()])
        parts.append(Ref(found))
        last = match.end()
    if not parts:
        return text
    if last < len(text):
        parts.append(text[last:])
    return Template(tuple(parts))


def parse_references(text: str, earlier: Container[int]) -> str | Ref | Template:
    """Apply the module's reference rule to one string argument of a plan line.

    Args:
        text: the string literal's value, as written in the plan.
        earlier: ids of the tasks before the current one.

    Returns:
        ``text`` unchanged when it holds no reference, a :class:`Ref` when the whole string is
        one, else a :class:`Template`.

    Raises:
        DanglingReferenceError: a whole-string reference or a ``${N}`` names a task that is not
            earlier in the plan.
    """
    return references(text, RefScope.numbers(earlier))


def bind_task(task: Task, tools: Mapping[str, Invocable]) -> Task:
    """Check that ``task`` names a known tool and that its arguments bind to the signature.

    The tool name is looked up with :func:`~interlace._tools.find_tool` (a case difference is
    forgiven when unambiguous).

    Returns:
        ``task``, renamed to the tool's registered name when the case differed.

    Raises:
        UnknownToolError: no tool of that name.
        ArityError: the arguments do not bind to the tool's signature (checked for a
            :class:`~interlace.Tool`; other invocables check them when called).
    """
    from interlace._tools import Tool, find_tool  # _tools does not import _plan; keep it so

    found = find_tool(tools, task.tool)
    if found is None:
        if task.call_id is not None:  # the CML prompt lists the functions; keep the reply short
            raise UnknownToolError(f"unknown function {task.tool!r} ({task.title})")
        raise UnknownToolError(
            f"{task.title} calls unknown tool {task.tool!r}; known tools: {sorted(tools)}"
        )
    name, tool = found
    if isinstance(tool, Tool):  # other invocables validate their arguments when invoked
        try:
            tool.bind(task.args, task.kwargs)
        except ArityError as exc:
            raise ArityError(f"{task.title}: {exc}") from exc
    return task if name == task.tool else dataclasses.replace(task, tool=name)
