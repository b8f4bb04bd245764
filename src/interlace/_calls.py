"""One call syntax: ``name(args, key=value)`` bodies for plans, CML and ReAct.

A plan line (``3. search("Rome")``, LLMCompiler §3.1), a CML call block
(``[CALL] c2 [HEAD] get_weather(city=$c1) [END]``, AsyncLM §3.1) and a ReAct action
(``Action: search("Rome")``) all carry the same thing: a function name and its arguments.
:func:`parse_call` reads that body once, with one rule, for all three front ends, and
:func:`call_key` computes the one key that tells a repeated call (CML and ReAct do not run a
call identical to an earlier one).

The rule (model output is data: nothing is evaluated, :mod:`ast` only reads):

* **Body.** ``name(arguments)`` in Python call syntax; ``name`` may be dotted
  (``math.hypot``). Alternatively a JSON object ``{"name": "f", "arguments": {...}}`` (the
  OpenAI function-call shape). A trailing ``;`` and surrounding spaces are ignored.
* **Literals.** An argument is a Python literal -- string, number, ``True``/``False``/``None``,
  list, tuple, dict, set -- or one of what small models write for literal values, accepted
  everywhere: JSON ``true``/``false``/``null`` (function specs are JSON Schema), a signed
  number, and ``+ - * /`` between two numbers each below ``1e12`` in size (``20*60`` for a
  duration; a division by zero is not folded and so is an error). Nothing else: a name, an
  attribute, a call, ``**`` or ``*`` unpacking, bytes, ``...`` and f-strings are errors.
* **References** (:mod:`interlace._plan` states the rule in full): with a
  :class:`~interlace._plan.RefScope`, ``$N``/``${N}`` outside a string is a
  :class:`~interlace._plan.Ref` to an earlier task (plans: ``N`` a number) or call (CML
  futures: ``N`` a call id such as ``c1``), and strings may hold references (``"${1} km"``).
  Without a scope (ReAct; CML with futures off) there are no references: ``$1`` outside a
  string is an error and strings are plain text.
* **Limits.** Containers nest at most :data:`MAX_DEPTH` deep; a body that Python's parser
  cannot read (too deep, a lone surrogate, a null byte) is an error.

Every problem is a :class:`~interlace.CallSyntaxError` (never another exception, whatever the
text); the front ends wrap it in their own error (``PlanParseError``, ``CMLError``) or
observation.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from interlace._errors import CallSyntaxError, InterlaceError
from interlace._plan import Ref, RefScope, Template, references

__all__ = ["MAX_DEPTH", "ParsedCall", "call_key", "parse_arguments", "parse_call"]

MAX_DEPTH = 64
"""Deepest nesting of lists/dicts/tuples/sets allowed in call arguments."""

_NUMBER_LIMIT = 1e12
_JSON_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_REF_TOKEN = re.compile(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)", re.ASCII)


@dataclass(frozen=True, kw_only=True, slots=True)
class ParsedCall:
    """A call body read by :func:`parse_call`.

    Attributes:
        name: the function name as written (dotted names allowed).
        args: positional argument values.
        kwargs: keyword argument values, in the written order.
    """

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def _clip(text: str, limit: int = 120) -> str:
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text.encode("utf-8", errors="replace").decode("utf-8")


def _error(message: str, body: str) -> CallSyntaxError:
    return CallSyntaxError(message, body=_clip(body, 200))


class _Placeholders:
    """``$N``/``${N}`` replaced by identifiers the Python parser accepts, and back."""

    def __init__(self, body: str) -> None:
        tag = "_ilref"
        while tag in body:
            tag += "_"
        self.tag = tag
        self._back = re.compile(re.escape(tag) + r"([bs])([A-Za-z0-9_]+?)" + re.escape(tag))

    def hide(self, body: str) -> str:
        def swap(match: re.Match[str]) -> str:
            if match.group(1) is not None:
                return f"{self.tag}b{match.group(1)}{self.tag}"
            return f"{self.tag}s{match.group(2)}{self.tag}"

        return _REF_TOKEN.sub(swap, body)

    def restore(self, text: str) -> str:
        def swap(match: re.Match[str]) -> str:
            kind, name = match.group(1), match.group(2)
            return f"${{{name}}}" if kind == "b" else f"${name}"

        return self._back.sub(swap, text) if self.tag in text else text

    def reference(self, name: str) -> tuple[str, str] | None:
        """``(written, id)`` when the identifier ``name`` is a hidden reference."""
        match = self._back.fullmatch(name)
        if match is None:
            return None
        kind, ident = match.group(1), match.group(2)
        return (f"${{{ident}}}" if kind == "b" else f"${ident}"), ident


def _number(node: ast.expr) -> complex | None:
    """The value of a number literal, a signed one, or a bounded arithmetic of two; else None."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, complex):
        value: complex = node.value  # type: ignore[assignment]
        return value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _number(node.operand)
        if inner is None:
            return None
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        left, right = _number(node.left), _number(node.right)
        if left is None or right is None:
            return None
        if abs(left) >= _NUMBER_LIMIT or abs(right) >= _NUMBER_LIMIT:
            return None
        if isinstance(node.op, ast.Div) and right == 0:
            return None
        result: complex = _ARITH[type(node.op)](left, right)
        return result
    return None


class _Reader:
    """Turns the argument nodes of one body into values (Ref/Template where the scope allows)."""

    def __init__(self, source: str, marks: _Placeholders, scope: RefScope | None) -> None:
        self.source = source
        self.marks = marks
        self.scope = scope

    def snippet(self, node: ast.expr) -> str:
        try:
            text = ast.get_source_segment(self.source, node) or ast.unparse(node)
        except Exception:  # a pathological node; the message still names its kind
            text = type(node).__name__
        return _clip(self.marks.restore(text), 60)

    def value(self, node: ast.expr, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise _error(f"arguments nest deeper than {MAX_DEPTH} levels", self.source)
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = [self.value(e, depth + 1) for e in node.elts]
            if isinstance(node, ast.List):
                return items
            if isinstance(node, ast.Tuple):
                return tuple(items)
            return self._hashable(lambda: frozenset(items), node)
        if isinstance(node, ast.Dict):
            pairs = []
            for key, item in zip(node.keys, node.values, strict=True):
                if key is None:
                    raise _error("** unpacking is not allowed in a call", self.source)
                pairs.append((self.value(key, depth + 1), self.value(item, depth + 1)))
            return self._hashable(lambda: dict(pairs), node)
        number = _number(node)
        if number is not None:
            return number
        raise _error(f"argument {self.snippet(node)!r} is not a literal value", self.source)

    def _hashable(self, build: Callable[[], Any], node: ast.expr) -> Any:
        try:
            return build()
        except TypeError as exc:  # a list as a dict key or set item
            raise _error(f"{self.snippet(node)!r}: {exc}", self.source) from exc

    def _constant(self, node: ast.Constant) -> Any:
        value = node.value
        if isinstance(value, str):
            text = self.marks.restore(value)
            if self.scope is None:
                return text
            try:
                return references(text, self.scope)
            except InterlaceError as exc:
                raise _error(str(exc), self.source) from exc
        if isinstance(value, bytes) or value is Ellipsis:
            raise _error(f"argument {self.snippet(node)!r} is not a literal value", self.source)
        return value

    def _name(self, node: ast.Name) -> Any:
        hidden = self.marks.reference(node.id)
        if hidden is None:
            if node.id in _JSON_NAMES:
                return _JSON_NAMES[node.id]
            raise _error(
                f'argument {node.id!r} is not a literal value (did you mean "{node.id}"?)',
                self.source,
            )
        written, ident = hidden
        if self.scope is None:
            message = f"{written}: references to other results are not allowed here"
            raise _error(message, self.source)
        task_id = self.scope.lookup(ident)
        if task_id is None:
            what = "task" if self.scope.form == "number" else "call"
            raise _error(f"{written} does not name an earlier {what}", self.source)
        return Ref(task_id)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _parse_expression(source: str) -> ast.expr:
    with warnings.catch_warnings():  # invalid escapes warn in 3.12; the text is data
        warnings.simplefilter("ignore")
        return ast.parse(source, mode="eval").body


def _from_python(body: str, scope: RefScope | None) -> ParsedCall:
    marks = _Placeholders(body)
    source = marks.hide(body)
    try:
        node = _parse_expression(source)
    except SyntaxError as exc:
        raise _error(f"not a call: {exc.msg}: {_clip(body)!r}", body) from exc
    reader = _Reader(source, marks, scope)
    if isinstance(node, ast.Dict):
        return _from_object(reader.value(node), body, scope)
    if not isinstance(node, ast.Call):
        raise _error(f"expected name(arguments), got {_clip(body)!r}", body)
    name = _dotted(node.func)
    if name is None or marks.tag in name:
        raise _error(f"the called name must be a (dotted) name: {_clip(body)!r}", body)
    args: list[Any] = []
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise _error("* unpacking is not allowed in a call", body)
        args.append(reader.value(arg))
    kwargs: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise _error("** unpacking is not allowed in a call", body)
        if keyword.arg in kwargs:  # Python's parser allows it in eval mode
            raise _error(f"keyword argument {keyword.arg!r} repeated", body)
        kwargs[keyword.arg] = reader.value(keyword.value)
    return ParsedCall(name=name, args=tuple(args), kwargs=kwargs)


def _json_value(value: Any, scope: RefScope | None, body: str, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise _error(f"arguments nest deeper than {MAX_DEPTH} levels", body)
    if isinstance(value, str):
        if scope is None:
            return value
        try:
            return references(value, scope)
        except InterlaceError as exc:
            raise _error(str(exc), body) from exc
    if isinstance(value, list):
        return [_json_value(v, scope, body, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v, scope, body, depth + 1) for k, v in value.items()}
    return value


def _from_object(obj: Any, body: str, scope: RefScope | None) -> ParsedCall:
    """``{"name": ..., "arguments": {...}}`` (values already read) as a call."""
    name = obj.get("name") if isinstance(obj, dict) else None
    if not isinstance(name, str) or not name:
        raise _error('a JSON call needs {"name": str, "arguments": {...}}', body)
    arguments = obj.get("arguments", {})
    if not isinstance(arguments, dict) or not all(isinstance(k, str) for k in arguments):
        raise _error('"arguments" must be an object with string keys', body)
    return ParsedCall(name=name, args=(), kwargs=dict(arguments))


def parse_call(body: str, scope: RefScope | None = None) -> ParsedCall:
    """Read a call body with the module's rule.

    Args:
        body: ``name(args, key=value)`` or ``{"name": ..., "arguments": {...}}``.
        scope: the earlier tasks/calls ``$N`` may name; ``None``: no references.

    Returns:
        The name and argument values (:class:`~interlace._plan.Ref` /
        :class:`~interlace._plan.Template` where references were written).

    Raises:
        CallSyntaxError: anything else, whatever the text (never another exception).
    """
    try:
        text = body.strip().rstrip(";").rstrip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except ValueError:  # not JSON (e.g. a $c1 reference, single quotes): read as Python
                pass
            except RecursionError as exc:
                raise _error(f"arguments nest deeper than {MAX_DEPTH} levels", text) from exc
            else:
                return _from_object(_json_value(obj, scope, text), text, scope)
        return _from_python(text, scope)
    except CallSyntaxError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise _error(f"arguments nest too deeply: {_clip(body)!r}", body) from exc
    except Exception as exc:  # model output: e.g. UnicodeEncodeError for a lone surrogate
        raise _error(f"cannot read the call ({type(exc).__name__}): {_clip(body)!r}", body) from exc


def parse_arguments(
    name: str, arguments: str, scope: RefScope | None = None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Read the text between a call's parentheses, as :func:`parse_call` reads ``name(...)``.

    Raises:
        CallSyntaxError: the arguments do not follow the rule.
    """
    call = parse_call(f"f({arguments})", scope)
    if call.name != "f":  # pragma: no cover - f(...) always names f
        raise _error(f"cannot read the arguments of {name}", arguments)
    return call.args, call.kwargs


def _canonical(value: Any) -> Any:
    """A hashable, order-independent image of an argument value (keys and sets sorted)."""
    if isinstance(value, dict):
        items = [(_canonical(k), _canonical(v)) for k, v in value.items()]
        return ("dict", tuple(sorted(items, key=repr)))
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted((_canonical(v) for v in value), key=repr)))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_canonical(v) for v in value))
    if isinstance(value, Ref):
        return ("ref", int(value.task_id))
    if isinstance(value, Template):
        return ("template", tuple(_canonical(p) for p in value.parts))
    return (type(value).__name__, value)


def call_key(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """The repeat key of a call: equal for the same function (case ignored) with the same
    arguments (keyword order, dict key order and set order ignored; ``1``, ``1.0``, ``True``
    and ``"1"`` differ). References count as the task they name.

    Never raises for values :func:`parse_call` produces; other values fall back to ``repr``.
    """
    try:
        image = (_canonical(tuple(args)), _canonical(dict(kwargs)))
        text = repr(image)
    except Exception:  # a value whose repr raises: still a deterministic key for this run
        text = f"<{len(args)} args {sorted(map(str, kwargs))}>"
    return f"{name.lower()}{text}"
