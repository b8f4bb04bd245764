"""CML grammar, token monitor (any chunking), interrupt manager, latency model."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlace._errors import CMLError
from interlace.cml import (
    BlockError,
    CallEvent,
    InterruptManager,
    TextEvent,
    TokenMonitor,
    TrapEvent,
    format_call,
    latency_model,
    parse_call,
    truncate,
)
from interlace.cml._interrupts import CallResult


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


TEXT = (
    'Sure. [CALL] job1 [HEAD] get_weather(city="Paris", days=2) [END]\n'
    '[CALL] j2 [HEAD] {"name": "f", "arguments": {"x": [1, 2]}} [END][TRAP][END] a [b] done'
)


def _events(chunks: list[str]) -> list[object]:
    monitor = TokenMonitor()
    out: list[object] = []
    for chunk in chunks:
        out += monitor.feed(chunk)
    out += monitor.close()
    merged: list[object] = []
    for ev in out:  # adjacent text events may be cut differently
        if isinstance(ev, TextEvent) and merged and isinstance(merged[-1], TextEvent):
            merged[-1] = TextEvent(text=merged[-1].text + ev.text)
        else:
            merged.append(ev)
    return merged


def test_parse_call_python_and_json() -> None:
    call = parse_call("[CALL] job1 [HEAD] math.hypot(3, y=4.0) [END]")
    assert (call.id, call.name, call.args, dict(call.kwargs)) == (
        "job1",
        "math.hypot",
        (3,),
        {"y": 4.0},
    )
    assert parse_call(format_call("c1", "f", [1], x="a")).kwargs == {"x": "a"}
    with pytest.raises(CMLError):
        parse_call("[CALL] 1x [HEAD] f() [END]")
    with pytest.raises(CMLError):
        parse_call("[CALL] a [HEAD] f(__import__('os')) [END]")


def test_monitor_events() -> None:
    events = _events([TEXT])
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["TextEvent", "CallEvent", "TextEvent", "CallEvent", "TrapEvent", "TextEvent"]
    assert isinstance(events[3], CallEvent) and events[3].call.kwargs == {"x": [1, 2]}
    assert isinstance(events[4], TrapEvent)


@settings(deadline=None)  # a loaded 2-core CI machine is no deadline's measure
@given(st.lists(st.integers(min_value=0, max_value=len(TEXT)), max_size=40))
def test_any_chunking_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [TEXT[a:b] for a, b in zip([0, *points], [*points, len(TEXT)], strict=True)]
    assert _events(chunks) == _events([TEXT])


def test_monitor_critical_section_and_model_intr() -> None:
    monitor = TokenMonitor()
    monitor.feed("x [CA")
    assert monitor.critical and not monitor.in_call
    monitor.feed("LL] a [HEAD] f(")
    assert monitor.in_call
    monitor.feed(") [END]")
    assert not monitor.critical
    events = monitor.feed("[INTR] a [HEAD] 1 [END]")
    assert isinstance(events[-1], BlockError) and monitor.violation


@pytest.mark.anyio
async def test_interrupt_manager_wakes_waiter() -> None:
    manager = InterruptManager(max_tokens=3)
    woke = anyio.Event()

    async def waiter() -> None:
        await manager.wait_for(2)
        woke.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.lowlevel.checkpoint()
        manager.put(CallResult(call_id="a", name="f", value="1"))
        await anyio.lowlevel.checkpoint()
        assert not woke.is_set()
        manager.put(CallResult(call_id="b", name="f", value="x" * 100))
    text = manager.render(manager.drain())
    assert "[INTR] a [HEAD] 1 [END]" in text and "..." in text and manager.pending == 0


def test_latency_model() -> None:
    model = latency_model([1.0, 1.0, 1.0], [3.0, 2.0, 1.0]).as_dict()
    assert model == {"sync": 9.0, "sync_parallel": 6.0, "async": 4.0}


def test_call_bodies_accept_json_literals_and_number_arithmetic_only() -> None:
    from interlace.cml._grammar import parse_call_body

    body = "f(a=true, b=[false, null], d=20*60, e=-2*3) # takes ~0.3 s"
    assert parse_call_body(body) == ("f", (), {"a": True, "b": [False, None], "d": 1200, "e": -6})
    for bad in ("f(a=x)", "f(a=10**1000)", "f(a=true+1)", "f(a=open(1))", "f(a=1e13*1e13)"):
        with pytest.raises(CMLError):
            parse_call_body(bad)


def test_truncate() -> None:
    assert truncate("abc", None) == "abc"
    assert len(truncate("x" * 400, 10)) <= 40


def test_latency_bound_of_futures_on_a_chain() -> None:
    # c1 -> c2 -> c3 (each needs the previous result), 1 s to write each, 2 s to run each.
    gen, exe, deps = [1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [(), (0,), (1,)]
    model = latency_model(gen, exe, deps=deps).as_dict()
    assert model["sync"] == 9.0
    assert model["async"] == 9.0  # without futures each dependent call is written after its input
    assert model["async_futures"] == 7.0  # written while c1 runs: 1 + 2 + 2 + 2
    assert model["async"] - model["async_futures"] <= sum(gen[1:])  # the bound
    independent = latency_model([1.0, 1.0, 1.0], [3.0, 2.0, 1.0], deps=[(), (), ()]).as_dict()
    assert independent["async_futures"] == independent["async"] == 4.0
