"""Ray: benchmark fan-out over worker actors and tools run as Ray tasks, on a real local Ray.

One Ray instance (2 CPUs, no dashboard) serves the whole module. The fan-out tests load the
smallest registry model (smollm2-135m) with one thread per worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import ray
import ray.cloudpickle
from typer.testing import CliRunner

from _bench_helpers import SHARED_DATA
from interlace._errors import ToolArgumentError, ToolExecutionError, ToolTimeoutError, UsageError
from interlace._executor import ExecutionLimits, invoke_tool, run_plan
from interlace._planner import PlanEvent, PlanParser
from interlace._ray_tools import remote_tool
from interlace._scheduler import Cancelled, Failed, Skipped, Succeeded
from interlace._tools import Tool, tool
from interlace.bench._benchmarks import hotpotqa
from interlace.bench._latency import Latency
from interlace.bench._ray import RayFanOut, RayOptions
from interlace.bench._registry import RunOptions
from interlace.bench._runner import RunConfig, planned_runs
from interlace.bench._store import Store, read_records, record_key
from interlace.cli import app
from interlace.trace._spans import Span, Trace

MODEL_SPEC = "local:smollm2-135m"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    # The tool functions below are defined in this test module, which Ray's workers cannot
    # import: ship them by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


# --- tools on the cluster ---------------------------------------------------------------------


def whereami() -> int:
    """The process id of the worker the call ran in."""
    return os.getpid()


def explode(n: int) -> int:
    """Always fails.

    Args:
        n: put into the error message.
    """
    raise ValueError(f"no {n}")


def stall(seconds: float) -> float:
    """Blocks the worker for ``seconds`` (longer than its timeout)."""
    time.sleep(seconds)
    return seconds


@tool
async def echo(x: Any) -> Any:
    return x


async def plan_events(text: str) -> AsyncIterator[PlanEvent]:
    parser = PlanParser()
    for event in parser.feed(text):
        yield event
    for event in parser.close():
        yield event


def tool_spans(trace: Trace) -> dict[int | None, Span]:
    return {span.task_id: span for span in trace.spans if span.kind == "tool"}


@pytest.mark.anyio
async def test_remote_tool_runs_on_a_worker_and_its_failure_is_an_outcome(local_ray: None) -> None:
    tools = {
        "whereami": remote_tool(whereami),
        "explode": remote_tool(explode),
        "echo": echo,
    }
    trace = Trace()
    plan = "1. whereami()\n2. explode(7)\n3. echo($2)\n4. join()\n"
    report = await run_plan(plan_events(plan), tools, trace=trace)

    ran = report.records[1].outcome
    assert isinstance(ran, Succeeded)
    assert isinstance(ran.value, int) and ran.value != os.getpid()  # not this process
    spans = tool_spans(trace)
    assert spans[1].attrs["ray_pid"] == ran.value
    assert spans[1].attrs["outcome"] == "succeeded"
    assert len(spans[1].attrs["ray_node"]) > 12 and len(spans[1].attrs["ray_worker"]) > 12
    assert spans[1].attrs["ray_task"]

    failed = report.records[2].outcome
    assert isinstance(failed, Failed)
    assert isinstance(failed.error, ToolExecutionError)
    cause = failed.error.__cause__
    assert isinstance(cause, ValueError) and str(cause) == "no 7"
    assert any("Ray worker" in note for note in getattr(cause, "__notes__", ()))
    assert spans[2].attrs["outcome"] == "failed" and isinstance(spans[2].attrs["ray_pid"], int)
    assert isinstance(report.records[3].outcome, Skipped)  # its dependency failed


@pytest.mark.anyio
async def test_remote_tool_through_invoke_tool_the_react_and_cml_path(local_ray: None) -> None:
    outcome = await invoke_tool(remote_tool(explode), (3,), {}, timeout=30.0)
    assert isinstance(outcome, Failed) and isinstance(outcome.error, ToolExecutionError)
    assert isinstance(outcome.error.__cause__, ValueError)
    bad = await invoke_tool(remote_tool(explode), ("three",), {}, timeout=30.0)
    assert isinstance(bad, Failed) and isinstance(bad.error, ToolArgumentError)  # checked here


@pytest.fixture
def cancel_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, bool]]:
    """Every ``ray.cancel(ref, force=...)`` call, as ``(ref, force)`` (Ray still cancels)."""
    calls: list[tuple[Any, bool]] = []
    real_cancel = ray.cancel

    def spy(ref: Any, *, force: bool = False, recursive: bool = True) -> None:
        calls.append((ref, force))
        real_cancel(ref, force=force, recursive=recursive)

    monkeypatch.setattr(ray, "cancel", spy)
    return calls


def assert_cancelled(calls: list[tuple[Any, bool]]) -> Any:
    """One forced cancel, and the task really stopped (``stall(120)`` did not finish)."""
    assert len(calls) == 1 and calls[0][1] is True  # ray.cancel(ref, force=True)
    ref = calls[0][0]
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(ref, timeout=60)
    return ref


@pytest.mark.anyio
async def test_remote_tool_timeout_cancels_the_ray_task(
    local_ray: None, cancel_calls: list[tuple[Any, bool]]
) -> None:
    slow = remote_tool(Tool.from_function(stall, timeout=1.0))
    trace = Trace()
    report = await run_plan(plan_events("1. stall(120)\n2. join()\n"), {"stall": slow}, trace=trace)

    outcome = report.records[1].outcome
    assert isinstance(outcome, Failed) and isinstance(outcome.error, ToolTimeoutError)
    ref = assert_cancelled(cancel_calls)
    attrs = tool_spans(trace)[1].attrs
    assert attrs["ray_cancelled"] is True and attrs["ray_task"] == ref.task_id().hex()


@pytest.mark.anyio
async def test_remote_tool_cancelled_with_the_run(
    local_ray: None, cancel_calls: list[tuple[Any, bool]]
) -> None:
    limits = ExecutionLimits(default_timeout=None, cancel_after=3.0)  # no per-call timeout
    plan = plan_events("1. stall(120)\n2. join()\n")
    report = await run_plan(plan, {"stall": remote_tool(stall)}, limits=limits)

    assert report.cancelled and isinstance(report.records[1].outcome, Cancelled)
    assert_cancelled(cancel_calls)


def test_remote_tool_misuse_is_a_usage_error() -> None:
    async def fetch(url: str) -> str:
        return url

    with pytest.raises(UsageError, match="async"):
        remote_tool(fetch)
    with pytest.raises(UsageError, match="num_cpu"):
        remote_tool(whereami, options={"num_cpu": 1})
    assert remote_tool(options={"num_cpus": 1})(whereami).name == "whereami"  # decorator form


def test_ray_is_imported_only_when_used() -> None:
    code = (
        "import sys, interlace, interlace.cli, interlace.bench._ray, interlace._ray_tools\n"
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_bench_ray_misuse_is_a_usage_error(tmp_path: Path) -> None:
    store = tmp_path / "never.jsonl"
    base = ["bench", "hotpotqa", "--data-dir", str(SHARED_DATA), "--store", str(store)]
    two_llms = ["--llm", "local", "--llm", "local:smollm2-135m"]
    result = CliRunner().invoke(app, [*base, *two_llms])
    assert result.exit_code == 2 and "need --ray" in result.output
    questions = tmp_path / "q.json"
    questions.write_text(json.dumps([{"id": "a", "question": "Is 2 > 1?", "answer": "yes"}]))
    custom = ["bench", "custom", "--questions", str(questions), "--store", str(store)]
    mcp = CliRunner().invoke(app, [*custom, "--ray", "local", "--mcp", "python server.py"])
    assert mcp.exit_code == 2 and "cannot go to Ray workers" in mcp.output
    assert not store.exists()  # nothing started, no empty store left behind
    with pytest.raises(UsageError, match="one spec per worker"):
        RayOptions(llm_specs=("local", "local:smollm2-135m"), workers=3)
    with pytest.raises(UsageError, match="workers"):
        RayOptions(workers=0)


# --- benchmark fan-out ------------------------------------------------------------------------


def _records(path: Path) -> list[dict[str, Any]]:
    return list(read_records(path))


@pytest.mark.slow
def test_bench_fan_out_writes_one_record_per_question_and_method(
    local_ray: None, tmp_path: Path
) -> None:
    store = tmp_path / "fan.jsonl"
    args = [
        "bench", "hotpotqa", "--limit", "2", "--methods", "compiler,react",
        "--llm", MODEL_SPEC, "--threads", "1", "--data-dir", str(SHARED_DATA),
        "--store", str(store), "--ray", "local", "--ray-workers", "2",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = _records(store)
    pairs = Counter((r["question_id"], r["method"]) for r in records)
    assert len(pairs) == 4 and set(pairs.values()) == {1}
    assert {m for _, m in pairs} == {"compiler", "react"}
    for record in records:
        assert record["config"]["llm"] == MODEL_SPEC and record["config"]["threads"] == 1
        assert record["config"]["ray"]["address"] == "local"
        assert record["config"]["ray"]["workers"] == 2
        assert record["llm_calls"] >= 1 and record["trace"]["spans"]
    assert {r["config"]["ray"]["worker"] for r in records} == {0, 1}  # both workers answered

    again = CliRunner().invoke(app, args)  # resume: nothing left to do
    assert again.exit_code == 0, again.output
    assert "wrote 0 records" in again.output
    assert len(_records(store)) == 4


class _DriverStopped(Exception):
    """Raised from on_record to stop the driver the way a killed one stops: mid-run."""


@pytest.mark.slow
def test_killed_worker_then_resume_loses_and_duplicates_nothing(
    local_ray: None, tmp_path: Path
) -> None:
    config = RunConfig(
        benchmark=hotpotqa,
        methods=("compiler",),
        llm_spec=MODEL_SPEC,
        options=RunOptions(data_dir=SHARED_DATA, tool_latency=Latency()),
    )
    questions = hotpotqa.load(SHARED_DATA)[:4]
    options = RayOptions(llm_specs=(MODEL_SPEC,), workers=2, threads=1)
    path = tmp_path / "kill.jsonl"
    first = RayFanOut(config, options)
    killed: list[int] = []

    def on_record(record: dict[str, Any]) -> None:
        worker = record["config"]["ray"]["worker"]
        if not killed:  # the other worker is busy with its own question: kill it mid-run
            killed.append(1 - worker)
            ray.kill(first.actors[1 - worker])
        elif (record["question_id"], record["method"]) in first.retried:
            assert worker != killed[0]  # the lost question, re-run by the surviving worker
            raise _DriverStopped

    with pytest.raises(_DriverStopped):
        anyio.run(lambda: first.run(questions, Store(path), on_record=on_record))
    assert first.lost == killed and len(first.retried) == 1
    done = _records(path)
    assert 2 <= len(done) <= 4  # 4 only if the killed worker had just answered (a close race)

    skipped: list[dict[str, Any]] = []
    resumed = RayFanOut(config, options)
    written = anyio.run(lambda: resumed.run(questions, Store(path), on_skip=skipped.append))
    assert written == 4 - len(done) and len(skipped) == len(done)
    keys = Counter(record_key(r) for r in _records(path))
    expected = {
        record_key({"benchmark": "hotpotqa", "method": m, "question_id": q.id, "config": c})
        for q, m in planned_runs(config, questions)
        for c in [config.config_for(m, "")]
    }
    assert set(keys) == expected and set(keys.values()) == {1}  # nothing lost, nothing twice
    assert all(r["config"]["ray"]["workers"] == 2 for r in _records(path))
