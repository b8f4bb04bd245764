"""Native function calling (``native``, ``native-parallel``) against a loopback fake of the
OpenAI chat API that streams ``tool_calls`` deltas split across chunks, as OpenAI does.

The fake is the reliability suite's :class:`FaultServer` (127.0.0.1 only); every request body it
received is checked: the offered tools, ``parallel_tool_calls``, ``tool_choice`` and the
``role: "tool"`` results with their ``tool_call_id``. Orderings are proven with events (a
sequential run of two parallel calls deadlocks and fails the deadline), never with sleeps.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

import interlace
from _bench_helpers import SHARED_DATA
from interlace import NativeFunctionCalling, Tool, UsageError, _events
from interlace.bench._benchmarks import build_agent
from interlace.bench._examples import HOTPOTQA
from interlace.bench._registry import (
    Question,
    QuestionId,
    RunOptions,
    default_methods,
    get_benchmark,
)
from interlace.bench._runner import MeteredLLM
from interlace.cli import app
from interlace.llm import (
    GenerationConfig,
    LocalLLM,
    NativeToolCalling,
    NativeTools,
    OpenAICompatLLM,
)
from interlace.testing import ScriptedLLM
from test_reliability_llm import SSE, FaultServer, Writer, _event, _head
from test_reliability_llm import serve as serve  # the fixture

DEADLINE = 10.0  # seconds any run may take: the failure signal for a hang or a deadlock
Serve = Callable[..., Awaitable[FaultServer]]


# -- the fake's replies ---------------------------------------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    return {**_chunk({}), "choices": [], "usage": usage | {"total_tokens": prompt + completion}}


def _call(index: int, arguments: str, *, id: str | None = None, name: str | None = None) -> dict:
    function: dict[str, str] = {"arguments": arguments}
    if name is not None:
        function["name"] = name
    entry: dict[str, Any] = {"index": index, "function": function}
    if id is not None:
        entry |= {"id": id, "type": "function"}
    return _chunk({"tool_calls": [entry]})


def _text(*pieces: str) -> list[dict[str, Any]]:
    return [_chunk({"role": "assistant", "content": ""})] + [
        _chunk({"content": piece}) for piece in pieces
    ]


async def _reply(writer: Writer, events: Sequence[dict[str, Any]]) -> None:
    writer.write(_head("200 OK", SSE))
    for event in events:
        writer.write(_event(event))
    writer.write(_event("[DONE]"))


# Turn 1: two parallel calls whose ids, names and JSON arguments arrive in fragments over
# interleaved chunks, and a third call whose arguments never become valid JSON.
PARALLEL_TURN = [
    _chunk({"role": "assistant", "content": None}),
    _call(0, "", id="call_a", name="search"),
    _call(0, '{"enti'),
    _call(1, '{"entity": "Ber', id="call_b", name="search"),
    _call(0, 'ty": "Paris"}'),
    _call(1, 'lin"}'),
    _call(2, '{"entity": "Rome"', id="call_c", name="search"),
    _chunk({}, "tool_calls"),
    _usage(120, 40),
]
ANSWER_TURN = [*_text("Par", "is"), _chunk({}, "stop"), _usage(200, 2)]


def _bodies(server: FaultServer) -> list[dict[str, Any]]:
    return [json.loads(body) for body in server.bodies]


def _llm(server: FaultServer) -> OpenAICompatLLM:
    return OpenAICompatLLM(
        "fake-model",
        base_url=f"http://127.0.0.1:{server.port}/v1",
        api_key="k",
        timeout=5.0,
        max_retries=0,
    )


def _search_tool(search: Callable[[str], Awaitable[str]]) -> Tool:
    async def fn(entity: str) -> str:
        """Look up an entity.

        Args:
            entity: what to look up.
        """
        return await search(entity)

    return Tool.from_function(fn, name="search")


# -- the agent ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_parallel_calls_run_concurrently_and_results_go_back_by_id(serve: Serve) -> None:
    async def handler(n: int, writer: Writer) -> None:
        await _reply(writer, PARALLEL_TURN if n == 0 else ANSWER_TURN)

    server = await serve(handler)
    both_started = anyio.Event()
    started: list[str] = []

    async def search(entity: str) -> str:
        started.append(entity)
        if len(started) == 2:
            both_started.set()
        await both_started.wait()  # run one at a time and this deadlocks: the deadline fails
        return f"{entity} is a capital."

    tool = _search_tool(search)
    agent = NativeFunctionCalling(_llm(server), [tool], parallel=True)
    with anyio.fail_after(DEADLINE):
        result = await agent.run("Which city is the capital of France?")

    assert result.method == "native-parallel" and result.answer == "Paris"
    assert sorted(started) == ["Berlin", "Paris"]  # the broken call never reached the tool
    first, second = _bodies(server)
    # what the model was offered
    assert first["tools"] == [tool.openai_schema()]
    assert (first["parallel_tool_calls"], first["tool_choice"], first["stream"]) == (
        True,
        "auto",
        True,
    )
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    # the calls it made, assembled from their fragments and sent back verbatim
    assert second["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "search", "arguments": '{"entity": "Paris"}'}},
            {"id": "call_b", "type": "function",
             "function": {"name": "search", "arguments": '{"entity": "Berlin"}'}},
            {"id": "call_c", "type": "function",
             "function": {"name": "search", "arguments": '{"entity": "Rome"'}},
        ],
    }  # fmt: skip
    results = second["messages"][3:]
    assert [(m["role"], m["tool_call_id"]) for m in results] == [
        ("tool", "call_a"),
        ("tool", "call_b"),
        ("tool", "call_c"),
    ]
    assert results[0]["content"] == "Paris is a capital."
    assert results[1]["content"] == "Berlin is a capital."
    assert (
        results[2]["content"].startswith("Error: ToolArgumentError")
        and "JSON" in (results[2]["content"])
    )
    # outcomes of the calls, usage and the trace
    calls = result.details["calls"]
    assert [(c["id"], c["outcome"]) for c in calls] == [
        ("call_a", "succeeded"),
        ("call_b", "succeeded"),
        ("call_c", "failed"),
    ]
    assert calls[0]["arguments"] == {"entity": "Paris"} and calls[0]["error"] is None
    assert calls[2]["arguments"] == '{"entity": "Rome"' and "ToolArgumentError" in calls[2]["error"]
    assert result.llm_calls == 2 and result.tool_calls == 2 and result.rounds == 2
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (320, 42)
    assert any("call_c failed" in e for e in result.errors) and len(result.errors) == 1
    llm_spans = [s for s in result.trace.spans if s.kind == "llm"]
    assert [s.attrs["role"] for s in llm_spans] == ["native", "native"]
    assert [c["id"] for c in llm_spans[0].attrs["tool_calls"]] == ["call_a", "call_b", "call_c"]
    assert llm_spans[1].attrs["text"] == "Paris" and llm_spans[1].attrs["prompt_tokens"] == 200
    tool_spans = [s for s in result.trace.spans if s.kind == "tool"]
    assert sorted(s.attrs["call_id"] for s in tool_spans) == ["call_a", "call_b"]
    assert {s.attrs["outcome"] for s in tool_spans} == {"succeeded"}
    a, b = tool_spans
    assert a.start < b.end and b.start < a.end  # they overlapped


@pytest.mark.anyio
async def test_native_asks_for_one_call_per_turn_and_runs_them_one_at_a_time(
    serve: Serve,
) -> None:
    async def handler(n: int, writer: Writer) -> None:
        await _reply(writer, PARALLEL_TURN if n == 0 else ANSWER_TURN)

    server = await serve(handler)
    running = 0
    most = 0

    async def search(entity: str) -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await anyio.lowlevel.checkpoint()
        running -= 1
        return entity

    agent = NativeFunctionCalling(_llm(server), [_search_tool(search)], parallel=False)
    with anyio.fail_after(DEADLINE):
        result = await agent.run("q")
    first = _bodies(server)[0]
    assert first["parallel_tool_calls"] is False and result.method == "native"
    assert most == 1 and result.tool_calls == 2  # this server ignored the flag: run in order
    assert any("despite parallel_tool_calls=False" in e for e in result.errors)
    assert result.answer == "Paris"


@pytest.mark.anyio
async def test_native_requests_are_metered_and_stream_events_like_any_request(
    serve: Serve,
) -> None:
    async def handler(n: int, writer: Writer) -> None:
        await _reply(writer, PARALLEL_TURN if n == 0 else ANSWER_TURN)

    server = await serve(handler)

    async def search(entity: str) -> str:
        return entity

    metered = MeteredLLM(_llm(server))
    agent = NativeFunctionCalling(metered, [_search_tool(search)], max_turns=1)
    with anyio.fail_after(DEADLINE):
        events = [e async for e in agent.events("Which city is the capital of France?")]
    answer = events[-1]
    assert isinstance(answer, interlace.Answer) and answer.result.answer == "Paris"
    result = answer.result
    # every request the fake received is counted, by the run and by the bench's meter
    assert server.requests == 2 and result.llm_calls == 2 and metered.stats.calls == 2
    assert metered.stats.usage == result.usage
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (320, 42)
    # through the one request path: LLM events with the turn's role, tool events between
    kinds = [
        f"{type(e).__name__}:{e.role}" if isinstance(e, interlace.LLMStart | interlace.LLMEnd)
        else type(e).__name__
        for e in events
        if not isinstance(e, interlace.LLMText)
    ]  # fmt: skip
    assert kinds[:2] == ["LLMStart:native", "LLMEnd:native"]
    assert kinds[-3:] == ["LLMStart:native-final", "LLMEnd:native-final", "Answer"]
    assert kinds.count("TaskFinished") == 2  # the third call's arguments never parsed
    final = next(e for e in events if isinstance(e, interlace.LLMStart) and e.role != "native")
    text = [
        e.text for e in events if isinstance(e, interlace.LLMText) and e.request == final.request
    ]
    assert "".join(text) == "Paris"


@pytest.mark.anyio
async def test_offering_tools_to_a_backend_without_native_calls_is_a_usage_error() -> None:
    async def search(entity: str) -> str:
        return entity

    offer = NativeTools.from_tools([_search_tool(search)])
    ask = [interlace.Message(role="user", content="q")]
    with pytest.raises(UsageError, match="cannot offer functions natively"):
        async for _ in _events.stream(ScriptedLLM(["x"]), ask, GenerationConfig(), tools=offer):
            pass


@pytest.mark.anyio
async def test_after_max_turns_one_turn_without_functions_gives_the_answer(
    serve: Serve,
) -> None:
    one_call = [_call(0, '{"entity": "x"}', id="call_1", name="search"), _usage(10, 5)]

    async def handler(n: int, writer: Writer) -> None:
        await _reply(writer, one_call if n == 0 else [*_text("Rome"), _usage(30, 1)])

    server = await serve(handler)

    async def search(entity: str) -> str:
        return "nothing"

    agent = NativeFunctionCalling(_llm(server), [_search_tool(search)], max_turns=1)
    with anyio.fail_after(DEADLINE):
        result = await agent.run("q")
    bodies = _bodies(server)
    assert len(bodies) == 2 and bodies[1]["tool_choice"] == "none"
    assert bodies[1]["messages"][-1]["role"] == "user"  # asked for the answer
    assert bodies[1]["messages"][-2] == {
        "role": "tool",
        "content": "nothing",
        "tool_call_id": "call_1",
    }
    assert result.answer == "Rome" and result.rounds == 2
    roles = [s.attrs["role"] for s in result.trace.spans if s.kind == "llm"]
    assert roles == ["native", "native-final"]
    assert any("max_turns=1" in e for e in result.errors)


@pytest.mark.anyio
async def test_unknown_functions_and_failing_tools_are_failed_calls(serve: Serve) -> None:
    turn = [
        _call(0, '{"entity": "a"}', id="call_x", name="lookup"),
        _call(1, '{"entity": "b"}', id="call_y", name="search"),
        _call(2, '{"place": "c"}', id="call_z", name="search"),
        _usage(10, 5),
    ]

    async def handler(n: int, writer: Writer) -> None:
        await _reply(writer, turn if n == 0 else [*_text("no idea"), _usage(30, 2)])

    server = await serve(handler)

    async def search(entity: str) -> str:
        raise RuntimeError("index offline")

    agent = NativeFunctionCalling(_llm(server), [_search_tool(search)])
    with anyio.fail_after(DEADLINE):
        result = await agent.run("q")
    errors = [c["error"] for c in result.details["calls"]]
    assert errors[0].startswith("UnknownToolError") and "lookup" in errors[0]
    assert errors[1].startswith("ToolExecutionError") and "index offline" in errors[1]
    assert "place" in errors[2]  # an argument the schema does not have
    assert [c["outcome"] for c in result.details["calls"]] == ["failed"] * 3
    results = [m for m in _bodies(server)[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in results] == ["call_x", "call_y", "call_z"]
    assert all(m["content"].startswith("Error: ") for m in results)
    assert result.answer == "no idea"


# -- backends that cannot, and the benchmark builder -----------------------------------------------


def test_a_local_model_is_refused_with_a_typed_error() -> None:
    local = LocalLLM("smollm2-135m")  # weights load on first request: none is made
    assert not isinstance(local, NativeToolCalling)
    assert isinstance(OpenAICompatLLM("m", api_key="k"), NativeToolCalling)

    async def search(entity: str) -> str:
        return entity

    tools = [_search_tool(search)]
    for llm in (local, MeteredLLM(local), ScriptedLLM(["x"])):
        with pytest.raises(UsageError, match=f"{llm.model!r} cannot call functions natively"):
            NativeFunctionCalling(llm, tools)
    question = Question(id=QuestionId("q"), text="q", label="a")
    options = RunOptions(data_dir=Path("."))
    with pytest.raises(UsageError, match="OpenAI-compatible backend"):
        build_agent("native-parallel", MeteredLLM(local), tools, HOTPOTQA, options, question)
    remote = MeteredLLM(OpenAICompatLLM("m", api_key="k"))
    agent = build_agent("native", remote, tools, HOTPOTQA, options, question)
    assert isinstance(agent, NativeFunctionCalling) and agent.name == "native"


def test_the_native_methods_run_only_when_named() -> None:
    hotpotqa = get_benchmark("hotpotqa")
    assert {"native", "native-parallel"} <= set(hotpotqa.methods)
    assert default_methods(hotpotqa) == ("compiler", "react")
    bfcl = get_benchmark("bfcl")  # its native methods too (tests/test_bfcl_native.py)
    assert default_methods(bfcl) == tuple(m for m in bfcl.methods if not m.startswith("native"))


def test_bad_arguments_are_usage_errors() -> None:
    llm = OpenAICompatLLM("m", api_key="k")

    async def search(entity: str) -> str:
        return entity

    with pytest.raises(UsageError, match="max_turns"):
        NativeFunctionCalling(llm, [_search_tool(search)], max_turns=0)
    with pytest.raises(UsageError, match="one or more tools"):
        NativeFunctionCalling(llm, [])


# -- the CLI: native-parallel next to LLMCompiler on HotpotQA ------------------------------------


@contextmanager
def _threaded(handler: Callable[[FaultServer, int, Writer], Awaitable[None]]) -> Iterator[str]:
    """The fake on its own event loop in a thread (the CLI runs its own loop); yields its URL."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        fault = FaultServer(lambda n, w: handler(fault, n, w))
        server = await asyncio.start_server(fault._serve, "127.0.0.1", 0)
        box["port"], box["loop"], box["stop"] = (
            server.sockets[0].getsockname()[1],
            (asyncio.get_running_loop()),
            asyncio.Event(),
        )
        ready.set()
        await box["stop"].wait()
        server.close()
        await server.wait_closed()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(DEADLINE)
    try:
        yield f"http://127.0.0.1:{box['port']}/v1"
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(DEADLINE)


def test_bench_hotpotqa_native_parallel_next_to_compiler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []

    async def handler(fault: FaultServer, n: int, writer: Writer) -> None:
        body = json.loads(fault.bodies[n])
        seen.append(body)
        if "tools" in body:  # native-parallel
            turns = sum("tools" in b for b in seen)
            if turns == 1:
                call = _call(0, '{"entity": "Scott Derrickson"}', id="call_1", name="search")
                await _reply(writer, [call, _usage(100, 10)])
            else:
                await _reply(writer, [*_text("yes"), _usage(150, 1)])
        elif sum("tools" not in b for b in seen) == 1:  # the planner
            plan = '1. search("Scott Derrickson")\n2. join()\n<END_OF_PLAN>'
            await _reply(writer, [*_text(plan), _usage(300, 20)])
        else:  # the joiner
            await _reply(writer, [*_text("Thought: done\nAction: Finish(yes)"), _usage(400, 9)])

    monkeypatch.setenv("OPENAI_API_KEY", "k")
    store = tmp_path / "runs.jsonl"
    with _threaded(handler) as url:
        args = [
            "bench", "hotpotqa", "--methods", "native-parallel,compiler", "--llm",
            f"openai:fake-model@{url}", "--limit", "1", "--data-dir", str(SHARED_DATA),
            "--store", str(store), "--tool-latency", "1ms",
        ]  # fmt: skip
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = {r["method"]: r for r in map(json.loads, store.read_text().splitlines())}
    assert set(records) == {"native-parallel", "compiler"}
    native = records["native-parallel"]
    assert native["prediction"] == "yes" and native["tool_calls"] == 1
    assert native["llm_calls"] == 2 and native["tokens_in"] == 250
    assert native["details"]["calls"][0]["outcome"] == "succeeded"
    assert records["compiler"]["prediction"] == "yes" and records["compiler"]["tool_calls"] == 1
    tool_results = [m for b in seen if "tools" in b for m in b["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_results] == ["call_1"]
    assert tool_results[0]["content"] and not tool_results[0]["content"].startswith("Error")
    report = CliRunner().invoke(app, ["eval", str(store), "--json"])
    assert report.exit_code == 0, report.output
    methods = {s["method"] for s in json.loads(report.stdout)["summaries"]}
    assert methods == {"native-parallel", "compiler"}
