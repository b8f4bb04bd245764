"""LLMCompiler: plan a DAG of tool calls, run it while it streams, join, maybe replan.

Kim et al. 2023, "An LLM Compiler for Parallel Function Calling" (arXiv 2312.04511):

1. the *planner* (§3.1) writes ``N. tool(args)`` lines; with ``stream=True`` its text deltas go
   through :class:`~interlace._planner.PlanParser` straight into
   :func:`~interlace._executor.run_plan` (the task fetching unit, §3.2), so a task starts as soon
   as its line is complete and its dependencies have resolved — while the planner still writes;
2. the *joiner* (§3.3) reads every task's observation (or failure, or skip reason) and writes
   ``Action: Finish(answer)`` or ``Action: Replan(reason)``;
3. on ``Replan`` the planner is asked again (§3.3 dynamic replanning), at most ``max_replans``
   times. The last joiner round may only finish, and so may the round of a replan that repeats
   an earlier plan line for line (it would only loop).

One conversation, never re-read (the token economy of DESIGN.md). The planner and the joiner
share one fixed system message (:func:`~interlace.agents._prompts.compiler_system`), and every
round *continues* the same conversation::

    system  rules, tools, examples                      (fixed: a pinned KV prefix)
    user    Question: ... Write the plan now ...
    assistant  1. search("A") / 2. search("B") / 3. join()            (planner)
    user    Results, in the order the calls finished ... observations
    assistant  Thought: ... / Action: Finish(...)                       (joiner)
    [user   Plan only what is still missing ...  -> assistant plan 2 -> user results 2 ...]

So the joiner's prompt starts with everything the planner's KV cache already holds: only the
results are new. On a backend that can prefill ahead (:class:`~interlace.llm.PrefixPrefill`, the
embedded engine), each observation is also prefilled in the background as its task finishes, in
completion order, while the model is otherwise idle (the background prefill yields to any other
request, such as an LLM-backed tool) — AsyncLM's interrupt idea (Gim et al. 2024, §3) applied to
LLMCompiler's joiner: when the last task ends, only its observation remains to read. On remote
APIs the same append-only order lets server-side prefix caching apply.

Every role decodes under a grammar where the backend can enforce one (plan lines of listed
tools with typed arguments and backward ``$N`` references; the joiner's ``Action:``), so no
malformed line and no retry; elsewhere the replies are parsed, and a joiner reply without an
action gets one retry ("nudge").

Task ids restart at 1 in every round (each round's plan is its own DAG; ``$N`` never reaches
into an earlier round).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import AsyncGenerator, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from interlace import _events
from interlace._clock import now
from interlace._errors import PlanParseError, UsageError
from interlace._executor import ExecutionLimits, ExecutionReport, TaskRecord, run_plan
from interlace._grammars import joiner_grammar, plan_grammar
from interlace._plan import Task
from interlace._planner import END_OF_PLAN, PlanEvent, PlanParser, parse_plan
from interlace._scheduler import Cancelled, Failed, Outcome, Skipped, Succeeded
from interlace._tools import Tool, safe_str
from interlace.agents._common import (
    RunMeter,
    clip,
    prefill_fixed_prompt,
    prompt_digest,
    with_stop,
)
from interlace.agents._observe import fit_observation
from interlace.agents._parse import (
    JoinDecision,
    fallback_answer,
    find_answer,
    find_thought,
    parse_joiner_output,
)
from interlace.agents._prompts import (
    FINISH_NUDGE,
    REPLAN_CUE,
    compiler_system,
    joiner_header,
)
from interlace.agents._result import EventStreaming, RunResult
from interlace.llm._base import (
    LLM,
    Completion,
    GenerationConfig,
    Grammar,
    Message,
    PrefixPrefill,
    TextDelta,
)
from interlace.trace._spans import Span

__all__ = ["LLMCompiler", "render_results"]

_PLANNER_CONFIG = GenerationConfig(max_tokens=400, stop=(END_OF_PLAN, "\nQuestion:", "###"))
_JOINER_CONFIG = GenerationConfig(max_tokens=160, stop=("\nQuestion:", "###"))
_NUDGE_TOKENS = 60
_DEFAULT_LIMITS = ExecutionLimits()
_PLAN_CUE = "Write the plan now: numbered tool calls, then join()."


@dataclass(frozen=True, kw_only=True, slots=True)
class _Round:
    """One planner round: the plan text, what running it produced, and the joiner's input."""

    number: int
    plan: str
    report: ExecutionReport
    results: str


@dataclass(kw_only=True)
class _Finished:
    """The tasks of one round whose calls ended, in completion order (fed by run_plan)."""

    entries: list[tuple[Task, Outcome]] = field(default_factory=list)
    changed: Callable[[], None] = lambda: None

    def add(self, task: Task, outcome: Outcome) -> None:
        self.entries.append((task, outcome))
        self.changed()


def _describe(outcome: Outcome, question: str, budget: int, task_id: int | None = None) -> str:
    if isinstance(outcome, Succeeded):
        text = fit_observation(safe_str(outcome.value), question, budget)
        label = "Observation" if task_id is None else f"Observation {task_id}"
        return f"{label}: {clip(text)}"
    if isinstance(outcome, Failed):
        return f"Failed: {type(outcome.error).__name__}: {safe_str(outcome.error)}"
    if isinstance(outcome, Skipped):
        return f"Skipped: {outcome.reason}"
    assert isinstance(outcome, Cancelled)
    return "Cancelled: the call did not finish."


def _task_line(task: Task | None, outcome: Outcome) -> str:
    """The plan line of a task (for an unparsed line, the line its error carries)."""
    if task is not None:
        return task.line.strip() or f"{task.id}. {task.tool}(...)"
    if isinstance(outcome, Failed) and isinstance(outcome.error, PlanParseError):
        return outcome.error.line.strip()
    return "(unreadable plan line)"


def _tool_records(report: ExecutionReport) -> list[TaskRecord]:
    """The report's records in id order, without ``join()``."""
    records = [report.records[i] for i in sorted(report.records)]
    return [r for r in records if r.task is None or not r.task.is_join]


def _unrecorded_line_errors(report: ExecutionReport) -> list[PlanParseError]:
    """Parse errors that have no record of their own (no id, or the id was used already)."""
    return [e for e in report.line_errors if e.task_id is None or e.task_id not in report.records]


def consumed_tasks(plan: str) -> frozenset[int]:
    """Ids of the tasks of ``plan`` (a plan text) whose results a later task takes as an
    argument (``$N``)."""
    tasks, _ = parse_plan(plan)
    return frozenset(dep for task in tasks.tasks for dep in task.deps)


def consumed_budget(budget: int) -> int:
    """The token budget of a consumed observation: a quarter of ``budget`` (0 stays 0, whole)."""
    return max(budget // 4, 1) if budget > 0 else 0


def _entry(
    task: Task | None,
    outcome: Outcome,
    question: str,
    budget: int,
    consumed: Collection[int] = (),
) -> str:
    """One result as the joiner reads it. A call that succeeded is shown by its task id alone
    (``Observation 2: ...``): its plan line is in the conversation just above, already in the KV
    cache, so repeating it would only be prefilled again (~11 tokens a search of a movie title).
    A result in ``consumed`` (a later task took it as an argument) is cut to
    :func:`consumed_budget`: what the consumer took from it is in the consumer's own
    observation. A call that failed or never ran is shown under its line, with why."""
    if task is not None and isinstance(outcome, Succeeded):
        if task.id in consumed:
            budget = consumed_budget(budget)
        return _describe(outcome, question, budget, task.id)
    return f"{_task_line(task, outcome)}\n{_describe(outcome, question, budget)}"


def render_results(
    finished: Sequence[tuple[Task, Outcome]],
    report: ExecutionReport | None,
    question: str,
    *,
    final: bool,
    observation_tokens: int = 0,
    consumed: Collection[int] = (),
) -> str:
    """The user message that brings one round's results to the joiner.

    Tasks whose calls ended come first, in completion order (the order in which they were
    prefilled); then, once the round is over (``report`` given), the tasks that never ran
    (skipped, unreadable, cancelled) in id order and plan lines that had no id.

    Args:
        finished: ``(task, outcome)`` of the calls that ended, in completion order.
        report: the round's execution report, or ``None`` while tasks still run.
        question: the question (ranks observation sentences for the budget).
        final: whether this is the last round (the joiner may only finish).
        observation_tokens: each observation's token budget (0: whole; see
            :func:`~interlace.agents._observe.fit_observation`).
        consumed: ids of tasks whose results a later task of the plan consumed
            (:func:`consumed_tasks`); theirs get a quarter of the budget.
    """
    blocks = [_entry(t, o, question, observation_tokens, consumed) for t, o in finished]
    if report is not None:
        seen = {t.id for t, _ in finished}
        for record in _tool_records(report):
            task_id = record.task.id if record.task is not None else None
            if task_id is None or task_id not in seen:
                blocks.append(
                    _entry(record.task, record.outcome, question, observation_tokens, consumed)
                )
        for error in _unrecorded_line_errors(report):
            blocks.append(f"Unreadable plan line (not run): {error.line.strip()}")
        if not blocks:
            blocks.append("(the plan had no tool calls)")
    body = "".join(f"{block}\n" for block in blocks)
    return joiner_header(final=final) + body


def _note_problems(rnd: _Round, meter: RunMeter) -> None:
    """Count tool calls and record failures, skips and unreadable lines as run errors."""
    prefix = f"round {rnd.number}"
    records = _tool_records(rnd.report)
    for record in records:
        if record.start is not None:
            meter.tool_calls += 1
        if not isinstance(record.outcome, Succeeded):
            line = _task_line(record.task, record.outcome)
            meter.errors.append(f"{prefix}: {line} -> {_describe(record.outcome, '', 0)}")
    for error in _unrecorded_line_errors(rnd.report):
        meter.errors.append(f"{prefix}: plan line {error.line.strip()!r} ignored: {error}")
    if not records and not rnd.report.line_errors:
        meter.errors.append(f"{prefix}: the planner wrote no tool calls")
    if not rnd.report.joined and not rnd.report.ended:
        meter.errors.append(f"{prefix}: the plan was cut off before join() (token budget)")


def _plan_key(plan: str) -> tuple[str, ...]:
    """A plan's lines with whitespace normalised (how two rounds' plans are compared)."""
    return tuple(" ".join(line.split()) for line in plan.splitlines() if line.strip())


def _repeated_round(rnd: _Round, earlier: Sequence[_Round]) -> int | None:
    """The number of an earlier round whose plan ``rnd``'s repeats line for line, else None.

    A replan that writes the plan again re-runs the same calls and shows the joiner the same
    results, so it would ask again: in ParallelQA runs of 2026-12-01 the 0.5B model replanned
    the identical plan until ``max_replans`` ran out (4 rounds, 63 s for one question).
    """
    key = _plan_key(rnd.plan)
    for other in earlier:
        if key and _plan_key(other.plan) == key:
            return other.number
    return None


def _best_observation(rounds: Sequence[_Round]) -> str:
    """The last successful observation, as a last-resort answer ("" if there is none)."""
    for rnd in reversed(rounds):
        for task_id in sorted(rnd.report.records, reverse=True):
            outcome = rnd.report.records[task_id].outcome
            if isinstance(outcome, Succeeded) and safe_str(outcome.value).strip():
                return clip(safe_str(outcome.value), 300)
    return ""


class LLMCompiler(EventStreaming):
    """The LLMCompiler agent: planner, task fetching unit and joiner, with replanning.

    Args:
        llm: the language model for the planner and the joiner.
        tools: the tools plans may call (names must be unique).
        planner_examples: few-shot plans (``Question:`` + plan lines + ``<END_OF_PLAN>``),
            ``###``-separated; they go in the fixed system message.
        joiner_examples: few-shot joiner decisions, ``###``-separated; same.
        max_replans: how many times the joiner may ask for a new plan (>= 0); the run has at
            most ``max_replans + 1`` planner rounds.
        stream: ``True`` runs tasks while the plan streams; ``False`` waits for the whole
            plan text first (for comparison).
        limits: concurrency and default per-call timeout (seconds) for the tools.
        planner_config: planner generation settings; ``<END_OF_PLAN>`` is always a stop, and
            the plan grammar is added unless the config brings its own.
        joiner_config: joiner generation settings; the joiner grammar is added likewise.
        observation_tokens: each observation's token budget in the joiner's prompt (0: whole);
            a result that a later task consumed (``$N``) gets a quarter of it.
        prefill_results: prefill each observation as its task finishes, on backends that can
            (:class:`~interlace.llm.PrefixPrefill`); ``False`` to compare without.
        answer_choices: the answers ``Finish(...)`` may give, enforced by the joiner grammar
            where the backend constrains decoding (e.g. ``("yes", "no")``); ``None``: any.
            With choices the joiner's thought becomes optional (the grammar already keeps
            the answer to a choice, which is what the thought was required for); HotpotQA
            tuning questions 100-115, 2026-12-01: same accuracy (50.0%), 4.35 s instead of
            5.29 s, 28 output tokens instead of 57 per question.

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
        observation_tokens: int = 0,
        prefill_results: bool = True,
        answer_choices: Sequence[str] | None = None,
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
        planner_config = with_stop(planner_config, END_OF_PLAN)
        if planner_config.grammar is None:
            planner_config = _with_grammar(planner_config, plan_grammar(list(tools)))
        self.planner_config = dataclasses.replace(planner_config, role="planner")
        self.joiner_config = joiner_config
        self.observation_tokens = observation_tokens
        self.prefill_results = prefill_results
        self.answer_choices = tuple(answer_choices) if answer_choices else None
        self.system = compiler_system(list(tools), planner_examples, joiner_examples)

    def _joiner_config(self, final: bool) -> GenerationConfig:
        if self.joiner_config.grammar is not None:
            return self.joiner_config
        grammar = joiner_grammar(
            final=final, thought=self.answer_choices is None, choices=self.answer_choices
        )
        return _with_grammar(self.joiner_config, grammar)

    async def warm(self, question: str) -> int:
        """Prefill the fixed system message on a backend that can (benchmarks call this
        before the clock starts, for every method alike); a no-op once it is cached.

        Returns:
            Prompt tokens evaluated now.
        """
        return await prefill_fixed_prompt(self.llm, self.system)

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
        conversation = [
            Message(role="system", content=self.system),
            Message(role="user", content=f"Question: {question}\n\n{_PLAN_CUE}"),
        ]
        rounds: list[_Round] = []
        thoughts: list[str] = []
        for number in range(1, self.max_replans + 2):
            final = number > self.max_replans
            rnd = await self._plan_and_execute(question, conversation, number, final, meter)
            rounds.append(rnd)
            _note_problems(rnd, meter)
            repeats = _repeated_round(rnd, rounds[:-1])
            if repeats is not None and not final:
                # the same calls give the same results: another round would loop; finish now
                meter.errors.append(
                    f"round {number}: the new plan repeats round {repeats}'s; no further replan"
                )
            conversation += [
                Message(role="assistant", content=rnd.plan),
                Message(role="user", content=rnd.results),
            ]
            decision, reply = await self._join(
                conversation, rounds, meter, final=final or repeats is not None
            )
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
            conversation += [
                Message(role="assistant", content=reply),
                Message(role="user", content=REPLAN_CUE),
            ]
        raise AssertionError("unreachable: the last joiner round always finishes")

    async def _plan_and_execute(
        self,
        question: str,
        conversation: list[Message],
        number: int,
        final: bool,
        meter: RunMeter,
    ) -> _Round:
        """One planner request, its plan run by the task fetching unit, results prefilled."""
        got: list[Completion] = []
        warm = self.prefill_results and isinstance(self.llm, PrefixPrefill)
        send, receive = anyio.create_memory_object_stream[None](math.inf)

        def changed() -> None:  # a new plan or a finished task: wake the background prefill
            if warm:
                with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    send.send_nowait(None)

        finished = _Finished(changed=changed)
        if self.stream:
            events = self._streamed_events(conversation, got, meter, finished.changed)
        else:
            completion = await _events.complete(self.llm, conversation, self.planner_config)
            meter.record(
                completion, "planner", streamed=False, prompt_sha=prompt_digest(conversation)
            )
            got.append(completion)
            events = _replay(completion.text)
        error: Exception | None = None
        async with anyio.create_task_group() as group:
            if warm:
                group.start_soon(
                    self._prefill_results,
                    receive,
                    conversation,
                    got,
                    finished,
                    (question, final, meter),
                )
            else:
                receive.close()
            try:  # run_plan re-raises an LLMError from the stream unchanged
                report = await run_plan(
                    events,
                    self.tools,
                    limits=self.limits,
                    trace=meter.trace,
                    on_finish=finished.add,
                )
            except Exception as exc:  # re-raised below as itself, not inside an ExceptionGroup
                error = exc
                group.cancel_scope.cancel()
            finally:
                await events.aclose()
                send.close()
        if error is not None:
            raise error
        plan = got[0].text if got else ""
        results = render_results(
            finished.entries,
            report,
            question,
            final=final,
            observation_tokens=self.observation_tokens,
            consumed=consumed_tasks(plan),
        )
        return _Round(number=number, plan=plan, report=report, results=results)

    async def _prefill_results(
        self,
        receive: MemoryObjectReceiveStream[None],
        conversation: Sequence[Message],
        got: list[Completion],
        finished: _Finished,
        run: tuple[str, bool, RunMeter],
    ) -> None:
        """Background: after the plan and after each finished task, prefill the joiner's
        prompt so far (low priority: it yields to any other request for the model)."""
        assert isinstance(self.llm, PrefixPrefill)
        question, final, meter = run
        done = 0
        async with receive:
            async for _ in receive:
                while True:  # coalesce: prefill only the newest state
                    try:
                        receive.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                if not got or (done == len(finished.entries) and done):
                    continue
                done = len(finished.entries)
                partial = render_results(
                    finished.entries,
                    None,
                    question,
                    final=final,
                    observation_tokens=self.observation_tokens,
                    consumed=consumed_tasks(got[0].text),
                )
                messages = [
                    *conversation,
                    Message(role="assistant", content=got[0].text),
                    Message(role="user", content=partial),
                ]
                start = now()
                tokens = await self.llm.prefill(messages, open_end=True, background=True)
                if tokens:
                    meter.record_prefill("joiner-prefill", start, now(), tokens)

    async def _streamed_events(
        self,
        messages: Sequence[Message],
        got: list[Completion],
        meter: RunMeter,
        planned: Callable[[], None],
    ) -> AsyncGenerator[PlanEvent, None]:
        """The planner's stream as plan events, each yielded as soon as its line is complete."""
        parser = PlanParser()
        async for item in _events.stream(self.llm, messages, self.planner_config):
            if isinstance(item, TextDelta):
                for event in parser.feed(item.text):
                    yield event
            else:
                meter.record(item, "planner", streamed=True, prompt_sha=prompt_digest(messages))
                got.append(item)
                planned()
        for event in parser.close():
            yield event

    async def _join(
        self,
        messages: Sequence[Message],
        rounds: Sequence[_Round],
        meter: RunMeter,
        *,
        final: bool,
    ) -> tuple[JoinDecision, str]:
        """One joiner round (plus at most one nudge); always a decision, Finish when ``final``.

        Returns:
            The decision and the joiner's reply text (kept in the conversation on a replan).
        """
        start = now()
        config = self._joiner_config(final)
        completion = await meter.complete(self.llm, messages, config, "joiner")
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
        return decision, completion.text

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

        Only reached where the backend does not enforce the joiner grammar. ``replan`` says
        the first reply was a ``Replan`` (its text is then not an answer).
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
            grammar=joiner_grammar(
                final=True, thought=self.answer_choices is None, choices=self.answer_choices
            ),
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


def _with_grammar(config: GenerationConfig, grammar: Grammar) -> GenerationConfig:
    return dataclasses.replace(config, grammar=grammar)


async def _replay(text: str) -> AsyncGenerator[PlanEvent, None]:
    """A whole plan text as plan events (the ``stream=False`` path)."""
    parser = PlanParser()
    for event in [*parser.feed(text), *parser.close()]:
        yield event
