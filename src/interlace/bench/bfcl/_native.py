"""BFCL functions offered natively (``tools=``): the ``native`` and ``native-parallel`` methods.

A BFCL function document is almost an OpenAI function schema: its parameter types are Python's
names (``dict``, ``float``, ``tuple``, ``any``) where JSON Schema has ``object``, ``number``,
``array`` and no type, and its names may hold dots (``math.factorial``), which OpenAI's API
refuses; :class:`~interlace.agents.NativeFunctionCalling` offers those under the names of
:class:`~interlace.llm._toolcalls.FunctionNames` and records the calls under the BFCL names, so
the BFCL checker scores them as it scores the CML methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interlace.bench.bfcl._tools import BFCLTool, openai_parameters


def openai_schema(doc: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """A BFCL function document in OpenAI's function-calling format.

    Args:
        doc: the BFCL document (``name``, ``description``, ``parameters``).
        name: the function's name (default: the document's), kept as BFCL spells it.

    Returns:
        ``{"type": "function", "function": {"name", "description", "parameters"}}``, the
        parameters an ``object`` schema (:func:`openai_parameters`).
    """
    params = doc.get("parameters")
    parameters = openai_parameters(params) if isinstance(params, Mapping) else {}
    parameters["type"] = "object"
    parameters.setdefault("properties", {})
    function = {
        "name": name if name is not None else str(doc["name"]),
        "description": str(doc.get("description", "")).strip(),
        "parameters": parameters,
    }
    return {"type": "function", "function": function}


@dataclass(frozen=True, slots=True)
class NativeBFCLTool:
    """A :class:`~interlace.bench.bfcl._tools.BFCLTool` as the native methods offer it: same
    name, calls and latency, plus :meth:`openai_schema`.

    Attributes:
        tool: the BFCL function.
    """

    tool: BFCLTool

    @property
    def name(self) -> str:
        """The BFCL name (calls are recorded and scored under it)."""
        return self.tool.name

    def openai_schema(self) -> dict[str, Any]:
        """:func:`openai_schema` of the function's document."""
        return openai_schema(self.tool.doc, self.tool.name)

    async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """:meth:`BFCLTool.invoke <interlace.bench.bfcl._tools.BFCLTool.invoke>` (its errors)."""
        return await self.tool.invoke(args, kwargs)
