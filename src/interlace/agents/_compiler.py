"""LLMCompiler: plan a DAG of tool calls, run it while it streams, join, maybe replan.

Kim et al. 2023, "An LLM Compiler for Parallel Function Calling" (arXiv 2312.04511):

1. the *planner* (§3.1) writes ``N. tool(args)`` lines; with ``stream=True`` its text deltas go
   through :class:`~interlace._planner.PlanParser` straight into
   :func:`~interlace._executor.run_plan` (the task fetching unit, §3.2), so a task starts as soon
   as its line is complete and its dependencies have resolved — while the planner still writes;
2. the *joiner* (§3.3) reads every task's observation (or failure, or skip reason) and writes
   ``Action: Finish(answer)`` or ``Action: Replan(reason)``;
3. on ``Replan`` the planner is asked again (§3.3 dynamic replanning) with the earlier plans,
   their observations and the joiner's thought appended after the question; at most
   ``max_replans`` times. The last joiner round is told it must finish.

Task ids restart at 1 in every round (each round's plan is its own DAG; ``$N`` never reaches
into an earlier round); the joiner and the replanner see all rounds, labelled ``Plan 1:``,
``Plan 2:`` ... .
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Literal

from interlace._errors import PlanParseError, UsageError
from interlace._executor import ExecutionLimits, ExecutionReport, TaskRecord, run_plan
from interlace._planner import END_OF_PLAN, PlanEvent, PlanParser
from interlace._scheduler import Cancelled, Failed, Outcome, Skipped, Succeeded
from interlace._tools import Tool
from interlace.agents._common import RunMeter, clip, with_stop
from interlace.agents._parse import (
    JoinDecision,
    fallback_answer,
    find_answer,
    find_thought,
    parse_joiner_output,
)
from interlace.agents._prompts import (
    FINISH_NUDGE,
    joiner_messages,
    joiner_system,
    planner_messages,
    planner_system,
)
from interlace.agents._result import RunResult
from interlace.llm._base import LLM, Completion, GenerationConfig, Message, TextDelta, now
from interlace.trace._spans import Span

__all__ = ["LLMCompiler", "render_rounds"]

_PLANNER_CONFIG = GenerationConfig(max_tokens=400, stop=(END_OF_PLAN, "\nQuestion:", "###"))
_JOINER_CONFIG = GenerationConfig(max_tokens=160, stop=("\nQuestion:", "###"))
_NUDGE_TOKENS = 60
_DEFAULT_LIMITS = ExecutionLimits()


@dataclass(frozen=True, kw_only=True, slots=True)
class _Round:
    """One planner round: the plan text and what running it produced."""

    number: int
    plan: str
    report: ExecutionReport


def _describe(outcome: Outcome) -> str:
    if isinstance(outcome, Succeeded):
        return f"Observation: {clip(str(outcome.value))}"
    if isinstance(outcome, Failed):
        return f"Failed: {type(outcome.error).__name__}: {outcome.error}"
    if isinstance(outcome, Skipped):
        return f"Skipped: {outcome.reason}"
    assert isinstance(outcome, Cancelled)
    return "Cancelled: the call did not finish."


def _task_line(record: TaskRecord, report: ExecutionReport) -> str:
    """The plan line of a record (for an unparsed line, the line the error carries)."""
    task = record.task
    if task is not None:
        return task.line.strip() or f"{task.id}. {task.tool}(...)"
    if isinstance(record.outcome, Failed) and isinstance(record.outcome.error, PlanParseError):
        return record.outcome.error.line.strip()
    return "(unreadable plan line)"


def _tool_records(report: ExecutionReport) -> list[TaskRecord]:
    """The report's records in id order, without ``join()``."""
    records = [report.records[i] for i in sorted(report.records)]
    return [r for r in records if r.task is None or not r.task.is_join]


def _unrecorded_line_errors(report: ExecutionReport) -> list[PlanParseError]:
    """Parse errors that have no record of their own (no id, or the id was used already)."""
    return [e for e in report.line_errors if e.task_id is None or e.task_id not in report.records]


def render_rounds(rounds: Sequence[_Round]) -> str:
    """Every task line of every round with its observation, failure or skip reason.

    Unreadable plan lines are listed too, so the joiner knows a step is missing. With more
    than one round, each round is headed ``Plan N:``.
    """
    blocks: list[str] = []
    for rnd in rounds:
        lines = [f"Plan {rnd.number}:"] if len(rounds) > 1 else []
        records = _tool_records(rnd.report)
        for record in records:
            lines += [_task_line(record, rnd.report), _describe(record.outcome)]
        errors = _unrecorded_line_errors(rnd.report)
        lines += [f"Unreadable plan line (not run): {e.line.strip()}" for e in errors]
        if not records and not errors:
            lines.append("(the plan had no tool calls)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _note_problems(rnd: _Round, meter: RunMeter) -> None:
    """Count tool calls and record failures, skips and unreadable lines as run errors."""
    prefix = f"round {rnd.number}"
    records = _tool_records(rnd.report)
    for record in records:
        if record.start is not None:
            meter.tool_calls += 1
        if not isinstance(record.outcome, Succeeded):
            line = _task_line(record, rnd.report)
            meter.errors.append(f"{prefix}: {line} -> {_describe(record.outcome)}")
    for error in _unrecorded_line_errors(rnd.report):
        meter.errors.append(f"{prefix}: plan line {error.line.strip()!r} ignored: {error}")
    if not records and not rnd.report.line_errors:
        meter.errors.append(f"{prefix}: the planner wrote no tool calls")


def _best_observation(rounds: Sequence[_Round]) -> str:
    """The last successful observation, as a last-resort answer ("" if there is none)."""
    for rnd in reversed(rounds):
        for task_id in sorted(rnd.report.records, reverse=True):
            outcome = rnd.report.records[task_id].outcome
            if isinstance(outcome, Succeeded) and str(outcome.value).strip():
                return clip(str(outcome.value), 300)
    return ""


class LLMCompiler:
    """The LLMCompiler agent: planner, task fetching unit and joiner, with replanning.

    Args:
        llm: the language model for the planner and the joiner.
        tools: the tools plans may call (names must be unique).
        planner_examples: few-shot plans (``Question:`` + plan lines + ``<END_OF_PLAN>``),
            ``###``-separated; they go in the planner's fixed system message.
        joiner_examples: few-shot joiner decisions, ``###``-separated.
        max_replans: how many times the joiner may ask for a new plan (>= 0); the run has at
            most ``max_replans + 1`` planner rounds.
        stream: ``True`` runs tasks while the plan streams; ``False`` waits for the whole
            plan text first (for comparison).
        limits: concurrency and default per-call timeout (seconds) for the tools.
        planner_config: planner generation settings; ``<END_OF_PLAN>`` is always a stop.
        joiner_config: joiner generation settings.

    Raises:
        UsageError: ``max_replans < 0`` or two tools share a name.
    """

    name = "compiler"

    def __init__(
        self,
        llm: LLM,
        tools: Sequence[Tool],
        *,
        planner_examples: str = "",
        joiner_examples: str = "",
        max_replans: int = 3,
        stream: bool = True,
        limits: ExecutionLimits = _DEFAULT_LIMITS,
        planner_config: GenerationConfig = _PLANNER_CONFIG,
        joiner_config: GenerationConfig = _JOINER_CONFIG,
    ) -> None:
        if max_replans < 0:
            raise UsageError(f"LLMCompiler(max_replans={max_replans}): must be 0 or more")
        self.tools = {t.name: t for t in tools}
        if len(self.tools) != len(tools):
            raise UsageError(
                f"LLMCompiler: tool names must be unique, got {[t.name for t in tools]}"
            )
        self.llm = llm
        self.max_replans = max_replans
        self.stream = stream
        self.limits = limits
        self.planner_config = with_stop(planner_config, END_OF_PLAN)
        self.joiner_config = joiner_config
        self.planner_system = planner_system(list(tools), planner_examples)
        self.joiner_system = joiner_system(joiner_examples)

    async def run(self, question: str) -> RunResult:
        """Answer ``question``: plan and execute, join, and replan while the joiner asks to.

        Returns:
            The result; ``rounds`` counts planner rounds; ``details`` holds ``"plans"`` (plan
            texts) and ``"thoughts"`` (the joiner's thoughts), one per round.

        Raises:
            LLMError: the backend failed. Tool failures and bad plans never raise; they are
                shown to the joiner and listed in ``errors``.
        """
        meter = RunMeter()
        rounds: list[_Round] = []
        thoughts: list[str] = []
        for number in range(1, self.max_replans + 2):
            history = render_rounds(rounds)
            thought = thoughts[-1] if thoughts else ""
            plan, report = await self._plan_and_execute(question, history, thought, meter)
            rounds.append(_Round(number=number, plan=plan, report=report))
            _note_problems(rounds[-1], meter)
            decision = await self._join(question, rounds, meter, final=number > self.max_replans)
            thoughts.append(decision.thought)
            if decision.kind == "finish":
                details = {"plans": [r.plan for r in rounds], "thoughts": thoughts}
                return meter.result(
                    question=question,
                    answer=decision.text,
                    method=self.name,
                    rounds=number,
                    details=details,
                )
        raise AssertionError("unreachable: the last joiner round always finishes")

    async def _plan_and_execute(
        self, question: str, history: str, thought: str, meter: RunMeter
    ) -> tuple[str, ExecutionReport]:
        """One planner request, its plan run by the task fetching unit; returns (text, report)."""
        messages = planner_messages(self.planner_system, question, history=history, thought=thought)
        got: list[Completion] = []
        if self.stream:
            events = self._streamed_events(messages, got, meter)
        else:
            completion = await self.llm.complete(messages, self.planner_config)
            meter.record(completion, "planner", streamed=False)
            got.append(completion)
            events = _replay(completion.text)
        try:  # run_plan re-raises an LLMError from the stream unchanged
            report = await run_plan(events, self.tools, limits=self.limits, trace=meter.trace)
        finally:
            await events.aclose()
        return (got[0].text if got else ""), report

    async def _streamed_events(
        self, messages: Sequence[Message], got: list[Completion], meter: RunMeter
    ) -> AsyncGenerator[PlanEvent, None]:
        """The planner's stream as plan events, each yielded as soon as its line is complete."""
        parser = PlanParser()
        async for item in self.llm.stream(messages, self.planner_config):
            if isinstance(item, TextDelta):
                for event in parser.feed(item.text):
                    yield event
            else:
                meter.record(item, "planner", streamed=True)
                got.append(item)
        for event in parser.close():
            yield event

    async def _join(
        self, question: str, rounds: Sequence[_Round], meter: RunMeter, *, final: bool
    ) -> JoinDecision:
        """One joiner round (plus at most one nudge); always a decision, Finish when ``final``."""
        start = now()
        messages = joiner_messages(self.joiner_system, question, render_rounds(rounds), final=final)
        completion = await meter.complete(self.llm, messages, self.joiner_config, "joiner")
        decision = parse_joiner_output(completion.text)
        if decision is None:
            text = clip(completion.text, 200)
            meter.errors.append(f"joiner wrote no Finish/Replan action: {text!r}")
            stated = find_answer(completion.text)
            decision = (
                JoinDecision(kind="finish", thought="", text=stated)
                if stated
                else await self._nudge(messages, completion.text, rounds, meter, replan=False)
            )
        elif final and decision.kind == "replan":
            meter.errors.append(f"joiner asked to replan in the last round ({decision.text!r})")
            decision = await self._nudge(messages, completion.text, rounds, meter, replan=True)
        kind: Literal["join", "replan"] = "replan" if decision.kind == "replan" else "join"
        attrs = {"decision": decision.kind, "final": final, "thought": decision.thought}
        meter.trace.add(Span(kind=kind, name="joiner", start=start, end=now(), attrs=attrs))
        return decision

    async def _nudge(
        self,
        messages: Sequence[Message],
        first: str,
        rounds: Sequence[_Round],
        meter: RunMeter,
        *,
        replan: bool,
    ) -> JoinDecision:
        """Ask once more for ``Finish(...)``; then fall back to text or the best observation.

        ``replan`` says the first reply was a ``Replan`` (its text is then not an answer).
        """
        again = [
            *messages,
            Message(role="assistant", content=first.strip()),
            Message(role="user", content=FINISH_NUDGE),
        ]
        config = GenerationConfig(
            max_tokens=_NUDGE_TOKENS,
            temperature=self.joiner_config.temperature,
            stop=self.joiner_config.stop,
            seed=self.joiner_config.seed,
        )
        completion = await meter.complete(self.llm, again, config, "joiner-nudge")
        decision = parse_joiner_output(completion.text)
        if decision is not None and decision.kind == "finish":
            return decision
        answer = (
            fallback_answer(completion.text)
            or ("" if replan else fallback_answer(first))
            or _best_observation(rounds)
            or "unknown"
        )
        meter.errors.append(f"no Finish(...) after asking again: answered {answer!r}")
        return JoinDecision(kind="finish", thought=find_thought(first), text=answer)


async def _replay(text: str) -> AsyncGenerator[PlanEvent, None]:
    """A whole plan text as plan events (the ``stream=False`` path)."""
    parser = PlanParser()
    for event in [*parser.feed(text), *parser.close()]:
        yield event
