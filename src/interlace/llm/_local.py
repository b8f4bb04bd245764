"""The embedded default backend: a GGUF model run in-process by llama.cpp.

One model per :class:`LocalLLM`, one request at a time: requests queue on an async lock and all
inference runs in worker threads (``anyio.to_thread.run_sync``), one decode step per thread call,
so the event loop never blocks and a consumer that stops listening stops the decoding within one
token. Prompts go through the model's own chat template; usage is counted with the model's
tokenizer, including the prompt tokens served from the KV prefix cache
(:class:`~interlace.llm.PrefixCache`). Local requests cost 0 USD.
"""

from __future__ import annotations

import codecs
import os
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from interlace._errors import LLMContextOverflowError
from interlace.llm._base import (
    LLM,
    Completion,
    FinishReason,
    GenerationConfig,
    Message,
    StreamItem,
    TextDelta,
    Timing,
    Usage,
    now,
)
from interlace.llm._engine import PrefixCache, TokenEngine
from interlace.llm._models import DEFAULT_MODEL, MODELS, resolve_model

_DEFAULT_CONFIG = GenerationConfig()
_PREFILL_CHUNK = 256  # tokens per worker-thread call while prefilling (cancellation granularity)


class StopFilter:
    """Turns decoded pieces into safe-to-emit text, cutting at the first stop sequence.

    Text that might be the beginning of a stop sequence is held back until it is not.

    Args:
        stops: stop sequences (the returned text excludes the matched one).
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [s for s in stops if s]
        self._text = ""
        self._emitted = 0
        self.stopped = False

    @property
    def text(self) -> str:
        """All text accepted so far (up to the stop sequence once one matched)."""
        return self._text

    def feed(self, piece: str) -> str:
        """Add decoded text; return the newly emittable text (``stopped`` tells if a stop hit).

        After a stop sequence matched, further text is ignored.
        """
        if self.stopped:
            return ""
        self._text += piece
        cut = min(
            (i for i in (self._text.find(s, self._emitted) for s in self._stops) if i >= 0),
            default=-1,
        )
        if cut >= 0:
            self._text = self._text[:cut]
            self.stopped = True
            return self._take(cut)
        hold = 0
        for s in self._stops:
            for k in range(min(len(s) - 1, len(self._text) - self._emitted), hold, -1):
                if self._text.endswith(s[:k]):
                    hold = k
                    break
        return self._take(len(self._text) - hold)

    def flush(self) -> str:
        """Emit whatever was held back (call when generation ends without a stop)."""
        return self._take(len(self._text))

    def _take(self, upto: int) -> str:
        out = self._text[self._emitted : upto]
        self._emitted = max(self._emitted, upto)
        return out


class LocalLLM(LLM):
    """An in-process llama.cpp model (the default backend).

    Args:
        model: a registry name (``interlace models list``) or a path to a GGUF file.
        n_ctx: context window, tokens.
        n_threads: CPU threads for prefill and decode (default: all cores).
        n_batch: tokens per llama.cpp decode batch during prefill.
        seed: llama.cpp's seed (sampling seeds come from ``GenerationConfig.seed``).
        prefix_cache_entries: KV snapshots kept for prefix reuse (0 disables snapshots; the
            live KV cache is still reused).
        prefix_cache_bytes: bound on the snapshots' total size, bytes.
        chat_template: Jinja chat template overriding the GGUF's.

    Raises:
        LLMModelNotFoundError: unknown name, registry model not fetched, or no such file.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        prefix_cache_entries: int = 8,
        prefix_cache_bytes: int = 256 << 20,
        chat_template: str | None = None,
    ) -> None:
        self.path: Path = resolve_model(model)
        name = os.fspath(model)
        self.model = name if name in MODELS else self.path.stem
        self._params: dict[str, Any] = {
            "n_ctx": n_ctx,
            "n_threads": n_threads or os.cpu_count() or 1,
            "n_threads_batch": n_threads or os.cpu_count() or 1,
            "n_batch": n_batch,
            "n_ubatch": n_batch,
            "seed": seed,
            "verbose": False,
        }
        self.prefix_cache = PrefixCache(
            max_entries=prefix_cache_entries, max_bytes=prefix_cache_bytes
        )
        self._chat_template = chat_template
        self._engine: TokenEngine | None = None
        self._load_guard = threading.Lock()
        self._lock: anyio.Lock | None = None
        self._lock_loop: object = None

    def _load(self) -> TokenEngine:
        with self._load_guard:
            if self._engine is None:
                from llama_cpp import Llama

                llama = Llama(str(self.path), **self._params)
                self._engine = TokenEngine(
                    llama, cache=self.prefix_cache, chat_template=self._chat_template
                )
            return self._engine

    def _request_lock(self) -> anyio.Lock:
        import asyncio

        loop: object = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = anyio.Lock(), loop
        return self._lock

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[TokenEngine]:
        """Hold the model for token-level work (AsyncLM); no other request runs meanwhile.

        Yields:
            The :class:`TokenEngine`; its methods block, call them via
            ``anyio.to_thread.run_sync``. On exit the KV cache is snapshotted for prefix reuse.
        """
        async with self._request_lock():
            engine = await anyio.to_thread.run_sync(self._load)
            try:
                yield engine
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(engine.snapshot)

    async def aclose(self) -> None:
        """Free the model and its KV cache."""
        async with self._request_lock():
            if self._engine is not None:
                engine, self._engine = self._engine, None
                await anyio.to_thread.run_sync(engine._llama.close)

    async def stream(
        self, messages: Sequence[Message], config: GenerationConfig = _DEFAULT_CONFIG
    ) -> AsyncIterator[StreamItem]:
        """Generate a reply with the chat template; see :meth:`interlace.llm.LLM.stream`.

        ``usage.cached_prompt_tokens`` counts the prompt tokens whose KV came from the prefix
        cache; ``timing.prefill`` is the seconds spent restoring and prefilling the prompt.
        Cancelling the consumer stops decoding after the current token (prefill: after the
        current chunk of 256 tokens).

        Raises:
            LLMContextOverflowError: the prompt does not leave room for one generated token.
        """
        start = now()
        state = _Decode(stops=StopFilter(config.stop))
        async with self.exclusive() as engine:
            prompt, reused, prefill = await _prefill(engine, messages)
            async for delta in _decode(engine, config, engine.n_ctx - len(prompt), state):
                yield delta
        yield Completion(
            text=state.stops.text,
            model=self.model,
            usage=Usage(
                prompt_tokens=len(prompt),
                completion_tokens=state.produced,
                cached_prompt_tokens=reused,
            ),
            timing=Timing(start=start, first_token=state.first, end=now(), prefill=prefill),
            finish_reason=state.finish,
            cost_usd=0.0,
        )


@dataclass(kw_only=True)
class _Decode:
    stops: StopFilter
    produced: int = 0
    first: float | None = None
    finish: FinishReason = "length"


async def _prefill(
    engine: TokenEngine, messages: Sequence[Message]
) -> tuple[list[int], int, float]:
    """Tokenize the chat prompt, reuse the longest cached prefix, prefill the rest in chunks.

    Returns:
        ``(prompt tokens, tokens reused, seconds spent restoring + prefilling)``.
    """
    run = anyio.to_thread.run_sync
    prompt = await run(lambda: engine.tokenize(engine.chat_prefix(messages)))
    if len(prompt) >= engine.n_ctx:
        raise LLMContextOverflowError(
            f"prompt of {len(prompt)} tokens does not fit n_ctx={engine.n_ctx}"
        )
    t0 = now()
    reused = await run(engine.reuse_prefix, prompt)
    for i in range(reused, len(prompt), _PREFILL_CHUNK):
        await run(engine.eval, prompt[i : i + _PREFILL_CHUNK])
    return prompt, reused, now() - t0


async def _decode(
    engine: TokenEngine, config: GenerationConfig, room: int, state: _Decode
) -> AsyncIterator[TextDelta]:
    """The decode loop: one worker-thread call per token, text streamed as it is decoded."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    previous: int | None = None
    tail = ""
    while state.produced < min(config.max_tokens, room):
        token = await anyio.to_thread.run_sync(_step, engine, previous, config)
        if engine.is_eog(token):
            state.finish = "stop"
            break
        state.produced += 1
        previous = token
        text = state.stops.feed(decoder.decode(engine.token_bytes(token)))
        if text:
            state.first = state.first if state.first is not None else now()
            yield TextDelta(text=text)
        if state.stops.stopped:
            state.finish = "stop"
            return
    tail = state.stops.feed(decoder.decode(b"", final=True))
    if not state.stops.stopped:
        tail += state.stops.flush()
    if tail:
        state.first = state.first if state.first is not None else now()
        yield TextDelta(text=tail)


def _step(engine: TokenEngine, previous: int | None, config: GenerationConfig) -> int:
    """One decode step in the worker thread: append the previous token, sample the next."""
    if previous is not None:
        engine.eval([previous])
    return engine.sample(temperature=config.temperature, seed=config.seed)
