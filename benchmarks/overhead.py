"""Scheduler + executor overhead per task, with no-op async tools.

Two plan shapes of 1,000 tasks each: *wide* (all independent) and *chain* (task k references
task k-1). Each shape runs several times with trace recording off and on; the figure is the
wall time of ``run_plan`` divided by the number of tasks, in microseconds. The tools do no work,
so this is the cost of parsing nothing but dispatch, argument resolution, validation, the
timeout scope, the concurrency limiter and bookkeeping.

Two clocks are reported: wall time (``time.perf_counter``) and this process's CPU time
(``time.process_time``). The tools do no work and nothing sleeps, so on an idle machine the two
agree; on a shared machine wall time also counts the time other processes held the CPU, so the
headline figure is the CPU time.

Run: ``python benchmarks/overhead.py``. The last line is ``overhead_us_per_task=<median>``:
the median CPU microseconds per task over all repetitions of both shapes, trace off.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio

from interlace._executor import ExecutionLimits, run_plan
from interlace._plan import Ref, Task, TaskId
from interlace._planner import EndOfPlan, PlanEvent, TaskParsed
from interlace._tools import Tool
from interlace.trace._spans import Trace

N_TASKS = 1_000
REPETITIONS = 7


async def noop(x: Any = None) -> Any:
    """Do nothing; return the argument."""
    return x


TOOLS = {"noop": Tool.from_function(noop)}


def wide() -> list[Task]:
    return [Task(id=TaskId(i), tool="noop") for i in range(1, N_TASKS + 1)]


def chain() -> list[Task]:
    tasks = [Task(id=TaskId(1), tool="noop", args=(0,))]
    for i in range(2, N_TASKS + 1):
        tasks.append(Task(id=TaskId(i), tool="noop", args=(Ref(TaskId(i - 1)),)))
    return tasks


async def events(tasks: list[Task]) -> AsyncIterator[PlanEvent]:
    for task in tasks:
        yield TaskParsed(task=task)
    yield EndOfPlan()


async def measure(tasks: list[Task], traced: bool) -> tuple[float, float]:
    """(wall, CPU) microseconds per task for one run."""
    limits = ExecutionLimits(max_concurrency=64)
    trace = Trace() if traced else None
    wall, cpu = time.perf_counter(), time.process_time()
    report = await run_plan(events(tasks), TOOLS, limits=limits, trace=trace)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert len(report.values) == len(tasks), "every no-op task must succeed"
    assert trace is None or len(trace.spans) == len(tasks)
    return wall / len(tasks) * 1e6, cpu / len(tasks) * 1e6


async def main() -> None:
    shapes = {"wide": wide(), "chain": chain()}
    results: dict[tuple[str, bool], list[tuple[float, float]]] = {}
    await measure(shapes["wide"], False)  # warm-up (imports, pydantic caches)
    for _ in range(REPETITIONS):
        for name, tasks in shapes.items():
            for traced in (False, True):
                results.setdefault((name, traced), []).append(await measure(tasks, traced))
    for name in shapes:
        for clock, index in (("wall", 0), ("cpu", 1)):
            off = [r[index] for r in results[(name, False)]]
            on = [r[index] for r in results[(name, True)]]
            off_median, on_median = statistics.median(off), statistics.median(on)
            print(
                f"{name:5s} {N_TASKS} tasks x {REPETITIONS} reps, {clock:4s}: "
                f"trace off median {off_median:6.1f} us/task (min {min(off):6.1f}), "
                f"trace on median {on_median:6.1f} us/task (min {min(on):6.1f}), "
                f"tracing overhead {100 * (on_median - off_median) / off_median:+.1f}% "
                f"(by min {100 * (min(on) - min(off)) / min(off):+.1f}%)"
            )
    all_off = [r[1] for name in shapes for r in results[(name, False)]]
    print(f"overhead_us_per_task={statistics.median(all_off):.1f}")


if __name__ == "__main__":
    anyio.run(main)
