"""Token-level control of an in-process llama.cpp model, and the KV prefix cache.

:class:`TokenEngine` is the low-level face of :class:`~interlace.llm.LocalLLM`: tokenize, append
tokens to the KV cache, read the next-token logits, sample (with forbidden tokens — AsyncLM's
constrained decoding, arXiv 2412.07017 §4.2, forbids the model from writing ``[INTR]``), truncate.
Every method blocks; call them from a worker thread (``anyio.to_thread.run_sync``) while holding
``LocalLLM.exclusive()``.

:class:`PrefixCache` is how repeated prompts skip their prefill. The planner, joiner and ReAct
prompts each start with a long fixed prefix and they alternate across requests, so keeping only
the live KV cache would reuse nothing on every switch. After each request the engine copies the
sequence's KV cells (``llama_state_seq_get_data``: ~12 KB per token on Qwen2.5-0.5B, about a
millisecond) into a bounded LRU of snapshots; a new prompt restores the snapshot (or the live
cache) sharing the longest token prefix with it, truncates to that prefix, and prefills only the
rest.

KV policy: what is fixed stays. A plain LRU forgets a role's fixed prompt whenever other roles
made enough requests in between (in ``bench``, a ReAct run of four turns pushed the planner's
prompt out on every other question). So the prefix a request declares fixed (the rendered
leading system messages, see :meth:`TokenEngine.prefill`) is kept as a *pinned* snapshot of
exactly those tokens: per-question snapshots are evicted first, pinned ones only when the pinned
set itself outgrows ``max_pinned`` or the byte bound (least recently used first).

Logging: every prompt's reuse is one debug line on the ``interlace.llm`` logger
(:func:`log_reuse`: tokens reused and to prefill, and whether the live KV cache, a snapshot or a
pinned snapshot served them); a snapshot that fails to restore is a warning.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt
from jinja2.sandbox import ImmutableSandboxedEnvironment

from interlace._errors import LLMContextOverflowError, UsageError
from interlace.llm._base import Message
from interlace.llm._constrain import GrammarCompiler

_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


_SENTINEL = "\x00interlace-open-end\x00"
_log = logging.getLogger("interlace.llm")


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass(frozen=True, kw_only=True, slots=True)
class Snapshot:
    """The KV cells of one sequence, copied out of llama.cpp.

    Attributes:
        tokens: the tokens whose keys/values ``data`` holds, in order.
        data: the bytes of ``llama_state_seq_get_data`` for sequence 0.
        pinned: a fixed prefix (system prompt); evicted only after every unpinned snapshot.
    """

    tokens: tuple[int, ...]
    data: bytes
    pinned: bool = False


@dataclass(kw_only=True, slots=True)
class CacheStats:
    """Counters of a :class:`PrefixCache` since it was made.

    Attributes:
        lookups: prompts looked up.
        hits: lookups that reused at least ``min_tokens`` tokens from a snapshot.
        pinned_hits: lookups whose reused prefix covered a whole pinned snapshot.
        pins: pinned snapshots stored.
        evictions: snapshots dropped to respect the bounds.
    """

    lookups: int = 0
    hits: int = 0
    pinned_hits: int = 0
    pins: int = 0
    evictions: int = 0


class PrefixCache:
    """A bounded cache of :class:`Snapshot` s, looked up by longest common token prefix.

    Unpinned snapshots (whole sequences after a request) form an LRU of ``max_entries``; pinned
    ones (fixed prefixes) an LRU of ``max_pinned``. Both share ``max_bytes``; when it is
    exceeded, unpinned snapshots go first.

    Args:
        max_entries: at most this many unpinned snapshots are kept (0 disables the cache).
        max_bytes: all snapshots' ``data`` together stays under this many bytes.
        min_tokens: shorter sequences are not worth a snapshot.
        max_pinned: at most this many pinned snapshots are kept.
    """

    def __init__(
        self,
        *,
        max_entries: int = 8,
        max_bytes: int = 256 << 20,
        min_tokens: int = 32,
        max_pinned: int = 8,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.min_tokens = min_tokens
        self.max_pinned = max_pinned
        self.stats = CacheStats()
        self._entries: list[Snapshot] = []  # least recently used first

    @property
    def entries(self) -> tuple[Snapshot, ...]:
        """The snapshots, least recently used first."""
        return tuple(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes held by the snapshots."""
        return sum(len(s.data) for s in self._entries)

    def best(self, tokens: Sequence[int]) -> tuple[Snapshot | None, int]:
        """The snapshot sharing the longest prefix with ``tokens`` (marked most recently used)
        and the length of that prefix; ``(None, 0)`` when nothing matches.

        Among equally long matches the shortest snapshot wins (it is the cheapest to restore).
        Pinned snapshots that the prompt fully contains are marked used too, so a fixed prefix
        that a longer per-question snapshot happened to serve is not evicted as unused.
        """
        self.stats.lookups += 1
        best: Snapshot | None = None
        best_len = 0
        covered: list[Snapshot] = []
        for snap in self._entries:
            n = common_prefix(snap.tokens, tokens)
            if snap.pinned and n == len(snap.tokens):
                covered.append(snap)
            if n > best_len or (n == best_len and best and len(snap.tokens) < len(best.tokens)):
                best, best_len = snap, n
        if best is None or best_len == 0:
            return None, 0
        for snap in (*covered, best):
            if snap in self._entries:
                self._entries.remove(snap)
                self._entries.append(snap)
        if best_len >= self.min_tokens:
            self.stats.hits += 1
        if covered:
            self.stats.pinned_hits += 1
        return best, best_len

    def has_pinned(self, tokens: Sequence[int]) -> bool:
        """Whether a pinned snapshot holds exactly ``tokens``."""
        key = tuple(tokens)
        return any(s.pinned and s.tokens == key for s in self._entries)

    def put(self, snap: Snapshot) -> None:
        """Store ``snap``, then evict to respect the bounds.

        An unpinned snapshot replaces the unpinned ones it extends (they are its prefixes); a
        pinned one replaces a pinned snapshot of the same tokens. Pinned snapshots are never
        replaced by unpinned ones.
        """
        if len(snap.tokens) < self.min_tokens or len(snap.data) > self.max_bytes:
            return
        if self.max_entries == 0 and not snap.pinned:
            return
        n = len(snap.tokens)
        if snap.pinned:
            self._entries = [s for s in self._entries if not (s.pinned and s.tokens == snap.tokens)]
            self.stats.pins += 1
        else:
            self._entries = [
                s
                for s in self._entries
                if s.pinned or not (len(s.tokens) <= n and snap.tokens[: len(s.tokens)] == s.tokens)
            ]
        self._entries.append(snap)
        self._evict()

    def _evict(self) -> None:
        def count(pinned: bool) -> int:
            return sum(1 for s in self._entries if s.pinned == pinned)

        while count(False) > self.max_entries:
            self._drop(pinned=False)
        while count(True) > self.max_pinned:
            self._drop(pinned=True)
        while self.nbytes > self.max_bytes and self._entries:
            self._drop(pinned=count(False) == 0)

    def _drop(self, *, pinned: bool) -> None:
        for i, snap in enumerate(self._entries):
            if snap.pinned == pinned:
                del self._entries[i]
                self.stats.evictions += 1
                return


class TokenEngine:
    """Token-level access to one llama.cpp context (sequence 0). Every method blocks.

    Obtain it with ``async with local_llm.exclusive() as engine`` and call methods through
    ``anyio.to_thread.run_sync``. The KV cache persists between sessions, so a session can reuse
    what the previous one left (see :meth:`reuse_prefix`).

    Args:
        llama: a loaded ``llama_cpp.Llama``.
        cache: snapshots for multi-prefix reuse.
        chat_template: Jinja chat template (``None``: the GGUF's, else ChatML).
    """

    def __init__(self, llama: Any, *, cache: PrefixCache, chat_template: str | None = None) -> None:
        self._llama = llama
        self._ctx = llama.ctx
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._n_vocab: int = llama.n_vocab()
        self.cache = cache
        self._logits_ready = False
        self._pieces: dict[int, bytes] = {}
        self._rng = np.random.default_rng(0)
        self._rng_seed: int | None = 0
        self._grammars: GrammarCompiler | None = None
        template = chat_template or llama.metadata.get("tokenizer.chat_template") or _CHATML
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise_template_error
        self._template = env.from_string(template)

    # -- the contract in docs/architecture.md ------------------------------------------------

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        """Token ids of ``text`` (``special``: control-token text such as ``<|im_end|>`` maps
        to the control token)."""
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def token_bytes(self, token: int) -> bytes:
        """The text bytes of one token (control tokens included; may be partial UTF-8)."""
        piece = self._pieces.get(token)
        if piece is None:
            size = 64
            while True:
                buf = ctypes.create_string_buffer(size)
                n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, size, 0, True)
                if n >= 0:
                    break
                size = -n
            piece = self._pieces[token] = buf.raw[:n]
        return piece

    def eval(self, tokens: Sequence[int]) -> None:
        """Append ``tokens`` to the KV cache (prefill or decode), computing next-token logits.

        Raises:
            LLMContextOverflowError: the KV cache would exceed :attr:`n_ctx` tokens.
        """
        if not tokens:
            return
        if self.kv_len + len(tokens) > self.n_ctx:
            raise LLMContextOverflowError(
                f"{self.kv_len} tokens in the KV cache + {len(tokens)} new > n_ctx={self.n_ctx}"
            )
        self._llama.eval(list(tokens))
        self._logits_ready = True

    def logits(self) -> npt.NDArray[np.float32]:
        """Next-token logits after the last :meth:`eval`, shape ``[n_vocab]``, float32 (a copy).

        Raises:
            UsageError: nothing was evaluated since the last truncate/restore.
        """
        if not self._logits_ready:
            raise UsageError("logits() needs an eval() after truncate()/reuse_prefix()")
        ptr = llama_cpp.llama_get_logits_ith(self._ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).astype(np.float32, copy=True)

    def sample(
        self,
        *,
        temperature: float = 0.0,
        forbidden: Collection[int] = (),
        seed: int | None = 0,
        allowed: npt.NDArray[np.bool_] | None = None,
    ) -> int:
        """Pick the next token from :meth:`logits`, never one of ``forbidden``.

        Args:
            temperature: 0.0 is greedy (argmax); otherwise softmax sampling at this temperature.
            forbidden: token ids that must not be chosen (constrained decoding).
            seed: seeds the engine's generator when it differs from the last seed used
                (``None``: fresh entropy); consecutive calls with one seed continue one stream.
            allowed: if given, shape ``[n_vocab]``: only these tokens may be chosen (a grammar
                mask, :class:`~interlace.llm._constrain.Constraint`); ignored if it allows none.
        """
        logits = self.logits()
        if allowed is not None and allowed.any():
            logits[~allowed] = -np.inf
        if forbidden:
            logits[np.fromiter(forbidden, dtype=np.int64)] = -np.inf
        if temperature <= 0.0:
            return int(np.argmax(logits))
        if seed != self._rng_seed or seed is None:
            self._rng = np.random.default_rng(seed)
            self._rng_seed = seed
        z = (logits - logits.max()) / temperature
        p = np.exp(z.astype(np.float64))
        return int(self._rng.choice(self._n_vocab, p=p / p.sum()))

    @property
    def kv_len(self) -> int:
        """Tokens currently in the KV cache."""
        return int(self._llama.n_tokens)

    def truncate(self, n: int) -> None:
        """Keep only the first ``n`` tokens of the KV cache (eval before reading logits)."""
        if not 0 <= n <= self.kv_len:
            raise UsageError(f"truncate({n}) with {self.kv_len} tokens in the KV cache")
        self._llama._ctx.kv_cache_seq_rm(0, n, -1)
        self._llama.n_tokens = n
        self._logits_ready = False

    @property
    def eos_token(self) -> int:
        """The model's end-of-sequence token id."""
        return int(self._llama.token_eos())

    @property
    def n_ctx(self) -> int:
        """Context window, tokens."""
        return int(self._llama.n_ctx())

    def chat_prefix(self, messages: Sequence[Message], *, open_end: bool = False) -> str:
        """The prompt text for ``messages`` under the model's chat template, ending where the
        assistant's reply begins (e.g. ``<|im_start|>assistant\\n`` for ChatML).

        Args:
            open_end: end instead right after the last message's content, leaving it open (no
                end-of-turn marker): the text is then a prefix of the prompt of any later
                request whose last message extends this one's content.
        """
        if not open_end or not messages:
            return self._render(messages, add_generation_prompt=True)
        *head, last = messages
        text = self._render(
            [*head, Message(role=last.role, content=last.content + _SENTINEL)],
            add_generation_prompt=False,
        )
        cut = text.find(_SENTINEL)
        if cut < 0:  # the template dropped the content: fall back to the closed prompt
            return self._render(messages, add_generation_prompt=True)
        return text[:cut]

    def fixed_prefix(self, messages: Sequence[Message], prompt: Sequence[int]) -> int:
        """How many leading tokens of ``prompt`` (the tokens of ``chat_prefix(messages)``) are
        the rendered leading system messages: the part of a request declared fixed.

        Returns:
            A token count, 0 when ``messages`` does not start with a system message.
        """
        k = 0
        while k < len(messages) and messages[k].role == "system":
            k += 1
        if k == 0 or k == len(messages):
            return 0
        try:
            text = self._render(messages[:k], add_generation_prompt=False)
        except UsageError:  # a template that will not render system messages alone
            return 0
        return common_prefix(self.tokenize(text), prompt)

    def _render(self, messages: Sequence[Message], *, add_generation_prompt: bool) -> str:
        return str(
            self._template.render(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=add_generation_prompt,
                bos_token="",
                eos_token=self.token_bytes(self.eos_token).decode("utf-8", "replace"),
            )
        )

    # -- additions: prefix reuse ---------------------------------------------------------------

    @property
    def grammars(self) -> GrammarCompiler:
        """The grammar compiler for this model's vocabulary (made on first use)."""
        if self._grammars is None:
            eog = [t for t in range(self._n_vocab) if self.is_eog(t)]
            self._grammars = GrammarCompiler(self._vocab, self._n_vocab, eog)
        return self._grammars

    def is_eog(self, token: int) -> bool:
        """Whether ``token`` ends generation (EOS, ``<|im_end|>``, ``<|endoftext|>``, ...)."""
        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    @property
    def tokens(self) -> tuple[int, ...]:
        """The tokens currently in the KV cache, in order."""
        return tuple(int(t) for t in self._llama.input_ids[: self.kv_len])

    def reuse_prefix(self, tokens: Sequence[int]) -> int:
        """Prepare the KV cache for the prompt ``tokens``, reusing the longest cached prefix.

        Compares the live KV cache and every snapshot with ``tokens``, restores the best,
        truncates it to the common prefix and leaves at least one token to evaluate. The caller
        then evaluates ``tokens[returned:]``.

        Returns:
            Number of prompt tokens served from the cache (not to be prefilled).
        """
        live = common_prefix(self.tokens, tokens)
        snap, from_snap = self.cache.best(tokens)
        served_by: Snapshot | None = None
        if snap is not None and from_snap > live:
            if self._restore(snap):
                live, served_by = from_snap, snap
            else:
                _log.warning(
                    "prefix cache: restoring a snapshot of %d tokens failed; prefilling the "
                    "whole prompt",
                    len(snap.tokens),
                )
                live = 0
        keep = min(live, max(len(tokens) - 1, 0))
        self.truncate(keep)
        log_reuse(prompt=len(tokens), reused=keep, served_by=served_by)
        return keep

    def prefill(self, tokens: Sequence[int], *, fixed: int = 0) -> int:
        """:meth:`reuse_prefix` then evaluate the remaining tokens; returns tokens reused.

        Args:
            tokens: the prompt.
            fixed: the first ``fixed`` tokens are a fixed prefix (a system prompt): when they
                were not all served from the cache, they are evaluated first and kept as a
                pinned snapshot (see the module's KV policy).
        """
        keep = self.reuse_prefix(tokens)
        self.eval(tokens[keep : self.pin_point(tokens, keep, fixed)])
        self.pin(tokens, fixed)
        self.eval(tokens[self.kv_len :])
        return keep

    def pin_point(self, tokens: Sequence[int], reused: int, fixed: int) -> int:
        """Where prefill should pause to pin the fixed prefix: ``fixed`` when a pinned snapshot
        of ``tokens[:fixed]`` is wanted and missing, else ``reused`` (no pause)."""
        if fixed < self.cache.min_tokens or fixed >= len(tokens):
            return reused
        if self.cache.has_pinned(tokens[:fixed]):
            return reused
        return max(fixed, reused)

    def pin(self, tokens: Sequence[int], fixed: int) -> None:
        """Store a pinned snapshot if the KV cache holds exactly ``tokens[:fixed]`` and none is
        stored yet (call between evaluating the fixed prefix and the rest)."""
        if fixed < self.cache.min_tokens or self.kv_len != fixed:
            return
        if tuple(tokens[:fixed]) != self.tokens or self.cache.has_pinned(tokens[:fixed]):
            return
        _log.debug("prefix cache: pinning the fixed prefix of %d tokens", fixed)
        self.snapshot(pin=True)

    def snapshot(self, *, pin: bool = False) -> None:
        """Copy the live KV cache into the prefix cache (bounded; may evict older snapshots).

        Args:
            pin: store it as a pinned (fixed-prefix) snapshot.
        """
        tokens = self.tokens
        if len(tokens) < self.cache.min_tokens or (self.cache.max_entries == 0 and not pin):
            return
        size = llama_cpp.llama_state_seq_get_size(self._ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self._ctx, buf, size, 0)
        self.cache.put(Snapshot(tokens=tokens, data=ctypes.string_at(buf, written), pinned=pin))

    def _restore(self, snap: Snapshot) -> bool:
        self._llama._ctx.kv_cache_seq_rm(0, 0, -1)
        self._llama.n_tokens = 0
        self._logits_ready = False
        buf = (ctypes.c_uint8 * len(snap.data)).from_buffer_copy(snap.data)
        if llama_cpp.llama_state_seq_set_data(self._ctx, buf, len(snap.data), 0) == 0:
            return False  # restore failed: the caller falls back to a full prefill
        n = len(snap.tokens)
        self._llama.input_ids[:n] = snap.tokens
        self._llama.n_tokens = n
        return True


def log_reuse(*, prompt: int, reused: int, served_by: Snapshot | None) -> None:
    """Log one prompt's prefix reuse at debug level on ``interlace.llm``.

    The line reads e.g. ``prefix cache: 412 of 431 prompt tokens reused (pinned snapshot),
    19 to prefill``; the source is ``nothing`` when no token was reused, ``live KV`` when the
    KV cache already held them, else ``snapshot`` or ``pinned snapshot`` (a fixed prefix).

    Args:
        prompt: the prompt's length, tokens.
        reused: tokens served from the cache, not prefilled.
        served_by: the snapshot restored for it, ``None`` when none was.
    """
    if not _log.isEnabledFor(logging.DEBUG):
        return
    if reused == 0:
        source = "nothing"
    elif served_by is None:
        source = "live KV"
    else:
        source = "pinned snapshot" if served_by.pinned else "snapshot"
    _log.debug(
        "prefix cache: %d of %d prompt tokens reused (%s), %d to prefill",
        reused,
        prompt,
        source,
        prompt - reused,
    )


def _raise_template_error(message: str) -> None:
    raise UsageError(f"chat template error: {message}")
