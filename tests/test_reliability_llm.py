"""The OpenAI-compatible backend against a loopback fault server (127.0.0.1 only).

A tiny HTTP server plays a misbehaving LLM server: rate limits, 5xx, stalls before and during
the stream, cut streams, malformed SSE events, empty replies. Every case must end either in the
reply (when a retry recovers) or in a typed ``LLMError`` within its deadline, with a bounded
number of requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import anyio
import pytest

from interlace._errors import (
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
)
from interlace.llm import Completion, GenerationConfig, Message, OpenAICompatLLM, TextDelta

ASK = [Message(role="user", content="hi")]
TIMEOUT = 0.5  # seconds per HTTP request (the backend's own timeout)
RETRIES = 1
DEADLINE = 10.0  # seconds any case may take: the failure signal for a hang


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


Writer = asyncio.StreamWriter
Handler = Callable[[int, Writer], Awaitable[None]]


@dataclass
class FaultServer:
    """An HTTP/1.1 server on 127.0.0.1 that answers request ``n`` (0-based) with ``handler``."""

    handler: Handler
    requests: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)  # ends every stall
    port: int = 0
    bodies: list[bytes] = field(default_factory=list)  # each request's body, in order

    async def _serve(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            self.bodies.append(await reader.readexactly(length))
            number, self.requests = self.requests, self.requests + 1
            await self.handler(number, writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def stall(self) -> None:
        """Hold the connection open without sending anything (until the test ends)."""
        await self.release.wait()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[FaultServer]]]:
    servers: list[tuple[FaultServer, asyncio.Server]] = []

    async def start(handler: Handler) -> FaultServer:
        fault = FaultServer(handler)
        server = await asyncio.start_server(fault._serve, "127.0.0.1", 0)
        fault.port = server.sockets[0].getsockname()[1]
        servers.append((fault, server))
        return fault

    yield start
    for fault, server in servers:
        fault.release.set()
        server.close()
        await server.wait_closed()


def _llm(server: FaultServer) -> OpenAICompatLLM:
    return OpenAICompatLLM(
        "m",
        base_url=f"http://127.0.0.1:{server.port}/v1",
        api_key="k",
        timeout=TIMEOUT,
        max_retries=RETRIES,
    )


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _event(payload: object) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def _chunk(text: str) -> dict[str, object]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


SSE = {"content-type": "text/event-stream", "connection": "close"}
FAST_RETRY = {"retry-after-ms": "10"}  # keeps the SDK's backoff short


async def _ok(writer: Writer) -> None:
    writer.write(_head("200 OK", SSE))
    writer.write(_event(_chunk("hello")))
    writer.write(_event("[DONE]"))


def _body(status: str, body: Mapping[str, object], extra: dict[str, str] | None = None) -> bytes:
    data = json.dumps(body).encode()
    headers = {"content-type": "application/json", "content-length": str(len(data))}
    headers |= {"connection": "close"} | (extra or {})
    return _head(status, headers) + data


async def _collect(llm: OpenAICompatLLM) -> tuple[str, Completion]:
    text = ""
    with anyio.fail_after(DEADLINE):
        async for item in llm.stream(ASK, GenerationConfig(max_tokens=8)):
            if isinstance(item, TextDelta):
                text += item.text
            else:
                return text, item
    raise AssertionError("the stream ended without a Completion")


@pytest.mark.anyio
async def test_429_then_200_recovers_with_one_retry(
    serve: Callable[..., Awaitable[FaultServer]],
) -> None:
    async def handler(n: int, writer: Writer) -> None:
        if n == 0:
            body = {"error": {"message": "slow down", "type": "rate_limit"}}
            writer.write(_body("429 Too Many Requests", body, FAST_RETRY))
        else:
            await _ok(writer)

    server = await serve(handler)
    text, completion = await _collect(_llm(server))
    assert (text, completion.text, server.requests) == ("hello", "hello", 2)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("429 Too Many Requests", LLMRateLimitError),
        ("500 Internal Server Error", LLMError),
        ("502 Bad Gateway", LLMError),
        ("503 Service Unavailable", LLMError),
    ],
)
async def test_persistent_errors_are_typed_after_bounded_retries(
    serve: Callable[..., Awaitable[FaultServer]], status: str, error: type[LLMError]
) -> None:
    async def handler(n: int, writer: Writer) -> None:
        writer.write(_body(status, {"error": {"message": "no", "type": "server"}}, FAST_RETRY))

    server = await serve(handler)
    with pytest.raises(error):
        await _collect(_llm(server))
    assert server.requests == RETRIES + 1


@pytest.mark.anyio
async def test_a_server_that_never_answers_is_a_connection_error(
    serve: Callable[..., Awaitable[FaultServer]],
) -> None:
    server: FaultServer

    async def handler(n: int, writer: Writer) -> None:
        await server.stall()

    server = await serve(handler)
    with pytest.raises(LLMConnectionError):
        await _collect(_llm(server))
    assert server.requests == RETRIES + 1


@pytest.mark.anyio
async def test_a_stream_that_stalls_midway_is_a_connection_error(
    serve: Callable[..., Awaitable[FaultServer]],
) -> None:
    # Before: httpx's ReadTimeout escaped the backend untyped.
    server: FaultServer

    async def handler(n: int, writer: Writer) -> None:
        writer.write(_head("200 OK", SSE))
        writer.write(_event(_chunk("hel")))
        await writer.drain()
        await server.stall()

    server = await serve(handler)
    with pytest.raises(LLMConnectionError, match="stalled"):
        await _collect(_llm(server))
    assert server.requests == 1  # a started stream is not retried


@pytest.mark.anyio
@pytest.mark.parametrize("keepalive", [b": ping\n\n", b"\n"])
async def test_a_stream_of_keepalives_only_ends_at_the_timeout(
    serve: Callable[..., Awaitable[FaultServer]], keepalive: bytes
) -> None:
    # Before: keep-alive bytes every 50 ms reset the read timeout and the stream never ended.
    server: FaultServer

    async def handler(n: int, writer: Writer) -> None:
        writer.write(_head("200 OK", SSE))
        writer.write(_event(_chunk("hel")))
        while not server.release.is_set():
            writer.write(keepalive)
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.release.wait(), 0.05)

    server = await serve(handler)
    with pytest.raises(LLMConnectionError, match="stalled"):
        await _collect(_llm(server))
    assert server.requests == 1


@pytest.mark.anyio
async def test_a_server_that_ignores_max_tokens_is_cut_off(
    serve: Callable[..., Awaitable[FaultServer]],
) -> None:
    # Before: a server streaming forever (one token per chunk) was read forever.
    server: FaultServer

    async def handler(n: int, writer: Writer) -> None:
        writer.write(_head("200 OK", SSE))
        while not server.release.is_set():
            writer.write(_event(_chunk("la ")))
            await writer.drain()

    server = await serve(handler)
    with pytest.raises(LLMResponseError, match="ignores max_tokens"):
        await _collect(_llm(server))


@pytest.mark.anyio
@pytest.mark.parametrize("framing", ["chunked", "length"])
async def test_a_cut_stream_is_a_connection_error(
    serve: Callable[..., Awaitable[FaultServer]], framing: str
) -> None:
    # Before: httpx's RemoteProtocolError escaped the backend untyped.
    async def handler(n: int, writer: Writer) -> None:
        event = _event(_chunk("hel"))
        if framing == "chunked":
            writer.write(_head("200 OK", SSE | {"transfer-encoding": "chunked"}))
            writer.write(f"{len(event) + 100:x}\r\n".encode() + event)  # promises more
        else:
            writer.write(_head("200 OK", SSE | {"content-length": str(len(event) + 100)}))
            writer.write(event)
        await writer.drain()  # then the connection closes

    server = await serve(handler)
    with pytest.raises(LLMConnectionError, match="broke off"):
        await _collect(_llm(server))


@pytest.mark.anyio
@pytest.mark.parametrize(
    "event",
    [
        "{not json",
        "42",
        '"just a string"',
        "[1, 2]",
        json.dumps({**_chunk("x"), "choices": None}),
        json.dumps({**_chunk("x"), "choices": "abc"}),
        json.dumps({**_chunk("x"), "choices": [{"index": 0, "delta": {"content": 5}}]}),
        json.dumps({**_chunk("x"), "choices": [None]}),
    ],
)
async def test_malformed_sse_events_are_response_errors(
    serve: Callable[..., Awaitable[FaultServer]], event: str
) -> None:
    # Before: JSONDecodeError, TypeError or AttributeError escaped untyped.
    async def handler(n: int, writer: Writer) -> None:
        writer.write(_head("200 OK", SSE))
        writer.write(_event(_chunk("ok ")))
        writer.write(_event(event))
        writer.write(_event("[DONE]"))

    server = await serve(handler)
    with pytest.raises(LLMResponseError):
        await _collect(_llm(server))


@pytest.mark.anyio
async def test_an_error_event_in_the_stream_is_typed(
    serve: Callable[..., Awaitable[FaultServer]],
) -> None:
    async def handler(n: int, writer: Writer) -> None:
        writer.write(_head("200 OK", SSE))
        writer.write(_event({"error": {"message": "model crashed", "type": "server_error"}}))

    server = await serve(handler)
    with pytest.raises(LLMError, match="model crashed"):
        await _collect(_llm(server))


@pytest.mark.anyio
@pytest.mark.parametrize("content_type", ["text/event-stream", "application/json", "text/plain"])
async def test_an_empty_200_is_typed(
    serve: Callable[..., Awaitable[FaultServer]], content_type: str
) -> None:
    async def handler(n: int, writer: Writer) -> None:
        headers = {"content-type": content_type, "content-length": "0", "connection": "close"}
        writer.write(_head("200 OK", headers))

    server = await serve(handler)
    with pytest.raises(LLMError):
        await _collect(_llm(server))
    assert server.requests == 1
