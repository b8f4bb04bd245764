"""Scheduler (sans-I/O task fetching unit): unit behaviour and random-DAG properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlace._errors import DuplicateTaskError, PlanParseError, ToolExecutionError, UsageError
from interlace._plan import Ref, Task, TaskId
from interlace._scheduler import Cancelled, Failed, Scheduler, Skipped, Succeeded


def T(i: int, *deps: int) -> Task:
    return Task(id=TaskId(i), tool="f", args=tuple(Ref(TaskId(d)) for d in deps))


def ids(tasks: list[Task]) -> list[int]:
    return [t.id for t in tasks]


def test_ready_on_dependency_resolution() -> None:
    s = Scheduler()
    s.add(T(1))
    s.add(T(2))
    s.add(T(3, 1, 2))
    assert ids(s.ready()) == [1, 2]
    assert s.ready() == []
    s.complete(TaskId(1), Succeeded(value="a"))
    assert s.ready() == []
    s.complete(TaskId(2), Succeeded(value="b"))
    assert ids(s.ready()) == [3]
    assert not s.done
    s.complete(TaskId(3), Succeeded(value="c"))
    assert not s.done  # not closed yet: more tasks may come
    s.close()
    assert s.done and set(s.outcomes) == {1, 2, 3}


def test_task_added_after_its_dependency_succeeded_is_ready_at_once() -> None:
    s = Scheduler()
    s.add(T(1))
    s.ready()
    s.complete(TaskId(1), Succeeded(value=1))
    s.add(T(2, 1))
    assert ids(s.ready()) == [2]


def test_failure_skips_dependents_transitively() -> None:
    s = Scheduler()
    for task in (T(1), T(2, 1), T(3, 2), T(4)):
        s.add(task)
    s.ready()
    error = ToolExecutionError("boom")
    s.complete(TaskId(1), Failed(error=error))
    assert s.outcomes[TaskId(2)] == Skipped(
        reason="dependency $1 failed: ToolExecutionError: boom", cause=TaskId(1)
    )
    skipped3 = s.outcomes[TaskId(3)]
    assert isinstance(skipped3, Skipped) and skipped3.cause == 2 and "$1" in skipped3.reason
    s.add(T(5, 3))  # late arrival depending on a skipped task: skipped at once
    assert isinstance(s.outcomes[TaskId(5)], Skipped)
    assert TaskId(4) not in s.outcomes


def test_line_error_fails_the_id_and_skips_dependents() -> None:
    s = Scheduler()
    s.add(T(2, 1))
    s.fail_line(TaskId(1), PlanParseError("bad", line="1. f(", task_id=1))
    assert isinstance(s.outcomes[TaskId(1)], Failed)
    assert isinstance(s.outcomes[TaskId(2)], Skipped)
    with pytest.raises(DuplicateTaskError):
        s.add(T(1))


def test_reference_that_never_appears_is_skipped_at_close() -> None:
    s = Scheduler()
    s.add(T(2, 7))
    assert s.ready() == []
    s.close()
    outcome = s.outcomes[TaskId(2)]
    assert isinstance(outcome, Skipped) and outcome.cause == 7
    assert s.done


def test_cycles_are_skipped_once_nothing_can_run() -> None:
    s = Scheduler()
    s.add(T(1, 2))
    s.add(T(2, 1))
    s.add(T(3))
    s.add(T(4, 4))
    assert ids(s.ready()) == [3]
    s.close()
    assert not s.done  # 3 is still running: cycles are decided only when nothing can run
    s.complete(TaskId(3), Succeeded(value=None))
    assert s.done
    for i in (1, 2, 4):
        outcome = s.outcomes[TaskId(i)]
        assert isinstance(outcome, Skipped) and "cycle" in outcome.reason


def test_cancel_marks_every_unfinished_task() -> None:
    s = Scheduler()
    for task in (T(1), T(2, 1), T(3)):
        s.add(task)
    s.ready()
    s.complete(TaskId(3), Succeeded(value=3))
    assert s.cancel() == [1, 2]
    assert s.outcomes == {
        1: Cancelled(),
        2: Cancelled(),
        3: Succeeded(value=3),
    }
    assert s.done


def test_misuse_is_a_usage_error() -> None:
    s = Scheduler()
    s.add(T(1))
    with pytest.raises(DuplicateTaskError):
        s.add(T(1))
    with pytest.raises(UsageError):
        s.complete(TaskId(9), Succeeded(value=0))
    s.complete(TaskId(1), Succeeded(value=0))  # failing early (before ready()) is allowed
    with pytest.raises(UsageError):
        s.complete(TaskId(1), Succeeded(value=0))
    with pytest.raises(UsageError):
        s.add(Task(id=TaskId(2), tool="join"))
    s.close()
    with pytest.raises(UsageError):
        s.add(T(3))


# -- properties over random DAGs and random interleavings ---------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> list[Task]:
    n = draw(st.integers(min_value=0, max_value=25))
    tasks: list[Task] = []
    for i in range(1, n + 1):
        # mostly earlier tasks, sometimes a later or missing id (hand-built streams)
        deps = draw(st.lists(st.integers(min_value=1, max_value=n + 2), max_size=3))
        if not draw(st.booleans()):
            deps = [d for d in deps if d < i]
        tasks.append(T(i, *deps))
    return tasks


@settings(max_examples=300, deadline=None)
@given(tasks=dags(), data=st.data())
def test_random_runs_terminate_with_one_outcome_each(
    tasks: list[Task], data: st.DataObject
) -> None:
    s = Scheduler()
    pending = list(tasks)
    running: list[Task] = []
    started: set[int] = set()
    succeeded: set[int] = set()
    first_outcome: dict[int, object] = {}
    for _ in range(10 * len(tasks) + 10):  # bounded: the run must end well within this
        if s.done:
            break
        options = ["add"] * bool(pending) + ["finish"] * bool(running)
        if not options:
            s.close()
            continue
        if data.draw(st.sampled_from(options)) == "add":
            s.add(pending.pop(0))
        else:
            task = running.pop(data.draw(st.integers(0, len(running) - 1)))
            ok = data.draw(st.integers(0, 4)) > 0
            s.complete(
                task.id, Succeeded(value=task.id) if ok else Failed(error=ToolExecutionError("x"))
            )
            if ok:
                succeeded.add(task.id)
        for task in s.ready():
            assert task.id not in started
            assert task.deps <= succeeded  # never before every dependency succeeded
            started.add(task.id)
            running.append(task)
        for key, value in s.outcomes.items():  # an outcome, once given, never changes
            assert first_outcome.setdefault(key, value) is value
    assert s.done
    assert set(s.outcomes) == {t.id for t in tasks}
    for task in tasks:
        outcome = s.outcomes[task.id]
        if isinstance(outcome, Skipped):
            assert task.id not in started
            assert outcome.cause is None or outcome.cause in task.deps
        else:
            assert task.id in started
