"""The CML grammar: control blocks, their serializer and their parser.

CML (AsyncLM, Gim, Lee, Zhong 2024, arXiv 2412.07017, Section 3.1) embeds function calling in the
model's own token stream with three control blocks::

    [CALL] job1 [HEAD] get_weather(city="Paris") [END]     written by the model: start a call
    [INTR] job1 [HEAD] {"temp": 12} [END]                   written by the runtime only: a result
    [TRAP][END]                                             written by the model: wait for a result

``[HEAD]`` separates the metadata (a call id following Python identifier rules) from the body.
A call body follows the one call syntax of plans, CML and ReAct (:mod:`interlace._calls`):
Python call syntax read with :mod:`ast` (literal arguments; JSON ``true``/``false``/``null``
and bounded number arithmetic such as ``20*60`` accepted; nothing is evaluated), or JSON
``{"name": ..., "arguments": {...}}``. With futures on, an argument may be ``$c1``: the result
of the earlier call ``c1`` (same reference rule as plans; the scheduler starts the call when
``c1`` succeeds). A body cannot contain the text ``[END]``: the first ``[END]`` closes the block.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NewType

from interlace._calls import MAX_DEPTH as MAX_DEPTH  # re-exported: the one limit
from interlace._calls import parse_call as _parse
from interlace._errors import CallSyntaxError, CMLError, InterlaceError
from interlace._plan import RefScope, TaskId

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
        task_id: the call's task id on the scheduler (numbered by the token monitor in the
            order calls are written; ``None`` when parsed alone). Arguments that are futures
            hold :class:`~interlace._plan.Ref` values to earlier calls' task ids.
    """

    id: CallId
    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""
    task_id: TaskId | None = None


def is_call_id(text: str) -> bool:
    """Whether ``text`` is a valid call id (Python identifier rules, keywords allowed)."""
    return text.isidentifier()


def parse_call_body(
    body: str, scope: RefScope | None = None
) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """Parse a call body into ``(name, args, kwargs)`` with the one call syntax
    (:mod:`interlace._calls`, shared with plans and ReAct).

    Args:
        body: ``fn(1, x="a")`` (Python call syntax, literal arguments only) or
            ``{"name": "fn", "arguments": {"x": "a"}}`` (JSON).
        scope: earlier call ids a ``$c1`` future may name (``None``: futures are off and a
            ``$`` reference is an error).

    Raises:
        CMLError: the body is neither form, an argument is not a literal, the arguments nest
            deeper than :data:`MAX_DEPTH`, a reference names no earlier call, or the text cannot
            be read (e.g. a lone surrogate).
    """
    try:
        call = _parse(body, scope)
    except CallSyntaxError as exc:
        raise CMLError(str(exc)) from exc
    return call.name, call.args, call.kwargs


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


def parse_call(text: str, scope: RefScope | None = None, *, task_id: TaskId | None = None) -> Call:
    """Parse one ``[CALL] id [HEAD] body [END]`` block.

    Args:
        text: the whole block.
        scope: earlier call ids its futures (``$c1``) may name; ``None``: no futures.
        task_id: the task id to give the call (see :attr:`Call.task_id`).

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
    name, args, kwargs = parse_call_body(body, scope)
    return Call(
        id=CallId(meta), name=name, args=args, kwargs=kwargs, text=text.strip(), task_id=task_id
    )


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
