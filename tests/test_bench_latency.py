from __future__ import annotations

import threading
import time

import pytest

from interlace._errors import UsageError
from interlace.bench._latency import Latency, with_latency


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("spec", "kind", "a", "b", "text"),
    [
        ("real", "real", 0.0, 0.0, "real"),
        ("0.5s", "fixed", 0.5, 0.0, "0.5s"),
        ("500ms", "fixed", 0.5, 0.0, "0.5s"),
        ("0.25", "fixed", 0.25, 0.0, "0.25s"),
        ("uniform:0.2-0.8s", "uniform", 0.2, 0.8, "uniform:0.2-0.8s"),
        ("uniform: 200 - 800ms", "uniform", 0.2, 0.8, "uniform:0.2-0.8s"),
        ("normal:0.5s,0.1s", "normal", 0.5, 0.1, "normal:0.5s,0.1s"),
        ("normal:500ms,100ms", "normal", 0.5, 0.1, "normal:0.5s,0.1s"),
    ],
)
def test_parse(spec: str, kind: str, a: float, b: float, text: str) -> None:
    lat = Latency.parse(spec)
    assert (lat.kind, lat.a, lat.b) == (kind, pytest.approx(a), pytest.approx(b))
    assert str(lat) == text
    assert Latency.parse(str(lat)).kind == kind


@pytest.mark.parametrize("spec", ["fast", "uniform:0.8-0.2s", "normal:0.5s", "-1s", "1h"])
def test_parse_rejects(spec: str) -> None:
    with pytest.raises(UsageError, match="latency"):
        Latency.parse(spec)


def test_draws_are_in_range_and_seeded() -> None:
    a = [Latency.parse("uniform:0.2-0.8s", seed=3).draw() for _ in range(1)]
    lat = Latency.parse("uniform:0.2-0.8s", seed=3)
    draws = [lat.draw() for _ in range(200)]
    assert all(0.2 <= d <= 0.8 for d in draws) and draws[0] == a[0]
    normal = Latency.parse("normal:0.01s,1s")
    assert all(normal.draw() >= 0.0 for _ in range(200))


@pytest.mark.anyio
async def test_wrapper_delays_and_runs_sync_fn_off_the_loop() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def lookup(entity: str) -> str:
        """Find it."""
        seen.append(threading.get_ident())
        return entity.upper()

    wrapped = with_latency(lookup, Latency.parse("50ms"))
    start = time.monotonic()
    assert await wrapped("abc") == "ABC"
    assert time.monotonic() - start >= 0.05
    assert seen and seen[0] != loop_thread
    assert wrapped.__name__ == "lookup" and wrapped.__doc__ == "Find it."


@pytest.mark.anyio
async def test_wrapped_function_becomes_an_async_tool_with_the_same_schema() -> None:
    from interlace._tools import Tool

    def search(entity: str) -> str:
        """Look up an entity."""
        return f"page of {entity}"

    tool = Tool.from_function(with_latency(search, Latency.parse("1ms")))
    plain = Tool.from_function(search)
    assert tool.name == "search" and tool.render() == plain.render()
    assert tool.parameters == plain.parameters
    assert await tool.invoke(("X",), {}) == "page of X"
