"""Tool: schema from signature/docstring, validation, threads, errors, timeouts."""

from __future__ import annotations

import threading

import anyio
import anyio.lowlevel
import pytest

from interlace._errors import (
    ArityError,
    ToolArgumentError,
    ToolExecutionError,
    ToolTimeoutError,
    UsageError,
)
from interlace._tools import Tool, find_tool, tool


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def search(query: str, k: int = 3, *, lang: str = "en") -> str:
    """Search the web for a query.

    Args:
        query: what to look for,
            possibly long.
        k (int): how many results.
        lang: language code.

    Returns:
        The text of the results.
    """
    return f"{query}|{k}|{lang}"


def test_schema_from_signature_and_docstring() -> None:
    t = Tool.from_function(search, examples=['1. search("x")'])
    assert t.name == "search"
    assert t.description == "Search the web for a query."
    assert t.parameters == {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "what to look for, possibly long."},
            "k": {"type": "integer", "default": 3, "description": "how many results."},
            "lang": {"type": "string", "default": "en", "description": "language code."},
        },
        "required": ["query"],
    }
    assert t.examples == ('1. search("x")',)
    assert t.render() == (
        "search(query: str, k: int = 3, lang: str = 'en') - Search the web for a query."
    )


def test_decorator_forms_and_overrides() -> None:
    @tool
    async def a(x: float) -> float:
        return x

    @tool(name="bee", description="does b", timeout=1.5)
    def b() -> None:
        """Ignored docstring."""

    assert (
        isinstance(a, Tool)
        and a.name == "a"
        and a.parameters["properties"]["x"]["type"] == ("number")
    )
    assert (b.name, b.description, b.timeout) == ("bee", "does b", 1.5)
    assert b.parameters["properties"] == {}


def test_parameter_names_that_clash_with_pydantic_are_fine() -> None:
    def f(schema: str, json: int, model_config: bool = False) -> str:
        return schema

    t = Tool.from_function(f)
    assert set(t.parameters["properties"]) == {"schema", "json", "model_config"}


def test_bad_definitions_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        Tool.from_function(lambda: 1)  # name "<lambda>" is not an identifier
    with pytest.raises(UsageError):
        Tool.from_function(42)  # type: ignore[arg-type]


def test_bind_arity() -> None:
    t = Tool.from_function(search)
    assert t.bind(("q",), {"lang": "fr"}) == {"query": "q", "lang": "fr"}
    for args, kwargs in [
        ((), {}),
        (("q", 1, 2), {}),
        (("q",), {"nope": 1}),
        (("q",), {"query": 1}),
    ]:
        with pytest.raises(ArityError):
            t.bind(args, kwargs)


@pytest.mark.anyio
async def test_invoke_validates_lax_and_names_the_argument() -> None:
    t = Tool.from_function(search)
    assert await t.invoke(("q", "5"), {}) == "q|5|en"  # lax: "5" -> 5 (documented)
    with pytest.raises(ToolArgumentError) as info:
        await t.invoke(("q", "many"), {})
    message = str(info.value)
    assert "'search'" in message and "'k'" in message and "int" in message


@pytest.mark.anyio
async def test_sync_tool_runs_in_a_worker_thread() -> None:
    loop_thread = threading.get_ident()

    @tool
    def where() -> int:
        return threading.get_ident()

    assert await where.invoke((), {}) != loop_thread


@pytest.mark.anyio
async def test_sync_tool_does_not_block_the_event_loop() -> None:
    release = threading.Event()

    @tool
    def blocking() -> str:
        assert release.wait(5)
        return "done"

    async with anyio.create_task_group() as tg:
        results: list[str] = []

        async def run() -> None:
            results.append(await blocking.invoke((), {}))

        tg.start_soon(run)
        await anyio.lowlevel.checkpoint()  # the loop runs on while the tool blocks its thread
        release.set()
    assert results == ["done"]


@pytest.mark.anyio
async def test_exceptions_become_tool_execution_error_with_cause() -> None:
    @tool
    async def bad() -> None:
        raise KeyError("k")

    @tool
    def bad_sync() -> None:
        raise TimeoutError("the tool's own timeout is not ours")

    with pytest.raises(ToolExecutionError) as info:
        await bad.invoke((), {})
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(ToolExecutionError) as info2:
        await bad_sync.invoke((), {})
    assert isinstance(info2.value.__cause__, TimeoutError)


@pytest.mark.anyio
async def test_timeouts_async_and_sync() -> None:
    never = anyio.Event()
    stop = threading.Event()

    @tool(timeout=0.05)
    async def hang() -> None:
        await never.wait()

    @tool
    def hang_sync() -> None:
        stop.wait(5)

    with anyio.fail_after(3):
        with pytest.raises(ToolTimeoutError, match="hang"):
            await hang.invoke((), {})
        with pytest.raises(ToolTimeoutError):
            await hang_sync.invoke((), {}, timeout=0.05)  # the thread is abandoned
    stop.set()


def test_find_tool_folds_case_only_when_unambiguous() -> None:
    def search(entity: str) -> str:
        return entity

    one = Tool.from_function(search)
    assert find_tool({"search": one}, "search") == ("search", one)
    assert find_tool({"search": one}, "Search") == ("search", one)
    assert find_tool({"search": one}, "lookup") is None
    other = Tool.from_function(search, name="SEARCH")
    assert find_tool({"search": one, "SEARCH": other}, "Search") is None
