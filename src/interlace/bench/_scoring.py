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
import unicodedata
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
            return named[0] == gold_option(label, options)
    return False


def _names(pred_n: str, option_n: str) -> bool:
    return bool(option_n) and re.search(rf"(^| ){re.escape(option_n)}( |$)", pred_n) is not None


def _fold(text: str) -> set[str]:
    """The words of ``normalize(text)`` without accents ("Sánchez" -> "sanchez")."""
    plain = unicodedata.normalize("NFKD", normalize(text))
    return set("".join(c for c in plain if not unicodedata.combining(c)).split())


def gold_option(label: str, options: Sequence[str]) -> str | None:
    """The option ``label`` designates, else ``None``.

    The option equal to the label after :func:`normalize`; else the one option sharing the
    most words with it (accents folded), when exactly one shares the most and it shares at
    least one. A question names its entities briefly and HotpotQA's label often gives the full
    name: for "Who was born first, Arthur Conan Doyle or Penelope Lively?" the label is "Arthur
    Ignatius Conan Doyle", which designates the first option.
    """
    gold_n = normalize(label)
    for option in options:
        if normalize(option) == gold_n:
            return option
    words = _fold(label)
    shared = sorted(((len(words & _fold(o)), i) for i, o in enumerate(options)), reverse=True)
    if not shared or shared[0][0] == 0 or (len(shared) > 1 and shared[1][0] == shared[0][0]):
        return None
    return options[shared[0][1]]


_AUXILIARIES = "are|is|was|were|do|does|did|has|have|had|can|could|will|would|should"
_YES_NO_START = re.compile(rf"^({_AUXILIARIES})\b", re.I)
_QUESTION_WORD = re.compile(rf"^(which|who|whom|whose|what|where|when|{_AUXILIARIES})$", re.I)
_EITHER_BOTH = re.compile(r"\b(either|both)\b", re.I)
# Lowercase words that may join the capitalised words of one name ("Bay of Pigs",
# "Oz the Great and Powerful", "Juan de la Cruz").
_CONNECTORS = frozenset(
    {"of", "the", "and", "de", "da", "del", "della", "di", "du", "la", "le", "von", "van"}
    | {"der", "den", "y", "&", "on", "in", "for", "at", "a", "an", "to", "v.", "vs."}
    | {"-", "\u2013"}
)
_SEPARATORS = ",;:"


def _is_name_word(word: str) -> bool:
    head = word.lstrip("\"'(\u201c\u2018")
    return bool(head) and (head[0].isupper() or head[0].isdigit())


def _may_join(bare: str) -> bool:
    """Whether a word (its trailing separator removed) can be part of a name."""
    return _is_name_word(bare) or bare.lower() in _CONNECTORS


def _trim(run: list[str]) -> str:
    while run and not _is_name_word(run[0]):
        run.pop(0)
    while run and not _is_name_word(run[-1]):
        run.pop()
    return " ".join(run).strip(_SEPARATORS + "?")


def _name_after(words: Sequence[str]) -> str:
    """The name that ``words`` start with: capitalised words or numbers and the connectors
    between them; a comma ends it unless one more name word follows and ends it ("Kaiyuan,
    Liaoning"), so "Screaming Trees, had more members" gives "Screaming Trees"."""
    run: list[str] = []
    for i, word in enumerate(words):
        bare = word.rstrip(_SEPARATORS)
        if not _may_join(bare):
            break
        run.append(word)
        if bare != word:  # a separator after this word
            rest = words[i + 1 : i + 3]
            if not (
                rest and _is_name_word(rest[0]) and (len(rest) < 2 or not _is_name_word(rest[1]))
            ):
                break
    return _trim(run)


def _name_before(words: Sequence[str]) -> str:
    """The name that ``words`` end with, read backwards like :func:`_name_after`: a comma is
    crossed only after a single name word ("Monsters, Inc.", "Stanley Lloyd Kaufman, Jr.")."""
    run: list[str] = []
    for word in reversed(words):
        bare = word.rstrip(_SEPARATORS)
        if bare != word and run and (len(run) != 1 or not _is_name_word(bare)):
            break
        if not _may_join(bare):
            break
        run.insert(0, word)
    return _trim(run)


def _choice_pair(text: str) -> tuple[str, str] | None:
    """``(A, B)`` of a question that names two entities as "A or B" (see answer_choices)."""
    words = text.rstrip("? ").split()
    for at in range(len(words) - 2, 0, -1):
        if words[at].lower() != "or":
            continue
        before = words[1:at] if _QUESTION_WORD.match(words[0]) else words[:at]
        first, second = _name_before(before), _name_after(words[at + 1 :])
        if first and second:
            return first, second
    return None


def answer_choices(question: str, options: Sequence[str] = ()) -> tuple[str, ...] | None:
    """The answers a question admits, when its form says (used to constrain ``Finish(...)``).

    * a multiple-choice question: its ``options`` (Movie);
    * a question that starts like a yes/no question ("Are", "Was", "Did", ...) and names no
      alternatives, or asks about "either"/"both" of them: ``("yes", "no")``;
    * a question that names two entities as "A or B" ("Which band formed first, Oasis or
      Blur?", "Was Oasis or Blur formed first?", "Which genus has more species: Marsilea or
      Brabejum?"): ``(A, B)``, each name read as the capitalised words (and the connectors
      between them, as in "Bay of Pigs") next to the "or" — HotpotQA's comparison questions
      compare two entities;
    * anything else: ``None`` (any answer).
    """
    if options:
        return tuple(str(o) for o in options)
    text = " ".join(question.split())
    yes_no = _YES_NO_START.match(text) is not None
    if yes_no and (" or " not in text or _EITHER_BOTH.search(text)):
        return ("yes", "no")
    return _choice_pair(text)
