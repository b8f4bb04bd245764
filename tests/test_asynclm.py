"""AsyncLM and the sync baselines on a scripted LLM: calls overlap decoding only for async."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import pytest

from interlace._errors import UsageError
from interlace.agents._asynclm import AsyncLM
from interlace.agents._sync import SyncCalling
from interlace.testing import ScriptedLLM

REPLY = (
    "[CALL] c1 [HEAD] slow(x=1) [END] [CALL] c2 [HEAD] slow(x=2) [END] "
    "thinking about it while the calls run [TRAP][END] done"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Slow:
    name = "slow"

    def __init__(self, seconds: float = 0.2) -> None:
        self.started: list[float] = []
        self.seconds = seconds

    async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        self.started.append(anyio.current_time())
        await anyio.sleep(self.seconds)
        return {"x": kwargs["x"]}


def _llm() -> ScriptedLLM:
    return ScriptedLLM(lambda m: REPLY if m[-1].role == "user" else " ok", tpot=0.01)


@pytest.mark.anyio
async def test_async_overlaps_calls_and_records_them() -> None:
    tool = Slow(3.0)  # far longer than writing the second call, even on a loaded machine
    result = await AsyncLM(_llm(), [tool]).run("q")
    assert result.method == "async-naive"
    assert [c["arguments"] for c in result.details["calls"]] == [{"x": 1}, {"x": 2}]
    first, second = sorted(
        (s for s in result.trace.spans if s.kind == "tool"), key=lambda s: s.start
    )
    assert second.start < first.end  # the two calls overlap each other (and decoding)
    assert "[INTR] c1 [HEAD]" in result.details["text"]
    assert {s.kind for s in result.trace.spans} >= {"tool", "interrupt", "llm"}


@pytest.mark.anyio
async def test_sync_waits_for_each_call() -> None:
    tool = Slow()
    result = await SyncCalling(_llm(), [tool]).run("q")
    assert result.method == "sync"
    assert result.latency >= 0.2
    assert len(tool.started) == 1  # after the first result the script answers " ok"


@pytest.mark.anyio
async def test_sync_parallel_starts_calls_together() -> None:
    tool = Slow()
    result = await SyncCalling(_llm(), [tool], parallel=True).run("q")
    assert result.method == "sync-parallel" and len(tool.started) == 2
    assert abs(tool.started[1] - tool.started[0]) < 0.05
    assert any(s.kind == "trap" for s in result.trace.spans)


@pytest.mark.anyio
async def test_errors_and_unknown_functions_become_interrupts() -> None:
    llm = ScriptedLLM(
        lambda m: "[CALL] a [HEAD] nope() [END]" if m[-1].role == "user" else " fine", tpot=0.0
    )
    result = await AsyncLM(llm, [Slow()]).run("q")
    assert (
        "unknown function" in result.details["text"] and result.details["calls"][0]["ok"] is False
    )


@pytest.mark.anyio
async def test_user_interrupt_is_injected() -> None:
    llm = ScriptedLLM(lambda m: "hello there" if m[-1].role == "user" else " bye", tpot=0.0)
    agent = AsyncLM(llm, [Slow()])
    agent.interrupt("stop please")
    result = await agent.run("q")
    assert "[INTR] user [HEAD] stop please [END]" in result.details["text"]


@pytest.mark.anyio
async def test_answer_is_the_calls_when_the_model_writes_no_prose() -> None:
    only_calls = "[CALL] c1 [HEAD] slow(x=1) [END]\n[CALL] c2 [HEAD] slow(x=2 * 3) [END]"
    llm = ScriptedLLM(lambda m: only_calls if m[-1].role == "user" else "", tpot=0.0)
    result = await AsyncLM(llm, [Slow()]).run("q")
    assert result.answer == only_calls  # non-empty: the bench runner scores only answered runs
    assert result.details["calls"][1]["arguments"] == {"x": 6}  # number arithmetic is folded
    prose = await AsyncLM(_llm(), [Slow()]).run("q")
    assert prose.answer.startswith("thinking") and "[CALL]" not in prose.answer


def _agent(llm: ScriptedLLM, tool: Slow, parallel: bool | None) -> AsyncLM:
    """``async`` (``parallel=None``), ``sync`` (False) or ``sync-parallel`` (True)."""
    if parallel is None:
        return AsyncLM(llm, [tool])
    return SyncCalling(llm, [tool], parallel=parallel)


LOOPING = "[CALL] c1 [HEAD] slow(x=1) [END] [CALL] c2 [HEAD] slow(x='1') [END] [TRAP][END]"


def _looping(m: Any) -> str:
    """First request: two calls (1 and '1' differ). Continuations: repeat c1, then a new call."""
    if m[-1].role == "user":
        return LOOPING
    if "c4" in m[-1].content:
        return " done"
    if "c2" not in m[-1].content:  # sync: the first result came back after c1
        return LOOPING[LOOPING.index(" [CALL] c2") :]
    return " [CALL] c3 [HEAD] slow(x=1) [END] [CALL] c4 [HEAD] slow(x=3) [END]"


@pytest.mark.anyio
@pytest.mark.parametrize("parallel", [None, False, True])
async def test_a_repeated_call_is_not_run_and_ends_the_generation(parallel: bool | None) -> None:
    tool = Slow()
    llm = ScriptedLLM(_looping, tpot=0.0)
    agent = _agent(llm, tool, parallel)
    result = await agent.run("q")
    assert [c["arguments"] for c in result.details["calls"]] == [{"x": 1}, {"x": "1"}]
    assert len(tool.started) == 2  # neither the repeat (c3) nor what follows it (c4) ran
    assert result.details["finish"] == "repeat"
    assert result.details["repeats"] == ["[CALL] c3 [HEAD] slow(x=1) [END]"]
    assert any("repeated call" in e for e in result.errors)
    assert "c4" not in result.details["text"]


@pytest.mark.anyio
async def test_repeats_allowed_run_every_call() -> None:
    tool = Slow()
    result = await AsyncLM(ScriptedLLM(_looping, tpot=0.0), [tool], repeats="allow").run("q")
    assert [c["arguments"]["x"] for c in result.details["calls"]] == [1, "1", 1, 3]
    assert len(tool.started) == 4 and result.details["finish"] == "stop"
    with pytest.raises(UsageError, match="repeats"):
        await AsyncLM(ScriptedLLM(_looping), [tool], repeats="never").run("q")  # type: ignore[arg-type]


def _malformed_then_fixed(m: Any) -> str:
    if m[-1].role == "user":
        return "[CALL] c1 [HEAD] slow(x=tmp) [END]"
    if "malformed call" in m[-1].content and "c2" not in m[-1].content:
        return " [CALL] c2 [HEAD] slow(x=2) [END]"
    return " done"


@pytest.mark.anyio
@pytest.mark.parametrize("parallel", [None, False, True])
async def test_a_malformed_call_gets_an_error_interrupt(parallel: bool | None) -> None:
    tool = Slow()
    llm = ScriptedLLM(_malformed_then_fixed, tpot=0.0)
    agent = _agent(llm, tool, parallel)
    result = await agent.run("q")
    text = result.details["text"]
    assert "[INTR] c1 [HEAD] error: malformed call: argument 'tmp' is not a literal value" in text
    assert [c["arguments"] for c in result.details["calls"]] == [{"x": 2}]  # only real calls
    assert len(tool.started) == 1 and result.details["finish"] == "stop"


@pytest.mark.anyio
async def test_a_repeated_malformed_call_ends_the_generation() -> None:
    looping = ScriptedLLM(lambda m: " [CALL] c9 [HEAD] slow(x=tmp) [END]", tpot=0.0)
    result = await AsyncLM(looping, [Slow()]).run("q")
    assert result.details["finish"] == "repeat"
    assert result.details["text"].count("[CALL]") == 2


class Capital:
    name = "capital"

    async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        if kwargs["country"] == "Atlantis":
            raise LookupError("no such country")
        return "Lima"


class Weather:
    name = "weather"

    def __init__(self) -> None:
        self.cities: list[Any] = []

    async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        self.cities.append(kwargs["city"])
        return f"sunny in {kwargs['city']}"


FUTURE = (
    '[CALL] c1 [HEAD] capital(country="{country}") [END] '
    "[CALL] c2 [HEAD] weather(city=$c1) [END] [TRAP][END]"
)


@pytest.mark.anyio
@pytest.mark.parametrize("policy", ["async", "sync-parallel"])
async def test_a_future_runs_when_its_input_succeeds(policy: Any) -> None:
    weather = Weather()
    llm = ScriptedLLM(lambda m: FUTURE.format(country="Peru") if m[-1].role == "user" else "")
    agent = AsyncLM(llm, [Capital(), weather], futures=True, policy=policy)
    result = await agent.run("q")
    assert weather.cities == ["Lima"]  # the tool got c1's value, not the text "$c1"
    assert "[INTR] c2 [HEAD] sunny in Lima [END]" in result.details["text"]
    assert result.details["calls"][1]["arguments"] == {"city": "Lima"}
    spans = {s.task_id: s for s in result.trace.spans if s.kind == "tool"}
    assert spans[2].deps == (1,) and spans[2].start >= spans[1].end
    assert "$c1" in agent.messages("q")[0].content  # the prompt tells the model
    assert result.method == (
        "async-naive-futures" if policy == "async" else "sync-parallel-futures"
    )


@pytest.mark.anyio
async def test_a_future_whose_input_fails_is_skipped_with_a_reason() -> None:
    weather = Weather()
    llm = ScriptedLLM(lambda m: FUTURE.format(country="Atlantis") if m[-1].role == "user" else "")
    result = await AsyncLM(llm, [Capital(), weather], futures=True).run("q")
    assert weather.cities == []
    assert (
        "[INTR] c2 [HEAD] error: skipped: it needs $c1, which failed [END]"
        in result.details["text"]
    )
    assert result.details["calls"][1] == {**result.details["calls"][1], "ran": False, "ok": False}
    assert result.details["calls"][1]["arguments"] == {"city": "$c1"}


@pytest.mark.anyio
async def test_without_futures_a_reference_is_a_malformed_call() -> None:
    weather = Weather()
    llm = ScriptedLLM(lambda m: FUTURE.format(country="Peru") if m[-1].role == "user" else "")
    result = await AsyncLM(llm, [Capital(), weather]).run("q")
    assert weather.cities == [] and "malformed call" in result.details["text"]
