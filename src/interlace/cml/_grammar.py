"""The CML grammar: control blocks, their serializer and their parser.

CML (AsyncLM, Gim, Lee, Zhong 2024, arXiv 2412.07017, Section 3.1) embeds function calling in the
model's own token stream with three control blocks::

    [CALL] job1 [HEAD] get_weather(city="Paris") [END]     written by the model: start a call
    [INTR] job1 [HEAD] {"temp": 12} [END]                   written by the runtime only: a result
    [TRAP][END]                                             written by the model: wait for a result

``[HEAD]`` separates the metadata (a call id following Python identifier rules) from the body.
A call body is Python call syntax, parsed with :mod:`ast` (arguments must be literals, read with
``ast.literal_eval`` after turning JSON ``true``/``false``/``null`` and number arithmetic such
as ``20*60`` into constants; nothing else is evaluated), or JSON
``{"name": ..., "arguments": {...}}``.
A body cannot contain the text ``[END]``: the first ``[END]`` closes the block.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NewType

from interlace._errors import CMLError, InterlaceError

CallId = NewType("CallId", str)

CALL = "[CALL]"
INTR = "[INTR]"
TRAP = "[TRAP]"
HEAD = "[HEAD]"
END = "[END]"
#: Markers that open a block.
OPENERS = (CALL, INTR, TRAP)
#: Every marker of the grammar.
MARKERS = (CALL, INTR, TRAP, HEAD, END)
#: The text of a trap block, as the model writes it.
TRAP_BLOCK = f"{TRAP}{END}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Call:
    """One function call the model wrote in a ``[CALL]`` block.

    Attributes:
        id: the call id from the block's metadata.
        name: the function name (dotted names such as ``math.hypot`` are allowed).
        args: positional argument values (Python literals).
        kwargs: keyword argument values (Python literals).
        text: the block as written, ``[CALL]`` to ``[END]`` inclusive.
    """

    id: CallId
    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""


def is_call_id(text: str) -> bool:
    """Whether ``text`` is a valid call id (Python identifier rules, keywords allowed)."""
    return text.isidentifier()


def _dotted_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted_name(node.value)}.{node.attr}"
    raise CMLError(f"call target must be a (dotted) name, got {ast.dump(node)}")


_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


_JSON_NAMES = {"true": True, "false": False, "null": None}


class _Lenient(ast.NodeTransformer):
    """Rewrites what small models write for literal values into plain constants, anywhere in an
    argument: JSON ``true``/``false``/``null`` (function specs are JSON Schema) and number
    arithmetic ``a op b`` with ``+ - * /`` (e.g. ``20*60`` for a duration). Nothing is run:
    the result still goes through ``ast.literal_eval``."""

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id in _JSON_NAMES:
            return ast.copy_location(ast.Constant(_JSON_NAMES[node.id]), node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        left, right, op = node.left, node.right, type(node.op)
        if op in _ARITH and _is_number(left) and _is_number(right):
            a, b = left.value, right.value  # type: ignore[attr-defined]
            if abs(a) < 1e12 and abs(b) < 1e12 and not (op is ast.Div and b == 0):
                return ast.copy_location(ast.Constant(_ARITH[op](a, b)), node)
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.op, ast.USub) and _is_number(node.operand):
            value = node.operand.value  # type: ignore[attr-defined]
            return ast.copy_location(ast.Constant(-value), node)
        return node


def _is_number(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _fold(node: ast.expr) -> ast.expr:
    """``node`` with JSON literal names and number arithmetic turned into constants."""
    result = _Lenient().visit(node)
    assert isinstance(result, ast.expr)
    return result


def _literal(node: ast.expr, source: str) -> Any:
    try:
        return ast.literal_eval(_fold(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        snippet = ast.get_source_segment(source, node) or ast.dump(node)
        raise CMLError(f"argument {snippet!r} is not a literal value") from exc


def _parse_python(body: str) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    try:
        tree = ast.parse(body.strip(), mode="eval")
    except SyntaxError as exc:
        raise CMLError(f"call body is not a Python call: {body!r}") from exc
    node = tree.body
    if not isinstance(node, ast.Call):
        raise CMLError(f"call body must be `name(args)`, got {body!r}")
    name = _dotted_name(node.func)
    source = body.strip()
    args = []
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise CMLError(f"*args are not allowed in a call body: {body!r}")
        args.append(_literal(arg, source))
    kwargs: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise CMLError(f"**kwargs are not allowed in a call body: {body!r}")
        kwargs[kw.arg] = _literal(kw.value, source)
    return name, tuple(args), kwargs


def _parse_json(body: str) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as exc:
        raise CMLError(f"call body is not valid JSON: {body!r}") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise CMLError(f'a JSON call body needs {{"name": str, "arguments": {{...}}}}: {body!r}')
    arguments = obj.get("arguments", {})
    if not isinstance(arguments, dict):
        raise CMLError(f'"arguments" must be an object: {body!r}')
    return obj["name"], (), dict(arguments)


def parse_call_body(body: str) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """Parse a call body into ``(name, args, kwargs)``.

    Args:
        body: ``fn(1, x="a")`` (Python call syntax, literal arguments only) or
            ``{"name": "fn", "arguments": {"x": "a"}}`` (JSON).

    Raises:
        CMLError: the body is neither form, an argument is not a literal, the arguments nest
            deeper than :data:`MAX_DEPTH`, or the text cannot be read (e.g. a lone surrogate).
    """
    text = body.strip()
    try:
        name, args, kwargs = _parse_json(text) if text.startswith("{") else _parse_python(text)
    except CMLError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise CMLError(f"call body nests too deeply: {_clip(text)!r}") from exc
    except ValueError as exc:  # includes UnicodeEncodeError: a lone surrogate in the source
        raise CMLError(f"call body cannot be read ({type(exc).__name__}): {_clip(text)!r}") from exc
    if _too_deep([args, kwargs], MAX_DEPTH):
        raise CMLError(f"call arguments nest deeper than {MAX_DEPTH} levels: {_clip(text)!r}")
    return name, args, kwargs


MAX_DEPTH = 64
"""Deepest nesting of lists/dicts/tuples allowed in call arguments (deeper is a CMLError)."""


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _too_deep(value: Any, limit: int) -> bool:
    """Whether containers in ``value`` nest deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set | frozenset):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def split_block(text: str) -> tuple[str, str, str]:
    """Split a whole block ``[KIND] meta [HEAD] body [END]`` into ``(kind, meta, body)``.

    ``meta`` and ``body`` are stripped; a block without ``[HEAD]`` has everything in ``meta``.

    Raises:
        CMLError: the text does not start with an opening marker or does not end with ``[END]``.
    """
    stripped = text.strip()
    kind = next((m for m in OPENERS if stripped.startswith(m)), None)
    if kind is None or not stripped.endswith(END):
        raise CMLError(f"not a CML block: {text!r}")
    inner = stripped[len(kind) : -len(END)]
    meta, sep, body = inner.partition(HEAD)
    if not sep:
        return kind, meta.strip(), ""
    return kind, meta.strip(), body.strip()


def parse_call(text: str) -> Call:
    """Parse one ``[CALL] id [HEAD] body [END]`` block.

    Raises:
        CMLError: not a call block, missing ``[HEAD]``, a bad id, or a bad body.
    """
    kind, meta, body = split_block(text)
    if kind != CALL:
        raise CMLError(f"expected a {CALL} block, got {kind}: {text!r}")
    if HEAD not in text:
        raise CMLError(f"a {CALL} block needs {HEAD} between the id and the call: {text!r}")
    if not is_call_id(meta):
        raise CMLError(f"call id {meta!r} is not an identifier (write e.g. `[CALL] job1 [HEAD]`)")
    name, args, kwargs = parse_call_body(body)
    return Call(id=CallId(meta), name=name, args=args, kwargs=kwargs, text=text.strip())


def format_call(call_id: str, name: str, args: Sequence[Any] = (), **kwargs: Any) -> str:
    """Serialize a call as a CML block: ``[CALL] id [HEAD] name(args) [END]``.

    Raises:
        CMLError: ``call_id`` is not an identifier.
    """
    if not is_call_id(call_id):
        raise CMLError(f"call id {call_id!r} is not an identifier")
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{CALL} {call_id} {HEAD} {name}({', '.join(parts)}) {END}"


def render_value(value: Any) -> str:
    """Render a call result as interrupt text: strings as is, everything else as JSON or repr.

    Never raises: a value that cannot be rendered (its ``__repr__`` raises, it nests too deep)
    becomes a short placeholder naming its type. Lone surrogates are replaced by ``?`` so the
    text is valid UTF-8 for the tokenizer.
    """
    if isinstance(value, str):
        return _valid_utf8(value)
    try:
        return _valid_utf8(json.dumps(value, ensure_ascii=False, default=repr))
    except Exception:
        pass
    try:
        return _valid_utf8(repr(value))
    except Exception as exc:
        return f"<{type(value).__name__} value: cannot be rendered ({type(exc).__name__})>"


def render_error(error: InterlaceError) -> str:
    """Interrupt text for a failed call: ``error: <ErrorType>: <message>`` (the model reads why)."""
    try:
        message = str(error)
    except Exception:
        message = "(no message)"
    return _valid_utf8(f"error: {type(error).__name__}: {message}")


def _valid_utf8(text: str) -> str:
    """``text`` with lone surrogates (not encodable as UTF-8) replaced by ``?``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace").decode("utf-8")
    return text


def truncate(text: str, max_tokens: int | None, count: Callable[[str], int] | None = None) -> str:
    """Cut ``text`` to at most ``max_tokens`` tokens, marking the cut with ``...``.

    Args:
        text: the text to shorten.
        max_tokens: token budget; ``None`` keeps everything.
        count: a tokenizer's counting function; ``None`` estimates 4 characters per token.
    """
    if max_tokens is None:
        return text
    counter = count or (lambda s: (len(s) + 3) // 4)
    if counter(text) <= max_tokens:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix whose count fits, leaving room for the marker
        mid = (lo + hi + 1) // 2
        if counter(text[:mid] + "...") <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "..."


def format_interrupt(call_id: str, value: str) -> str:
    """Serialize an interrupt block ``[INTR] id [HEAD] value [END]`` (the runtime writes these).

    ``[END]`` inside ``value`` is neutralised so the block cannot be closed early.
    """
    safe = value.replace(END, "[END ]")
    return f"{INTR} {call_id} {HEAD} {safe} {END}"
