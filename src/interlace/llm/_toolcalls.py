"""Native function calling: tool schemas go out with a request, typed tool calls come back.

OpenAI's chat API — and vLLM, SGLang, Ollama or llama.cpp's server with a tool-calling chat
format — takes ``tools=[{"type": "function", "function": {...}}]``, ``tool_choice`` and
``parallel_tool_calls`` and answers with ``tool_calls`` (an id, a function name, the arguments
as JSON text) instead of, or beside, text. Each result goes back as a ``role: "tool"`` message
naming its ``tool_call_id``. This is the "OpenAI parallel function calling" baseline LLMCompiler
compares against (Kim et al. 2023, arXiv 2312.04511, §5).

A backend that can do this declares it by implementing :class:`NativeToolCalling`
(:class:`~interlace.llm.OpenAICompatLLM` does; the embedded :class:`~interlace.llm.LocalLLM`
does not). Agents test for the protocol, never for attributes.

OpenAI's function names match ``^[a-zA-Z0-9_-]{1,64}$``; tools named otherwise (BFCL's
``math.factorial``, MCP names with dots) are offered under the names of :class:`FunctionNames`,
a reversible mapping, and calls are mapped back to the tool's own name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from interlace._errors import ToolArgumentError, UsageError

if TYPE_CHECKING:
    from interlace.llm._base import GenerationConfig, Message, StreamItem

ToolChoice = Literal["auto", "required", "none"]
"""``"auto"``: the model may call functions or answer; ``"required"``: it must call at least
one; ``"none"``: it must answer in text (the functions stay listed)."""

_CHOICES: tuple[str, ...] = ("auto", "required", "none")


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCall:
    """One function call the model made natively.

    Attributes:
        id: the server's id of the call; its result goes back with this ``tool_call_id``.
        name: the function name as the model wrote it.
        arguments: the arguments as the model wrote them: JSON text, possibly malformed
            (read them with :meth:`parsed_arguments`).
    """

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict (an empty or blank ``arguments`` is ``{}``).

        Raises:
            ToolArgumentError: ``arguments`` is not JSON, or not a JSON object (the model's
                fault: agents turn it into a failed outcome for this call).
        """
        text = self.arguments.strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ToolArgumentError(
                f"call {self.id!r} of {self.name!r}: the arguments are not JSON ({exc}): "
                f"{_clip(self.arguments)!r}"
            ) from exc
        if not isinstance(value, dict):
            raise ToolArgumentError(
                f"call {self.id!r} of {self.name!r}: the arguments must be a JSON object, "
                f"got {type(value).__name__}: {_clip(self.arguments)!r}"
            )
        return value


class SupportsOpenAISchema(Protocol):
    """Anything that describes itself in OpenAI's function format (:class:`~interlace.Tool`)."""

    def openai_schema(self) -> dict[str, Any]: ...


_OPENAI_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_NOT_NAME = re.compile(r"[^a-zA-Z0-9_-]")


@dataclass(frozen=True, slots=True)
class FunctionNames:
    """Tool names and the names they are offered under: a bijection.

    A name OpenAI accepts (``^[a-zA-Z0-9_-]{1,64}$``) is offered as itself. Any other has each
    character outside that set replaced by ``_`` and is cut to 64 characters
    (``math.factorial`` → ``math_factorial``); when that is taken, by a valid name or by an
    earlier replacement, it ends in ``_`` and 8 hex digits of the SHA-256 of the original name
    instead (``math_factorial_1f0c2a9e``), so two tools never share an offered name and the
    same names always map alike.

    Attributes:
        offered: ``{tool name: offered name}``, in the tools' order.
    """

    offered: Mapping[str, str]

    @classmethod
    def of(cls, names: Sequence[str]) -> FunctionNames:
        """The mapping of ``names``.

        Raises:
            UsageError: a name is empty or repeated.
        """
        if len(set(names)) != len(names) or not all(names):
            raise UsageError(f"FunctionNames: names must be non-empty and unique, got {names}")
        taken = {n for n in names if _OPENAI_NAME.fullmatch(n)}
        offered: dict[str, str] = {}
        for name in names:
            if name in taken:
                offered[name] = name
                continue
            candidate = _NOT_NAME.sub("_", name)[:64]
            digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
            salt = 0
            while candidate in taken:
                suffix = digest[salt : salt + 8]
                candidate = f"{_NOT_NAME.sub('_', name)[: 64 - 9]}_{suffix}"
                salt += 1
            taken.add(candidate)
            offered[name] = candidate
        return cls(offered)

    def offer(self, name: str) -> str:
        """The name ``name`` is offered under (``KeyError`` for a name not in the mapping)."""
        return self.offered[name]

    def original(self, offered: str) -> str | None:
        """The tool name offered as ``offered``; ``None`` when no tool was."""
        for name, given in self.offered.items():
            if given == offered:
                return name
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class NativeTools:
    """The functions one request offers, and how the model may call them.

    Attributes:
        schemas: one ``{"type": "function", "function": {"name", "description",
            "parameters"}}`` per function (:meth:`~interlace.Tool.openai_schema`), sent as
            ``tools``.
        parallel_tool_calls: whether the model may return several calls in one reply
            (sent as ``parallel_tool_calls``).
        choice: sent as ``tool_choice`` (see :data:`ToolChoice`).

    Raises:
        UsageError: no schemas, a schema that is not a function with a string name, two
            functions with one name, or an unknown ``choice``.
    """

    schemas: tuple[Mapping[str, Any], ...]
    parallel_tool_calls: bool = True
    choice: ToolChoice = "auto"

    def __post_init__(self) -> None:
        if not self.schemas:
            raise UsageError("NativeTools(schemas=()): offer at least one function")
        names = [_schema_name(schema) for schema in self.schemas]
        if len(set(names)) != len(names):
            raise UsageError(f"NativeTools: function names must be unique, got {names}")
        if self.choice not in _CHOICES:
            raise UsageError(f"NativeTools(choice={self.choice!r}): use one of {_CHOICES}")

    @classmethod
    def from_tools(
        cls,
        tools: Sequence[SupportsOpenAISchema],
        *,
        parallel_tool_calls: bool = True,
        choice: ToolChoice = "auto",
        names: FunctionNames | None = None,
    ) -> NativeTools:
        """The offer of ``tools`` (each one's :meth:`~interlace.Tool.openai_schema`).

        Args:
            tools: the functions.
            parallel_tool_calls: as for the class.
            choice: as for the class.
            names: offer each function under ``names.offer(its name)`` (``None``: its own).

        Raises:
            UsageError: as for the class.
            KeyError: a function's name is not in ``names``.
        """
        schemas = tuple(t.openai_schema() for t in tools)
        if names is not None:
            schemas = tuple(_renamed(schema, names) for schema in schemas)
        return cls(schemas=schemas, parallel_tool_calls=parallel_tool_calls, choice=choice)

    @property
    def names(self) -> tuple[str, ...]:
        """The offered function names, in order."""
        return tuple(_schema_name(schema) for schema in self.schemas)


def _renamed(schema: Mapping[str, Any], names: FunctionNames) -> dict[str, Any]:
    function = dict(schema["function"])
    function["name"] = names.offer(function["name"])
    return {**schema, "function": function}


def _schema_name(schema: Any) -> str:
    function = schema.get("function") if isinstance(schema, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(schema, Mapping) or schema.get("type") != "function" or not name:
        raise UsageError(
            "NativeTools: each schema must look like {'type': 'function', 'function': "
            "{'name': ..., 'parameters': ...}} (Tool.openai_schema()), got "
            f"{_clip(repr(schema))}"
        )
    if not isinstance(name, str):
        raise UsageError(f"NativeTools: a function name must be a string, got {name!r}")
    return name


@runtime_checkable
class NativeToolCalling(Protocol):
    """A backend whose requests can offer functions natively (declared by implementing
    :meth:`stream_tools`; :class:`~interlace.llm.OpenAICompatLLM` does).

    Conversations carry the calls back: an assistant :class:`~interlace.llm.Message` with
    ``tool_calls``, then one ``role="tool"`` message per call with its ``tool_call_id``.
    """

    def stream_tools(
        self, messages: Sequence[Message], tools: NativeTools, config: GenerationConfig = ...
    ) -> AsyncIterator[StreamItem]:
        """As :meth:`~interlace.llm.LLM.stream`, offering ``tools``; the final
        :class:`~interlace.llm.Completion` lists the model's calls in ``tool_calls`` (in the
        order the server indexed them; empty when it answered in text).

        Raises:
            LLMError: as for :meth:`~interlace.llm.LLM.stream` (a malformed ``tool_calls``
                delta is an :class:`~interlace.LLMResponseError`; malformed *arguments* are
                not: they arrive verbatim in :attr:`ToolCall.arguments`).
        """
        ...


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
