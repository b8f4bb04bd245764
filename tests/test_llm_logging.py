"""Debug-level logging in the LLM core: retried and fallen-back requests of the OpenAI-compatible
backend (against the loopback fault server), and the local engine's prefix-cache reuse."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

import pytest

from interlace._grammars import joiner_grammar
from interlace.llm import GenerationConfig, Message, OpenAICompatLLM, Snapshot
from interlace.llm._engine import log_reuse
from test_reliability_llm import (  # noqa: F401
    FAST_RETRY,
    FaultServer,
    Handler,
    Writer,
    _body,
    _llm,
    _ok,
    serve,
)

ASK = [Message(role="user", content="hi")]
Serve = Callable[[Handler], Awaitable[FaultServer]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "interlace.llm" and r.levelno == level
    ]


@pytest.mark.anyio
async def test_a_retried_request_is_logged_with_its_retries(
    serve: Serve,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(n: int, writer: Writer) -> None:
        if n == 0:
            body = {"error": {"message": "slow down", "type": "rate_limit"}}
            writer.write(_body("429 Too Many Requests", body, FAST_RETRY))
        else:
            await _ok(writer)

    server = await serve(handler)
    caplog.set_level(logging.DEBUG, logger="interlace")
    completion = await _llm(server).complete(ASK, GenerationConfig(max_tokens=8))
    assert completion.text == "hello" and server.requests == 2
    assert _lines(caplog, logging.WARNING) == [
        "request to 'm' answered after 1 retry (rate limit, server or connection errors)"
    ]


@pytest.mark.anyio
async def test_a_request_answered_at_once_logs_no_retry(
    serve: Serve,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(n: int, writer: Writer) -> None:
        await _ok(writer)

    server = await serve(handler)
    caplog.set_level(logging.DEBUG, logger="interlace")
    await _llm(server).complete(ASK, GenerationConfig(max_tokens=8))
    assert not [line for line in _lines(caplog, logging.WARNING) if "retr" in line]


@pytest.mark.anyio
async def test_the_grammar_fallback_logs_that_it_resends_the_request(
    serve: Serve,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def reject_grammar(n: int, writer: Writer) -> None:
        if "structured_outputs" in json.loads(server.bodies[n]):
            error = {"error": {"message": "unknown grammar backend", "type": "BadRequestError"}}
            writer.write(_body("400 Bad Request", error))
        else:
            await _ok(writer)

    server = await serve(reject_grammar)
    llm = OpenAICompatLLM(
        "m", base_url=f"http://127.0.0.1:{server.port}/v1", api_key="k", grammar_field="vllm"
    )
    caplog.set_level(logging.DEBUG, logger="interlace")
    config = GenerationConfig(max_tokens=8, grammar=joiner_grammar(final=True))
    await llm.complete(ASK, config)
    assert server.requests == 2
    assert _lines(caplog, logging.DEBUG) == [
        "'m' rejected the vllm grammar field (HTTP 400): resending the request without it"
    ]


@pytest.mark.parametrize(
    ("reused", "served_by", "source"),
    [
        (0, None, "nothing"),
        (40, None, "live KV"),
        (300, Snapshot(tokens=tuple(range(300)), data=b"kv", pinned=True), "pinned snapshot"),
        (320, Snapshot(tokens=tuple(range(330)), data=b"kv"), "snapshot"),
    ],
)
def test_each_prompt_logs_its_prefix_reuse_and_source(
    caplog: pytest.LogCaptureFixture, reused: int, served_by: Snapshot | None, source: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="interlace")
    log_reuse(prompt=350, reused=reused, served_by=served_by)
    assert _lines(caplog, logging.DEBUG) == [
        f"prefix cache: {reused} of 350 prompt tokens reused ({source}), {350 - reused} to prefill"
    ]


def test_prefix_reuse_costs_nothing_when_debug_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="interlace")
    log_reuse(prompt=350, reused=40, served_by=None)
    assert caplog.records == []
