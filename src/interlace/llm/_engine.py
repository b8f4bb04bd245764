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
"""

from __future__ import annotations

import ctypes
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt
from jinja2.sandbox import ImmutableSandboxedEnvironment

from interlace._errors import LLMContextOverflowError, UsageError
from interlace.llm._base import Message

_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


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
    """

    tokens: tuple[int, ...]
    data: bytes


class PrefixCache:
    """A bounded LRU of :class:`Snapshot` s, looked up by longest common token prefix.

    Args:
        max_entries: at most this many snapshots are kept (0 disables the cache).
        max_bytes: their ``data`` together stays under this many bytes.
        min_tokens: shorter sequences are not worth a snapshot.
    """

    def __init__(
        self, *, max_entries: int = 8, max_bytes: int = 256 << 20, min_tokens: int = 32
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.min_tokens = min_tokens
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
        and the length of that prefix; ``(None, 0)`` when nothing matches."""
        best: Snapshot | None = None
        best_len = 0
        for snap in self._entries:
            n = common_prefix(snap.tokens, tokens)
            if n > best_len:
                best, best_len = snap, n
        if best is not None:
            self._entries.remove(best)
            self._entries.append(best)
        return best, best_len

    def put(self, snap: Snapshot) -> None:
        """Store ``snap``; drop snapshots it extends, then evict least recently used ones."""
        if len(snap.tokens) < self.min_tokens or len(snap.data) > self.max_bytes:
            return
        n = len(snap.tokens)
        self._entries = [
            s
            for s in self._entries
            if not (len(s.tokens) <= n and snap.tokens[: len(s.tokens)] == s.tokens)
        ]
        self._entries.append(snap)
        while len(self._entries) > self.max_entries or self.nbytes > self.max_bytes:
            self._entries.pop(0)


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
        self, *, temperature: float = 0.0, forbidden: Collection[int] = (), seed: int | None = 0
    ) -> int:
        """Pick the next token from :meth:`logits`, never one of ``forbidden``.

        Args:
            temperature: 0.0 is greedy (argmax); otherwise softmax sampling at this temperature.
            forbidden: token ids that must not be chosen (constrained decoding).
            seed: seeds the engine's generator when it differs from the last seed used
                (``None``: fresh entropy); consecutive calls with one seed continue one stream.
        """
        logits = self.logits()
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

    def chat_prefix(self, messages: Sequence[Message]) -> str:
        """The prompt text for ``messages`` under the model's chat template, ending where the
        assistant's reply begins (e.g. ``<|im_start|>assistant\\n`` for ChatML)."""
        return str(
            self._template.render(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=True,
                bos_token="",
                eos_token=self.token_bytes(self.eos_token).decode("utf-8", "replace"),
            )
        )

    # -- additions: prefix reuse ---------------------------------------------------------------

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
        if snap is not None and from_snap > live:
            live = from_snap if self._restore(snap) else 0
        keep = min(live, max(len(tokens) - 1, 0))
        self.truncate(keep)
        return keep

    def prefill(self, tokens: Sequence[int]) -> int:
        """:meth:`reuse_prefix` then evaluate the remaining tokens; returns tokens reused."""
        keep = self.reuse_prefix(tokens)
        self.eval(tokens[keep:])
        return keep

    def snapshot(self) -> None:
        """Copy the live KV cache into the prefix cache (bounded; may evict older snapshots)."""
        tokens = self.tokens
        if len(tokens) < self.cache.min_tokens or self.cache.max_entries == 0:
            return
        size = llama_cpp.llama_state_seq_get_size(self._ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self._ctx, buf, size, 0)
        self.cache.put(Snapshot(tokens=tokens, data=ctypes.string_at(buf, written)))

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


def _raise_template_error(message: str) -> None:
    raise UsageError(f"chat template error: {message}")
