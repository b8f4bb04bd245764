"""Constrained decoding on the embedded engine, with llguidance.

:class:`GrammarCompiler` turns a :class:`~interlace.llm.Grammar` (Lark text) into a
:class:`Constraint` for one request: the set of tokens that keep the output inside the grammar
(a mask over the vocabulary, applied to the logits before sampling), the tokens the grammar
forces next (evaluated in one batch, not decoded one by one), and whether the grammar is done.

llguidance was chosen by measurement over llama.cpp's GBNF sampler (``python
benchmarks/grammar_speed.py``): it computes a mask in a fraction of a decode step, and its
lexer/parser split handles the regex terminals of our grammars. Building its tokenizer view of
the 151k-token Qwen vocabulary takes about a second, once per model; a grammar compiles in
milliseconds and compiled matchers are cached by grammar text.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from interlace._errors import UsageError
from interlace.llm._base import Grammar

__all__ = ["Constraint", "GrammarCompiler", "GrammarError"]


class GrammarError(UsageError):
    """A grammar that llguidance cannot compile (raised by :meth:`GrammarCompiler.constraint`;
    the engine then decodes unconstrained and reports it in ``Completion.warnings``)."""


class Constraint:
    """One request's grammar state. Not thread-safe; used by the decoding thread only.

    Attributes:
        seconds: time spent computing masks and forced tokens and consuming tokens (seconds).
        steps: masks computed.
    """

    def __init__(self, matcher: Any, n_vocab: int) -> None:
        self._matcher = matcher
        self._n_vocab = n_vocab
        self.seconds = 0.0
        self.steps = 0

    @property
    def done(self) -> bool:
        """The grammar accepts no more tokens (generation must end)."""
        return bool(self._matcher.is_stopped())

    @property
    def error(self) -> str:
        """The matcher's error message ("" when none)."""
        return str(self._matcher.get_error()) if self._matcher.is_error() else ""

    def forced(self) -> list[int]:
        """Tokens the grammar forces from here (possibly none); not yet consumed."""
        t0 = time.perf_counter()
        try:
            return list(self._matcher.compute_ff_tokens())
        finally:
            self.seconds += time.perf_counter() - t0

    def allowed(self) -> npt.NDArray[np.bool_]:
        """Which tokens may come next, shape ``[n_vocab]``."""
        t0 = time.perf_counter()
        try:
            bits = np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8)
            mask = np.unpackbits(bits, bitorder="little")[: self._n_vocab].astype(bool)
            if mask.shape[0] < self._n_vocab:
                mask = np.concatenate([mask, np.zeros(self._n_vocab - mask.shape[0], bool)])
            self.steps += 1
            return mask
        finally:
            self.seconds += time.perf_counter() - t0

    def accept(self, tokens: list[int]) -> bool:
        """Consume ``tokens``; ``False`` if the grammar rejected one (it is then in error)."""
        t0 = time.perf_counter()
        try:
            return bool(self._matcher.consume_tokens(tokens)) if tokens else True
        finally:
            self.seconds += time.perf_counter() - t0


class GrammarCompiler:
    """Compiles grammars for one llama.cpp vocabulary (built lazily, cached).

    Args:
        vocab: the model's ``llama_vocab`` pointer.
        n_vocab: the vocabulary size (logits length).
        eog_tokens: every token that ends generation (EOS, ``<|im_end|>``...).
    """

    def __init__(self, vocab: Any, n_vocab: int, eog_tokens: list[int]) -> None:
        self._vocab = vocab
        self._n_vocab = n_vocab
        self._eog = eog_tokens
        self._tokenizer: Any = None
        self._matchers: dict[str, Any] = {}

    def prepare(self) -> None:
        """Build llguidance's view of the vocabulary now (about a second for 151k tokens, once)
        instead of at the first constrained request."""
        if self._tokenizer is None:
            from llguidance.llamacpp import lltokenizer_from_vocab

            with warnings.catch_warnings():  # it calls a llama.cpp alias deprecated in 0.3
                warnings.simplefilter("ignore", DeprecationWarning)
                self._tokenizer = lltokenizer_from_vocab(
                    self._vocab, n_vocab=self._n_vocab, eos_token=self._eog
                )

    def constraint(self, grammar: Grammar) -> Constraint:
        """A fresh :class:`Constraint` for ``grammar``.

        Raises:
            GrammarError: llguidance is missing or the grammar does not compile.
        """
        try:
            import llguidance
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise GrammarError(f"constrained decoding needs llguidance: {exc}") from exc
        pristine = self._matchers.get(grammar.lark)
        if pristine is None:
            self.prepare()
            text = llguidance.LLMatcher.grammar_from_lark(grammar.lark)
            pristine = llguidance.LLMatcher(self._tokenizer, text, log_level=0)
            if pristine.is_error():
                raise GrammarError(
                    f"grammar {grammar.name!r} does not compile: {pristine.get_error()}"
                )
            self._matchers[grammar.lark] = pristine
        return Constraint(pristine.deep_copy(), self._n_vocab)
