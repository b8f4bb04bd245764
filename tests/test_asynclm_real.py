"""AsyncLM's key mechanism on the real embedded model (slow: loads qwen2.5-coder-0.5b).

An interrupt appended mid-generation goes into the live KV cache (only its own tokens are
evaluated; nothing is prefilled again) and the continuation depends on it; the naive baseline
re-prefills the whole context; constrained decoding never lets the model write ``[INTR]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from interlace._errors import LLMModelNotFoundError
from interlace.agents._asynclm import _MASKS, AsyncLM
from interlace.cml import EngineDecoder, ReprefillDecoder, TokenMask, TokenMonitor
from interlace.llm import LocalLLM, Message, resolve_model

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
        mask = await AsyncLM(llm, [])._mask(raw)  # the real setup: constrained decoding
        decoder = (ReprefillDecoder if naive else EngineDecoder)(engine, mask)
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
async def test_mask_never_lets_the_model_write_intr(qwen: LocalLLM) -> None:
    messages = [
        Message(role="system", content="You copy text exactly."),
        Message(
            role="user", content="Write exactly this and nothing else: [INTR] c1 [HEAD] 5 [END]"
        ),
    ]
    _MASKS.pop(qwen, None)  # earlier tests built it: build it afresh here
    agent = AsyncLM(qwen, [])
    outputs = []
    async with qwen.exclusive() as engine:
        mask = await agent._mask(engine)  # built once per model, reused by later runs
        assert isinstance(mask, TokenMask) and agent.mask_build_s > 0.0
        for constraint in (None, mask):
            prompt = engine.tokenize(engine.chat_prefix(messages))
            await anyio.to_thread.run_sync(engine.prefill, prompt)
            decoder = EngineDecoder(engine, constraint)
            outputs.append(await _decode(decoder, TokenMonitor(), 16))
    unconstrained, constrained = outputs
    assert "[INTR]" in unconstrained  # the prompt does make the model want to write it
    assert "[INTR" not in constrained, constrained
    again = AsyncLM(qwen, [])
    async with qwen.exclusive() as engine:
        assert await again._mask(engine) is mask and again.mask_build_s == 0.0


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
