"""Observations as the model reads them: cut to a token budget by relevance to the question.

On the embedded model every prompt token costs prefill time (~134 tokens/s on 2 CPU threads),
and a search result is a whole Wikipedia paragraph (~300 tokens) of which a comparison question
needs one sentence. :func:`fit_observation` keeps the sentences that matter for the question:
the first sentence (in an encyclopedia extract it names what the entity is, its nationality and
dates), then the others ranked by BM25 against the question (Robertson & Zaragoza 2009; scored
with the ``bm25s`` library), until the budget is spent, printed in their original order. The
same budget applies to every method of a benchmark run (``--observation-tokens``), so the
comparison stays fair.

Token counts here are estimates, ``ceil(characters / 4)``, on the safe side: Qwen2.5's
tokenizer averaged 4.6 characters per token (110 tokens per extract) on the first 200 extracts of
the offline Wikipedia store (measured 2026-12-01).
"""

from __future__ import annotations

import math
import re

__all__ = ["estimate_tokens", "fit_observation", "split_sentences"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[A-Za-z0-9]+")
_CUT = " …"


def estimate_tokens(text: str) -> int:
    """Estimated tokens of ``text`` (``ceil(len / 4)``)."""
    return math.ceil(len(text) / 4)


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences (simple punctuation rule; good enough for lead paragraphs)."""
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def _bm25_scores(sentences: list[str], query: str) -> list[float]:
    """BM25 score of each sentence for ``query`` (0.0 everywhere when no word is shared)."""
    import bm25s

    corpus = [" ".join(_WORD.findall(s.lower())) or "_" for s in sentences]
    words = [w for w in _WORD.findall(query.lower())]
    if not words:
        return [0.0] * len(sentences)
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False
    )
    known = [w for w in words if w in retriever.vocab_dict]
    if not known:
        return [0.0] * len(sentences)
    return [float(x) for x in retriever.get_scores(known)]


def fit_observation(text: str, question: str, tokens: int) -> str:
    """``text`` cut to about ``tokens`` tokens, keeping the sentences most relevant to
    ``question``.

    Args:
        text: the observation (a tool's result, rendered).
        question: what the run is answering; its words rank the sentences.
        tokens: the budget, estimated tokens (:func:`estimate_tokens`); 0 or less keeps the
            whole text.

    Returns:
        The text itself when it fits; else its first sentence plus the best-ranked others that
        fit, in their original order, with ``…`` where sentences were left out (at most
        ``tokens + 1`` estimated tokens). A first sentence longer than the budget is cut at a
        word boundary.
    """
    text = text.strip()
    if tokens <= 0 or estimate_tokens(text) <= tokens:
        return text
    budget = tokens * 4
    sentences = split_sentences(text)
    first = sentences[0]
    if len(first) + 2 > budget or len(sentences) == 1:
        head = first[: max(budget - 2, 1)]
        head = head.rsplit(" ", 1)[0] if " " in head else head
        return head.rstrip(",;:") + _CUT
    scores = _bm25_scores(sentences[1:], question)
    ranked = sorted(
        (i + 1 for i, score in enumerate(scores) if score > 0.0), key=lambda i: -scores[i - 1]
    )
    keep = [0]
    for index in ranked:
        if len(_render(sentences, {*keep, index})) <= budget:
            keep.append(index)
    return _render(sentences, set(keep))


def _render(sentences: list[str], keep: set[int]) -> str:
    parts: list[str] = []
    for i, sentence in enumerate(sentences):
        if i in keep:
            parts.append(sentence)
        elif not parts or parts[-1] != "…":
            parts.append("…")
    return " ".join(parts)
