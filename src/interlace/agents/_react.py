"""ReAct: the sequential baseline (Yao et al. 2022, arXiv 2210.03629).

One LLM turn per step: the model writes ``Thought: ...`` and ``Action: tool("arg")`` and stops at
``Observation:``; the tool runs; its result comes back as the next message ``Observation: ...``.
The loop ends at ``Action: Finish(answer)`` or after ``max_steps`` turns, when one more turn is
spent asking for a final answer. LLMCompiler's paper (Kim et al. 2023, §5) compares against it.

Guards for small models: an action identical to an earlier one is not run again (the model is
told so); an unknown tool, an unreadable action or a failing tool becomes an observation; the
answer is never empty when the model wrote anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from interlace._calls import call_key, parse_arguments
from interlace._errors import CallSyntaxError, UsageError
from interlace._executor import ExecutionLimits, run_task
from interlace._grammars import joiner_grammar, react_grammar
from interlace._plan import Task, TaskId
from interlace._scheduler import Failed, Succeeded, describe
from interlace._tools import Tool, find_tool, safe_str
from interlace.agents._common import RunMeter, clip, prefill_fixed_prompt, with_stop
from interlace.agents._observe import fit_observation
from interlace.agents._parse import (
    Action,
    fallback_answer,
    find_action,
    finish_argument,
    strip_quotes,
)
from interlace.agents._prompts import FINISH_NUDGE, react_system
from interlace.agents._result import EventStreaming, RunResult
from interlace.llm._base import LLM, GenerationConfig, Message

__all__ = ["ReAct", "parse_call"]

_STOP = ("Observation:", "\nQuestion:")
_DEFAULT_CONFIG = GenerationConfig(max_tokens=200, stop=_STOP)


def parse_call(action: Action, tool: Tool) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments of ``action`` for ``tool``, read with the one call
    syntax of plans and CML (:mod:`interlace._calls`; an action has no ``$N`` references).

    ``search[Paris]``, ``search: Paris`` and an unquoted ``search(Paris)`` are read as one string
    argument when the tool takes exactly one parameter.

    Raises:
        CallSyntaxError: the arguments do not follow the call syntax.
    """
    single = len(tool.signature.parameters) == 1
    if action.style != "call":
        return (strip_quotes(action.argument),), {}
    try:
        return parse_arguments(action.name, action.argument)
    except CallSyntaxError:
        if single and action.argument.strip():
            return (strip_quotes(action.argument),), {}
        raise


class ReAct(EventStreaming):
    """The ReAct agent: think, call one tool, observe, repeat.

    Args:
        llm: the language model.
        tools: the tools it may call (names must be unique).
        examples: few-shot examples in the ReAct format, ``###``-separated.
        max_steps: tool-calling turns before a final answer is forced (>= 1).
        config: generation settings per turn; ``"Observation:"`` is always a stop sequence,
            and the ReAct grammar (:func:`~interlace._grammars.react_grammar`: a thought, then
            an action of a listed tool or ``Finish``) is added unless the config brings one.
        tool_timeout: seconds a tool call may take when the tool sets no timeout of its own.
        observation_tokens: each observation's token budget (0: whole; see
            :func:`~interlace.agents._observe.fit_observation`).
        answer_choices: the answers ``Finish(...)`` may give, enforced by the grammar where
            the backend constrains decoding; ``None``: any.

    Raises:
        UsageError: ``max_steps < 1`` or two tools share a name.
    """

    name = "react"

    def __init__(
        self,
        llm: LLM,
        tools: Sequence[Tool],
        *,
        examples: str = "",
        max_steps: int = 8,
        config: GenerationConfig = _DEFAULT_CONFIG,
        tool_timeout: float | None = 60.0,
        observation_tokens: int = 0,
        answer_choices: Sequence[str] | None = None,
    ) -> None:
        if max_steps < 1:
            raise UsageError(f"ReAct(max_steps={max_steps}): max_steps must be at least 1")
        self.tools: Mapping[str, Tool] = {t.name: t for t in tools}
        if len(self.tools) != len(tools):
            raise UsageError(f"ReAct: tool names must be unique, got {[t.name for t in tools]}")
        self.llm = llm
        self.max_steps = max_steps
        config = with_stop(config, *_STOP)
        self.answer_choices = tuple(answer_choices) if answer_choices else None
        if config.grammar is None:
            grammar = react_grammar(list(tools), choices=self.answer_choices)
            config = dataclasses.replace(config, grammar=grammar)
        self.config = config
        self.tool_timeout = tool_timeout
        self.observation_tokens = observation_tokens
        self.system = react_system(list(tools), examples)

    async def warm(self, question: str) -> int:
        """Prefill the fixed system message on a backend that can (benchmarks call this
        before the clock starts, for every method alike); a no-op once it is cached.

        Returns:
            Prompt tokens evaluated now.
        """
        return await prefill_fixed_prompt(self.llm, self.system)

    async def run(self, question: str) -> RunResult:
        """Answer ``question``.

        Returns:
            The result; ``rounds`` is the number of LLM turns, ``details["steps"]`` the transcript
            of (thought-and-action text, observation) pairs.

        Raises:
            LLMError: the backend failed. Tool failures become observations instead.
        """
        meter = RunMeter()
        messages = [
            Message(role="system", content=self.system),
            Message(role="user", content=f"Question: {question}"),
        ]
        seen: dict[str, int] = {}
        steps: list[dict[str, str]] = []
        for step in range(1, self.max_steps + 1):
            completion = await meter.complete(self.llm, messages, self.config, "react")
            text = completion.text.strip()
            messages.append(Message(role="assistant", content=text))
            action = find_action(text)
            if action is not None and action.name.lower() == "finish":
                answer = finish_argument(action.argument)
                if answer:
                    steps.append({"text": text, "observation": ""})
                    return self._result(meter, question, answer, step, steps)
            observation, repeated = await self._observe(action, text, step, seen, meter)
            observation = fit_observation(observation, question, self.observation_tokens)
            steps.append({"text": text, "observation": observation})
            messages.append(Message(role="user", content=f"Observation: {observation}"))
            if repeated:
                # A repeated action brings no new information: a model that repeats itself is
                # stuck, and letting it go on only loops to max_steps. Ask for the answer now.
                answer = await self._force_finish(meter, messages, steps, "repeated an action")
                return self._result(meter, question, answer, step + 1, steps)
        answer = await self._force_finish(
            meter, messages, steps, f"reached max_steps={self.max_steps}"
        )
        return self._result(meter, question, answer, self.max_steps + 1, steps)

    async def _observe(
        self, action: Action | None, text: str, step: int, seen: dict[str, int], meter: RunMeter
    ) -> tuple[str, bool]:
        """Run the step's action unless it repeats an earlier one.

        Returns:
            The observation text, and whether the action was a repeat (and so was not run).
        """
        if action is None or action.name.lower() == "finish":
            meter.errors.append(f"step {step}: no readable action in {clip(text, 200)!r}")
            hint = "No action found. Call one tool, or give the answer with Action: Finish(...)."
            return hint, False
        found = find_tool(self.tools, action.name)
        tool = None if found is None else found[1]
        if tool is None:
            meter.errors.append(f"step {step}: unknown tool {action.name!r}")
            return (
                f"There is no tool named {action.name}. Use one of: {', '.join(self.tools)}, "
                "or Action: Finish(answer)."
            ), False
        try:
            args, kwargs = parse_call(action, tool)
        except CallSyntaxError as exc:
            meter.errors.append(f"step {step}: {exc}")
            return f"Could not read the arguments of {action.line}: {exc}", False
        key = call_key(tool.name, args, kwargs)
        if key in seen:
            meter.errors.append(f"step {step}: repeated the action of step {seen[key]}")
            return f"You already did {action.line} at step {seen[key]}; its result is above.", True
        seen[key] = step
        return await self._invoke(tool, args, kwargs, step, meter), False

    async def _invoke(
        self,
        tool: Tool,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        step: int,
        meter: RunMeter,
    ) -> str:
        """Run the action as a task on the plan scheduler and executor (one span, typed
        outcome; the tool's own timeout wins over ``tool_timeout``)."""
        meter.tool_calls += 1
        task = Task(id=TaskId(step), tool=tool.name, args=args, kwargs=kwargs)
        limits = ExecutionLimits(default_timeout=self.tool_timeout)
        done = await run_task(task, self.tools, limits=limits, trace=meter.trace)
        outcome = done.outcome
        if isinstance(outcome, Succeeded):
            return clip(safe_str(outcome.value))
        if isinstance(outcome, Failed):
            error = outcome.error
            meter.errors.append(f"step {step}: {tool.name} failed: {safe_str(error)}")
            return f"Error: {type(error).__name__}: {safe_str(error)}"
        meter.errors.append(f"step {step}: {tool.name} {describe(outcome)}")
        return f"Error: the call {describe(outcome)}"

    async def _force_finish(
        self, meter: RunMeter, messages: list[Message], steps: list[dict[str, str]], reason: str
    ) -> str:
        """One extra turn asking for ``Finish(...)``; falls back to text, then observations."""
        meter.errors.append(f"{reason}: forced a final answer")
        last = messages[-1]
        nudge = f"{last.content}\n\nNo more tool calls. {FINISH_NUDGE}"
        messages[-1] = Message(role="user", content=nudge)
        grammar = joiner_grammar(final=True, choices=self.answer_choices)
        config = dataclasses.replace(self.config, grammar=grammar)
        completion = await meter.complete(self.llm, messages, config, "react-final")
        action = find_action(completion.text)
        if action is not None and action.name.lower() == "finish":
            answer = finish_argument(action.argument)
            if answer:
                return answer
        answer = fallback_answer(completion.text)
        if not answer:
            useful = [s["observation"] for s in steps if s["observation"]]
            answer = clip(useful[-1], 300) if useful else "unknown"
        meter.errors.append(f"no Finish(...) in the final turn; answered {answer!r}")
        return answer

    def _result(
        self,
        meter: RunMeter,
        question: str,
        answer: str,
        rounds: int,
        steps: list[dict[str, str]],
    ) -> RunResult:
        details = {"steps": steps}
        return meter.result(
            question=question, answer=answer, method=self.name, rounds=rounds, details=details
        )
