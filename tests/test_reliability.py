"""Issue 11's reproductions: each defect found by trying interlace as a new user would.

Every test here failed on the code before its fix (the comment under each says how).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import threading
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlace._errors import (
    ChecksumError,
    CMLError,
    DataError,
    ExpressionError,
    LLMConnectionError,
    ToolArgumentError,
    ToolExecutionError,
    ToolTimeoutError,
)
from interlace._executor import invoke_tool
from interlace._planner import LineError, PlanParser, TaskParsed
from interlace._scheduler import Failed, Succeeded
from interlace._tools import Tool
from interlace.agents._asynclm import AsyncLM
from interlace.agents._parse import parse_joiner_output
from interlace.agents._react import ReAct
from interlace.bench._mathtool import evaluate
from interlace.cml import BlockError, CallEvent, TokenMonitor, parse_call
from interlace.cml._grammar import render_value
from interlace.testing import ScriptedLLM


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- 1. one invocation path: any tool exception is a typed failed outcome -----------------------


class Raising:
    """A CML tool (not an interlace Tool) whose call raises ``error``."""

    def __init__(self, name: str, error: Exception) -> None:
        self.name = name
        self.error = error

    async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        raise self.error


class Listing:
    name = "ls"

    async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        return {"files": ["a.txt"]}


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__


_INJECTED = re.compile(r"\n(?:\[INTR\][^\n]*\[END\]\n)+")


def continuing(script: str) -> ScriptedLLM:
    """A model that writes ``script`` whatever it is told: after an interrupt ends a request,
    the next request continues where the generated text stopped (injected blocks removed)."""

    def reply(messages: Any) -> str:
        last = messages[-1]
        done = _INJECTED.sub("", last.content) if last.role == "assistant" else ""
        assert script.startswith(done), (script, done)
        return script[len(done) :]

    return ScriptedLLM(reply)


ANY_ERRORS = [
    AttributeError("'int' object has no attribute 'split'"),
    ZeroDivisionError("division by zero"),
    RuntimeError("backend broke"),
    KeyError("missing"),
    OSError("disk"),
    type("CustomError", (Exception,), {})("mine"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("error", ANY_ERRORS, ids=lambda e: type(e).__name__)
async def test_cml_call_raising_any_exception_is_an_error_interrupt_not_a_crash(
    error: Exception,
) -> None:
    # Before: only InterlaceError/LookupError/ValueError/TypeError were caught, so an
    # AttributeError from `cd(folder=123)` crashed the run (ExceptionGroup) and lost `ls()`.
    reply = "[CALL] c1 [HEAD] ls() [END][TRAP][END] [CALL] c2 [HEAD] cd(folder=123) [END] done"
    result = await AsyncLM(continuing(reply), [Listing(), Raising("cd", error)]).run("q")
    calls = result.details["calls"]
    assert [c["name"] for c in calls] == ["ls", "cd"]
    assert [c["ok"] for c in calls] == [True, False]
    text = result.details["text"]
    assert "a.txt" in text  # the earlier result is kept
    assert f"ToolExecutionError: tool 'cd' raised {type(error).__name__}" in text


@pytest.mark.anyio
@pytest.mark.parametrize("error", ANY_ERRORS, ids=lambda e: type(e).__name__)
async def test_invoke_tool_turns_any_exception_into_a_typed_failure(error: Exception) -> None:
    outcome = await invoke_tool(Raising("t", error), (), {}, timeout=1.0)
    assert isinstance(outcome, Failed) and isinstance(outcome.error, ToolExecutionError)
    assert outcome.error.__cause__ is error


@pytest.mark.anyio
async def test_invoke_tool_enforces_the_timeout_on_any_invocable() -> None:
    class Hang:
        name = "hang"

        async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
            await anyio.Event().wait()  # never set

    with anyio.fail_after(5):
        outcome = await invoke_tool(Hang(), (), {}, timeout=0.05)
    assert isinstance(outcome, Failed) and isinstance(outcome.error, ToolTimeoutError)


@pytest.mark.anyio
async def test_unknown_function_is_a_typed_unknown_tool_error() -> None:
    llm = ScriptedLLM(lambda m: "[CALL] a [HEAD] nope() [END]" if m[-1].role == "user" else "")
    agent = AsyncLM(llm, [Listing()])
    result = await agent.run("q")
    assert "UnknownToolError: unknown function 'nope'" in result.details["text"]


def test_render_value_never_raises() -> None:
    # Before: json.dumps(default=repr) re-raised the value's __repr__ error into the run.
    assert "Unprintable" in render_value(Unprintable())
    assert render_value("bad \ud800 half").encode("utf-8")  # valid UTF-8 for the tokenizer
    assert render_value(10**5000)  # no "exceeds the limit for integer string conversion"


@pytest.mark.anyio
async def test_react_observation_of_an_unprintable_result_is_not_a_crash() -> None:
    # Before: ReAct._invoke did str(value) outside any handler; the run raised RuntimeError.
    def weird() -> Unprintable:
        """Returns something unprintable."""
        return Unprintable()

    def broken(x: int) -> int:
        """Divides by zero."""
        return x // 0

    replies = iter(["Action: weird()", "Action: broken(1)", "Action: Finish(ok)"])
    llm = ScriptedLLM(lambda m: next(replies))
    result = await ReAct(llm, [Tool.from_function(weird), Tool.from_function(broken)]).run("q")
    assert result.answer == "ok"
    observations = [s["observation"] for s in result.details["steps"]]
    assert "str() raised RuntimeError" in observations[0]
    assert observations[1].startswith("Error: ToolExecutionError: tool 'broken' raised")


@pytest.mark.anyio
async def test_a_broken_model_stream_raises_its_llm_error_unchanged() -> None:
    # Before: CMLLoop.run raised ExceptionGroup([LLMConnectionError]) when a call was running,
    # so the bench runner recorded "agent crashed" instead of stopping on the backend failure.
    from interlace.cml._runtime import CMLLoop
    from interlace.trace._spans import Trace

    started, cancelled = anyio.Event(), anyio.Event()

    class Slow:
        name = "slow"

        async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
            started.set()
            try:
                await anyio.Event().wait()
            finally:
                cancelled.set()

    class Breaking:
        generated = 0
        script = iter(["[CALL] c1 [HEAD] slow() [END]", " more"])

        async def step(self, monitor: Any) -> str | None:
            piece = next(self.script, None)
            if piece is None:
                await started.wait()
                raise LLMConnectionError("the stream broke off")
            self.generated += 1
            return piece

        async def inject(self, text: str) -> None:
            raise AssertionError("nothing finishes before the stream breaks")

    loop = CMLLoop(Breaking(), {"slow": Slow()}, policy="async", trace=Trace())
    with anyio.fail_after(5), pytest.raises(LLMConnectionError):
        await loop.run()
    assert cancelled.is_set()


@pytest.mark.anyio
async def test_a_call_named_user_with_id_user_does_not_hang() -> None:
    # Before: results were told from user messages by id and name ("user", "user"), so this
    # call's result was never counted and the run waited for it forever.
    class User:
        name = "user"

        async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
            return "hi"

    reply = "[CALL] user [HEAD] user() [END] [TRAP][END] done"
    agent = AsyncLM(continuing(reply), [User()])
    agent.interrupt("a real user message")
    with anyio.fail_after(5):
        result = await agent.run("q")
    assert "[INTR] user [HEAD] hi [END]" in result.details["text"]
    assert "[INTR] user [HEAD] a real user message [END]" in result.details["text"]


# -- 2. BFCL backends run in a worker thread, with their timeout enforced ------------------------


@pytest.mark.anyio
async def test_bfcl_backend_runs_off_the_event_loop_and_times_out() -> None:
    # Before: BFCLTool.invoke called the backend on the event loop: the loop was blocked for
    # the whole call (3 s here, 3.5 s for MathAPI power(7, 3000000)) and no timeout fired.
    from interlace.bench.bfcl._tools import BFCLTool

    released = threading.Event()

    def slow_backend() -> str:
        return "finished" if released.wait(3.0) else "blocked the loop"

    doc = {"name": "slow", "parameters": {"properties": {}, "required": []}}
    tool = BFCLTool(name="slow", doc=doc, latency=0.0, target=slow_backend)
    loop_ran = anyio.Event()

    async def tick() -> None:
        loop_ran.set()

    try:
        with anyio.fail_after(2.5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(tick)
                outcome = await invoke_tool(tool, (), {}, timeout=0.2)
        assert loop_ran.is_set()
        assert isinstance(outcome, Failed) and isinstance(outcome.error, ToolTimeoutError)
        timed = BFCLTool(name="slow", doc=doc, latency=0.0, target=slow_backend, timeout=0.1)
        with pytest.raises(ToolTimeoutError):
            await timed.invoke((), {})
    finally:
        released.set()


@pytest.mark.anyio
async def test_bfcl_calls_on_one_backend_are_serialised() -> None:
    from interlace.bench.bfcl._tools import BFCLTool

    inside = 0
    most = 0
    guard = threading.Lock()

    def call() -> int:
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        threading.Event().wait(0.02)
        with guard:
            inside -= 1
        return most

    doc = {"name": "f", "parameters": {"properties": {}, "required": []}}
    lock = threading.Lock()
    tools = [BFCLTool(name="f", doc=doc, latency=0.0, target=call, lock=lock) for _ in range(4)]
    async with anyio.create_task_group() as tg:
        for t in tools:
            tg.start_soon(t.invoke, (), {})
    assert most == 1


# -- 3. PlanParser.feed never raises on model output ---------------------------------------------


def test_unhashable_dict_key_is_a_line_error() -> None:
    # Before: TypeError (unhashable type: 'list') escaped feed().
    parser = PlanParser()
    events = parser.feed("1. f({[1]: 2})\n2. g({[1], [2]})\n3. h(1)\n")
    assert [type(e) for e in events] == [LineError, LineError, TaskParsed]
    assert [e.error.task_id for e in events if isinstance(e, LineError)] == [1, 2]


_ATOMS = st.sampled_from(["1", "'a'", "$1", "None", "[1]", "{1}", "-2.5", "x", "()", "1j"])


def _nest(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    return st.one_of(
        st.lists(children, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
        st.lists(children, max_size=3).map(lambda xs: f"{{{', '.join(xs)}}}"),
        st.lists(pair, max_size=3).map(
            lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}"
        ),
        st.lists(children, max_size=3).map(lambda xs: f"({', '.join(xs)},)"),
    )


ARGUMENTS = st.recursive(_ATOMS, _nest, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(args=st.lists(ARGUMENTS, min_size=1, max_size=3))
def test_feed_never_raises_on_any_literal_structure(args: list[str]) -> None:
    parser = PlanParser()
    events = parser.feed(f"1. a()\n2. f({', '.join(args)})\n") + parser.close()
    assert len(events) == 2 and all(isinstance(e, TaskParsed | LineError) for e in events)


_CML_PIECES = st.sampled_from(
    [
        "[CALL]", "[HEAD]", "[END]", "[TRAP]", "[INTR]", "[", "]", " c1 ", "f(", ")", "x=",
        "1", '"a"', "{", "}", ":", ",", "[1]", "true", "\ud800", "\n", "$c1", "**k", "*a",
        '{"name": "f", "arguments": ', "[" * 300, "]" * 300, "(" * 300, "1+" * 200, "é",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.one_of(_CML_PIECES, st.text(max_size=4)), max_size=40))
def test_the_token_monitor_never_raises_on_model_output(pieces: list[str]) -> None:
    monitor = TokenMonitor()
    events = [e for piece in pieces for e in monitor.feed(piece)] + monitor.close()
    for event in events:
        if isinstance(event, BlockError):
            assert isinstance(event.error, CMLError)
        if isinstance(event, CallEvent):
            assert render_value([event.call.args, dict(event.call.kwargs)])


# -- 6. smaller defects --------------------------------------------------------------------------


def test_deeply_nested_json_call_is_a_cml_error_not_recursion() -> None:
    # Before: json.loads raised RecursionError through parse_call and the monitor.
    deep = '{"name": "f", "arguments": {"x": ' + "[" * 1000 + "]" * 1000 + "}}"
    block = f"[CALL] c1 [HEAD] {deep} [END]"
    with pytest.raises(CMLError):
        parse_call(block)
    events = TokenMonitor().feed(block)
    assert [type(e) for e in events] == [BlockError]
    deep_py = "[CALL] c2 [HEAD] f(x=" + "[" * 1000 + "]" * 1000 + ") [END]"
    assert [type(e) for e in TokenMonitor().feed(deep_py)] == [BlockError]


def test_lone_surrogate_in_a_call_is_a_cml_error_not_unicode_error() -> None:
    # Before: ast.parse encoded the body to UTF-8 and raised UnicodeEncodeError.
    block = '[CALL] c1 [HEAD] f(x="\ud800") [END]'
    with pytest.raises(CMLError):
        parse_call(block)
    assert [type(e) for e in TokenMonitor().feed(block)] == [BlockError]
    escaped = TokenMonitor().feed('[CALL] c1 [HEAD] f(x="\\ud800") [END]')  # ASCII source: fine
    assert [type(e) for e in escaped] == [CallEvent]


def test_mixed_key_types_do_not_break_repeat_detection() -> None:
    call = parse_call('[CALL] c1 [HEAD] f({1: 2, "a": 3}) [END]')
    from interlace._calls import call_key

    key = call_key(call.name, call.args, call.kwargs)
    assert key == call_key(call.name, call.args, call.kwargs)
    assert key == call_key("F", ({"a": 3, 1: 2},), {})  # name case and key order ignored


def test_huge_literal_in_math_is_an_expression_error() -> None:
    # Before: isfinite() on a 499-digit int raised an untyped OverflowError.
    with pytest.raises(ExpressionError):
        evaluate("9" * 499)
    with pytest.raises(ExpressionError):
        evaluate("1" * 400 + " + 1")


def test_joiner_finish_after_another_action_is_read() -> None:
    # Before: the loop reassigned `text`, so the bare Finish line was searched for in "Rome".
    decision = parse_joiner_output('Action: search("Rome")\nFinish(Paris)')
    assert decision is not None and (decision.kind, decision.text) == ("finish", "Paris")


# -- BFCL data: a small fake wheel (sha256 patched in) -------------------------------------------

_SRC = "bfcl_eval/eval_checker/multi_turn_eval/func_source_code/"
_DOC = "bfcl_eval/data/multi_turn_func_doc/"
TOY_API = """
class ToyAPI:
    def __init__(self):
        self.count = 0
        self.log = []

    def _load_scenario(self, config):
        self.count = config.get("count", 0)

    def bump(self, by=1):
        self.count += by
        return {"count": self.count}

    def secret(self):
        self.log.append("secret")
        return "ran"
"""
_INTEGER = {"type": "integer"}
TOY_DOCS = [
    {"name": "bump", "parameters": {"properties": {"by": _INTEGER}, "required": []}},
    {"name": "secret", "parameters": {"properties": {}, "required": []}},
]


@pytest.fixture
def own_backends() -> Iterator[None]:
    """The fake wheel's backend modules are imported under BFCL's package name: keep them out
    of (and restore) the real ones in ``sys.modules``."""
    saved = {k: v for k, v in sys.modules.items() if k.startswith("bfcl_eval")}
    for key in saved:
        del sys.modules[key]
    yield
    for key in [k for k in sys.modules if k.startswith("bfcl_eval")]:
        del sys.modules[key]
    sys.modules.update(saved)


def _wheel(root: Path, monkeypatch: pytest.MonkeyPatch, extra: Mapping[str, str] = {}) -> Path:
    from interlace.bench.bfcl import _data

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_SRC + "toy_api.py", TOY_API)
        archive.writestr(_DOC + "toy_api.json", "\n".join(json.dumps(d) for d in TOY_DOCS))
        for member, text in extra.items():
            archive.writestr(member, text)
    data = buffer.getvalue()
    monkeypatch.setattr(_data, "SHA256", hashlib.sha256(data).hexdigest())
    path = _data.wheel_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


ENTRY = {
    "id": "toy_0",
    "initial_config": {"ToyAPI": {"count": 1}},
    "involved_classes": ["ToyAPI"],
    "excluded_function": ["secret"],
    "ground_truth": ["bump(by=2)"],
}


@pytest.mark.usefixtures("own_backends")
def test_scoring_does_not_replay_calls_rejected_during_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the scorer replayed every recorded call; the excluded `secret()` answered
    # "unknown function" live but changed the backend state at scoring (log == ["secret"]).
    from interlace.bench.bfcl import accepted_calls, multi_step_state_matches

    _wheel(tmp_path, monkeypatch)
    calls: list[dict[str, Any]] = [
        {"name": "secret", "args": [], "arguments": {}},  # excluded: rejected live
        {"name": "bump", "args": [], "arguments": {"by": 2, "nope": 1}},  # bad argument
        {"name": "Bump", "args": [2], "arguments": {}},  # accepted (case, positional)
    ]
    assert accepted_calls(tmp_path, [ENTRY], calls) == [
        {"name": "bump", "args": [], "arguments": {"by": 2}}
    ]
    assert multi_step_state_matches(tmp_path, [ENTRY], accepted_calls(tmp_path, [ENTRY], calls))
    assert not multi_step_state_matches(tmp_path, [ENTRY], calls)  # the unfiltered replay


def test_the_wheel_is_verified_on_every_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: only the download was hashed; a replaced wheel was opened and its code imported.
    from interlace.bench.bfcl._data import fetch_wheel, open_wheel

    path = _wheel(tmp_path, monkeypatch)
    open_wheel(tmp_path).close()
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(ChecksumError):
        open_wheel(tmp_path)
    with pytest.raises(ChecksumError):
        fetch_wheel(tmp_path, pip_download=lambda requirement: b"")


def test_extracted_sources_are_verified_and_re_extracted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: a `.complete` marker was trusted forever; edited sources were imported as is.
    from interlace.bench.bfcl._tools import backend_dir

    _wheel(tmp_path, monkeypatch)
    src = backend_dir(tmp_path)
    source = src / _SRC / "toy_api.py"
    source.write_text("raise SystemExit('tampered')\n")
    assert backend_dir(tmp_path) == src
    assert source.read_text() == TOY_API


def test_extraction_refuses_paths_leaving_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: `<prefix>../../../../../evil.py` was written outside the data directory.
    from interlace.bench.bfcl._tools import backend_dir

    root = tmp_path / "data"
    _wheel(root, monkeypatch, {_SRC + "../" * 8 + "evil.py": "x = 1\n"})
    with pytest.raises(DataError, match="outside"):
        backend_dir(root)
    assert not any(p.name == "evil.py" for p in tmp_path.rglob("*"))


def test_check_arguments_names_the_problem() -> None:
    from interlace.bench.bfcl._tools import check_arguments

    with pytest.raises(ToolArgumentError, match="unknown arguments"):
        check_arguments(TOY_DOCS[0], (), {"nope": 1})


@pytest.mark.anyio
async def test_invoke_tool_passes_argument_errors_through() -> None:
    def f(x: int) -> int:
        return x

    outcome = await invoke_tool(Tool.from_function(f), ("not a number",), {})
    assert isinstance(outcome, Failed) and isinstance(outcome.error, ToolArgumentError)
    ok = await invoke_tool(Tool.from_function(f), (3,), {})
    assert ok == Succeeded(value=3)
