"""OpenAI-compatible backend: a real llama.cpp server on 127.0.0.1, and mocked HTTP failures."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import httpx2
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlace._errors import (
    LLMAuthenticationError,
    LLMConnectionError,
    LLMContextOverflowError,
    LLMError,
    LLMModelNotFoundError,
    LLMRateLimitError,
    LLMResponseError,
    ToolArgumentError,
    UsageError,
)
from interlace.llm import (
    Completion,
    GenerationConfig,
    Message,
    NativeTools,
    OpenAICompatLLM,
    TextDelta,
    load_llm,
)
from interlace.llm._models import MODELS, is_present, model_path


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


ASK = [Message(role="user", content="Count from 1 to 20, separated by commas.")]


# -- mocked HTTP: typed errors and usage accounting ---------------------------------------------


def _mock_llm(
    handler: Callable[[httpx2.Request], httpx2.Response], **kw: object
) -> OpenAICompatLLM:
    client = openai.AsyncOpenAI(
        api_key="k",
        base_url="http://mock/v1",
        max_retries=int(kw.pop("max_retries", 0)),  # type: ignore[call-overload]
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )
    return OpenAICompatLLM("gpt-4o-mini", client=client, **kw)  # type: ignore[arg-type]


def _error(status: int, message: str, code: str | None = None) -> httpx2.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return httpx2.Response(status, json=body)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("response", "error"),
    [
        (_error(401, "Incorrect API key provided"), LLMAuthenticationError),
        (_error(404, "The model `nope` does not exist", "model_not_found"), LLMModelNotFoundError),
        (
            _error(
                400,
                "This model's maximum context length is 128000 tokens",
                "context_length_exceeded",
            ),
            LLMContextOverflowError,
        ),
        (
            _error(400, "Requested tokens (5000) exceed context window of 2048"),
            LLMContextOverflowError,
        ),
        (_error(429, "Rate limit reached"), LLMRateLimitError),
    ],
)
async def test_http_errors_are_typed(response: httpx2.Response, error: type[Exception]) -> None:
    llm = _mock_llm(lambda _: response)
    with pytest.raises(error):
        await llm.complete(ASK)


@pytest.mark.anyio
async def test_retries_then_succeeds_and_prices_server_usage() -> None:
    calls: list[dict[str, object]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(json.loads(request.content))
        if len(calls) < 3:
            return _error(503, "overloaded")
        chunks = [
            {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "length"}]},
            {
                "choices": [],
                "usage": {
                    "prompt_tokens": 1000,
                    "completion_tokens": 2,
                    "total_tokens": 1002,
                    "prompt_tokens_details": {"cached_tokens": 400},
                },
            },
        ]
        body = "".join(
            "data: "
            + json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "gpt-4o-mini-2024-07-18",
                    **c,
                }
            )
            + "\n\n"
            for c in chunks
        )
        body += "data: [DONE]\n\n"
        return httpx2.Response(200, text=body, headers={"content-type": "text/event-stream"})

    llm = _mock_llm(handler, max_retries=3)
    items = [item async for item in llm.stream(ASK, GenerationConfig(max_tokens=2, stop=("\n",)))]
    assert [i.text for i in items if isinstance(i, TextDelta)] == ["Hel", "lo"]
    final = items[-1]
    assert (
        isinstance(final, Completion) and final.text == "Hello" and final.finish_reason == "length"
    )
    assert final.usage.prompt_tokens == 1000 and final.usage.cached_prompt_tokens == 400
    assert final.cost_usd == pytest.approx((600 * 0.15 + 400 * 0.075 + 2 * 0.60) / 1e6)
    assert len(calls) == 3
    assert calls[-1]["stream_options"] == {"include_usage": True}
    assert calls[-1]["stop"] == ["\n"] and calls[-1]["max_tokens"] == 2


@pytest.mark.anyio
async def test_missing_usage_is_marked_inexact() -> None:
    chunk = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
    }
    body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
    llm = _mock_llm(
        lambda _: httpx2.Response(200, text=body, headers={"content-type": "text/event-stream"})
    )
    final = await llm.complete(ASK)
    assert final.text == "hi" and not final.usage_exact and final.usage.prompt_tokens == 0


@pytest.mark.anyio
async def test_unreachable_port_fails_fast_after_bounded_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    llm = OpenAICompatLLM("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, timeout=5.0)
    t0 = time.monotonic()
    with pytest.raises(LLMConnectionError, match="cannot reach"):
        await llm.complete(ASK)
    assert time.monotonic() - t0 < 10.0
    await llm.aclose()


# -- native function calling: tool_calls deltas --------------------------------------------------


def _sse(*deltas: object) -> httpx2.Response:
    events = [
        {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
         "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        for delta in deltas
    ]  # fmt: skip
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return httpx2.Response(200, text=body, headers={"content-type": "text/event-stream"})


OFFER = NativeTools(
    schemas=(
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "g", "parameters": {"type": "object"}}},
    )
)


@pytest.mark.anyio
async def test_tool_calls_without_index_or_id_are_assembled() -> None:
    # Some servers omit ``index`` (calls told apart by id), repeat the name in every delta, or
    # send no id at all; text may come beside the calls.
    response = _sse(
        {"content": "Let me look."},
        {"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"a"'}}]},
        {"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": ": 1}"}}]},
        {"tool_calls": [{"id": "c2", "function": {"name": "g", "arguments": "{}"}}]},
        {"tool_calls": [{"function": {"arguments": " "}}]},  # continues the last call
        {"tool_calls": [{"index": 7, "function": {"name": "f", "arguments": "[1]"}}]},
    )
    llm = _mock_llm(lambda _: response)
    items = [i async for i in llm.stream_tools(ASK, OFFER)]
    final = items[-1]
    assert isinstance(final, Completion) and final.text == "Let me look."
    assert [(c.id, c.name, c.arguments) for c in final.tool_calls] == [
        ("c1", "f", '{"a": 1}'),
        ("c2", "g", "{} "),
        ("call_7", "f", "[1]"),
    ]
    assert final.tool_calls[0].parsed_arguments() == {"a": 1}
    assert final.tool_calls[1].parsed_arguments() == {}
    with pytest.raises(ToolArgumentError, match="JSON object"):
        final.tool_calls[2].parsed_arguments()


CALLS = [("c1", "search", '{"entity": "Paris"}'), ("c2", "math", '{"expr": "1 + 2 * 3"}')]


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_tool_calls_are_the_same_for_any_chunking(data: st.DataObject) -> None:
    # Each call's arguments cut at random points, the fragments of the calls interleaved at
    # random (each call's own fragments stay in order, as a server streams them).
    queues = []
    for index, (call_id, name, arguments) in enumerate(CALLS):
        cuts = sorted(data.draw(st.sets(st.integers(1, len(arguments) - 1), max_size=6)))
        pieces = [arguments[a:b] for a, b in zip([0, *cuts], [*cuts, len(arguments)], strict=True)]
        head = {"index": index, "id": call_id, "type": "function"}
        queue = [{"tool_calls": [head | {"function": {"name": name, "arguments": pieces[0]}}]}]
        queue += [
            {"tool_calls": [{"index": index, "function": {"arguments": p}}]} for p in pieces[1:]
        ]
        queues.append(queue)
    order = data.draw(st.permutations([i for i, q in enumerate(queues) for _ in q]))
    deltas = [queues[i].pop(0) for i in order]
    llm = _mock_llm(lambda _: _sse(*deltas))

    async def final() -> Completion:
        items = [i async for i in llm.stream_tools(ASK, OFFER)]
        assert isinstance(items[-1], Completion)
        return items[-1]

    completion = anyio.run(final)
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == CALLS
    assert completion.text == ""


@pytest.mark.anyio
@pytest.mark.parametrize(
    "tool_calls",
    [
        "abc",
        [None],
        [{"index": 0, "id": 5, "function": {"name": "f", "arguments": "{}"}}],
        [{"index": 0, "id": "c", "function": {"name": ["f"], "arguments": "{}"}}],
        [{"index": 0, "id": "c", "function": {"name": "f", "arguments": {"a": 1}}}],
        [{"index": 0, "id": "c", "function": {"arguments": "{}"}}],  # never named
    ],
)
async def test_malformed_tool_call_deltas_are_response_errors(tool_calls: object) -> None:
    llm = _mock_llm(lambda _: _sse({"content": "x"}, {"tool_calls": tool_calls}))
    with pytest.raises(LLMResponseError):
        [i async for i in llm.stream_tools(ASK, OFFER)]


def test_bad_offers_are_usage_errors() -> None:
    schema = {"type": "function", "function": {"name": "f"}}
    with pytest.raises(UsageError, match="at least one"):
        NativeTools(schemas=())
    with pytest.raises(UsageError, match="unique"):
        NativeTools(schemas=(schema, schema))
    with pytest.raises(UsageError, match="each schema"):
        NativeTools(schemas=({"name": "f"},))
    with pytest.raises(UsageError, match="choice"):
        NativeTools(schemas=(schema,), choice="always")  # type: ignore[arg-type]


# -- a real server -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# llama_cpp.server, loading its model the way LocalLLM does (interlace.llm._llamacpp: without the
# AMX kernels that segfault on some Xeons; a no-op on other builds).
_SERVER = (
    "import runpy\n"
    "from interlace.llm._llamacpp import without_amx\n"
    "with without_amx():\n"
    "    runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n"
)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    path: Path = model_path("smollm2-135m")
    assert is_present(MODELS["smollm2-135m"], path, verify=False), (
        "smollm2-135m is missing: run `interlace models fetch smollm2-135m`"
    )
    port = _free_port()
    cmd = [
        sys.executable, "-c", _SERVER, "--model", str(path), "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--verbose", "false",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"server died: {proc.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
            try:
                if httpx2.get(f"{url}/models", timeout=1.0).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not become ready in 120 s"
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.anyio
async def test_real_server_streams_with_stop_and_usage(server: str) -> None:
    llm = load_llm(f"llamacpp:smollm2@{server}", max_retries=0)
    items = [i async for i in llm.stream(ASK, GenerationConfig(max_tokens=40, stop=("5",)))]
    deltas = [i.text for i in items if isinstance(i, TextDelta)]
    final = items[-1]
    assert isinstance(final, Completion)
    assert len(deltas) > 2 and "".join(deltas) == final.text  # streamed in pieces
    assert "5" not in final.text and "4" in final.text  # cut at the stop sequence
    assert final.finish_reason == "stop" and final.timing.ttft is not None
    # llama-cpp-python's server ignores stream_options and sends no usage while streaming:
    # the completion says so instead of inventing numbers.
    assert not final.usage_exact and final.usage.prompt_tokens == 0 and final.cost_usd == 0.0
    # The same request without streaming has the server's own counts. Its text is not compared
    # with the streamed one: a compliant server need not repeat itself across requests (this
    # one, with newer dependencies, reuses the first request's KV cache and decoded
    # '1. 1\n2. 2\n3. 4\n4. ' after streaming '1. 1\n2. 2\n3. 3\n4. 4\n').
    raw = httpx2.post(
        f"{server}/chat/completions",
        json={"model": "smollm2", "messages": [{"role": "user", "content": ASK[0].content}],
              "max_tokens": 40, "temperature": 0.0, "seed": 0, "stop": ["5"]},
        timeout=60,
    ).json()  # fmt: skip
    choice = raw["choices"][0]
    assert choice["finish_reason"] == "stop" and "5" not in choice["message"]["content"]
    assert 0 < raw["usage"]["completion_tokens"] < 40 and raw["usage"]["prompt_tokens"] > 0
    # sequentially (the server aborts a stream when another request arrives): a length cut
    second = await llm.complete(ASK, GenerationConfig(max_tokens=3))
    assert second.finish_reason == "length" and second.text == "1. "
    await llm.aclose()


@pytest.mark.slow
@pytest.mark.anyio
async def test_real_server_context_overflow_is_an_error(server: str) -> None:
    llm = load_llm(f"llamacpp:smollm2@{server}", max_retries=0)
    long = [Message(role="user", content="word " * 3000)]
    # llama-cpp-python's server answers a streamed overflow with 200 and an empty body
    with pytest.raises(LLMError, match="without sending anything"):
        await llm.complete(long, GenerationConfig(max_tokens=4))
    await llm.aclose()
