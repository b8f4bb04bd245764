"""Answer correctness, the rule LLMCompiler's evaluation uses (arXiv 2312.04511, Sec. 5).

* Numeric gold labels: correct when the prediction's number is within 10 % (relative) of it.
* Other labels: normalised exact match — lowercase, punctuation removed, the articles
  "a", "an", "the" removed, whitespace collapsed.
* Movie questions (4 options): also correct when the prediction names exactly one of the
  options and that option is the gold one (a model that answers "I'd pick Fargo (1996)" is
  right; one that lists two options is not).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def normalize(text: str) -> str:
    """Lowercase, drop punctuation and articles, collapse whitespace."""
    text = text.lower().translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def parse_number(text: str) -> float | None:
    """The text as a number (commas and a trailing % allowed), else ``None``."""
    cleaned = text.strip().rstrip("%").replace(",", "").strip()
    try:
        return float(cleaned)
    except ValueError:
        return None


def _numbers_in(text: str) -> list[float]:
    out: list[float] = []
    for match in _NUMBER.findall(text):
        value = parse_number(match)
        if value is not None:
            out.append(value)
    return out


def is_correct(
    prediction: str, label: str, *, options: Sequence[str] = (), tol: float = 0.1
) -> bool:
    """Whether ``prediction`` answers ``label`` (see module docstring).

    Args:
        prediction: the agent's final answer.
        label: the gold answer.
        options: multiple-choice options, if the question has them.
        tol: relative tolerance for numeric labels (0.1 = 10 %).
    """
    gold = parse_number(label)
    if gold is not None:
        found = _numbers_in(prediction)
        if len(found) != 1:
            # Several numbers: accept only a whole-prediction number.
            whole = parse_number(prediction)
            found = [whole] if whole is not None else []
        if found:
            value = found[0]
            return abs(value - gold) <= tol * abs(gold) if gold != 0 else abs(value) <= tol
        return False
    pred_n, gold_n = normalize(prediction), normalize(label)
    if pred_n == gold_n and gold_n:
        return True
    if options:
        named = [opt for opt in options if _names(pred_n, normalize(opt))]
        if len(named) == 1:
            return normalize(named[0]) == gold_n
    return False


def _names(pred_n: str, option_n: str) -> bool:
    return bool(option_n) and re.search(rf"(^| ){re.escape(option_n)}( |$)", pred_n) is not None


_YES_NO_START = re.compile(
    r"^(are|is|was|were|do|does|did|has|have|had|can|could|will|would|should)\b", re.I
)
_OPTIONS_TAIL = re.compile(r",\s*([^?]+?)\s*\?\s*$")


def answer_choices(question: str, options: Sequence[str] = ()) -> tuple[str, ...] | None:
    """The answers a question admits, when its form says (used to constrain ``Finish(...)``).

    * a multiple-choice question: its ``options`` (Movie);
    * ``"..., A or B?"`` (or ``"..., A, B or C?"``): the named options (HotpotQA comparison
      questions such as "Which band formed first, Oasis or Blur?");
    * a question that starts like a yes/no question ("Are", "Was", "Did", ...): ``("yes", "no")``;
    * anything else: ``None`` (any answer).
    """
    if options:
        return tuple(str(o) for o in options)
    text = question.strip()
    tail = _OPTIONS_TAIL.search(text)
    if tail and re.search(r"\sor\s", tail.group(1)):
        parts = [p.strip() for p in re.split(r",\s*|\s+or\s+", tail.group(1)) if p.strip()]
        if 2 <= len(parts) <= 5:
            return tuple(parts)
    if _YES_NO_START.match(text):
        return ("yes", "no")
    return None
