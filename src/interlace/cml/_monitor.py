"""The token monitor: a finite-state machine that recognises CML blocks as text streams in.

AsyncLM (arXiv 2412.07017, Section 3.2) watches every decoded token with a small automaton. Ours
works on characters, so it does not matter how the tokenizer cut the text: a marker split over
several tokens (``[CA`` + ``LL]``) or merged with its neighbours (``][``, ``]\\n``) gives the same
events. States::

    TEXT ──[CALL]/[TRAP]──▶ META ──[HEAD]──▶ BODY ──[END]──▶ TEXT
                             └──────────[END]──────────────▶ TEXT   (e.g. [TRAP][END])

A ``[`` that might start a marker is held back (``pending``) until the marker is complete or ruled
out; while anything is held back or a block is open, the monitor is in a *critical section* and
the interrupt manager must not inject.

What the model may write is held by the CML grammar (:func:`interlace._grammars.cml_grammar`,
decoded under llguidance like every other role's grammar): no ``[INTR]``, no malformed block, only
listed functions with schema-typed keyword arguments. The monitor still records the first
``violation`` of those rules, which only unconstrained decoding (a remote model) can produce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from interlace._errors import CMLError
from interlace._plan import RefScope, TaskId
from interlace.cml._grammar import CALL, END, HEAD, INTR, OPENERS, TRAP, Call, parse_call

Mode = Literal["text", "meta", "body"]


@dataclass(frozen=True, kw_only=True, slots=True)
class TextEvent:
    """Plain text outside any block (the model's prose / final answer)."""

    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CallEvent:
    """A complete, well-formed ``[CALL]`` block."""

    call: Call


@dataclass(frozen=True, kw_only=True, slots=True)
class TrapEvent:
    """A ``[TRAP][END]`` block: the model asks to wait for a result."""

    text: str = "[TRAP][END]"


@dataclass(frozen=True, kw_only=True, slots=True)
class BlockError:
    """A complete block that is malformed (the model's fault); ``text`` is the block as written."""

    error: CMLError
    text: str


MonitorEvent = TextEvent | CallEvent | TrapEvent | BlockError

_ID_CHARS = re.compile(r"^[\w\s]*$")
_SPACE = re.compile(r"^\s*$")
_MARKERS_BY_MODE: dict[Mode, tuple[str, ...]] = {
    "text": (*OPENERS, HEAD, END),
    "meta": (HEAD, END, *OPENERS),
    "body": (END, *OPENERS, HEAD),
}


class TokenMonitor:
    """Recognise CML blocks in streamed text.

    Feed decoded text with :meth:`feed` (any chunking), get :data:`MonitorEvent` items back; call
    :meth:`close` at end of generation. Adjacent :class:`TextEvent` items may be split differently
    for different chunkings; concatenated they are always the same.

    Calls are numbered as they are parsed (``Call.task_id`` 1, 2, ...: their ids on the
    scheduler). With ``futures=True`` a call may take an earlier call's result, ``$c1``
    (:mod:`interlace._calls`); a call id written twice names its latest call.

    Args:
        futures: accept ``$id`` references to earlier calls (``False``: they are malformed).

    Attributes:
        violation: set (to a reason) the first time the text breaks the constrained-decoding rules
            (an ``[INTR]`` written by the model, a bad character in a call id, a stray marker).
        call_ids: the task id of each call id parsed so far.
    """

    def __init__(self, *, futures: bool = False) -> None:
        self.futures = futures
        self.call_ids: dict[str, TaskId] = {}
        self.mode: Mode = "text"
        self.kind: str = ""
        self.pending = ""
        self.violation: str | None = None
        self._text: list[str] = []
        self._raw: list[str] = []
        self._has_head = False
        self._events: list[MonitorEvent] = []
        self._calls = 0  # well-formed calls parsed (the last task id given)

    # -- state -----------------------------------------------------------------------------
    @property
    def critical(self) -> bool:
        """True while a block is open or a possible marker is held back: do not inject now."""
        return self.mode != "text" or bool(self.pending)

    @property
    def in_call(self) -> bool:
        """True while a ``[CALL]`` block is open (the paper's critical section)."""
        return self.mode != "text" and self.kind == CALL

    # -- feeding ---------------------------------------------------------------------------
    def feed(self, chunk: str) -> list[MonitorEvent]:
        """Consume ``chunk`` and return the events it completed, in order."""
        for ch in chunk:
            self._char(ch)
        self._flush_text()
        events, self._events = self._events, []
        return events

    def close(self) -> list[MonitorEvent]:
        """End of generation: release held-back text; an unterminated block becomes an error."""
        if self.mode == "text":
            self._text.append(self.pending)
            self.pending = ""
            self._flush_text()
        else:
            raw = "".join(self._raw) + self.pending
            err = CMLError(f"generation ended inside an unterminated {self.kind} block: {raw!r}")
            self._events.append(BlockError(error=err, text=raw))
            self.mode, self.kind, self.pending, self._raw = "text", "", "", []
        events, self._events = self._events, []
        return events

    def _char(self, ch: str) -> None:
        if self.pending:
            candidate = self.pending + ch
            markers = _MARKERS_BY_MODE[self.mode]
            if candidate in markers:
                self.pending = ""
                self._marker(candidate)
                return
            if any(m.startswith(candidate) for m in markers):
                self.pending = candidate
                if len(candidate) >= 2 and INTR.startswith(candidate):
                    self._violate(f"the model may not write {INTR}")
                return
            held, self.pending = self.pending, ""
            self._content(held)
        if ch == "[":
            self.pending = "["
        else:
            self._content(ch)

    def _content(self, text: str) -> None:
        if self.mode == "text":
            self._text.append(text)
            return
        self._raw.append(text)
        if self.mode == "meta":
            pattern = _SPACE if self.kind == TRAP else _ID_CHARS
            if not pattern.match(text):
                self._violate(f"{text!r} is not allowed between {self.kind} and {HEAD}")

    def _marker(self, marker: str) -> None:
        if self.mode == "text":
            if marker in (HEAD, END):
                self._violate(f"stray {marker} outside a block")
                self._text.append(marker)
                return
            self._flush_text()
            if marker == INTR:
                self._violate(f"the model may not write {INTR}")
            self.mode, self.kind, self._raw, self._has_head = "meta", marker, [marker], False
            return
        if marker == HEAD and self.mode == "meta" and self.kind != TRAP:
            self.mode, self._has_head = "body", True
            self._raw.append(marker)
            return
        if marker == END:
            if self.kind == CALL and not self._has_head:
                self._violate(f"{CALL} block closed without {HEAD}")
            self._raw.append(marker)
            self._finish("".join(self._raw))
            return
        self._violate(f"{marker} is not allowed inside a {self.kind} block")
        self._raw.append(marker)

    def _finish(self, raw: str) -> None:
        kind = self.kind
        self.mode, self.kind, self._raw, self._has_head = "text", "", [], False
        event: MonitorEvent
        if kind == TRAP:
            inner = raw[len(TRAP) : -len(END)]
            if inner.strip():
                err = CMLError(f"a trap block must be empty, got {raw!r}")
                event = BlockError(error=err, text=raw)
            else:
                event = TrapEvent(text=raw)
        elif kind == INTR:
            err = CMLError(f"only the runtime may write {INTR} blocks: {raw!r}")
            event = BlockError(error=err, text=raw)
        else:
            try:
                event = CallEvent(call=self._parse(raw))
            except CMLError as exc:
                event = BlockError(error=exc, text=raw)
            except Exception as exc:  # model output never escapes the monitor untyped
                err = CMLError(f"cannot read the block ({type(exc).__name__}): {raw[:120]!r}")
                err.__cause__ = exc
                event = BlockError(error=err, text=raw)
        self._events.append(event)

    def _parse(self, raw: str) -> Call:
        scope = RefScope(self.call_ids, "name") if self.futures else None
        call = parse_call(raw, scope, task_id=TaskId(self._calls + 1))
        self._calls += 1
        self.call_ids[call.id] = TaskId(self._calls)
        return call

    def _flush_text(self) -> None:
        if self._text:
            text = "".join(self._text)
            self._text = []
            if text:
                self._events.append(TextEvent(text=text))

    def _violate(self, reason: str) -> None:
        if self.violation is None:
            self.violation = reason
