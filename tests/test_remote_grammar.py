"""Grammars sent to OpenAI-compatible servers that take one (vLLM, llama.cpp with llguidance),
against the loopback fault server: the request carries the grammar in the server's own field,
and a server that rejects it gets the request again without one (a warning, never a failure)."""

from __future__ import annotations

import json

import pytest

from interlace._grammars import joiner_grammar
from interlace.llm import Completion, GenerationConfig, Message, OpenAICompatLLM
from test_reliability_llm import FaultServer, Writer, _body, _ok, serve  # noqa: F401

ASK = [Message(role="user", content="hi")]
CONSTRAINED = GenerationConfig(max_tokens=8, grammar=joiner_grammar(final=True))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _complete(llm: OpenAICompatLLM, config: GenerationConfig) -> Completion:
    return await llm.complete(ASK, config)


def _extra(server: FaultServer, n: int) -> dict[str, object]:
    return {k: v for k, v in json.loads(server.bodies[n]).items() if k not in _STANDARD}


_STANDARD = {"model", "messages", "stream", "stream_options", "max_tokens", "temperature", "seed"}


async def _always_ok(n: int, writer: Writer) -> None:
    await _ok(writer)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("vllm", lambda lark: {"structured_outputs": {"grammar": lark}}),
        ("sglang", lambda lark: {"ebnf": "%llguidance {}\n" + lark}),
        ("llguidance", lambda lark: {"grammar": "%llguidance {}\n" + lark}),
    ],
)
async def test_the_grammar_goes_in_the_servers_field(serve, field, expected) -> None:  # noqa: F811
    server = await serve(_always_ok)
    llm = OpenAICompatLLM(
        "m", base_url=f"http://127.0.0.1:{server.port}/v1", api_key="k", grammar_field=field
    )
    assert llm.constrains
    completion = await _complete(llm, CONSTRAINED)
    assert completion.text == "hello" and completion.warnings == ()
    assert _extra(server, 0) == expected(CONSTRAINED.grammar.lark)  # type: ignore[union-attr]
    await _complete(llm, GenerationConfig(max_tokens=8))  # no grammar: nothing extra
    assert _extra(server, 1) == {}


@pytest.mark.anyio
async def test_without_a_field_no_grammar_is_sent_and_vllm_and_sglang_send_it_by_default(
    serve,  # noqa: F811
) -> None:
    server = await serve(_always_ok)
    url = f"http://127.0.0.1:{server.port}/v1"
    plain = OpenAICompatLLM("m", base_url=url, api_key="k")
    assert not plain.constrains
    await _complete(plain, CONSTRAINED)
    assert _extra(server, 0) == {}
    vllm = OpenAICompatLLM.from_preset("vllm", "m", base_url=url)
    assert vllm.constrains and vllm.grammar_field == "vllm"
    sglang = OpenAICompatLLM.from_preset("sglang", "m", base_url=url)
    assert sglang.constrains and sglang.grammar_field == "sglang"
    assert not OpenAICompatLLM.from_preset("ollama", "m", base_url=url).constrains


@pytest.mark.anyio
async def test_a_server_that_rejects_the_grammar_is_asked_again_without_it(serve) -> None:  # noqa: F811
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
    first = await _complete(llm, CONSTRAINED)
    assert first.text == "hello" and server.requests == 2
    assert any("rejected the vllm grammar" in w for w in first.warnings)
    assert not llm.constrains  # not sent again
    second = await _complete(llm, CONSTRAINED)
    assert second.warnings == () and server.requests == 3 and _extra(server, 2) == {}


@pytest.mark.anyio
async def test_a_bad_request_without_a_grammar_stays_an_error(serve) -> None:  # noqa: F811
    from interlace._errors import LLMError

    async def reject(n: int, writer: Writer) -> None:
        writer.write(_body("400 Bad Request", {"error": {"message": "bad", "type": "x"}}))

    server = await serve(reject)
    llm = OpenAICompatLLM(
        "m", base_url=f"http://127.0.0.1:{server.port}/v1", api_key="k", grammar_field="vllm"
    )
    with pytest.raises(LLMError):
        await _complete(llm, GenerationConfig(max_tokens=8))
    assert server.requests == 1


def test_an_unknown_field_is_a_usage_error() -> None:
    from interlace._errors import UsageError

    with pytest.raises(UsageError, match="grammar_field"):
        OpenAICompatLLM("m", base_url="http://127.0.0.1:9/v1", grammar_field="tgi")  # type: ignore[arg-type]
