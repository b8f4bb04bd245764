"""Tools: a plain Python callable plus what a planner needs to know to call it.

A :class:`Tool` wraps a sync or async function. Its argument schema (JSON Schema, the shape
OpenAI-style function calling uses for ``parameters``) is derived from the signature's type
hints with pydantic, and per-argument descriptions come from a Google-style ``Args:`` section
of the docstring. The first paragraph of the docstring is the tool's description.

Calling a tool (:meth:`Tool.invoke`) validates the arguments against the schema in pydantic's
*lax* mode: values that convert losslessly are accepted and converted (``"3"`` for an ``int``
becomes ``3``; ``3`` for a ``float`` becomes ``3.0``), anything else is a
:class:`~interlace.ToolArgumentError` naming the tool, the argument and the expected type. Sync
functions run in a worker thread (``anyio.to_thread``) so the event loop is never blocked;
exceptions become :class:`~interlace.ToolExecutionError` (original as ``__cause__``) and an
exceeded timeout becomes :class:`~interlace.ToolTimeoutError`.

:func:`interlace._executor.invoke_tool` is the one invocation path of the runtime: plan tasks,
CML calls and ReAct actions all call their tools through it, and get an outcome
(``Succeeded``/``Failed``) back whatever the tool does.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import keyword
import operator
import re
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, overload

import anyio
import anyio.to_thread
import pydantic

from interlace._errors import (
    ArityError,
    ToolArgumentError,
    ToolExecutionError,
    ToolTimeoutError,
    UsageError,
)

__all__ = ["Invocable", "Tool", "find_tool", "tool"]

_T = TypeVar("_T")

_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters)\s*:\s*$")
_SECTION_HEADER = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")
_ARG_LINE = re.compile(r"^\s*\**(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_FIELD_PREFIX = "f_"  # model field names are prefixed so "schema"/"json" cannot clash


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (description, {argument: description})."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    i = 0
    while i < len(lines) and lines[i].strip() and not _ARGS_HEADER.match(lines[i]):
        summary.append(lines[i].strip())
        i += 1
    in_args = False
    current: str | None = None
    arg_indent = 0
    for line in lines[i:]:
        if _ARGS_HEADER.match(line):
            in_args, current = True, None
            continue
        if not in_args:
            continue
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0 and _SECTION_HEADER.match(line):
            in_args = False
            continue
        match = _ARG_LINE.match(line)
        if match and (current is None or indent <= arg_indent):
            current, arg_indent = match.group(1), indent
            args[current] = match.group(2).strip()
        elif current is not None:
            args[current] = f"{args[current]} {line.strip()}".strip()
    return " ".join(summary), args


def _type_name(annotation: Any) -> str:
    """A short human-readable name for a type hint (``int``, ``list[str]``)."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return "any"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


_NAME_MAPS = frozenset({"properties", "$defs", "definitions"})  # keys are names, not keywords


def _strip_titles(schema: Any, *, names: bool = False) -> Any:
    """Remove pydantic's auto-generated ``title`` keys (noise in a prompt).

    A parameter that is called ``title`` (a key of ``properties``) stays.
    """
    if isinstance(schema, dict):
        if names:
            return {k: _strip_titles(v) for k, v in schema.items()}
        return {
            k: _strip_titles(v, names=k in _NAME_MAPS) for k, v in schema.items() if k != "title"
        }
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


@dataclass(frozen=True, kw_only=True, eq=False)
class Tool:
    """A callable the planner may use, with its name, description and argument schema.

    Build one with :meth:`Tool.from_function` or the :func:`tool` decorator.

    Attributes:
        fn: the wrapped function (sync or async).
        name: the name the planner writes (``search`` in ``1. search("x")``).
        description: one paragraph shown to the planner.
        parameters: JSON Schema of the arguments (``{"type": "object", "properties": ...}``).
        signature: the function's signature (with resolved type hints).
        examples: in-context example lines for the planner prompt, verbatim.
        timeout: seconds a call may take, or ``None`` to use the run's default timeout.
    """

    fn: Callable[..., Any]
    name: str
    description: str
    parameters: Mapping[str, Any]
    signature: inspect.Signature
    examples: tuple[str, ...] = ()
    timeout: float | None = None
    _model: type[pydantic.BaseModel] = field(repr=False)
    _is_async: bool = field(repr=False)
    # Fast path: parameter names when every parameter is positional-or-keyword, else None.
    _simple: tuple[str, ...] | None = field(default=None, repr=False)
    _required: int = field(default=0, repr=False)

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        examples: Sequence[str] = (),
    ) -> Tool:
        """Wrap ``fn`` (sync or async) as a tool.

        Args:
            fn: the function; its type hints give the schema, its docstring the descriptions.
            name: tool name; defaults to ``fn.__name__``.
            description: overrides the docstring's first paragraph.
            timeout: seconds a call may take (``None``: the run's default applies).
            examples: in-context example plan lines for the planner prompt.

        Raises:
            UsageError: ``fn`` is not callable, the name is not an identifier, or a type hint
                cannot be turned into a schema.
        """
        if isinstance(fn, Tool):  # already a tool (e.g. made with @tool): keep its schema
            changes: dict[str, Any] = {
                "name": name,
                "description": description,
                "timeout": timeout,
            }
            if examples:
                changes["examples"] = tuple(examples)
            if name is not None and not name.isidentifier():
                raise UsageError(f"tool name must be an identifier, got {name!r}")
            return dataclasses.replace(fn, **{k: v for k, v in changes.items() if v is not None})
        if not callable(fn):
            raise UsageError(f"Tool.from_function expects a function, got {fn!r}")
        tool_name: str = name or str(getattr(fn, "__name__", ""))
        if not tool_name.isidentifier():
            raise UsageError(f"tool name must be an identifier, got {tool_name!r}: pass name=...")
        doc_description, arg_docs = _parse_docstring(inspect.getdoc(fn))
        signature = _resolved_signature(fn)
        model = _argument_model(tool_name, signature, arg_docs)
        try:
            schema = _strip_titles(model.model_json_schema(by_alias=True))
        except pydantic.PydanticUserError as exc:  # pragma: no cover - exotic hints
            raise UsageError(f"cannot build a JSON schema for tool {tool_name!r}: {exc}") from exc
        schema.setdefault("properties", {})
        return cls(
            fn=fn,
            name=tool_name,
            description=description if description is not None else doc_description,
            parameters=schema,
            signature=signature,
            examples=tuple(examples),
            timeout=timeout,
            _model=model,
            _is_async=inspect.iscoroutinefunction(inspect.unwrap(fn)),
            **_fast_path(signature),
        )

    @classmethod
    def from_schema(
        cls,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        fn: Callable[..., Any],
        *,
        timeout: float | None = None,
        examples: Sequence[str] = (),
    ) -> Tool:
        """A tool whose arguments are given by a JSON Schema, not by ``fn``'s signature.

        This is the shape of OpenAI-style function calling (``{"type": "object",
        "properties": ..., "required": [...]}``), of MCP tool listings and of LangChain tools.
        ``fn`` is called with keyword arguments only (``fn(**kwargs)``), those the planner gave:
        defaults of optional parameters are not filled in. The schema is kept verbatim
        (:attr:`parameters`, :meth:`openai_schema`); the signature the planner sees lists the
        required properties first, then the optional ones, each in schema order, so a positional
        call binds to them in that order. Values are checked and converted as for
        :meth:`from_function`: ``string``, ``integer``, ``number``, ``boolean``, ``array``
        (with ``items``), ``object``, ``null``, ``enum``, ``anyOf``/``oneOf`` and type lists;
        anything else accepts any value.

        Args:
            name: the tool name the planner writes (an identifier).
            description: one paragraph for the planner.
            parameters: JSON Schema of the arguments, an ``object`` with ``properties``.
            fn: sync or async callable taking the properties as keyword arguments (a
                ``**kwargs`` wrapper is fine: the schema, not its signature, is used).
            timeout: seconds a call may take (``None``: the run's default applies).
            examples: in-context example plan lines for the planner prompt.

        Raises:
            UsageError: ``fn`` is not callable, the name or a property name is not an
                identifier, or ``parameters`` is not an object schema.
        """
        if not callable(fn):
            raise UsageError(f"Tool.from_schema expects a callable fn, got {fn!r}")
        if not name.isidentifier():
            raise UsageError(f"tool name must be an identifier, got {name!r}")
        schema = _object_schema(name, parameters)
        signature = _schema_signature(name, schema)
        docs = {
            key: str(prop.get("description", ""))
            for key, prop in schema["properties"].items()
            if isinstance(prop, Mapping) and prop.get("description")
        }
        return cls(
            fn=fn,
            name=name,
            description=description,
            parameters=schema,
            signature=signature,
            examples=tuple(examples),
            timeout=timeout,
            _model=_argument_model(name, signature, docs),
            _is_async=_is_coroutine_function(fn),
            **_fast_path(signature),
        )

    def openai_schema(self) -> dict[str, Any]:
        """The tool in OpenAI's function-calling format (what ``tools=[...]`` takes).

        Returns:
            ``{"type": "function", "function": {"name", "description", "parameters"}}``, a
            fresh copy (changing it does not change the tool).
        """
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": copy.deepcopy(dict(self.parameters)),
            },
        }

    def wrapped(self, fn: Callable[..., Any]) -> Tool:
        """The same tool (name, description, schema, timeout) calling ``fn`` instead.

        For wrappers that log, delay or meter calls: ``fn`` takes the arguments the original
        function takes. The schema is not derived again, so a wrapper with a ``**kwargs``
        signature keeps it.
        """
        return dataclasses.replace(self, fn=fn, _is_async=_is_coroutine_function(fn))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function directly, as if it were not a tool.

        ``@tool`` leaves a function usable as before: no validation, no worker thread, no
        timeout (an async function returns its coroutine). Runs use :meth:`invoke`.
        """
        return self.fn(*args, **kwargs)

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Bind positional and keyword arguments to the signature (no type checks).

        Returns:
            ``{parameter name: value}`` for the arguments given (defaults not filled in).

        Raises:
            ArityError: too many/few positional arguments, or an unknown or repeated keyword.
        """
        if self._simple is not None:
            return self._bind_simple(self._simple, args, kwargs)
        try:
            return dict(self.signature.bind(*args, **kwargs).arguments)
        except TypeError as exc:
            raise self._arity(str(exc)) from None

    def _bind_simple(
        self, names: tuple[str, ...], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        if len(args) > len(names):
            raise self._arity(f"{len(args)} positional arguments given, at most {len(names)}")
        bound = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key in bound:
                raise self._arity(f"multiple values for argument {key!r}")
            if key not in names:
                raise self._arity(f"unexpected keyword argument {key!r}")
            bound[key] = value
        for name in names[: self._required]:
            if name not in bound:
                raise self._arity(f"missing a required argument: {name!r}")
        return bound

    def _arity(self, detail: str) -> ArityError:
        return ArityError(f"arguments do not fit {self.name}{self.signature}: {detail}")

    def validate(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Bind and type-check arguments (lax mode: ``"3"`` -> ``3`` for an ``int``).

        Returns:
            ``(args, kwargs)`` to call the function with, values converted by the schema.

        Raises:
            ArityError: the arguments do not bind to the signature.
            ToolArgumentError: a value does not fit its parameter's type.
        """
        if self._simple is not None:
            values = self._bind_simple(self._simple, args, kwargs)
            if values:
                checked = self._check(values)
                for key in values:
                    values[key] = getattr(checked, _FIELD_PREFIX + key)
            return (), values
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise self._arity(str(exc)) from None
        if bound.arguments:
            checked = self._check(bound.arguments)
            for key in bound.arguments:
                bound.arguments[key] = getattr(checked, _FIELD_PREFIX + key)
        return bound.args, bound.kwargs

    def _check(self, values: Mapping[str, Any]) -> pydantic.BaseModel:
        try:
            return self._model.model_validate(values)
        except pydantic.ValidationError as exc:
            raise self._argument_error(exc) from None

    async def invoke(
        self,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - enforced with anyio.fail_after
    ) -> Any:
        """Validate the arguments, call the function and return its value.

        Sync functions run in a worker thread; on timeout that thread is abandoned (Python
        cannot kill it) and the call fails at once.

        Args:
            args: positional arguments.
            kwargs: keyword arguments.
            timeout: seconds; ``None`` uses :attr:`timeout` (and no limit if that is ``None``).

        Raises:
            ArityError: the arguments do not bind to the signature.
            ToolArgumentError: an argument does not fit the schema.
            ToolExecutionError: the function raised (the original is ``__cause__``).
            ToolTimeoutError: the call took longer than the timeout.
        """
        call_args, call_kwargs = self.validate(args, kwargs)
        limit = timeout if timeout is not None else self.timeout
        if limit is None:
            return await self._call(call_args, call_kwargs)
        # A bare deadline scope is what anyio.fail_after does, minus a generator frame (hot path).
        with anyio.CancelScope(deadline=anyio.current_time() + limit) as scope:
            return await self._call(call_args, call_kwargs)
        if scope.cancelled_caught:
            raise ToolTimeoutError(f"tool {self.name!r} timed out after {limit} s")
        raise AssertionError("unreachable: the call neither returned nor timed out")

    async def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run the function; convert its exceptions (not cancellation) to ToolExecutionError."""
        try:
            if self._is_async:
                return await typing.cast(Awaitable[Any], self.fn(*args, **kwargs))
            call = functools.partial(self.fn, *args, **kwargs)
            return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        except Exception as exc:
            raise execution_error(self.name, exc) from exc

    def _argument_error(self, exc: pydantic.ValidationError) -> ToolArgumentError:
        first = exc.errors()[0]
        loc = first.get("loc", ())
        arg = str(loc[0]) if loc else "?"
        param = self.signature.parameters.get(arg)
        expected = _type_name(param.annotation) if param is not None else "?"
        return ToolArgumentError(
            f"tool {self.name!r}: argument {arg!r} expects {expected}, "
            f"got {first.get('input')!r} ({first.get('msg')})"
        )

    def render(self) -> str:
        """One line for a planner prompt: ``name(arg: type, ...) - description``."""
        parts = []
        for param in self.signature.parameters.values():
            text = f"{param.name}: {_type_name(param.annotation)}"
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                text = "*" + text
            elif param.kind is inspect.Parameter.VAR_KEYWORD:
                text = "**" + text
            elif param.default is not inspect.Parameter.empty:
                text += f" = {param.default!r}"
            parts.append(text)
        head = f"{self.name}({', '.join(parts)})"
        return f"{head} - {self.description}" if self.description else head


def _fast_path(signature: inspect.Signature) -> dict[str, Any]:
    """``_simple``/``_required`` for signatures whose parameters are all positional-or-keyword."""
    params = list(signature.parameters.values())
    if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params):
        return {}
    required = sum(p.default is inspect.Parameter.empty for p in params)
    return {"_simple": tuple(p.name for p in params), "_required": required}


def _resolved_signature(fn: Callable[..., Any]) -> inspect.Signature:
    """The signature with string annotations (``from __future__ import annotations``) resolved."""
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward refs: keep what inspect saw
        hints = {}
    params = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
    ]
    return signature.replace(parameters=params, return_annotation=hints.get("return", Any))


def _argument_model(
    tool_name: str, signature: inspect.Signature, arg_docs: Mapping[str, str]
) -> type[pydantic.BaseModel]:
    """A pydantic model with one field per parameter (aliased to the parameter name)."""
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        annotation: Any = Any if param.annotation is inspect.Parameter.empty else param.annotation
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            annotation = tuple[annotation, ...]
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            annotation = dict[str, annotation]
        default = ... if param.default is inspect.Parameter.empty else param.default
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            default = None
        fields[_FIELD_PREFIX + param.name] = (
            annotation,
            pydantic.Field(default, alias=param.name, description=arg_docs.get(param.name)),
        )
    try:
        return pydantic.create_model(
            f"{tool_name}_arguments",
            __config__=pydantic.ConfigDict(arbitrary_types_allowed=True),
            **fields,
        )
    except (pydantic.PydanticUserError, TypeError) as exc:
        raise UsageError(f"cannot build an argument schema for tool {tool_name!r}: {exc}") from exc


def _is_coroutine_function(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` gives an awaitable: it is async, or wraps an async function.

    An async wrapper made with ``functools.wraps`` around a sync function is async although
    ``inspect.unwrap`` leads to the sync one; a sync wrapper around an async one returns its
    coroutine.
    """
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn))


_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "null": type(None),
    "object": dict[str, Any],
}


def _object_schema(tool_name: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``parameters`` checked to be an object schema, with ``properties`` present."""
    if not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
        raise UsageError(
            f"tool {tool_name!r}: parameters must be a JSON Schema object "
            f'({{"type": "object", "properties": {{...}}}}), got {parameters!r}'
        )
    schema = copy.deepcopy(dict(parameters))
    properties = schema.setdefault("properties", {})
    if not isinstance(properties, Mapping):
        raise UsageError(f"tool {tool_name!r}: 'properties' must be an object, got {properties!r}")
    return schema


def _schema_signature(tool_name: str, schema: Mapping[str, Any]) -> inspect.Signature:
    """Parameters for the schema's properties: required ones first, then optional ones."""
    properties: Mapping[str, Any] = schema["properties"]
    required = [key for key in properties if key in set(schema.get("required", ()))]
    optional = [key for key in properties if key not in required]
    params = []
    for key in required + optional:
        if not key.isidentifier() or keyword.iskeyword(key):
            raise UsageError(
                f"tool {tool_name!r}: property {key!r} is not a Python identifier, so a plan "
                "cannot pass it as a keyword argument"
            )
        prop = properties[key] if isinstance(properties[key], Mapping) else {}
        default = inspect.Parameter.empty if key in required else prop.get("default")
        params.append(
            inspect.Parameter(
                key,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=default,
                annotation=_schema_annotation(prop),
            )
        )
    return inspect.Signature(params, return_annotation=Any)


def _schema_annotation(prop: Mapping[str, Any]) -> Any:
    """The type hint that validates values of the JSON Schema ``prop`` (``Any`` if unknown)."""
    if "enum" in prop and isinstance(prop["enum"], list) and prop["enum"]:
        values = prop["enum"]
        if all(isinstance(v, str | int | float | bool) or v is None for v in values):
            return typing.Literal[tuple(values)]
    for key in ("anyOf", "oneOf"):
        options = prop.get(key)
        if isinstance(options, list) and options:
            alternatives = [
                _schema_annotation(o) if isinstance(o, Mapping) else Any for o in options
            ]
            return _union(alternatives)
    kind = prop.get("type")
    if isinstance(kind, list):
        return _union([_schema_annotation({**prop, "type": k}) for k in kind])
    if kind == "array":
        items = prop.get("items")
        return list[_schema_annotation(items) if isinstance(items, Mapping) else Any]  # type: ignore[misc]
    return _JSON_TYPES.get(kind, Any) if isinstance(kind, str) else Any


def _union(annotations: list[Any]) -> Any:
    if any(a is Any for a in annotations):
        return Any
    return functools.reduce(operator.or_, annotations)


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    examples: Sequence[str] = (),
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    examples: Sequence[str] = (),
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Decorator form of :meth:`Tool.from_function`: ``@tool`` or ``@tool(timeout=5.0)``.

    Raises:
        UsageError: see :meth:`Tool.from_function`.
    """
    if fn is not None:
        return Tool.from_function(fn)

    def decorate(func: Callable[..., Any]) -> Tool:
        return Tool.from_function(
            func, name=name, description=description, timeout=timeout, examples=examples
        )

    return decorate


def find_tool(tools: Mapping[str, _T], name: str) -> tuple[str, _T] | None:
    """The entry of ``tools`` for ``name``: exact key first, else the one case-insensitive match.

    Small models write ``Search(...)`` for ``search``; an unambiguous case difference is not worth
    failing a task over. Two keys differing only in case are ambiguous: ``None``.

    Args:
        tools: tools by name.
        name: the name the model wrote.

    Returns:
        ``(key, tool)``, or ``None`` when there is no (unambiguous) match.
    """
    if (exact := tools.get(name)) is not None:
        return name, exact
    folded = [(key, t) for key, t in tools.items() if key.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


class Invocable(Protocol):
    """Anything the runtime can call as a tool: a name and ``async invoke(args, kwargs)``.

    :class:`Tool` fits; so do benchmark stand-ins such as BFCL's functions. The runtime calls
    ``invoke`` only through :func:`interlace._executor.invoke_tool`, the one place where a
    tool's exceptions and timeouts become outcomes.
    """

    @property
    def name(self) -> str:
        """The name the model writes (a read-only attribute is enough: frozen Tools fit)."""
        ...

    async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any: ...


def execution_error(name: str, exc: Exception) -> ToolExecutionError:
    """The :class:`~interlace.ToolExecutionError` for tool ``name`` raising ``exc`` (its cause)."""
    error = ToolExecutionError(f"tool {name!r} raised {type(exc).__name__}: {safe_str(exc)}")
    error.__cause__ = exc
    return error


def safe_str(value: object) -> str:
    """``str(value)``, or a placeholder when its ``__str__`` raises (model-made values)."""
    try:
        return str(value)
    except Exception as exc:
        return f"<{type(value).__name__}: str() raised {type(exc).__name__}>"
