"""AsyncLM's key mechanism on the real embedded model (slow: loads qwen2.5-coder-0.5b).

An interrupt appended mid-generation goes into the live KV cache (only its own tokens are
evaluated; nothing is prefilled again) and the continuation depends on it; the naive baseline
re-prefills the whole context; decoding under the CML grammar never lets the model write
``[INTR]``, an unknown function or an unknown parameter, and a grammar that does not compile
falls back to unconstrained decoding with a warning in the run's errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest

import interlace.agents._asynclm as asynclm_module
from interlace import tool
from interlace._errors import LLMModelNotFoundError
from interlace.agents._asynclm import AsyncLM
from interlace.cml import EngineDecoder, ReprefillDecoder, TokenMonitor
from interlace.llm import Grammar, LocalLLM, Message, resolve_model

pytestmark = [pytest.mark.slow]

MODEL = "qwen2.5-coder-0.5b"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def qwen() -> LocalLLM:
    try:
        resolve_model(MODEL)
    except LLMModelNotFoundError as exc:  # fail, never skip: CI must have the model
        pytest.fail(f"{exc} (run `interlace models fetch {MODEL}`)")
    return LocalLLM(MODEL, n_ctx=1024, n_threads=1)


class SpyEngine:
    """Delegates to a TokenEngine, counting the tokens handed to ``eval`` and truncations."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.evaluated = 0
        self.truncations: list[int] = []

    def eval(self, tokens: Sequence[int]) -> None:
        self.evaluated += len(tokens)
        self._engine.eval(tokens)

    def truncate(self, n: int) -> None:
        self.truncations.append(n)
        self._engine.truncate(n)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


SYSTEM = (
    "You call functions with [CALL] id [HEAD] fn() [END]. Results arrive as "
    "[INTR] id [HEAD] value [END]. After a result, state it: `The code is <value>.`"
)
USER = "Call get_code() and tell me the code."


@tool
def get_code() -> str:
    """The secret code."""
    return "7319"


@tool
def get_weather(city: str, days: int = 1) -> str:
    """The weather forecast.

    Args:
        city: the city's name.
        days: how many days ahead.
    """
    return f"sunny in {city}"


async def _decode(decoder: EngineDecoder, monitor: TokenMonitor, n: int) -> str:
    out = ""
    for _ in range(n):
        piece = await decoder.step(monitor)
        if piece is None:
            break
        out += piece
        monitor.feed(piece)
    return out


async def _run_with_interrupt(llm: LocalLLM, value: str, *, naive: bool = False) -> dict[str, Any]:
    """Prefill, decode 4 tokens, inject ``[INTR] c1 [HEAD] value [END]``, decode 28 more."""
    messages = [Message(role="system", content=SYSTEM), Message(role="user", content=USER)]
    async with llm.exclusive() as raw:
        prefix = raw.chat_prefix(messages) + "[CALL] c1 [HEAD] get_code() [END]\nWhile it runs: "
        prompt = raw.tokenize(prefix)
        await anyio.to_thread.run_sync(raw.prefill, prompt)
        engine = SpyEngine(raw)
        constraint, problem = await AsyncLM(llm, [get_code])._constraint(raw)  # the real setup
        assert constraint is not None and problem == ""
        decoder = (ReprefillDecoder if naive else EngineDecoder)(engine, constraint)
        monitor = TokenMonitor()
        before = await _decode(decoder, monitor, 4)
        kv_before, kept = engine.kv_len, engine.tokens
        evaluated_before = engine.evaluated
        text = f"\n[INTR] c1 [HEAD] {value} [END]\n"
        await decoder.inject(text)
        return {
            "before": before,
            "interrupt_tokens": len(raw.tokenize(text, special=False)),
            "grew": engine.kv_len - kv_before,
            "evaluated": engine.evaluated - evaluated_before,
            "prefix_kept": engine.tokens[: len(kept)] == kept,
            "truncations": engine.truncations,
            "kv_before": kv_before,
            "after": await _decode(decoder, monitor, 28),
        }


@pytest.mark.anyio
async def test_interrupt_goes_into_the_live_kv_cache_and_conditions_the_continuation(
    qwen: LocalLLM,
) -> None:
    first = await _run_with_interrupt(qwen, "7319")
    assert first["before"], "the model generated before the interrupt"
    # exactly the interrupt's tokens were appended; nothing was truncated or prefilled again
    assert first["grew"] == first["interrupt_tokens"] == first["evaluated"]
    assert first["truncations"] == [] and first["prefix_kept"]
    second = await _run_with_interrupt(qwen, "4480")
    assert "7319" in first["after"], (first["before"], first["after"])
    assert "4480" in second["after"], second["after"]


@pytest.mark.anyio
async def test_naive_baseline_prefills_the_whole_context_again(qwen: LocalLLM) -> None:
    naive = await _run_with_interrupt(qwen, "7319", naive=True)
    assert naive["truncations"] == [0]
    assert naive["evaluated"] == naive["kv_before"] + naive["interrupt_tokens"]
    assert "7319" in naive["after"], naive["after"]


@pytest.mark.anyio
async def test_the_cml_grammar_never_lets_the_model_write_intr(qwen: LocalLLM) -> None:
    messages = [
        Message(role="system", content="You copy text exactly."),
        Message(
            role="user", content="Write exactly this and nothing else: [INTR] c1 [HEAD] 5 [END]"
        ),
    ]
    agent = AsyncLM(qwen, [get_code])
    outputs = []
    async with qwen.exclusive() as engine:
        for constrained in (False, True):
            constraint = (await agent._constraint(engine))[0] if constrained else None
            prompt = engine.tokenize(engine.chat_prefix(messages))
            await anyio.to_thread.run_sync(engine.prefill, prompt)
            decoder = EngineDecoder(engine, constraint)
            outputs.append(await _decode(decoder, TokenMonitor(), 16))
            assert (decoder.grammar_seconds > 0.0) == constrained
    unconstrained, constrained_text = outputs
    assert "[INTR]" in unconstrained  # the prompt does make the model want to write it
    assert "[INTR" not in constrained_text, constrained_text


@pytest.mark.anyio
async def test_constrained_calls_name_listed_functions_with_typed_keywords(
    qwen: LocalLLM,
) -> None:
    # Asked for a function it does not have, the model calls it (an unknown-function error)
    # and then writes [INTR] blocks itself; under the grammar it calls the listed function,
    # by keyword, and writes no block of the runtime's.
    question = (
        "Get the forecast for Paris for two days and for Rome for one day using get_forecast."
    )
    free = await AsyncLM(qwen, [get_weather], constrained=False, max_tokens=80).run(question)
    held = await AsyncLM(qwen, [get_weather], max_tokens=80).run(question)
    assert held.details["grammar_s"] > 0.0 and free.details["grammar_s"] == 0.0
    assert any(c["name"] != "get_weather" for c in free.details["calls"]), free.details["text"]
    assert any("[INTR]" in e for e in free.errors), free.errors
    calls = held.details["calls"]
    assert calls, held.details["text"]
    for call in calls:
        assert call["name"] == "get_weather" and call["args"] == [] and call["ok"], call
        assert set(call["arguments"]) <= {"city", "days"} and "city" in call["arguments"]
        assert isinstance(call["arguments"].get("days", 1), int), call
    assert held.errors == (), held.errors


@pytest.mark.anyio
async def test_a_cml_grammar_that_does_not_compile_falls_back_with_a_warning(
    qwen: LocalLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = Grammar(lark="start: undefined_rule", name="cml")
    monkeypatch.setattr(asynclm_module, "cml_grammar", lambda tools, futures=False: broken)
    result = await AsyncLM(qwen, [get_code], max_tokens=24).run(USER)
    assert any("grammar" in e and "unconstrained" in e for e in result.errors), result.errors
    assert result.details["grammar_s"] == 0.0
    assert result.details["text"], "the run went on, unconstrained"


@pytest.mark.anyio
async def test_warm_prefills_the_prompt_so_the_run_starts_from_the_cache(qwen: LocalLLM) -> None:
    agent = AsyncLM(qwen, [], functions="get_code() -> str: the secret code", max_tokens=4)
    question = "Warm-up check: what is the code? Call get_code()."
    evaluated = await agent.warm(question)
    assert evaluated > 0  # the prompt was new to the cache
    result = await agent.run(question)
    (prefill,) = [s for s in result.trace.spans if s.name == "prefill"]
    assert prefill.attrs["cached"] == prefill.attrs["tokens"] - 1  # one token is re-evaluated
    assert await agent.warm(question) == 1


@pytest.mark.anyio
async def test_a_local_cml_run_streams_its_text_as_one_llm_request(qwen: LocalLLM) -> None:
    from interlace import LLMEnd, LLMStart, LLMText, events

    agent = AsyncLM(qwen, [get_weather], max_tokens=80)
    question = "What is the weather in Oslo for 3 days, and in Lima?"
    seen = [e async for e in events(agent, question)]
    starts = [e for e in seen if isinstance(e, LLMStart)]
    ends = [e for e in seen if isinstance(e, LLMEnd)]
    assert [e.role for e in starts] == ["cml"] and len(ends) == 1
    text = "".join(e.text for e in seen if isinstance(e, LLMText))
    result = seen[-1].result  # type: ignore[union-attr]
    assert text and "[CALL]" in text and "[INTR]" not in text  # the model's text only
    assert ends[0].completion.usage == result.usage
    assert ends[0].completion.timing.grammar == result.details["grammar_s"] > 0.0
