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


# --------------------------------------------------------------------------- schemas in and out

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "city name"},
        "unit": {"type": "string", "enum": ["C", "F"], "default": "C"},
        "days": {"type": "integer"},
        "hours": {"type": "array", "items": {"type": "integer"}},
        "note": {"type": ["string", "null"]},
    },
    "required": ["days", "city"],
}


def weather(**kwargs: object) -> str:
    """A **kwargs wrapper, as generated clients and proxies are."""
    return ",".join(f"{k}={v}" for k, v in sorted(kwargs.items()))


def test_from_schema_keeps_the_schema_and_orders_required_first() -> None:
    t = Tool.from_schema("weather", "Forecast for a city.", WEATHER, weather)
    assert t.parameters == WEATHER and t.parameters is not WEATHER  # a copy, verbatim
    assert list(t.signature.parameters) == ["city", "days", "unit", "hours", "note"]
    assert t.render().startswith("weather(city: str, days: int, unit: Literal['C', 'F'] = 'C'")
    assert t.openai_schema() == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Forecast for a city.",
            "parameters": WEATHER,
        },
    }
    t.openai_schema()["function"]["parameters"]["properties"].clear()
    assert t.parameters["properties"]  # the copy handed out is not the tool's own


@pytest.mark.anyio
async def test_from_schema_validates_and_calls_with_keywords_only() -> None:
    t = Tool.from_schema("weather", "Forecast.", WEATHER, weather)
    assert await t.invoke(("Oslo", "3"), {"hours": ["1", 2]}) == "city=Oslo,days=3,hours=[1, 2]"
    assert await t.invoke(("Oslo", 1), {"note": None}) == "city=Oslo,days=1,note=None"
    with pytest.raises(ToolArgumentError, match="unit"):
        await t.invoke(("Oslo", 1), {"unit": "K"})
    with pytest.raises(ToolArgumentError, match="days"):
        await t.invoke(("Oslo", "many"), {})
    with pytest.raises(ArityError, match="city"):
        await t.invoke((), {"days": 1})


def test_from_schema_rejects_what_cannot_be_a_signature() -> None:
    with pytest.raises(UsageError, match="object"):
        Tool.from_schema("x", "", {"type": "array"}, weather)
    with pytest.raises(UsageError, match="'from'"):
        Tool.from_schema("x", "", {"type": "object", "properties": {"from": {}}}, weather)
    with pytest.raises(UsageError, match="identifier"):
        Tool.from_schema("get-x", "", {"type": "object"}, weather)
    assert Tool.from_schema("x", "", {"type": "object"}, weather).parameters == {
        "type": "object",
        "properties": {},
    }


def test_a_decorated_function_stays_callable_as_itself() -> None:
    @tool
    def double(x: int) -> int:
        """Twice x."""
        return 2 * x

    assert double(4) == 8 and double(x="ab") == "abab"  # plain call: no validation
    assert isinstance(double, Tool) and double.name == "double"
    assert Tool.from_function(double) is not None
    renamed = Tool.from_function(double, name="twice", timeout=2.0)
    assert (renamed.name, renamed.timeout, renamed.parameters) == (
        "twice",
        2.0,
        double.parameters,
    )


@pytest.mark.anyio
async def test_wrapped_keeps_name_and_schema_for_a_kwargs_wrapper() -> None:
    t = Tool.from_schema("weather", "Forecast.", WEATHER, weather)
    seen: list[dict[str, object]] = []

    async def logged(**kwargs: object) -> str:
        seen.append(kwargs)
        return weather(**kwargs)

    w = t.wrapped(logged)
    assert (w.name, w.parameters, w.render()) == (t.name, t.parameters, t.render())
    assert await w.invoke(("Rome", 2), {}) == "city=Rome,days=2"
    assert seen == [{"city": "Rome", "days": 2}]


def test_a_parameter_called_title_keeps_its_schema() -> None:
    def note(title: str, body: str = "") -> str:
        return title + body

    schema = Tool.from_function(note).parameters
    assert schema["properties"]["title"] == {"type": "string"}
    assert "title" not in schema["properties"]["body"]  # pydantic's own titles still go


@pytest.mark.anyio
async def test_wrapped_with_an_async_functools_wrapper_of_a_sync_function_is_awaited() -> None:
    import functools

    def plain(x: int) -> int:
        """Plain."""
        return x + 1

    @functools.wraps(plain)  # __wrapped__ leads to the sync function
    async def wrapper(*args: object, **kwargs: object) -> object:
        return plain(*args, **kwargs)  # type: ignore[arg-type]

    assert await Tool.from_function(plain).wrapped(wrapper).invoke((1,), {}) == 2
