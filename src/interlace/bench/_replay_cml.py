"""Replaying CML runs (BFCL's ``sync``, ``sync-parallel``, ``async``, ``async-naive``).

A CML run does not go through :meth:`~interlace.llm.LLM.stream`: AsyncLM and its baselines drive
the local token engine (``llm.exclusive()``) token by token, and inject interrupts into its KV
cache. :class:`ReplayEngine` offers that engine's surface with the recorded model's own
vocabulary (read from the GGUF file with ``vocab_only=True``: no weights are loaded) and serves,
token by token, what the model wrote in the recorded run — ``details["text"]`` without the
interrupts the runtime injected — at an :class:`~interlace.trace.analysis.LLMSpeed`:

* each prefill (the prompt, an interrupt, ``async-naive``'s re-prefill of the whole context)
  costs ``ttft + tokens / prefill`` seconds; a prompt prefix already in the KV cache (the
  runner's ``warm`` call before the clock) costs nothing, like the real prefix cache;
* each sampled token costs ``tpot`` seconds.

The calls therefore happen where the recorded model wrote them, the tools (BFCL's backends) run
for real, and the four policies decide as in the recording when decoding waits. Where the
recorded model stopped early (an implicit trap at end of sequence) is not recorded: the replay
writes the whole text in one sequence.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import anyio

from interlace._errors import UsageError
from interlace.llm._base import LLM, GenerationConfig, Message, StreamItem
from interlace.trace._serial import trace_from_dict
from interlace.trace._speed import LLMSpeed, RequestTiming, fit_speed

_INJECTED = re.compile(r"\n\[INTR\] .*?\[END\](?:\n\[INTR\] .*?\[END\])*\n", re.DOTALL)
_DEFAULT_CONFIG = GenerationConfig()


def model_output(text: str) -> str:
    """What the model wrote in a recorded CML run: ``text`` without the injected interrupts
    (``"\\n" + "\\n".join(blocks) + "\\n"``, as ``InterruptManager.render`` writes them)."""
    return _INJECTED.sub("", text)


def injections(text: str) -> list[str]:
    """The interrupt texts the runtime injected into a recorded CML run, in order."""
    return _INJECTED.findall(text)


class TokenVocabulary(Protocol):
    """What the replay engine needs of a tokenizer (:class:`Vocabulary`; tests use a byte one).

    Attributes:
        n_vocab: number of token ids. eos: the end-of-generation token id.
    """

    n_vocab: int
    eos: int

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        """Token ids of ``text``."""
        ...

    def token_bytes(self, token: int) -> bytes:
        """The bytes of one token."""
        ...


def registry_vocabulary(model: str) -> Vocabulary:
    """The :class:`Vocabulary` of the registry model ``model`` (its file in the model cache).

    Raises:
        UsageError: the model is unknown or its file is absent.
    """
    from interlace.llm._models import model_path

    return Vocabulary(model_path(model))


class Vocabulary:
    """A model's tokenizer and token texts, read from its GGUF file without the weights.

    Args:
        path: the GGUF file.

    Raises:
        UsageError: the file is missing or llama-cpp-python cannot read it.
    """

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise UsageError(f"replaying a CML run needs the recorded model's file: {path}")
        try:
            from llama_cpp import Llama

            self._llama = Llama(str(path), vocab_only=True, verbose=False)
        except Exception as exc:  # a library error reading the file: the user's to fix
            raise UsageError(f"cannot read the vocabulary of {path}: {exc}") from exc
        self.n_vocab = int(self._llama.n_vocab())
        self.eos = int(self._llama.token_eos())
        # every token's bytes now, before any clock runs (AsyncLM reads them all for its mask;
        # one detokenize call per token would put ~2 s of that into the first replayed run)
        self._bytes = [
            bytes(self._llama.detokenize([t], special=True)) for t in range(self.n_vocab)
        ]

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        """Token ids of ``text``."""
        ids = self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)
        return [int(t) for t in ids]

    def token_bytes(self, token: int) -> bytes:
        """The bytes of one token (special tokens as their text)."""
        return self._bytes[token]


def chatml(messages: Sequence[Message]) -> str:
    """The ChatML prompt of ``messages`` (the Qwen models' template), open for the reply."""
    turns = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
    return f"{turns}<|im_start|>assistant\n"


class ReplayEngine:
    """The token-engine surface of ``interlace.llm._engine.TokenEngine`` that the CML loop
    uses, serving a script of recorded tokens at a speed (module docstring).

    Its methods block (they sleep to take the modelled time) and are called in worker threads.
    """

    def __init__(self, vocab: TokenVocabulary, speed: LLMSpeed) -> None:
        self.vocab = vocab
        self.speed = speed
        self._kv: list[int] = []
        self._script: list[int] = []
        self._next = 0
        self._sampled: int | None = None
        self._prefilling = False
        self._deadline = 0.0

    def load(self, script: Sequence[int]) -> None:
        """Serve ``script`` (token ids) from now on; the KV cache is kept (prefix reuse)."""
        self._script, self._next = list(script), 0

    def _spend(self, seconds: float) -> None:
        self._deadline = max(self._deadline, time.monotonic()) + seconds
        delay = self._deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    # -- what the CML loop calls ------------------------------------------------------------
    def chat_prefix(self, messages: Sequence[Message], *, open_end: bool = False) -> str:
        """ChatML text of ``messages``."""
        return chatml(messages)

    def fixed_prefix(self, messages: Sequence[Message], prompt: Sequence[int]) -> int:
        """No pinned prefix: the replay's cache is its live KV."""
        return 0

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        """Token ids of ``text`` in the recorded model's vocabulary."""
        return self.vocab.tokenize(text, add_bos=add_bos, special=special)

    def token_bytes(self, token: int) -> bytes:
        """The bytes of ``token``."""
        return self.vocab.token_bytes(token)

    def logits(self) -> Any:
        """A zero row of shape ``[n_vocab]`` (the replay does not score tokens)."""
        import numpy as np

        return np.zeros(self.vocab.n_vocab, dtype=np.float32)

    def eval(self, tokens: Sequence[int]) -> None:
        """Append ``tokens`` to the KV cache, taking ``len / prefill`` seconds (a token just
        sampled is appended for free: it was decoded)."""
        tokens = list(tokens)
        if self._sampled is not None and tokens == [self._sampled]:
            self._sampled = None
            self._kv.extend(tokens)
            return
        fixed = 0.0 if self._prefilling else self.speed.ttft  # one per prefill, not per chunk
        self._prefilling = True
        self._spend(fixed + len(tokens) / self.speed.prefill)
        self._kv.extend(tokens)

    def sample(
        self,
        *,
        temperature: float = 0.0,
        forbidden: Collection[int] = (),
        seed: int | None = 0,
        allowed: Any = None,
    ) -> int:
        """The next recorded token (EOS when the script is done), ``tpot`` seconds after the
        previous one: the loop's own work between two tokens counts in the ``tpot`` (as it did
        in the recorded decode spans), unless decoding paused longer than a token."""
        gap = time.monotonic() - self._deadline
        if 0 <= gap < self.speed.tpot:  # keep the cadence: absorb the loop's overhead
            self._deadline -= gap
        self._spend(self.speed.tpot)
        self._prefilling = False
        if self._next >= len(self._script):
            return self.vocab.eos
        token = self._script[self._next]
        self._next += 1
        self._sampled = token
        return token

    @property
    def kv_len(self) -> int:
        """Tokens in the KV cache."""
        return len(self._kv)

    @property
    def tokens(self) -> tuple[int, ...]:
        """The tokens in the KV cache."""
        return tuple(self._kv)

    def truncate(self, n: int) -> None:
        """Keep the first ``n`` tokens of the KV cache."""
        del self._kv[n:]

    @property
    def eos_token(self) -> int:
        """The model's EOS token."""
        return self.vocab.eos

    @property
    def n_ctx(self) -> int:
        """Context window, tokens (generous: the replay holds no KV memory)."""
        return 1 << 20

    def is_eog(self, token: int) -> bool:
        """Whether ``token`` ends generation."""
        return token == self.vocab.eos

    def reuse_prefix(self, tokens: Sequence[int]) -> int:
        """Keep the longest prefix of the KV cache shared with ``tokens`` (at least one token
        left to evaluate); returns its length."""
        common = 0
        for a, b in zip(self._kv, tokens, strict=False):
            if a != b:
                break
            common += 1
        keep = min(common, max(len(tokens) - 1, 0))
        self.truncate(keep)
        return keep

    def prefill(self, tokens: Sequence[int], *, fixed: int = 0) -> int:
        """:meth:`reuse_prefix`, then evaluate the rest; a new request. Returns tokens reused."""
        keep = self.reuse_prefix(tokens)
        self.eval(tokens[keep:])
        return keep

    def snapshot(self, *, pin: bool = False) -> None:
        """Nothing to do: the live KV cache is the replay's only cache."""


class ReplayEngineLLM(LLM):
    """A "local" LLM whose ``exclusive()`` engine is a :class:`ReplayEngine`.

    One instance serves every CML run of a replay (like the one local model of the recording,
    so AsyncLM builds its token mask once); :meth:`load` sets the run to serve next.
    """

    def __init__(self, vocab: TokenVocabulary, speed: LLMSpeed, *, model: str) -> None:
        self.model = model
        self.engine = ReplayEngine(vocab, speed)
        self._lock = anyio.Lock()

    def load(self, text: str) -> int:
        """Serve the model output of the recorded CML ``text`` next; returns its tokens."""
        script = self.engine.tokenize(model_output(text), special=False)
        self.engine.load(script)
        return len(script)

    @contextlib.asynccontextmanager
    async def exclusive(self, *, background: bool = False) -> AsyncIterator[ReplayEngine]:
        """The replay engine, one user at a time."""
        async with self._lock:
            yield self.engine

    async def stream(
        self, messages: Sequence[Message], config: GenerationConfig = _DEFAULT_CONFIG
    ) -> AsyncIterator[StreamItem]:
        """Not served: CML methods use :meth:`exclusive`.

        Raises:
            UsageError: always.
        """
        raise UsageError("the CML replay serves the token engine only (AsyncLM, SyncCalling)")
        yield  # pragma: no cover - makes this an async generator


def is_cml(record: Mapping[str, Any]) -> bool:
    """Whether a store record is a CML run (its trace has role-less prefill spans)."""
    spans = (record.get("trace") or {}).get("spans") or []
    return any(s.get("kind") == "llm" and s.get("name") == "prefill" for s in spans)


def _prefills(record: Mapping[str, Any], vocab: TokenVocabulary) -> list[RequestTiming]:
    """Every prefill of one recorded CML run as (tokens, seconds): the prompt's uncached part
    (``prefill`` span), and each ``interrupt`` span — the injected tokens, or for
    ``async-naive`` the whole context it prefilled again (prompt, text so far, interrupt)."""
    trace = trace_from_dict(dict(record["trace"]))
    rows = []
    prompt = 0
    for span in trace.spans:
        if span.kind == "llm" and span.name == "prefill":
            prompt = int(span.attrs.get("tokens") or 0)
            uncached = prompt - int(span.attrs.get("cached") or 0)
            rows.append(
                RequestTiming(
                    uncached_prompt_tokens=uncached,
                    output_tokens=0,
                    ttft=span.duration,
                    duration=span.duration,
                )
            )
    text = str((record.get("details") or {}).get("text") or "")
    ends = [m.end() for m in _INJECTED.finditer(text)]
    spans = sorted((s for s in trace.spans if s.kind == "interrupt"), key=lambda s: s.start)
    naive = record.get("method") == "async-naive"
    for k, (span, end) in enumerate(zip(spans, ends, strict=False)):
        if naive:
            tokens = prompt + len(vocab.tokenize(text[:end], special=False))
        else:
            start = ends[k - 1] if k else 0
            block = _INJECTED.search(text, start)
            tokens = len(vocab.tokenize(block.group(0), special=False)) if block else 0
        rows.append(
            RequestTiming(
                uncached_prompt_tokens=tokens,
                output_tokens=0,
                ttft=span.duration,
                duration=span.duration,
            )
        )
    return rows


def fit_cml_speed(records: Sequence[Mapping[str, Any]], vocab: TokenVocabulary) -> LLMSpeed:
    """The recorded speed of CML runs.

    ``tpot`` = decode seconds / decoded tokens over the ``decode`` spans; ``ttft`` (seconds per
    prefill, see :class:`ReplayEngine`) and ``prefill`` (tokens/s) = the least-squares line
    ``seconds = ttft + tokens / prefill`` through every prefill of the runs (:func:`_prefills`:
    the prompts' uncached parts, appended interrupts and ``async-naive``'s re-prefills), so
    small and large prefills each cost what they cost on the recording machine. Serial.

    Raises:
        UsageError: the records hold no decode span or no prefill.
    """
    decode_s = decode_n = 0.0
    prefills: list[RequestTiming] = []
    for record in records:
        for span in trace_from_dict(dict(record["trace"])).spans:
            if span.kind == "llm" and span.name == "decode":
                decode_s += span.duration
                decode_n += float(span.attrs.get("tokens") or 0)
        prefills.extend(_prefills(record, vocab))
    if not decode_n or not prefills:
        raise UsageError("cannot fit a CML speed: no decode spans or no prefills recorded")
    line = fit_speed(prefills)
    return LLMSpeed(
        ttft=line.ttft,
        prefill=line.prefill,
        tpot=decode_s / decode_n,
        serial=True,
        name="recorded",
        source=(
            f"fitted to {len(records)} recorded CML runs: decode spans (TPOT), a least-squares "
            f"line through {len(prefills)} prefills (per-prefill cost and tokens/s)"
        ),
    )
