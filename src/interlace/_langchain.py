"""Tools from LangChain: any ``langchain_core.tools.BaseTool`` as an interlace :class:`Tool`.

The schema is LangChain's own OpenAI conversion (``convert_to_openai_tool``), so what the
planner sees matches what a LangChain agent would send as ``tools=``; calls go through the
tool's ``ainvoke`` with the arguments as a dict. A ``ToolException`` (or any other exception)
the tool raises is a failed task; a tool built with ``handle_tool_error=True`` returns its
error text as a value instead, as it does in LangChain.

Needs the ``langchain`` extra: ``pip install 'interlace[langchain]'``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from interlace._errors import UsageError
from interlace._tools import Tool

__all__ = ["langchain_tools"]


def langchain_tools(tools: Any | Iterable[Any], *, timeout: float | None = None) -> list[Tool]:
    """Wrap LangChain tools (one ``BaseTool`` or several) as interlace tools.

    Args:
        tools: a ``BaseTool`` (``@tool``-decorated function, ``StructuredTool``, a toolkit's
            tools, ...) or an iterable of them.
        timeout: seconds each call may take (``None``: the run's default applies).

    Returns:
        one :class:`Tool` per LangChain tool, same names; the description is the first
        paragraph of the LangChain description.

    Raises:
        UsageError: ``langchain-core`` is not installed, an item is not a ``BaseTool``, or
            its name or arguments are not identifiers.
    """
    try:
        from langchain_core.tools import BaseTool
        from langchain_core.utils.function_calling import convert_to_openai_tool
    except ModuleNotFoundError as exc:
        raise UsageError(
            "LangChain tools need langchain-core: pip install 'interlace[langchain]'"
        ) from exc
    items = [tools] if isinstance(tools, BaseTool) else list(tools)
    wrapped = []
    for item in items:
        if not isinstance(item, BaseTool):
            raise UsageError(f"langchain_tools expects langchain BaseTool objects, got {item!r}")
        function = convert_to_openai_tool(item)["function"]
        description = str(function.get("description") or "").split("\n\n")[0]
        wrapped.append(
            Tool.from_schema(
                item.name,
                " ".join(description.split()),
                function.get("parameters") or {"type": "object", "properties": {}},
                _caller(item),
                timeout=timeout,
            )
        )
    return wrapped


def _caller(item: Any) -> Any:
    async def call(**arguments: Any) -> Any:
        return await item.ainvoke(arguments)

    call.__name__ = call.__qualname__ = str(item.name)
    return call
