"""Fault injection: the runtime's promises under random tool failures, hangs and bad model output.

DESIGN.md's invariant is that a tool exception, timeout or bad argument never hangs or crashes a
run: the task fails with a typed error and its dependents are skipped. This benchmark tries to
break that with random cases, each run under an outer deadline (``anyio.fail_after``):

* **plans** (default 1,000): a random DAG of 1-14 plan lines streamed by a
  :class:`~interlace.testing.ScriptedLLM` through :class:`~interlace.PlanParser` into
  :func:`~interlace.run_plan`. Each line calls a tool that returns, raises one of many exception
  types (builtin, ``ExceptionGroup``, interlace's own, one whose ``__str__`` raises), sleeps past
  its timeout, hangs (async, or a worker thread that never returns), returns an unprintable or
  huge value, or gets a bad argument; some lines are malformed (unhashable dict keys, deep
  nesting, lone surrogates, syntax errors, dangling references, unknown tools) and chatter is
  mixed in. Some streams break with an ``LLMError`` midway; some runs are cancelled.
* **traces** (default 200): a random CML generation (AsyncLM's call syntax) streamed by a
  ScriptedLLM through :class:`~interlace.cml.CMLLoop` under a random policy (``sync``,
  ``sync-parallel``, ``async``), with the same tool behaviours behind interlace tools, plain
  invocables and BFCL tools (worker-thread backends), plus malformed, unterminated, repeated
  and model-written ``[INTR]`` blocks and traps; some model streams break with an ``LLMError``
  midway (the loop must raise exactly that error, not an ``ExceptionGroup``).
* **agents** (default 100): whole :class:`~interlace.LLMCompiler`, :class:`~interlace.ReAct`
  and :class:`~interlace.AsyncLM` runs whose every model reply is drawn at random from plans,
  joiner decisions, ReAct actions and CML scripts, well-formed or not, some with a request
  that breaks midway: each run must return a result, or raise exactly the injected
  ``LLMError`` (not an ``ExceptionGroup``).

Every case has an expected outcome per task/call (computed from what the generator wrote), and
three counters must stay at zero:

``hangs``          cases that did not finish before their outer deadline.
``untyped``        exceptions that escaped a run other than the ``LLMError`` the stream raised,
                   and failures whose error is not an ``InterlaceError`` of the expected type.
``lost_outcomes``  tasks or calls without exactly one terminal outcome, or whose outcome is not
                   the one the case implies (a succeeded task reported as skipped is a lost
                   outcome), and finished calls whose interrupt never reached the model.

Run: ``python benchmarks/faults.py [--plans N] [--traces N] [--agents N] [--seed S]``.
The last line is ``hangs=H untyped=U lost_outcomes=L``; the exit status is 1 unless all three
are 0. About 30 s on 2 cores (mostly waiting out the injected timeouts).
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from interlace._errors import (
    ArityError,
    InterlaceError,
    LLMConnectionError,
    LLMError,
    PlanParseError,
    ToolArgumentError,
    ToolError,
    ToolExecutionError,
    ToolTimeoutError,
    UnknownToolError,
    UsageError,
)
from interlace._executor import ExecutionLimits, run_plan
from interlace._plan import TaskId
from interlace._planner import PlanEvent, PlanParser
from interlace._scheduler import Failed, Outcome, Skipped, Succeeded
from interlace._tools import Tool
from interlace.bench.bfcl._tools import BFCLTool
from interlace.cml._runtime import CMLLoop, Policy, StreamDecoder
from interlace.llm._base import LLM, GenerationConfig, Message, StreamItem, TextDelta
from interlace.testing import ScriptedLLM
from interlace.trace._spans import Trace

CASE_DEADLINE = 10.0  # seconds one case may take before it counts as a hang
HANG_TIMEOUT = 0.02  # seconds: the own timeout of the tools that hang or oversleep
LOOP_TIMEOUT = 0.3  # seconds: the CML loop's limit for tools without their own timeout
_RELEASE = [threading.Event()]  # hung worker threads wait on the current one; set per case


def release_threads() -> None:
    """Let the worker threads hung so far return (their calls were abandoned on timeout)."""
    _RELEASE[0].set()
    _RELEASE[0] = threading.Event()


class BadStr(Exception):
    """An exception whose message cannot be rendered."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ of the exception raised")


def _unicode_error() -> Exception:
    return UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


ERRORS: tuple[Callable[[], BaseException], ...] = (
    lambda: ValueError("bad value"),
    lambda: TypeError("bad type"),
    lambda: KeyError("key"),
    lambda: IndexError("index"),
    lambda: AttributeError("'int' object has no attribute 'split'"),
    lambda: ZeroDivisionError("division by zero"),
    lambda: OverflowError("overflow"),
    lambda: RecursionError("maximum recursion depth exceeded"),
    lambda: MemoryError(),
    lambda: RuntimeError("runtime"),
    lambda: NotImplementedError(),
    lambda: OSError(5, "I/O error"),
    lambda: TimeoutError("the tool's own TimeoutError is not a timeout of the call"),
    lambda: ConnectionResetError("reset"),
    _unicode_error,
    lambda: StopIteration(),
    lambda: StopAsyncIteration(),
    lambda: AssertionError("assert"),
    lambda: LookupError("lookup"),
    lambda: ExceptionGroup("group", [ValueError("a"), KeyError("b")]),
    lambda: anyio.BrokenResourceError(),
    lambda: ToolArgumentError("raised by the tool itself"),
    lambda: UsageError("raised by the tool itself"),
    lambda: LLMError("the tool's own LLM failed"),
    lambda: BadStr(),
)


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("__repr__ raised")

    __str__ = __repr__


# -- tool behaviours: (expected outcome kind, async function or sync function) ------------------
# Expected kinds: "ok" -> Succeeded, else the error class of the Failed outcome.


async def _ok(x: int = 0, deps: Any = None) -> Any:
    return x


def _ok_sync(x: int = 0, deps: Any = None) -> Any:
    return x


async def _slow(x: int = 0, deps: Any = None) -> Any:
    await anyio.sleep(0.002)
    return x


async def _raise(x: int = 0, kind: int = 0, deps: Any = None) -> Any:
    raise ERRORS[kind % len(ERRORS)]()


def _raise_sync(x: int = 0, kind: int = 0, deps: Any = None) -> Any:
    raise ERRORS[kind % len(ERRORS)]()


async def _oversleep(x: int = 0, deps: Any = None) -> Any:
    await anyio.sleep(5)
    return x


async def _hang(x: int = 0, deps: Any = None) -> Any:
    await anyio.Event().wait()


def _hang_sync(x: int = 0, deps: Any = None) -> Any:
    _RELEASE[0].wait(60)
    return x


async def _odd(x: int = 0, deps: Any = None) -> Any:
    return Unprintable()


async def _huge(x: int = 0, deps: Any = None) -> Any:
    return 10**5000


BEHAVIOURS: dict[str, tuple[str | type[InterlaceError], Callable[..., Any], bool]] = {
    # name: (expected, function, hangs: gets the short own timeout)
    "ok": ("ok", _ok, False),
    "ok_sync": ("ok", _ok_sync, False),
    "slow": ("ok", _slow, False),
    "odd": ("ok", _odd, False),
    "huge": ("ok", _huge, False),
    "boom": (ToolExecutionError, _raise, False),
    "boom_sync": (ToolExecutionError, _raise_sync, False),
    "oversleep": (ToolTimeoutError, _oversleep, True),
    "hang": (ToolTimeoutError, _hang, True),
    "hang_sync": (ToolTimeoutError, _hang_sync, True),
    "user": ("ok", _ok, False),  # a function called like the user-message interrupt
}
WEIGHTS = {"ok": 6, "ok_sync": 2, "slow": 2, "odd": 1, "huge": 1, "boom": 3, "boom_sync": 2}
WEIGHTS |= {"oversleep": 1, "hang": 1, "hang_sync": 1, "user": 1}

PLAN_TOOLS: dict[str, Tool] = {
    name: Tool.from_function(fn, name=name, timeout=HANG_TIMEOUT if hangs else None)
    for name, (_, fn, hangs) in BEHAVIOURS.items()
}


@dataclass
class Counts:
    """The three counters, plus what was run."""

    hangs: int = 0
    untyped: int = 0
    lost_outcomes: int = 0
    plans: int = 0
    tasks: int = 0
    traces: int = 0
    calls: int = 0
    agents: int = 0
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.notes) < 20:
            self.notes.append(text[:2000])

    @property
    def clean(self) -> bool:
        return self.hangs == self.untyped == self.lost_outcomes == 0


def show(value: object) -> str:
    """``repr(value)``, or its type when the repr raises (the tools return such values)."""
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__} (repr raised)>"


def _pick(rng: random.Random) -> str:
    names = list(WEIGHTS)
    return rng.choices(names, weights=[WEIGHTS[n] for n in names])[0]


# -- plans ----------------------------------------------------------------------------------------

MALFORMED = (
    "f({{[1]: 2}})",  # unhashable dict key
    "ok(x={{[1], [2]}})",  # unhashable set items
    "ok(x=" + "[" * 300 + "]" * 300 + ")",  # nesting beyond the parser
    'ok(x="\ud800")',  # lone surrogate in the source
    "ok(x=",  # cut off
    "ok(x=undefined_name)",
    "ok(*[1])",
    "ok(x=$999)",  # dangling reference
    "ok(x=1) trailing words",
    "ok(x=lambda: 1)",
)
CHATTER = ("Here is the plan:", "```", "Thought: now the next step", "- ", "💥 ø", "Let me think.")


@dataclass(frozen=True)
class PlanLine:
    id: int
    text: str
    expected: str | type[InterlaceError]  # before dependencies are taken into account
    deps: tuple[int, ...]


def random_plan(rng: random.Random) -> list[PlanLine]:
    lines: list[PlanLine] = []
    for task_id in range(1, rng.randint(1, 14) + 1):
        earlier = [line.id for line in lines]
        deps = tuple(sorted(set(rng.sample(earlier, k=min(len(earlier), rng.randint(0, 2))))))
        refs = ", ".join(f"${d}" for d in deps)
        deps_arg = f", deps=[{refs}]" if deps else ""
        roll = rng.random()
        if roll < 0.08:
            body = rng.choice(MALFORMED).replace("{{", "{").replace("}}", "}")
            lines.append(PlanLine(task_id, f"{task_id}. {body}", PlanParseError, ()))
        elif roll < 0.11:
            lines.append(
                PlanLine(task_id, f"{task_id}. nosuch(x=1{deps_arg})", UnknownToolError, deps)
            )
        elif roll < 0.15:
            text = f'{task_id}. ok(x="not a number"{deps_arg})'
            lines.append(PlanLine(task_id, text, ToolArgumentError, deps))
        elif roll < 0.17:
            lines.append(PlanLine(task_id, f"{task_id}. ok(1, 2, 3, 4)", ArityError, ()))
        else:
            name = _pick(rng)
            expected = BEHAVIOURS[name][0]
            kind = f", kind={rng.randrange(len(ERRORS))}" if name.startswith("boom") else ""
            text = f"{task_id}. {name}(x={task_id}{kind}{deps_arg})"
            lines.append(PlanLine(task_id, text, expected, deps))
    return lines


def expected_outcomes(lines: list[PlanLine]) -> dict[int, str | type[InterlaceError]]:
    """``id -> "ok" | "skipped" | error class`` once dependencies are taken into account.

    A line that does not parse, names an unknown tool or does not bind fails when it is read,
    whatever its dependencies; any other line is skipped when a dependency did not succeed.
    """
    at_once = (PlanParseError, UnknownToolError, ArityError)
    result: dict[int, str | type[InterlaceError]] = {}
    for line in lines:
        if line.expected in at_once:
            result[line.id] = line.expected
        elif any(result[d] != "ok" for d in line.deps):
            result[line.id] = "skipped"
        else:
            result[line.id] = line.expected
    return result


def plan_text(rng: random.Random, lines: list[PlanLine]) -> str:
    out: list[str] = []
    for line in lines:
        if rng.random() < 0.15:
            out.append(rng.choice(CHATTER))
        out.append(line.text)
    if rng.random() < 0.7:
        out.append(f"{len(lines) + 1}. join()")
    if rng.random() < 0.5:
        out.append("<END_OF_PLAN>")
    return "\n".join(out) + rng.choice(["\n", ""])


async def plan_events(llm: ScriptedLLM, break_after: int | None) -> AsyncIterator[PlanEvent]:
    """The planner stream: ScriptedLLM deltas through PlanParser (optionally failing midway)."""
    parser = PlanParser()
    chunks = 0
    async for item in llm.stream([Message(role="user", content="plan")]):
        if isinstance(item, TextDelta):
            chunks += 1
            if break_after is not None and chunks > break_after:
                raise LLMConnectionError("injected: the planner's stream broke off")
            for event in parser.feed(item.text):
                yield event
    for event in parser.close():
        yield event


def _matches(outcome: Outcome, expected: str | type[InterlaceError]) -> bool:
    if expected == "ok":
        return isinstance(outcome, Succeeded)
    if expected == "skipped":
        return isinstance(outcome, Skipped)
    assert isinstance(expected, type)
    return isinstance(outcome, Failed) and type(outcome.error) is expected


def _typed(outcome: Outcome) -> bool:
    return not isinstance(outcome, Failed) or isinstance(outcome.error, InterlaceError)


async def one_plan(rng: random.Random, counts: Counts) -> None:
    lines = random_plan(rng)
    expected = expected_outcomes(lines)
    break_after = rng.randint(0, 20) if rng.random() < 0.05 else None
    cancel_after = rng.uniform(0.0, 0.02) if rng.random() < 0.05 else None
    llm = ScriptedLLM([plan_text(rng, lines)], tpot=rng.choice([0.0, 0.0, 0.0005]))
    limits = ExecutionLimits(default_timeout=5.0, cancel_after=cancel_after)
    counts.plans += 1
    counts.tasks += len(lines)
    try:
        with anyio.fail_after(CASE_DEADLINE):
            report = await run_plan(plan_events(llm, break_after), PLAN_TOOLS, limits=limits)
    except TimeoutError:
        counts.hangs += 1
        counts.note(f"plan hung: {[line.text for line in lines]}")
        return
    except LLMConnectionError:
        if break_after is None:
            counts.untyped += 1
        return  # the injected stream failure, re-raised unchanged: typed
    except Exception as exc:
        counts.untyped += 1
        counts.note(f"plan raised {type(exc).__name__}: {show(exc)}")
        return
    finally:
        release_threads()
    for record in report.records.values():
        if not _typed(record.outcome):
            counts.untyped += 1
            counts.note(f"untyped outcome {show(record.outcome)}")
    # A cancelled run stops reading the plan: lines after that point have no record.
    missing = set() if report.cancelled else expected.keys() - report.records.keys()
    extra = report.records.keys() - expected.keys()
    counts.lost_outcomes += len(missing) + len(extra)
    if missing or extra:
        counts.note(f"plan ids missing {sorted(missing)} extra {sorted(extra)}: {lines}")
    if report.cancelled:
        return  # which tasks finished before the cancellation is timing; each has one outcome
    for task_id, want in expected.items():
        found = report.records.get(TaskId(task_id))
        if found is not None and not _matches(found.outcome, want):
            counts.lost_outcomes += 1
            counts.note(f"task {task_id}: expected {want}, got {show(found.outcome)}")


# -- CML traces -----------------------------------------------------------------------------------


class Plain:
    """A CML tool that is not an interlace Tool (like BFCL's); no own timeout."""

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self.name = name
        self.fn = fn

    async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        result = self.fn(*args, **kwargs)
        if hasattr(result, "__await__"):
            return await result
        return result


def _bfcl(name: str, fn: Callable[..., Any], hangs: bool) -> BFCLTool:
    doc = {
        "name": name,
        "parameters": {
            "properties": {"x": {"type": "integer"}, "kind": {"type": "integer"}},
            "required": ["x"],
        },
    }

    def target(**kwargs: Any) -> Any:
        return fn(**kwargs)

    return BFCLTool(
        name=name, doc=doc, latency=0.0, target=target, timeout=HANG_TIMEOUT if hangs else None
    )


def cml_tools(rng: random.Random) -> tuple[dict[str, Any], dict[str, str]]:
    """Tools by name (a random mix of kinds) and the kind of each (tool, bfcl or plain)."""
    tools: dict[str, Any] = {}
    kinds_of: dict[str, str] = {}
    plain_hangs = 0
    for name, (_, fn, hangs) in BEHAVIOURS.items():
        sync = not _is_async(fn)
        kinds = ["tool"] + (["bfcl"] if sync else []) + (["plain"] if not hangs else [])
        if hangs and not sync and plain_hangs == 0 and rng.random() < 0.15:
            kinds.append("plain")  # hangs until the loop's own timeout (slow; rarely)
        kind = rng.choice(kinds)
        plain_hangs += kind == "plain" and hangs
        if kind == "tool":
            tools[name] = PLAN_TOOLS[name]
        elif kind == "bfcl":
            tools[name] = _bfcl(name, fn, hangs)
        else:
            tools[name] = Plain(name, fn)
        kinds_of[name] = kind
    return tools, kinds_of


def expect_call(name: str, error_kind: int, tool_kind: str) -> str | type[InterlaceError]:
    """The outcome of calling behaviour ``name``: an interlace Tool wraps anything its function
    raises in ToolExecutionError; other invocables (BFCL's, plain ones) may raise ToolErrors
    themselves, which stay what they are."""
    want = BEHAVIOURS[name][0]
    if name.startswith("boom") and tool_kind != "tool":
        error = ERRORS[error_kind]()
        if isinstance(error, ToolError):
            return type(error)
    return want


def _is_async(fn: Callable[..., Any]) -> bool:
    import inspect

    return inspect.iscoroutinefunction(fn)


@dataclass
class Script:
    text: str
    calls: list[tuple[str, str, str | type[InterlaceError]]]  # (id, name, expected) run
    ends_with_repeat: bool


MALFORMED_BLOCKS = (
    "[CALL] m{n} [HEAD] ok(x=undefined{n}) [END]",
    "[CALL] bad id {n} [HEAD] ok(x={n}) [END]",
    '[CALL] m{n} [HEAD] {{"name": "ok{n}", "arguments": {{"x": '
    + "[" * 1000
    + "]" * 1000
    + "}}}} [END]",
    '[CALL] m{n} [HEAD] ok(x="\ud800{n}") [END]',
    "[CALL] m{n} [HEAD] ok(x={{[{n}]: 1}}) [END]",
    "[CALL] m{n} [HEAD] not a call {n} [END]",
    "[INTR] m{n} [HEAD] the model may not write this [END]",
    "[TRAP] junk {n} [END]",
    "[CALL] m{n} [HEAD] ok(x={n}) [CALL] nested [END]",
)


def random_script(rng: random.Random, kinds_of: Mapping[str, str]) -> Script:
    parts: list[str] = []
    calls: list[tuple[str, str, str | type[InterlaceError]]] = []
    made: list[str] = []  # bodies of the valid calls (for deliberate repeats)
    repeated = False
    for n in range(1, rng.randint(1, 12) + 1):
        cid = rng.choice([f"c{n}"] * 6 + ["user", "None", "class", f"é{n}", "_"])  # any identifier
        roll = rng.random()
        if roll < 0.2:
            parts.append(rng.choice(["Let me check.", "thinking", "ok,", "\n", "[not a marker]"]))
        elif roll < 0.3:
            parts.append("[TRAP][END]")
        elif roll < 0.4:
            parts.append(rng.choice(MALFORMED_BLOCKS).format(n=n))
        elif roll < 0.44 and made:
            parts.append(f"[CALL] r{n} [HEAD] {rng.choice(made)} [END]")
            repeated = True
            break  # decoding ends at a repeat: nothing after it is a call
        elif roll < 0.48:
            parts.append(f"[CALL] {cid} [HEAD] nosuch(x={n}) [END]")
            calls.append((cid, "nosuch", UnknownToolError))
            made.append(f"nosuch(x={n})")
        elif roll < 0.52:
            parts.append(f'[CALL] {cid} [HEAD] ok(x="word{n}") [END]')
            wrong_type = ToolArgumentError if kinds_of["ok"] == "tool" else "ok"  # no schema
            calls.append((cid, "ok", wrong_type))
            made.append(f'ok(x="word{n}")')
        else:
            name = _pick(rng)
            error_kind = rng.randrange(len(ERRORS))
            kind = f", kind={error_kind}" if name.startswith("boom") else ""
            body = f"{name}(x={n}{kind})"
            parts.append(f"[CALL] {cid} [HEAD] {body} [END]")
            calls.append((cid, name, expect_call(name, error_kind, kinds_of[name])))
            made.append(body)
    if not repeated and rng.random() < 0.1:
        parts.append("[CALL] cut [HEAD] ok(x=")  # unterminated at the end of generation
    return Script(text=" ".join(parts), calls=calls, ends_with_repeat=repeated)


class CountingDecoder(StreamDecoder):
    """StreamDecoder that counts the characters the model generated (not the injected ones), so
    the scripted model can continue its script in the next request after an interrupt."""

    def __init__(self, *args: Any, break_after: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chars = 0
        self.break_after = break_after  # pieces after which the model's stream fails

    async def step(self, monitor: Any) -> str | None:
        if self.break_after is not None and self.generated >= self.break_after:
            raise LLMConnectionError("injected: the model's stream broke off")
        piece = await super().step(monitor)
        if piece:
            self.chars += len(piece)
        return piece


async def one_trace(rng: random.Random, counts: Counts) -> None:
    tools, kinds_of = cml_tools(rng)
    script = random_script(rng, kinds_of)
    decoder: CountingDecoder | None = None

    def reply(messages: Any) -> str:
        assert decoder is not None
        return script.text[decoder.chars :]

    llm = ScriptedLLM(reply, tpot=rng.choice([0.0, 0.0, 0.0005]))
    break_after = rng.randint(0, 30) if rng.random() < 0.05 else None
    messages = [Message(role="user", content="q")]
    decoder = CountingDecoder(llm, messages, GenerationConfig(), break_after=break_after)
    policies: list[Policy] = ["sync", "sync-parallel", "async"]
    policy = rng.choice(policies)
    loop = CMLLoop(
        decoder, tools, policy=policy, trace=Trace(), max_tokens=100_000, timeout=LOOP_TIMEOUT
    )
    counts.traces += 1
    try:
        with anyio.fail_after(CASE_DEADLINE):
            result = await loop.run()
    except TimeoutError:
        counts.hangs += 1
        counts.note(f"trace hung ({policy}): {script.text!r}")
        return
    except LLMConnectionError as exc:
        if break_after is None:  # only the injected failure may end a trace, and unchanged
            counts.untyped += 1
            counts.note(f"trace raised {show(exc)} ({policy}): {script.text!r}")
        return
    except Exception as exc:
        counts.untyped += 1
        counts.note(f"trace raised {type(exc).__name__}: {show(exc)} ({policy}): {script.text!r}")
        return
    finally:
        release_threads()
    counts.calls += len(result.records)
    got = [(r.call.id, r.call.name) for r in result.records]
    want = [(call_id, name) for call_id, name, _ in script.calls]
    if got != want:
        counts.lost_outcomes += abs(len(want) - len(got)) or 1
        counts.note(f"calls {got} != {want} ({policy}): {script.text!r}")
        return
    for record, (_, _, outcome) in zip(result.records, script.calls, strict=True):
        if record.outcome is None:
            counts.lost_outcomes += 1
            counts.note(f"call {record.call.id} has no outcome ({policy})")
            continue
        if not _typed(record.outcome):
            counts.untyped += 1
        if not _matches(record.outcome, outcome):
            counts.lost_outcomes += 1
            counts.note(f"call {record.call.id}: expected {outcome}, got {show(record.outcome)}")
        if result.finish == "stop" and f"[INTR] {record.call.id} [HEAD]" not in result.text:
            counts.lost_outcomes += 1
            counts.note(f"call {record.call.id}: its interrupt never reached the model")
    if script.ends_with_repeat != (result.finish == "repeat"):
        counts.lost_outcomes += 1
        counts.note(f"finish {result.finish!r} but repeat={script.ends_with_repeat}")


# -- driver ---------------------------------------------------------------------------------------


# -- whole agents ---------------------------------------------------------------------------------

JOINER_REPLIES = (
    "Thought: I know it.\nAction: Finish(42)",
    "Thought: not enough.\nAction: Replan(look again)",
    "Action: Finish()",
    "Action: Finish(",
    "Finish(Paris)",
    "",
    "I am not sure what to do.",
    'Action: search("Rome")\nFinish(Paris)',
    "Thought: \ud800\nAction: Finish(\ud800)",
)
REACT_REPLIES = (
    "Thought: look.\nAction: ok(x=1)",
    "Action: boom(x=1, kind=3)",
    "Action: boom_sync(x=2, kind=24)",
    "Action: hang(x=1)",
    "Action: odd(x=1)",
    "Action: huge(x=1)",
    "Action: nosuch(1)",
    "Action: ok(x={[1]: 2})",
    'Action: ok(x="not a number")',
    "Action: Finish(done)",
    "Action:",
)


_CONFIG = GenerationConfig()


class BreakingLLM(LLM):
    """A model whose ``break_at``-th request fails midway with an LLMError (after ``after``
    streamed pieces); every other request is the scripted model's."""

    def __init__(self, inner: ScriptedLLM, break_at: int, after: int) -> None:
        self.inner, self.model = inner, inner.model
        self.break_at, self.after, self.requests = break_at, after, 0

    async def stream(
        self, messages: Sequence[Message], config: GenerationConfig = _CONFIG
    ) -> AsyncIterator[StreamItem]:
        self.requests += 1
        pieces = 0
        async for item in self.inner.stream(messages, config):
            if isinstance(item, TextDelta):
                pieces += 1
                if self.requests == self.break_at and pieces > self.after:
                    raise LLMConnectionError("injected: the model's stream broke off")
            yield item


async def one_agent_run(rng: random.Random, counts: Counts) -> None:
    """LLMCompiler, ReAct or AsyncLM end to end, every model reply drawn at random from plans,
    joiner decisions, ReAct actions and CML scripts (well-formed or not), sometimes with a
    request that fails midway: the run must return a result, or raise exactly the LLMError the
    model raised (not an ExceptionGroup)."""
    from interlace.agents import AsyncLM, LLMCompiler, ReAct

    tools = list(PLAN_TOOLS.values())
    kinds_of = {t.name: "tool" for t in tools}

    def reply(messages: Any) -> str:
        roll = rng.random()
        if roll < 0.3:
            return plan_text(rng, random_plan(rng))
        if roll < 0.45:
            return random_script(rng, kinds_of).text
        return rng.choice(JOINER_REPLIES if roll < 0.7 else REACT_REPLIES)

    scripted = ScriptedLLM(reply)
    broken = rng.random() < 0.15
    llm: LLM = BreakingLLM(scripted, rng.randint(1, 3), rng.randint(0, 20)) if broken else scripted
    agent: Any
    roll = rng.random()
    if roll < 0.4:
        agent = LLMCompiler(llm, tools, max_replans=rng.randint(0, 2))
    elif roll < 0.8:
        agent = ReAct(llm, tools, max_steps=rng.randint(1, 6), tool_timeout=1.0)
    else:
        agent = AsyncLM(llm, tools, max_tokens=rng.randint(20, 300))
    counts.agents += 1
    try:
        with anyio.fail_after(CASE_DEADLINE):
            result = await agent.run("What is the answer?")
    except TimeoutError:
        counts.hangs += 1
        counts.note(f"{type(agent).__name__} hung")
        return
    except LLMConnectionError as exc:
        if not broken:
            counts.untyped += 1
            counts.note(f"{type(agent).__name__} raised {show(exc)}")
        return  # the injected failure, unchanged
    except Exception as exc:
        counts.untyped += 1
        counts.note(f"{type(agent).__name__} raised {type(exc).__name__}: {show(exc)}")
        return
    finally:
        release_threads()
    if not isinstance(result.answer, str):
        counts.lost_outcomes += 1
        counts.note(f"{type(agent).__name__} answered {show(result.answer)}")


async def run(plans: int = 1_000, traces: int = 200, seed: int = 0, agents: int = 100) -> Counts:
    """Run ``plans`` random plans, ``traces`` random CML traces and ``agents`` whole agent runs;
    the counters.

    Args:
        plans: number of random plans.
        traces: number of random CML generations.
        seed: the random seed (cases are reproducible for one seed).
        agents: number of LLMCompiler/ReAct runs on random replies.
    """
    rng = random.Random(seed)
    counts = Counts()
    for _ in range(plans):
        await one_plan(rng, counts)
    for _ in range(traces):
        await one_trace(rng, counts)
    for _ in range(agents):
        await one_agent_run(rng, counts)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=1_000)
    parser.add_argument("--traces", type=int, default=200)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    counts = anyio.run(run, args.plans, args.traces, args.seed, args.agents)
    elapsed = time.perf_counter() - start
    for note in counts.notes:
        print(f"  {note}")
    print(
        f"plans={counts.plans} tasks={counts.tasks} traces={counts.traces} calls={counts.calls} "
        f"agents={counts.agents} seed={args.seed} seconds={elapsed:.1f}"
    )
    print(f"hangs={counts.hangs} untyped={counts.untyped} lost_outcomes={counts.lost_outcomes}")
    return 0 if counts.clean else 1


if __name__ == "__main__":
    sys.exit(main())
