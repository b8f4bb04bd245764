"""A small run of the fault-injection benchmark (``benchmarks/faults.py``), and proof that it
notices a runtime that breaks its promises."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from interlace._scheduler import Succeeded

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "faults.py"


@pytest.fixture(scope="module")
def faults() -> ModuleType:
    spec = importlib.util.spec_from_file_location("interlace_faults_benchmark", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_small_fault_run_is_clean(faults: ModuleType) -> None:
    counts = await faults.run(plans=120, traces=40, seed=11, agents=0)
    assert (counts.hangs, counts.untyped, counts.lost_outcomes) == (0, 0, 0), counts.notes
    assert counts.plans == 120 and counts.traces == 40 and counts.calls > 0


@pytest.mark.anyio
async def test_whole_agents_survive_random_replies(faults: ModuleType) -> None:
    counts = await faults.run(plans=0, traces=0, seed=11, agents=60)
    assert (counts.hangs, counts.untyped, counts.lost_outcomes) == (0, 0, 0), counts.notes


async def _raw_invoke(
    tool: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], **limits: Any
) -> Any:
    """The invocation path before issue 11: the tool's exceptions escape."""
    return Succeeded(value=await tool.invoke(args, kwargs))


@pytest.mark.anyio
async def test_the_benchmark_catches_escaping_tool_exceptions(
    faults: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    import interlace._executor as executor  # CML calls run through the plan executor

    monkeypatch.setattr(executor, "invoke_tool", _raw_invoke)
    counts = await faults.run(plans=0, traces=40, seed=11)
    assert counts.untyped > 0 or counts.hangs > 0


@pytest.mark.anyio
async def test_the_benchmark_catches_wrong_outcomes(
    faults: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    import interlace._executor as executor

    real = executor.invoke_tool

    async def drops_failures(tool: Any, *args: Any, **kwargs: Any) -> Any:
        outcome = await real(tool, *args, **kwargs)
        return Succeeded(value=None) if not isinstance(outcome, Succeeded) else outcome

    monkeypatch.setattr(executor, "invoke_tool", drops_failures)
    counts = await faults.run(plans=60, traces=0, seed=11)
    assert counts.lost_outcomes > 0


def test_the_command_prints_the_counters_last(
    faults: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    status = faults.main(["--plans", "20", "--traces", "5", "--agents", "0", "--seed", "3"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert (status, last) == (0, "hangs=0 untyped=0 lost_outcomes=0")
