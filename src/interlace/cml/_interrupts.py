"""The interrupt manager.

AsyncLM (arXiv 2412.07017, Section 3.3): finished calls are queued; at the next decode step that
is outside a critical section (no ``[CALL]`` block open, no marker half written) the runtime
appends every queued result as an ``[INTR] id [HEAD] value [END]`` block to the context. Errors
and timeouts arrive the same way, as values that say what went wrong. A trap waits on an
:class:`anyio.Event` until at least one result is queued (no polling).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio

from interlace.cml._grammar import format_interrupt, truncate


@dataclass(frozen=True, kw_only=True, slots=True)
class CallResult:
    """A finished call, waiting to be injected.

    Attributes:
        call_id: the id the model gave the call (``"user"`` for a user message).
        name: the function name (``"user"`` for a user message).
        value: the rendered result or error text.
        ok: False when the call failed (bad arguments, raised, timed out, unknown function).
        start: monotonic seconds when the call started executing.
        end: monotonic seconds when it finished.
        from_user: a user message (:meth:`InterruptManager.user_message`), not a call result;
            the model may well name a call ``user`` too.
    """

    call_id: str
    name: str
    value: str
    ok: bool = True
    start: float = 0.0
    end: float = 0.0
    from_user: bool = False


class InterruptManager:
    """Queue of finished calls and the formatting of their interrupt blocks.

    Args:
        max_tokens: token budget of one interrupt value; longer values are cut (``None``: no cut).
        count: token counter for the budget (default: 4 characters per token).
    """

    def __init__(
        self, *, max_tokens: int | None = 256, count: Callable[[str], int] | None = None
    ) -> None:
        self._queue: list[CallResult] = []
        self._ready = anyio.Event()
        self._max_tokens = max_tokens
        self._count = count

    @property
    def pending(self) -> int:
        """Number of queued results."""
        return len(self._queue)

    def put(self, result: CallResult) -> None:
        """Queue a finished call (called by the executor when a call ends)."""
        self._queue.append(result)
        ready, self._ready = self._ready, anyio.Event()
        ready.set()

    def user_message(self, text: str) -> None:
        """Queue a user message, injected like a result with id ``user`` (paper, Section 5)."""
        self.put(CallResult(call_id="user", name="user", value=text, from_user=True))

    async def wait(self) -> None:
        """Return once at least one result is queued (immediately if one already is)."""
        await self.wait_for(1)

    async def wait_for(self, count: int) -> None:
        """Return once at least ``count`` results are queued (each put wakes the waiter once)."""
        while len(self._queue) < count:
            await self._ready.wait()

    def drain(self) -> list[CallResult]:
        """Take every queued result, in completion order."""
        items, self._queue = self._queue, []
        return items

    def render(self, results: list[CallResult]) -> str:
        """Interrupt blocks for ``results``, one per line, values cut to the token budget."""
        blocks = [
            format_interrupt(r.call_id, truncate(r.value, self._max_tokens, self._count))
            for r in results
        ]
        return "\n" + "\n".join(blocks) + "\n"
