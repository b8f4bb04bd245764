"""Reading the model's ``Thought:`` / ``Action:`` text (joiner and ReAct).

The model's output is data: nothing here evaluates it. An action is read as a name followed by
an argument in parentheses (or, tolerated, square brackets). The argument is taken *whole*: from
the first opening bracket to the last matching closing bracket on the line, so
``Action: Finish(Star Wars (film))`` yields ``Star Wars (film)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Action",
    "JoinDecision",
    "fallback_answer",
    "find_action",
    "find_answer",
    "find_thought",
    "finish_argument",
    "parse_joiner_output",
    "strip_quotes",
]

_ACTION_LINE = re.compile(r"^\s*\**Action\**\s*(?:\d+\s*)?:\s*(?P<body>.*)$", re.I | re.M)
_BARE_FINISH = re.compile(r"^\s*(?P<body>(?:Finish|Replan)\s*[(\[].*)$", re.I | re.M)
_BODY = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\s*(?P<open>[(\[:])(?P<rest>.*)$", re.S)
_THOUGHT = re.compile(r"^\s*Thought\s*:\s*(?P<text>.*)$", re.I | re.M)
_ANSWER = re.compile(r"^\s*(?:Final\s+)?Answer\s*:\s*(?P<text>.+)$", re.I | re.M)
_CLOSE = {"(": ")", "[": "]"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Action:
    """One ``Action:`` as the model wrote it.

    Attributes:
        name: the action or tool name as written (``"Finish"``, ``"search"``, ...).
        argument: the raw text between the outermost brackets (after ``:`` for ``Name: text``).
        style: how the argument was written: ``"call"`` (``Name(...)``), ``"brackets"``
            (``Name[...]``) or ``"colon"`` (``Name: ...``).
        closed: whether the closing bracket was found (``False`` when the output was cut off).
        line: the whole action text, for error messages and repeat detection.
    """

    name: str
    argument: str
    style: Literal["call", "brackets", "colon"]
    closed: bool
    line: str


@dataclass(frozen=True, kw_only=True, slots=True)
class JoinDecision:
    """What the joiner decided.

    Attributes:
        kind: ``"finish"`` (answer the question) or ``"replan"`` (make a new plan).
        thought: the joiner's ``Thought:`` text ("" when it wrote none).
        text: the answer (for ``"finish"``) or the reason (for ``"replan"``).
    """

    kind: Literal["finish", "replan"]
    thought: str
    text: str


def strip_quotes(text: str) -> str:
    """Strip whitespace and one pair of matching surrounding quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        return text[1:-1].strip()
    return text


_PLACEHOLDER = re.compile(
    r"^(?:<[^<>]*>|\.\.\.|…|(?:the |your |best |final )*answer(?: here)?)$", re.IGNORECASE
)


def finish_argument(argument: str) -> str:
    """The answer inside ``Finish(...)``: quotes stripped; "" for a copied placeholder.

    Small models copy the format line literally (``Finish(answer)``, ``Finish(<your best
    answer>)``, ``Finish(...)``); such a text is not an answer.
    """
    text = strip_quotes(argument)
    return "" if _PLACEHOLDER.match(text) else text


def find_thought(text: str) -> str:
    """The text of the first ``Thought:`` line ("" when there is none)."""
    match = _THOUGHT.search(text)
    return match.group("text").strip() if match else ""


def find_action(text: str) -> Action | None:
    """The first readable ``Action:`` in ``text`` (a bare ``Finish(...)`` line also counts).

    Returns:
        The action, or ``None`` when no line reads as ``Name(argument)``.
    """
    for pattern in (_ACTION_LINE, _BARE_FINISH):
        for match in pattern.finditer(text):
            action = _read_body(match.group("body").strip())
            if action is not None:
                return action
    return None


def _read_body(body: str) -> Action | None:
    match = _BODY.match(body)
    if match is None:
        return None
    name, opener, rest = match.group("name"), match.group("open"), match.group("rest")
    if opener == ":":
        return Action(name=name, argument=rest.strip(), style="colon", closed=True, line=body)
    style: Literal["call", "brackets"] = "call" if opener == "(" else "brackets"
    end = rest.rfind(_CLOSE[opener])
    closed = end >= 0
    argument = (rest[:end] if closed else rest).strip()
    return Action(name=name, argument=argument, style=style, closed=closed, line=body)


def parse_joiner_output(text: str) -> JoinDecision | None:
    """Read the joiner's ``Thought:`` and ``Action: Finish(...)`` / ``Action: Replan(...)``.

    Returns:
        The decision, or ``None`` when no Finish/Replan action is readable (or Finish is empty).
    """
    thought = find_thought(text)
    for pattern in (_ACTION_LINE, _BARE_FINISH):
        for match in pattern.finditer(text):
            action = _read_body(match.group("body").strip())
            if action is None:
                continue
            kind = action.name.lower()
            if kind == "finish" and (answer := finish_argument(action.argument)):
                return JoinDecision(kind="finish", thought=thought, text=answer)
            if kind == "replan":
                reason = strip_quotes(action.argument)
                return JoinDecision(kind="replan", thought=thought, text=reason)
    return None


def find_answer(text: str) -> str:
    """The text after an explicit ``Answer:`` / ``Final Answer:`` line ("" when there is none)."""
    match = _ANSWER.search(text)
    return strip_quotes(match.group("text")) if match else ""


def fallback_answer(text: str) -> str:
    """Best-effort answer from output that has no readable ``Finish(...)``.

    Takes the text after ``Answer:`` if present, else the last non-empty line that is not an
    ``Action:`` line (with a ``Thought:`` prefix removed). Returns "" for blank text.
    """
    answer = find_answer(text)
    if answer:
        return answer
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line or _ACTION_LINE.match(line):
            continue
        thought = _THOUGHT.match(line)
        return strip_quotes(thought.group("text") if thought else line)
    return ""
