"""The in-process llama.cpp backend on real models (slow: loads GGUF weights)."""

from __future__ import annotations

from contextlib import aclosing

import anyio
import anyio.to_thread
import pytest

from interlace._errors import LLMModelNotFoundError
from interlace.llm import (
    MODELS,
    Completion,
    GenerationConfig,
    LocalLLM,
    Message,
    TextDelta,
    resolve_model,
)

pytestmark = [pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _need(name: str) -> None:
    try:
        resolve_model(name)
    except LLMModelNotFoundError as exc:  # fail, never skip: CI must have the models
        pytest.fail(f"{exc} (run `interlace models fetch {name}`)")


@pytest.fixture(scope="module")
def tiny() -> LocalLLM:
    _need("smollm2-135m")
    return LocalLLM("smollm2-135m", n_ctx=2048)


@pytest.fixture(scope="module")
def qwen() -> LocalLLM:
    _need("qwen2.5-coder-0.5b")
    return LocalLLM("qwen2.5-coder-0.5b", n_ctx=2048)


COUNT = [Message(role="user", content="Count from 1 to 30, separated by commas.")]


@pytest.mark.anyio
async def test_stream_text_usage_and_stop(tiny: LocalLLM) -> None:
    items = [i async for i in tiny.stream(COUNT, GenerationConfig(max_tokens=60, stop=("7",)))]
    final = items[-1]
    assert isinstance(final, Completion)
    deltas = [i.text for i in items[:-1] if isinstance(i, TextDelta)]
    assert len(deltas) > 3 and "".join(deltas) == final.text
    assert "6" in final.text and "7" not in final.text and final.finish_reason == "stop"
    async with tiny.exclusive() as engine:
        prompt = engine.tokenize(engine.chat_prefix(COUNT))
    assert final.usage.prompt_tokens == len(prompt)
    assert 0 < final.usage.completion_tokens < 60 and final.cost_usd == 0.0
    assert final.timing.prefill is not None and final.timing.ttft is not None
    cut = await tiny.complete(COUNT, GenerationConfig(max_tokens=5))
    assert cut.finish_reason == "length" and cut.usage.completion_tokens == 5


@pytest.mark.anyio
async def test_alternating_prefixes_are_both_reused(tiny: LocalLLM) -> None:
    planner = Message(role="system", content="You write plans of tool calls. " * 60)
    joiner = Message(role="system", content="You read observations and answer. " * 60)
    config = GenerationConfig(max_tokens=2)
    runs = []
    for system, q in [(planner, "A?"), (joiner, "B?"), (planner, "C?"), (joiner, "D?")]:
        runs.append(await tiny.complete([system, Message(role="user", content=q)], config))
    assert runs[0].usage.prompt_tokens > 300
    assert runs[1].usage.cached_prompt_tokens < 10  # new prefix: prefilled
    for later in runs[2:]:  # each prefix came back after the other one: served from snapshots
        assert later.usage.cached_prompt_tokens >= later.usage.prompt_tokens - 12
    assert len(tiny.prefix_cache.entries) <= tiny.prefix_cache.max_entries


@pytest.mark.anyio
async def test_event_loop_runs_while_decoding_and_cancel_stops_promptly(tiny: LocalLLM) -> None:
    ticks = 0
    first_delta = anyio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.005)

    # A prompt no earlier test sent (so no cached prefix) and long enough that its prefill alone
    # spans many ticks: the assertion below must not depend on how fast this machine is.
    filler = " ".join(f"item{i}" for i in range(400))
    fresh = [Message(role="user", content=f"{filler}\nCount from 1 to 30, separated by commas.")]

    async def consume() -> None:
        async with aclosing(tiny.stream(fresh, GenerationConfig(max_tokens=200))) as stream:
            async for item in stream:
                if isinstance(item, TextDelta):
                    first_delta.set()
                    await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        tg.start_soon(consume)
        await first_delta.wait()
        tg.cancel_scope.cancel()
    assert ticks > 3  # the loop kept running during prefill and decode
    async with tiny.exclusive() as engine:  # the lock was released; decoding stopped early
        prompt = engine.tokenize(engine.chat_prefix(fresh))
        assert engine.kv_len <= len(prompt) + 5


@pytest.mark.anyio
async def test_engine_injection_conditions_continuation_without_reprefill(qwen: LocalLLM) -> None:
    run = anyio.to_thread.run_sync
    ask = [Message(role="user", content="Write one short sentence about the weather.")]
    async with qwen.exclusive() as engine:
        prompt = await run(lambda: engine.tokenize(engine.chat_prefix(ask)))
        await run(engine.prefill, prompt)
        for _ in range(4):  # decode a few tokens
            await run(engine.eval, [await run(lambda: engine.sample())])
        before = engine.kv_len
        injected = await run(
            lambda: engine.tokenize(
                "<|im_end|>\n<|im_start|>user\nThe secret word is PINEAPPLE. "
                "What is the secret word? Answer with the word only.<|im_end|>\n"
                "<|im_start|>assistant\n"
            )
        )
        await run(engine.eval, injected)
        assert engine.kv_len == before + len(injected)  # appended, nothing re-prefilled
        out = b""
        for _ in range(8):
            token = await run(lambda: engine.sample(forbidden={engine.eos_token}))
            out += engine.token_bytes(token)
            await run(engine.eval, [token])
        assert b"PINEAPPLE" in out.upper()
        # forbidden tokens are never sampled, even the greedy choice
        best = await run(lambda: engine.sample())
        assert await run(lambda: engine.sample(forbidden={best})) != best
        engine.truncate(len(prompt))
        assert engine.kv_len == len(prompt)


def test_missing_registry_model_says_how_to_fetch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("INTERLACE_CACHE_DIR", str(tmp_path))
    with pytest.raises(LLMModelNotFoundError, match="interlace models fetch smollm2-135m"):
        LocalLLM("smollm2-135m")
    assert "smollm2-135m" in MODELS
