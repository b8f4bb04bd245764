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
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from interlace._clock import now
from interlace._errors import LLMContextOverflowError, LLMModelNotFoundError
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
)
from interlace.llm._constrain import Constraint, GrammarError
from interlace.llm._engine import PrefixCache, TokenEngine
from interlace.llm._models import DEFAULT_MODEL, MODELS, resolve_model

_DEFAULT_CONFIG = GenerationConfig()
_PREFILL_CHUNK = 256  # tokens per worker-thread call while prefilling (cancellation granularity)
_BACKGROUND_CHUNK = 128  # tokens per call of a background prefill (how soon it yields)


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
        adapter: a llama.cpp LoRA adapter GGUF applied on top of the model (e.g. written by
            ``interlace finetune train``); the model name becomes ``NAME+ADAPTER_STEM``.

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
        adapter: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path: Path = resolve_model(model)
        name = os.fspath(model)
        self.model = name if name in MODELS else self.path.stem
        self.adapter: Path | None = _adapter_path(adapter)
        if self.adapter is not None:
            self.model = f"{self.model}+{self.adapter.stem}"
        self._params: dict[str, Any] = {
            "n_ctx": n_ctx,
            "n_threads": n_threads or os.cpu_count() or 1,
            "n_threads_batch": n_threads or os.cpu_count() or 1,
            "n_batch": n_batch,
            "n_ubatch": n_batch,
            "seed": seed,
            "verbose": False,
        }
        if self.adapter is not None:
            self._params["lora_path"] = str(self.adapter)
        self.prefix_cache = PrefixCache(
            max_entries=prefix_cache_entries, max_bytes=prefix_cache_bytes
        )
        self._chat_template = chat_template
        self._engine: TokenEngine | None = None
        self._load_guard = threading.Lock()
        self._lock: anyio.Lock | None = None
        self._lock_loop: object = None
        self._waiting = 0  # requests queued for the model; background prefill yields to them

    def _load(self) -> TokenEngine:
        with self._load_guard:
            if self._engine is None:
                from interlace.llm._llamacpp import load_llama

                llama = load_llama(self.path, **self._params)
                self._engine = TokenEngine(
                    llama, cache=self.prefix_cache, chat_template=self._chat_template
                )
            return self._engine

    constrains = True

    def _request_lock(self) -> anyio.Lock:
        import asyncio

        loop: object = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = anyio.Lock(), loop
        return self._lock

    @asynccontextmanager
    async def exclusive(self, *, background: bool = False) -> AsyncIterator[TokenEngine]:
        """Hold the model for token-level work (AsyncLM); no other request runs meanwhile.

        Args:
            background: the holder does optional work (see :meth:`prefill`): it is not counted
                in :attr:`waiting`, so background work does not yield to itself.

        Yields:
            The :class:`TokenEngine`; its methods block, call them via
            ``anyio.to_thread.run_sync``. On exit the KV cache is snapshotted for prefix reuse.
        """
        lock = self._request_lock()
        if not background:
            self._waiting += 1
        try:
            await lock.acquire()
        finally:
            if not background:
                self._waiting -= 1
        try:
            engine = await anyio.to_thread.run_sync(self._load)
            try:
                yield engine
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(engine.snapshot)
        finally:
            lock.release()

    @property
    def waiting(self) -> int:
        """Requests waiting for the model right now (not counting background prefills)."""
        return self._waiting

    async def prefill(
        self, messages: Sequence[Message], *, open_end: bool = False, background: bool = False
    ) -> int:
        """Evaluate the prompt of ``messages`` into the KV cache without generating, so a later
        request that starts with it prefills only the rest (:class:`PrefixPrefill`).

        Args:
            messages: the prompt so far.
            open_end: leave the last message open (no end-of-turn marker), for a prompt that
                will grow (the joiner's observations as tasks finish); its last token is left
                out, since it may tokenize differently once more text follows.
            background: low priority: stop between chunks of 128 tokens as soon as another
                request waits for the model (what was evaluated stays cached). A foreground
                prefill (a warm-up) also prepares the grammar engine, about a second once per
                model, so the first constrained request does not pay it.

        Returns:
            Prompt tokens evaluated by this call (0: already cached).

        Raises:
            LLMContextOverflowError: the prompt does not fit the context window.
        """
        async with self.exclusive(background=background) as engine:
            if background and self._waiting:
                return 0
            stop = (lambda: self._waiting > 0) if background else None
            if not background:
                await anyio.to_thread.run_sync(engine.grammars.prepare)
            prompt, reused, _, _ = await _prefill(engine, messages, open_end=open_end, stop=stop)
            return max(engine.kv_len - reused, 0) if prompt else 0

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
            prompt, reused, prefill, fixed = await _prefill(engine, messages)
            constraint = None
            if config.grammar is not None:
                try:
                    constraint = await anyio.to_thread.run_sync(
                        engine.grammars.constraint, config.grammar
                    )
                except GrammarError as exc:
                    state.warnings.append(f"{exc}; decoded without the grammar")
            room = engine.n_ctx - len(prompt)
            async for delta in _decode(engine, config, room, state, constraint):
                yield delta
            if constraint is not None and constraint.error and config.grammar is not None:
                state.warnings.append(f"grammar {config.grammar.name!r}: {constraint.error}")
        yield Completion(
            text=state.stops.text,
            model=self.model,
            usage=Usage(
                prompt_tokens=len(prompt),
                completion_tokens=state.produced,
                cached_prompt_tokens=reused,
            ),
            timing=Timing(
                start=start,
                first_token=state.first,
                end=now(),
                prefill=prefill,
                grammar=None if constraint is None else constraint.seconds,
            ),
            finish_reason=state.finish,
            cost_usd=0.0,
            warnings=tuple(state.warnings),
            fixed_prompt_tokens=fixed,
        )


def _adapter_path(adapter: str | os.PathLike[str] | None) -> Path | None:
    """The adapter file, checked to exist.

    Raises:
        LLMModelNotFoundError: no such file.
    """
    if adapter is None:
        return None
    path = Path(adapter).expanduser()
    if not path.is_file():
        raise LLMModelNotFoundError(f"LoRA adapter {path} does not exist")
    return path


@dataclass(kw_only=True)
class _Decode:
    stops: StopFilter
    produced: int = 0
    first: float | None = None
    finish: FinishReason = "length"
    warnings: list[str] = field(default_factory=list)


async def _prefill(
    engine: TokenEngine,
    messages: Sequence[Message],
    *,
    open_end: bool = False,
    stop: Callable[[], bool] | None = None,
) -> tuple[list[int], int, float, int]:
    """Tokenize the chat prompt, reuse the longest cached prefix, prefill the rest in chunks.

    The leading system messages are the request's fixed prefix: if the cache did not serve all
    of it, prefill pauses after it to keep a pinned snapshot (KV policy, :mod:`._engine`).

    Args:
        engine: the engine (held exclusively).
        messages: the prompt.
        open_end: see :meth:`LocalLLM.prefill`.
        stop: checked between chunks of 128 tokens; ``True`` stops prefilling early.

    Returns:
        ``(prompt tokens, tokens reused, seconds spent restoring + prefilling, fixed-prefix
        tokens)``.
    """
    run = anyio.to_thread.run_sync
    text = await run(lambda: engine.chat_prefix(messages, open_end=open_end))
    prompt = await run(engine.tokenize, text)
    if open_end:
        prompt = prompt[:-1]
    if len(prompt) >= engine.n_ctx:
        raise LLMContextOverflowError(
            f"prompt of {len(prompt)} tokens does not fit n_ctx={engine.n_ctx}"
        )
    t0 = now()
    fixed = await run(engine.fixed_prefix, messages, prompt)
    reused = await run(engine.reuse_prefix, prompt)
    chunk = _PREFILL_CHUNK if stop is None else _BACKGROUND_CHUNK
    pause = engine.pin_point(prompt, reused, fixed)
    for i in range(reused, pause, chunk):
        await run(engine.eval, prompt[i : min(i + chunk, pause)])
        if stop is not None and stop():
            return prompt, reused, now() - t0, fixed
    await run(engine.pin, prompt, fixed)
    for i in range(engine.kv_len, len(prompt), chunk):
        await run(engine.eval, prompt[i : i + chunk])
        if stop is not None and stop():
            break
    return prompt, reused, now() - t0, fixed


async def _decode(
    engine: TokenEngine,
    config: GenerationConfig,
    room: int,
    state: _Decode,
    constraint: Constraint | None,
) -> AsyncIterator[TextDelta]:
    """The decode loop: one worker-thread call per step, text streamed as it is decoded.

    A step is one sampled token, or under a grammar the run of tokens it forces (evaluated
    together at the next step, as a prefill batch).
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending: list[int] = []
    limit = min(config.max_tokens, room)
    while state.produced < limit:
        step = await anyio.to_thread.run_sync(
            _step, engine, pending, config, constraint, limit - state.produced
        )
        if not step:  # the grammar is complete
            state.finish = "stop"
            break
        ended = False
        for token in step:
            if engine.is_eog(token):
                state.finish, ended = "stop", True
                break
            state.produced += 1
            text = state.stops.feed(decoder.decode(engine.token_bytes(token)))
            if text:
                state.first = state.first if state.first is not None else now()
                yield TextDelta(text=text)
            if state.stops.stopped:
                state.finish = "stop"
                return
        if ended:
            break
        pending = list(step)
    tail = state.stops.feed(decoder.decode(b"", final=True))
    if not state.stops.stopped:
        tail += state.stops.flush()
    if tail:
        state.first = state.first if state.first is not None else now()
        yield TextDelta(text=tail)


def _step(
    engine: TokenEngine,
    pending: list[int],
    config: GenerationConfig,
    constraint: Constraint | None,
    room: int,
) -> list[int]:
    """One decode step in the worker thread: append the pending tokens, choose the next ones.

    Returns:
        One sampled token, or the tokens the grammar forces (at most ``room``), or ``[]`` when
        the grammar accepts nothing more.
    """
    if constraint is not None and constraint.done:
        return []
    if pending:
        engine.eval(pending)
    if constraint is None:
        return [engine.sample(temperature=config.temperature, seed=config.seed)]
    forced = constraint.forced()[:room]
    if forced:
        constraint.accept(forced)
        return forced
    token = engine.sample(
        temperature=config.temperature, seed=config.seed, allowed=constraint.allowed()
    )
    if not engine.is_eog(token):
        constraint.accept([token])
    return [token]
