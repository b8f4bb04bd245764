"""Simulated CML conversations for fine-tuning (AsyncLM, Gim, Lee, Zhong 2024, arXiv 2412.07017 §5).

The paper fine-tunes small models on synthetic traces: a function-calling task with its ground-truth
calls is replayed on a simulated clock, with random function latencies (1 ms - 1 s) and a random
time per generated token (5-30 ms), and each result is written into the model's context where it
would arrive. This module is that simulation, sans I/O: :func:`simulate` takes the calls (as
*chains*: a chain's calls depend on each other through state, different chains are independent)
and returns one conversation in exactly the text our runtime produces
(:class:`~interlace.cml.CMLLoop`):

* the model writes ``[CALL] cN [HEAD] fn(args) [END]`` blocks (serialised by
  :func:`~interlace.cml.format_call`), one per line, the calls it can make right away
  *longest processing time first* (LPT, optimal for independent calls, §3.4; for chains the
  chain with the most remaining latency first, i.e. the critical path first);
* a call starts when its ``[END]`` is written and ends ``latency`` seconds later; its result is
  injected (as :meth:`~interlace.cml.InterruptManager.render` writes it) after the first model
  token that ends at or after that time *outside a critical section* — the same check the runtime
  makes (:attr:`~interlace.cml.TokenMonitor.critical`), so never inside a ``[CALL]`` block or a
  half-written marker;
* when no call can be made (every chain waits for a result) but calls are running, the model
  writes ``[TRAP][END]`` and the clock jumps to the next result;
* when every call's result is in, the model writes its final answer and stops.

Token times: the model's text is cut into approximate tokens (a marker, a word with its leading
space, a space, one punctuation character — :func:`pieces`); each takes the trace's time per
output token. Injected text costs no time (its prefill is not simulated).

The ``"sync"`` variant is the baseline of the same task (§4): the calls in the order the data
gives them, each result injected right after its ``[END]`` while decoding waits
(``L_sync = ΣG + ΣE``); the system prompt differs only in its one sentence on how calls run
(:func:`~interlace.agents.render_system_prompt` of the agent).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from interlace._errors import CMLError, UsageError
from interlace.cml._grammar import CALL, END, HEAD, TRAP_BLOCK, is_call_id
from interlace.cml._interrupts import CallResult, InterruptManager
from interlace.cml._monitor import TokenMonitor

SimPolicy = Literal["async", "sync"]
POLICIES: tuple[SimPolicy, ...] = ("async", "sync")

#: Function latencies are drawn from this range, seconds (paper §5).
LATENCY_RANGE = (0.001, 1.0)
#: Time per output token is drawn from this range, seconds (paper §5).
TOKEN_TIME_RANGE = (0.005, 0.030)

_PIECE = re.compile(r"\[(?:CALL|TRAP|HEAD|END|INTR)\]| ?\w+|\s|[^\w\s]")


def pieces(text: str) -> list[str]:
    """``text`` cut into approximate tokens: CML markers, words with their leading space, single
    whitespace or punctuation characters. ``"".join(pieces(t)) == t`` for every ``t``."""
    return _PIECE.findall(text)


def call_block(call_id: str, name: str, kwargs: Mapping[str, Any]) -> str:
    """The text :func:`~interlace.cml.format_call` writes, ``[CALL] id [HEAD] name(k=v) [END]``,
    with the keyword arguments as a mapping (BFCL has arguments called ``name``).

    Raises:
        CMLError: ``call_id`` is not an identifier.
    """
    if not is_call_id(call_id):
        raise CMLError(f"call id {call_id!r} is not an identifier")
    body = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"{CALL} {call_id} {HEAD} {name}({body}) {END}"


@dataclass(frozen=True, kw_only=True, slots=True)
class SimCall:
    """One ground-truth call to simulate.

    Attributes:
        name: function name (dotted names allowed).
        kwargs: keyword arguments (Python literals).
        latency: execution time, seconds (> 0).
        value: the result as interrupt text (already rendered, e.g. by ``render_value``).
        ok: False when the call fails (its value is then an error text).
    """

    name: str
    kwargs: Mapping[str, Any]
    latency: float
    value: str
    ok: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class Segment:
    """A stretch of the assistant's text: written by the model (trained on) or injected."""

    text: str
    model: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class CallTiming:
    """When one call was written, ran and was injected, seconds on the simulated clock.

    Attributes:
        id: the call id the model wrote (``c1``, ``c2``, ... in writing order).
        chain: index of its chain; ``step``: its position in the chain.
        gen_s: decode time spent writing its block (from the end of the previous model action).
        start_s: when its ``[END]`` was written (the call starts); ``end_s``: start + latency.
        injected_s: when its interrupt entered the context (>= ``end_s``).
    """

    id: str
    name: str
    chain: int
    step: int
    latency_s: float
    gen_s: float
    start_s: float
    end_s: float
    injected_s: float


@dataclass(frozen=True, kw_only=True)
class SimTrace:
    """One simulated conversation (the assistant's reply; the prompt is the caller's).

    Attributes:
        policy: ``"async"`` or ``"sync"``.
        token_time_s: seconds per generated token.
        segments: the reply, in order; ``"".join(s.text for s in segments)`` is :attr:`text`.
        calls: per call, in writing order.
        latency_s: simulated time from the first token to the end of the answer, seconds.
        tokens: generated (model) pieces.
        traps: ``[TRAP][END]`` blocks the model wrote.
    """

    policy: SimPolicy
    token_time_s: float
    segments: tuple[Segment, ...]
    calls: tuple[CallTiming, ...]
    latency_s: float
    tokens: int
    traps: int = 0

    @property
    def text(self) -> str:
        """The whole reply: model text and injected interrupts."""
        return "".join(s.text for s in self.segments)

    @property
    def model_text(self) -> str:
        """What the model itself wrote (the text the token monitor sees)."""
        return "".join(s.text for s in self.segments if s.model)


@dataclass(order=True)
class _Running:
    end: float
    seq: int
    call_id: str = field(compare=False)
    chain: int = field(compare=False)


class _Clock:
    """The simulation state: text written so far, running calls, the monitor."""

    def __init__(self, token_time: float, manager: InterruptManager) -> None:
        self.t = 0.0
        self.token_time = token_time
        self.manager = manager
        self.monitor = TokenMonitor()
        self.segments: list[Segment] = []
        self.running: list[_Running] = []  # heap by (end, seq)
        self.injected: dict[str, float] = {}
        self.results: dict[str, CallResult] = {}
        self.tokens = 0
        self.last_char = ""

    def write(self, text: str, *, on_end: Any = None) -> None:
        """The model writes ``text`` piece by piece; after each piece outside a critical section,
        every result that has arrived is injected. ``on_end`` runs when a block closes."""
        for piece in pieces(text):
            self.t += self.token_time
            self.tokens += 1
            self._append(piece, model=True)
            self.monitor.feed(piece)
            if on_end is not None and piece == "[END]":
                on_end()
            if not self.monitor.critical:
                self.inject_arrived()

    def inject_arrived(self) -> None:
        """Inject every running call whose end is at or before now, in completion order."""
        arrived: list[_Running] = []
        while self.running and self.running[0].end <= self.t:
            arrived.append(heapq.heappop(self.running))
        if arrived:
            text = self.manager.render([self.results[r.call_id] for r in arrived])
            self._append(text, model=False)
            for r in arrived:
                self.injected[r.call_id] = self.t

    def wait(self) -> None:
        """Decoding pauses until the next result arrives (a trap, or a sync call)."""
        if self.running:
            self.t = max(self.t, self.running[0].end)
            self.inject_arrived()

    def separate(self) -> None:
        """The model starts a new line unless the context already ends with one."""
        if self.last_char and self.last_char != "\n":
            self.write("\n")

    def _append(self, text: str, *, model: bool) -> None:
        if self.segments and self.segments[-1].model == model:
            self.segments[-1] = Segment(text=self.segments[-1].text + text, model=model)
        else:
            self.segments.append(Segment(text=text, model=model))
        self.last_char = text[-1:] or self.last_char


def _check(chains: Sequence[Sequence[SimCall]], token_time: float) -> None:
    if not token_time > 0:
        raise UsageError(f"token_time must be > 0 seconds, got {token_time!r}")
    for chain in chains:
        for call in chain:
            if not call.latency > 0:
                raise UsageError(f"call {call.name}: latency must be > 0 seconds")


def simulate(
    chains: Sequence[Sequence[SimCall]],
    *,
    policy: SimPolicy,
    token_time: float,
    answer: str = "Done.",
    interrupt_tokens: int | None = 256,
) -> SimTrace:
    """Replay ``chains`` of calls on a simulated clock (see module docstring; paper §5).

    Args:
        chains: the calls; within a chain each call needs the previous one's result (state),
            chains are independent. An empty sequence gives a reply with the answer only.
        policy: ``"async"`` (LPT order, interrupts where they arrive, traps) or ``"sync"``
            (data order, each call waited for).
        token_time: seconds per generated token (the paper draws 5-30 ms).
        answer: the final answer the model writes once every result is in.
        interrupt_tokens: token budget of one interrupt value, as the agent's
            ``interrupt_tokens`` (longer values are cut the way the runtime cuts them).

    Returns:
        The conversation's reply with its timings.

    Raises:
        UsageError: ``policy`` is unknown, ``token_time`` or a latency is not positive.
    """
    if policy not in POLICIES:
        raise UsageError(f"policy must be one of {POLICIES}, got {policy!r}")
    _check(chains, token_time)
    clock = _Clock(token_time, InterruptManager(max_tokens=interrupt_tokens))
    order = _async_order if policy == "async" else _sync_order
    timings: list[CallTiming] = []
    traps = 0
    while True:
        clock.separate()  # a result may arrive during the newline: decide after it
        chosen = order(chains, timings, clock)
        if chosen is None and clock.running:
            before = len(clock.injected)
            clock.write(TRAP_BLOCK)
            traps += 1
            if len(clock.injected) == before:  # nothing arrived while the trap was written
                clock.wait()
            continue
        if chosen is None:
            break
        timings.append(_write_call(clock, chains, chosen, len(timings) + 1, policy))
    clock.write(answer)
    timings = [CallTiming(**{**_fields(c), "injected_s": clock.injected[c.id]}) for c in timings]
    return SimTrace(
        policy=policy,
        token_time_s=token_time,
        segments=tuple(clock.segments),
        calls=tuple(timings),
        latency_s=clock.t,
        tokens=clock.tokens,
        traps=traps,
    )


def _fields(timing: CallTiming) -> dict[str, Any]:
    return {name: getattr(timing, name) for name in CallTiming.__dataclass_fields__}


def _write_call(
    clock: _Clock,
    chains: Sequence[Sequence[SimCall]],
    chosen: tuple[int, int],
    number: int,
    policy: SimPolicy,
) -> CallTiming:
    """The model writes one call block; the call starts at its ``[END]``."""
    chain, step = chosen
    call = chains[chain][step]
    call_id = f"c{number}"
    began = clock.t
    started: list[float] = []

    def start() -> None:
        started.append(clock.t)
        clock.results[call_id] = CallResult(
            call_id=call_id, name=call.name, value=call.value, ok=call.ok
        )
        end = clock.t + call.latency
        heapq.heappush(clock.running, _Running(end, number, call_id, chain))

    clock.write(call_block(call_id, call.name, call.kwargs), on_end=start)
    if policy == "sync":
        clock.wait()
    return CallTiming(
        id=call_id,
        name=call.name,
        chain=chain,
        step=step,
        latency_s=call.latency,
        gen_s=started[0] - began,
        start_s=started[0],
        end_s=started[0] + call.latency,
        injected_s=-1.0,  # filled in when the trace ends
    )


def _next_steps(
    chains: Sequence[Sequence[SimCall]], timings: Sequence[CallTiming], clock: _Clock
) -> list[tuple[int, int]]:
    """Per chain with calls left whose previous call's result is in: ``(chain, next step)``."""
    done: dict[int, int] = {}
    blocked: set[int] = set()
    for t in timings:
        done[t.chain] = t.step + 1
        if t.id not in clock.injected:
            blocked.add(t.chain)
    return [
        (i, done.get(i, 0))
        for i, chain in enumerate(chains)
        if i not in blocked and done.get(i, 0) < len(chain)
    ]


def _async_order(
    chains: Sequence[Sequence[SimCall]], timings: Sequence[CallTiming], clock: _Clock
) -> tuple[int, int] | None:
    """LPT: the ready call whose chain has the most latency left (ties: lower chain index)."""
    ready = _next_steps(chains, timings, clock)
    if not ready:
        return None
    return max(ready, key=lambda cs: (sum(c.latency for c in chains[cs[0]][cs[1] :]), -cs[0]))


def _sync_order(
    chains: Sequence[Sequence[SimCall]], timings: Sequence[CallTiming], clock: _Clock
) -> tuple[int, int] | None:
    """Data order: chain by chain, each call in turn."""
    ready = _next_steps(chains, timings, clock)
    return min(ready) if ready else None
