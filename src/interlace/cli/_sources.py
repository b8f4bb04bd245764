"""Your tools on the command line: ``--tools MODULE:ATTR``, ``--mcp COMMAND``, ``--mcp-url URL``.

Shared by ``interlace run``, ``interlace bench custom`` and ``interlace tools list`` (defined
here). ``MODULE:ATTR`` names a Python module (``my_tools`` on ``sys.path`` or the current
directory, or a file ``path/to/tools.py``) and an attribute in it: a :class:`~interlace.Tool`,
a plain function (made a tool from its signature and docstring), a LangChain ``BaseTool``, or
a list/tuple of those.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.markup import escape

from interlace._errors import InterlaceError, UsageError
from interlace._tools import Tool
from interlace.cli import app
from interlace.cli._common import fail

ToolSpecs = Annotated[
    list[str] | None,
    typer.Option(
        "--tools",
        help="Your tools: MODULE:ATTR naming a Tool, a function, a LangChain tool or a list of "
        "them (my_tools:TOOLS, ./tools.py:search). Repeatable.",
        show_default=False,
    ),
]
MCPCommands = Annotated[
    list[str] | None,
    typer.Option(
        "--mcp",
        help='Tools of an MCP server started as a subprocess (stdio): "python server.py". '
        "Repeatable.",
        show_default=False,
    ),
]
MCPURLs = Annotated[
    list[str] | None,
    typer.Option(
        "--mcp-url",
        help="Tools of a running MCP server (streamable HTTP): http://127.0.0.1:8000/mcp. "
        "Repeatable.",
        show_default=False,
    ),
]


def has_sources(
    specs: Sequence[str] | None, mcp: Sequence[str] | None, urls: Sequence[str] | None
) -> bool:
    """Whether any of ``--tools``, ``--mcp``, ``--mcp-url`` was given."""
    return bool(specs or mcp or urls)


def load_tool_spec(spec: str) -> list[Tool]:
    """The tools ``MODULE:ATTR`` names (see module docstring).

    Raises:
        UsageError: malformed spec, module or attribute not found, or not a tool.
    """
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        hint = " (the search backend is --search live)" if spec in ("live", "wiki") else ""
        raise UsageError(f"--tools takes MODULE:ATTR, e.g. my_tools:TOOLS; got {spec!r}{hint}")
    module = import_module_or_file(module_name)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"--tools {spec}: {module_name} has no attribute {attr!r}") from None
    items = list(obj) if isinstance(obj, list | tuple) else [obj]
    return [_as_tool(item, spec) for item in items]


def import_module_or_file(name: str) -> Any:
    """The module ``name``: a file path (``tools.py``) or an import name (current dir first).

    Raises:
        UsageError: no such file or module.
    """
    path = Path(name)
    try:
        if name.endswith(".py") or path.is_file():
            return _import_file(path)
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        return importlib.import_module(name)
    except UsageError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            where = Path.cwd()
            raise UsageError(f"--tools: no module named {name!r} (looked from {where})") from exc
        raise UsageError(f"--tools: importing {name} failed: {exc}") from exc
    except Exception as exc:  # the module's own code raised: show it as the user's error
        raise UsageError(f"--tools: importing {name} raised {type(exc).__name__}: {exc}") from exc


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"--tools: no such file {path}")
    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    if module_spec is None or module_spec.loader is None:
        raise UsageError(f"--tools: cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module  # dataclasses and pickling look it up
    module_spec.loader.exec_module(module)
    return module


def _as_tool(item: Any, spec: str) -> Tool:
    if isinstance(item, Tool):
        return item
    langchain = sys.modules.get("langchain_core.tools")  # loaded if item is a LangChain tool
    if langchain is not None and isinstance(item, langchain.BaseTool):
        from interlace._langchain import langchain_tools

        return langchain_tools(item)[0]
    if callable(item):
        return Tool.from_function(item)
    raise UsageError(f"--tools {spec}: {item!r} is not a Tool, a function or a LangChain tool")


@contextlib.asynccontextmanager
async def open_tools(
    specs: Sequence[str] | None, mcp: Sequence[str] | None, urls: Sequence[str] | None
) -> AsyncIterator[list[Tool]]:
    """The tools of every source, MCP servers connected while the block is open.

    Raises:
        UsageError: a bad ``--tools`` spec, or two tools with one name.
        ToolSourceError: an MCP server does not start or answer.
    """
    from interlace._mcp import mcp_http_tools, mcp_stdio_tools

    tools = [t for spec in specs or () for t in load_tool_spec(spec)]
    async with contextlib.AsyncExitStack() as stack:
        for command in mcp or ():
            tools += await stack.enter_async_context(mcp_stdio_tools(command))
        for url in urls or ():
            tools += await stack.enter_async_context(mcp_http_tools(url))
        seen: dict[str, int] = {}
        for t in tools:
            seen[t.name] = seen.get(t.name, 0) + 1
        twice = sorted(name for name, n in seen.items() if n > 1)
        if twice:
            raise UsageError(f"two tools are named {', '.join(twice)}: tool names must be unique")
        yield tools


tools_app = typer.Typer(
    help="Tools from your modules and MCP servers: see what the planner will see.",
    no_args_is_help=True,
)
app.add_typer(tools_app, name="tools")


@tools_app.command(
    "list",
    epilog=(
        "Examples:\n\n"
        "  interlace tools list --tools my_tools:TOOLS\n\n"
        '  interlace tools list --mcp "python weather_server.py"\n\n'
        "  interlace tools list --mcp-url http://127.0.0.1:8000/mcp --json"
    ),
)
def list_command(
    tools: ToolSpecs = None,
    mcp: MCPCommands = None,
    mcp_url: MCPURLs = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the OpenAI-style schemas as one JSON list.")
    ] = False,
) -> None:
    """Print each tool as the planner sees it (`name(arg: type) - description`) and its schema."""
    if not has_sources(tools, mcp, mcp_url):
        raise typer.BadParameter("give --tools MODULE:ATTR, --mcp COMMAND or --mcp-url URL")
    try:
        listed = anyio.run(_list, tools, mcp, mcp_url)
    except InterlaceError as exc:
        raise fail(exc) from exc
    out = Console(soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps([t.openai_schema() for t in listed], indent=2) + "\n")
        return
    for t in listed:
        out.print(f"[bold]{escape(t.render())}[/bold]")
        out.print(escape(json.dumps(dict(t.parameters), indent=2)), highlight=False)
    Console(stderr=True).print(f"{len(listed)} tools")


async def _list(
    specs: Sequence[str] | None, mcp: Sequence[str] | None, urls: Sequence[str] | None
) -> list[Tool]:
    async with open_tools(specs, mcp, urls) as tools:
        return tools
