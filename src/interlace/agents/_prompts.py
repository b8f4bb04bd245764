"""Prompts for the planner, the joiner and ReAct (our own wording).

Every prompt puts what is fixed for a benchmark — rules, tool list, examples — in the system
message first, and what changes per question last (the user message), so a backend that keeps
its KV cache can reuse the whole system prefix across questions. Prompts are short on purpose:
the default model is a 0.5B model on a CPU, where each 100 prompt tokens cost about a second of
prefill.

Formats (LLMCompiler, Kim et al. 2023, §3.1 planner and §3.3 joiner; ReAct, Yao et al. 2022):

- planner: ``N. tool(args)`` lines, ``$N`` for the result of task ``N``, optional ``Thought:``
  lines, a final ``N. join()`` and then ``<END_OF_PLAN>``;
- joiner: ``Thought: ...`` then ``Action: Finish(answer)`` or ``Action: Replan(reason)``;
- ReAct: ``Thought: ...`` / ``Action: tool("arg")`` turns answered by ``Observation: ...``,
  ending with ``Action: Finish(answer)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from interlace._planner import END_OF_PLAN
from interlace.llm._base import Message

__all__ = [
    "END_OF_PLAN",
    "FINISH_NUDGE",
    "REPLAN_CUE",
    "RenderableTool",
    "compiler_system",
    "joiner_header",
    "joiner_messages",
    "joiner_system",
    "planner_messages",
    "planner_system",
    "react_system",
]


class RenderableTool(Protocol):
    """What a prompt needs from a tool: its name and one-line description."""

    @property
    def name(self) -> str: ...

    def render(self) -> str:
        """``name(arg: type, ...) - description``."""
        ...


_PLANNER_RULES = f"""\
You plan tool calls that answer a question. Write one call per line:
N. tool(arguments)
- N counts up from 1. Arguments are Python literals, e.g. search("Paris").
- $N means the result of call N; a call that uses $N waits for call N.
- Calls that do not use each other run at the same time, so keep them separate.
- A line "Thought: ..." may come before a call.
- Use only the tools listed below. The last call is always join(), then write {END_OF_PLAN}."""

_JOINER_RULES = """\
You get a question and the results of tool calls made for it. Decide the answer.
Write exactly two lines:
Thought: <what the results show>
Action: Finish(<the answer only, no sentence>)
The answer is yes or no only for a yes/no question; otherwise it is the name or number asked for.
Or, if the results are not enough and other tool calls could help:
Action: Replan(<what is still missing>)"""

_REACT_RULES = """\
You answer a question by calling tools, one per turn. Each turn write:
Thought: <what you need next>
Action: tool("argument")
then stop: the result comes back as "Observation: ...". Do not repeat a call you already made.
When you know the answer, write:
Thought: <why>
Action: Finish(<the answer only>)
The answer is yes or no only for a yes/no question; otherwise it is the name or number asked for."""

_JOIN_TOOL = "join() - ends the plan and collects the results; always the last call"


def _tool_lines(tools: Sequence[RenderableTool]) -> str:
    return "\n".join(tool.render() for tool in tools)


def _with_examples(text: str, examples: str) -> str:
    examples = examples.strip()
    return f"{text}\n\nExamples:\n{examples}" if examples else text


def planner_system(tools: Sequence[RenderableTool], examples: str = "") -> str:
    """The planner's system message: rules, tool list (plus ``join()``) and examples."""
    text = f"{_PLANNER_RULES}\n\nTools:\n{_tool_lines(tools)}\n{_JOIN_TOOL}"
    return _with_examples(text, examples)


def planner_messages(
    system: str, question: str, *, history: str = "", thought: str = "", next_id: int = 1
) -> list[Message]:
    """Messages for one planner round.

    Args:
        system: the text of :func:`planner_system` (fixed per agent, so the prefix is cached).
        question: the user's question.
        history: for a replan, the earlier plans and their observations, rendered.
        thought: for a replan, why the joiner asked for a new plan.
        next_id: for a replan, the first task number the new plan should use.

    Returns:
        ``[system, user]``; the question comes first in the user message, replan context after.
    """
    user = f"Question: {question}"
    if history:
        user += f"\n\nEarlier calls and their results:\n{history.strip()}"
        if thought:
            user += f"\n\nWhy they were not enough: {thought.strip()}"
        user += (
            f"\n\nPlan only what is still missing, numbering calls from {next_id}. "
            "Do not repeat calls that already worked."
        )
    else:
        # Without this cue a small model may continue the question (e.g. re-list its options).
        user += "\n\nWrite the plan now: numbered tool calls, then join()."
    return [Message(role="system", content=system), Message(role="user", content=user)]


def joiner_system(examples: str = "") -> str:
    """The joiner's system message: the decision format and examples."""
    return _with_examples(_JOINER_RULES, examples)


def joiner_messages(system: str, question: str, observations: str, *, final: bool) -> list[Message]:
    """Messages for one joiner round.

    Args:
        system: the text of :func:`joiner_system`.
        question: the user's question.
        observations: every task line with its result, failure or skip reason, rendered.
        final: whether this is the last round (replanning is then not allowed).
    """
    user = f"Question: {question}\n\n{observations.strip() or '(no results)'}"
    if final:
        user += "\n\nNo more tool calls are possible: answer with Action: Finish(...)."
    return [Message(role="system", content=system), Message(role="user", content=user)]


_COMPILER_RULES = """\
You answer a question with tool calls, in two steps.
Step 1, plan. Write one call per line:
N. tool(arguments)
- N counts up from 1. Arguments are Python literals, e.g. search("Paris").
- $N means the result of call N; a call that uses $N waits for call N.
- Calls that do not use each other run at the same time, so keep them separate.
- Use only the tools listed below. The last line is N. join().
Step 2, decide. When the results come back, write:
Thought: <what the results show>
Action: Finish(<the answer only, no sentence>)
The answer is yes or no only for a yes/no question; otherwise it is the name or number asked for.
Or, if the results are not enough and other tool calls could help:
Action: Replan(<what is still missing>)"""


def compiler_system(
    tools: Sequence[RenderableTool], planner_examples: str = "", joiner_examples: str = ""
) -> str:
    """LLMCompiler's one fixed system message, for the planner and the joiner alike.

    The joiner continues the planner's conversation instead of starting its own (so the plan
    and the observations already in the KV cache are not read again), so both roles' rules,
    the tool list and both sets of examples sit in the one system message that every question
    shares: prefilled once, then served from the prefix cache.
    """
    text = f"{_COMPILER_RULES}\n\nTools:\n{_tool_lines(tools)}\n{_JOIN_TOOL}"
    if planner_examples.strip():
        text += f"\n\nExample plans:\n{planner_examples.strip()}"
    if joiner_examples.strip():
        text += f"\n\nExample decisions:\n{joiner_examples.strip()}"
    return text


def joiner_header(*, final: bool) -> str:
    """The first line of the user message that brings a round's results back (written before
    any result is known, so it can be prefilled with them as they arrive)."""
    if final:
        return (
            "Results, in the order the calls finished. No more tool calls are possible: "
            "decide with Action: Finish(...).\n"
        )
    return "Results, in the order the calls finished. Decide: Finish or Replan.\n"


REPLAN_CUE = (
    "Plan only what is still missing: new calls numbered from 1, then join(). "
    "Do not repeat calls that already worked."
)
"""The user message after a ``Replan`` decision, asking for the next round's plan."""


def react_system(tools: Sequence[RenderableTool], examples: str = "") -> str:
    """ReAct's system message: the turn format, tool list and examples."""
    text = f"{_REACT_RULES}\n\nTools:\n{_tool_lines(tools)}"
    return _with_examples(text, examples)


FINISH_NUDGE = "Reply with one line only: Action: Finish(<your best answer>)"
"""Sent once when the model gave no readable ``Finish(...)`` where one was required."""
