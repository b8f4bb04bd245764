"""Tools from a Model Context Protocol (MCP) server, through the official ``mcp`` SDK.

An MCP server lists tools (name, description, JSON Schema of the arguments) and runs them on
request. :func:`mcp_stdio_tools` starts a server as a subprocess and talks to it over its
stdin/stdout; :func:`mcp_http_tools` connects to a running server over streamable HTTP. Both are
async context managers that yield ordinary :class:`~interlace.Tool` objects (built with
:meth:`Tool.from_schema <interlace.Tool.from_schema>`), valid while the block is open::

    async with mcp_stdio_tools("python weather_server.py") as tools:
        result = await LLMCompiler(llm, tools).run("Is it warmer in Oslo or in Rome?")

A call the server answers with ``isError`` raises :class:`~interlace.ToolExecutionError` inside
the tool, so in a run it is a failed task like any other tool error (its dependents are
skipped, the joiner sees the server's message). A tool's description is the first paragraph of
the server's, on one line (it is one line of the planner prompt). A result's value is its
structured content when the server sends one (unwrapped from ``{"result": ...}``, which is how
servers return non-object values), else its text content joined by newlines.

Needs the ``mcp`` extra: ``pip install 'interlace[mcp]'``.
"""

from __future__ import annotations

import contextlib
import keyword
import os
import re
import shlex
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlace._errors import InterlaceError, ToolExecutionError, ToolSourceError, UsageError
from interlace._tools import Tool

if TYPE_CHECKING:
    from mcp import Client

__all__ = ["mcp_http_tools", "mcp_stdio_tools"]

_NO_LIMIT = 24 * 3600.0  # seconds: the SDK's own read timeout for calls; ours is Tool.timeout
_UNSAFE = re.compile(r"\W")


@contextlib.asynccontextmanager
async def mcp_stdio_tools(
    command: str | Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - each tool call's timeout, not this one's
    connect_timeout: float = 30.0,
) -> AsyncIterator[list[Tool]]:
    """Start the MCP server ``command`` and yield its tools; the server stops with the block.

    Args:
        command: the command line, as one string (split like a shell does, without running a
            shell) or as a list of arguments: ``"python server.py"``, ``["npx", "-y", "pkg"]``.
        env: variables added to the server's environment (the SDK passes only a safe subset
            of ours, e.g. ``PATH`` and ``HOME``).
        cwd: the server's working directory (default: ours).
        timeout: seconds each tool call may take (``None``: the run's default applies).
        connect_timeout: seconds the server may take to start and list its tools.

    Yields:
        the server's tools, in the order it lists them.

    Raises:
        UsageError: the ``mcp`` extra is not installed, or ``command`` is empty.
        ToolSourceError: the server does not start, answer or list usable tools in time.
    """
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if not argv:
        raise UsageError("mcp_stdio_tools needs a command, e.g. 'python server.py'")
    mcp = _import_mcp()
    from mcp.client.stdio import stdio_client

    params = mcp.StdioServerParameters(
        command=argv[0], args=argv[1:], env=dict(env) if env else None, cwd=cwd
    )
    with _errlog() as errlog:
        transport = stdio_client(params, errlog=errlog)
        label = f"MCP server {shlex.join(argv)!r}"
        async with _connect(mcp.Client(transport, read_timeout_seconds=connect_timeout), label) as (
            client,
            listed,
        ):
            yield _tools(client, listed, label, timeout)


@contextlib.asynccontextmanager
async def mcp_http_tools(
    url: str,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - each tool call's timeout, not this one's
    connect_timeout: float = 30.0,
) -> AsyncIterator[list[Tool]]:
    """Connect to the MCP server at ``url`` (streamable HTTP) and yield its tools.

    Args:
        url: the server's endpoint, e.g. ``http://127.0.0.1:8000/mcp``.
        timeout: seconds each tool call may take (``None``: the run's default applies).
        connect_timeout: seconds the server may take to answer and list its tools.

    Yields:
        the server's tools, in the order it lists them.

    Raises:
        UsageError: the ``mcp`` extra is not installed, or ``url`` is not an http(s) URL.
        ToolSourceError: the server cannot be reached or does not list usable tools in time.
    """
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"an MCP server URL starts with http:// or https://, got {url!r}")
    mcp = _import_mcp()
    label = f"MCP server {url}"
    async with _connect(mcp.Client(url, read_timeout_seconds=connect_timeout), label) as (
        client,
        listed,
    ):
        yield _tools(client, listed, label, timeout)


def _import_mcp() -> Any:
    try:
        import mcp
    except ModuleNotFoundError as exc:
        raise UsageError(
            "tools from an MCP server need the mcp SDK: pip install 'interlace[mcp]'"
        ) from exc
    return mcp


@contextlib.contextmanager
def _errlog() -> Any:
    """Where the server's stderr goes: ours when it is a real file, else the null device."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # e.g. captured by a test runner
        with open(os.devnull, "w") as null:
            yield null
        return
    yield sys.stderr


@contextlib.asynccontextmanager
async def _connect(client: Client, label: str) -> AsyncIterator[tuple[Client, list[Any]]]:
    """Enter ``client`` and list every tool (all pages); failures become ToolSourceError.

    An exception of the ``async with`` body comes out as itself, not wrapped in the exception
    groups of the SDK's task groups.
    """
    body: BaseException | None = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(client)
                listed = await _list_tools(client)
            except InterlaceError:
                raise
            except Exception as exc:
                message = f"{label}: could not connect and list tools: {_why(exc)}"
                raise ToolSourceError(message) from exc
            try:
                yield client, listed
            except BaseException as exc:
                body = exc
                raise
    except BaseExceptionGroup as group:
        if body is not None and _leaf(group, sole=True) is body:
            raise body from body.__cause__
        raise


async def _list_tools(client: Client) -> list[Any]:
    listed: list[Any] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        listed += page.tools
        cursor = page.next_cursor
        if cursor is None:
            return listed


def _leaf(exc: BaseException, *, sole: bool = False) -> BaseException | None:
    """The first innermost exception of nested groups (with ``sole``: ``None`` if not alone)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        if sole and len(exc.exceptions) > 1:
            return None
        exc = exc.exceptions[0]
    return exc


def _why(exc: BaseException) -> str:
    """The innermost message of ``exc`` (task groups wrap the real error in groups)."""
    leaf = _leaf(exc) or exc
    return f"{type(leaf).__name__}: {leaf}" if str(leaf) else type(leaf).__name__


def _tools(client: Client, listed: Sequence[Any], label: str, timeout: float | None) -> list[Tool]:
    tools: list[Tool] = []
    names: dict[str, str] = {}
    for spec in listed:
        name = _identifier(spec.name)
        if name in names:
            raise ToolSourceError(
                f"{label}: tools {names[name]!r} and {spec.name!r} both become {name!r}"
            )
        names[name] = spec.name
        try:
            tools.append(
                Tool.from_schema(
                    name,
                    " ".join((spec.description or "").split("\n\n")[0].split()),
                    spec.input_schema,
                    _caller(client, spec.name, spec.output_schema, timeout),
                    timeout=timeout,
                )
            )
        except UsageError as exc:
            raise ToolSourceError(f"{label}: tool {spec.name!r} is not usable: {exc}") from exc
    return tools


def _identifier(name: str) -> str:
    """An identifier for a server's tool name (``get-weather`` -> ``get_weather``)."""
    safe = _UNSAFE.sub("_", name) or "_"
    if safe[0].isdigit():
        safe = "_" + safe
    return safe + "_" if keyword.iskeyword(safe) else safe


def _caller(
    client: Client, name: str, output_schema: Mapping[str, Any] | None, timeout: float | None
) -> Any:
    async def call(**arguments: Any) -> Any:
        result = await client.call_tool(
            name, arguments, read_timeout_seconds=timeout if timeout is not None else _NO_LIMIT
        )
        text = "\n".join(
            str(block.text) if block.type == "text" else f"[{block.type} content]"
            for block in result.content
        )
        if result.is_error:
            raise ToolExecutionError(f"the MCP server reported an error: {text or '(no text)'}")
        return _value(result.structured_content, output_schema, text)

    call.__name__ = call.__qualname__ = _identifier(name)
    return call


def _value(structured: Any, output_schema: Mapping[str, Any] | None, text: str) -> Any:
    if structured is None:
        return text
    props = (output_schema or {}).get("properties")
    wrapped = isinstance(props, Mapping) and set(props) == {"result"}
    if wrapped and isinstance(structured, dict) and set(structured) == {"result"}:
        return structured["result"]
    return structured
