"""The benchmark runner: every method on the same questions, alternating, resumable.

Question ``i`` runs the methods rotated by ``i`` (q0: compiler, react; q1: react, compiler; ...)
so slow drift of the machine (thermal, other load) hits every method alike. Each finished
(question, method) becomes one store record at once; a resumed run skips what is recorded.
"""

from __future__ import annotations

import functools
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlace import __version__
from interlace._errors import LLMContextOverflowError, LLMError
from interlace.agents._result import RunResult
from interlace.bench._registry import Benchmark, Question, RunOptions
from interlace.bench._store import Store, record_key
from interlace.llm._base import LLM, Completion, GenerationConfig, LLMStats, Message, StreamItem
from interlace.llm._wrap import ForwardingLLM

_DEFAULT_CONFIG = GenerationConfig()


class MeteredLLM(ForwardingLLM):
    """Forwards to ``inner`` and counts every request (including the math tool's).

    It declares the capability protocols ``inner`` declares, and only those
    (:class:`~interlace.llm.ForwardingLLM`): on the local model it is a
    :class:`~interlace.llm.PrefixPrefill` and a :class:`~interlace.llm.TokenLevel`, on a
    server neither.

    Attributes:
        inner: the wrapped backend.
        stats: calls, usage and cost seen through this wrapper.
    """

    def __init__(self, inner: LLM) -> None:
        super().__init__(inner)
        self.stats = LLMStats()

    async def observe(
        self,
        items: AsyncIterator[StreamItem],
        messages: Sequence[Message],
        config: GenerationConfig,
    ) -> AsyncIterator[StreamItem]:
        """Count each request's final :class:`~interlace.llm.Completion`."""
        async for item in items:
            if isinstance(item, Completion):
                self.stats.record(item)
            yield item


@functools.cache
def git_commit() -> str | None:
    """The repository's HEAD commit, when run from a git checkout with git installed."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).parent,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """What one ``interlace bench`` invocation runs.

    Attributes:
        benchmark: the benchmark.
        methods: method names, in the order question 0 runs them.
        llm_spec: the spec the LLM was loaded from (recorded).
        options: options shared by every question.
    """

    benchmark: Benchmark
    methods: tuple[str, ...]
    llm_spec: str
    options: RunOptions
    extra: dict[str, Any] = field(default_factory=dict)

    def config_for(self, method: str, model: str) -> dict[str, Any]:
        """The ``config`` dict stored with each record of ``method``."""
        return {
            "benchmark": self.benchmark.name,
            "method": method,
            "llm": self.llm_spec,
            "model": model,
            "tool_latency": str(self.options.tool_latency),
            "stream": self.options.stream if method == "compiler" else None,
            "search": self.options.search,
            "observation_tokens": self.options.observation_tokens,
            "answer_choices": self.options.answer_choices,
            "git_commit": git_commit(),
            "interlace_version": __version__,
            **self.extra,
        }


def method_order(methods: Sequence[str], index: int) -> list[str]:
    """Methods rotated by ``index`` (the alternation rule in the module docstring)."""
    if not methods:
        return []
    k = index % len(methods)
    return [*methods[k:], *methods[:k]]


def _serialise_trace(result: RunResult) -> dict[str, Any]:
    from interlace.trace import trace_to_dict

    return trace_to_dict(result.trace)


def make_record(
    config: RunConfig,
    question: Question,
    method: str,
    result: RunResult,
    meter: LLMStats,
    correct: bool,
    model: str,
) -> dict[str, Any]:
    """One store record (see :mod:`interlace.bench._store` for the fields).

    LLM figures are the larger of what the agent reported and what the metered LLM saw, so
    requests made by tools (math) count even when the agent does not see them.
    """
    usage = result.usage
    return {
        "benchmark": config.benchmark.name,
        "question_id": question.id,
        "question": question.text,
        "label": question.label,
        "prediction": result.answer,
        "correct": correct,
        "method": method,
        "latency": result.latency,
        "llm_calls": max(result.llm_calls, meter.calls),
        "tokens_in": max(usage.prompt_tokens, meter.usage.prompt_tokens),
        "tokens_out": max(usage.completion_tokens, meter.usage.completion_tokens),
        "cached_tokens": max(usage.cached_prompt_tokens, meter.usage.cached_prompt_tokens),
        "cost_usd": max(result.cost_usd, meter.cost_usd),
        "tool_calls": result.tool_calls,
        "rounds": result.rounds,
        "errors": list(result.errors),
        "config": config.config_for(method, model),
        "trace": _serialise_trace(result),
        "details": dict(result.details),
        "meta": dict(question.meta),
        "time": time.time(),
    }


def _failed_result(question: Question, method: str, error: str, latency: float) -> RunResult:
    from interlace.llm._base import Usage

    return RunResult(
        question=question.text,
        answer="",
        method=method,
        latency=latency,
        llm_calls=0,
        usage=Usage(),
        cost_usd=0.0,
        tool_calls=0,
        errors=(error,),
    )


OnRecord = Callable[[dict[str, Any]], None]


async def run_benchmark(
    config: RunConfig,
    questions: Sequence[Question],
    llm: LLM,
    store: Store,
    *,
    on_record: OnRecord | None = None,
    on_skip: OnRecord | None = None,
) -> int:
    """Run every method of ``config`` on ``questions``; append each result to ``store``.

    Already-recorded (question, method, configuration) pairs are skipped, so a run that was
    killed or cancelled resumes where it stopped. An agent that raises anything but an
    :class:`~interlace.LLMError` gets a record with an ``"agent crashed"`` error and a wrong
    answer, and so does a question whose prompt outgrew the context window
    (:class:`~interlace.LLMContextOverflowError`: that question's failure, not the backend's);
    any other ``LLMError`` (backend unusable) stops the run.

    An agent with a ``warm(question)`` coroutine (the CML agents on a local model) has its
    prompt prefilled before the clock starts, so every method starts from a cached prompt
    whatever ran before it; otherwise the method that happens to run first on a question would
    pay the cold prefill (~30 s for a 2,000-token BFCL multi-step prompt on one thread).

    Args:
        config: benchmark, methods, llm spec, options.
        questions: the questions, in order.
        llm: the backend (wrapped in a :class:`MeteredLLM` per question and method).
        store: the results store.
        on_record: called with each new record (e.g. to update a progress bar).
        on_skip: called with ``{"question_id", "method"}`` for each pair skipped on resume.

    Returns:
        the number of records written by this call.

    Raises:
        LLMError: the backend failed.
    """
    written = 0
    for question, method in planned_runs(config, questions):
        if record_key(probe_record(config, question, method, llm.model)) in store:
            if on_skip:
                on_skip({"question_id": question.id, "method": method})
            continue
        record = await run_question(config, question, method, llm)
        store.append(record)
        written += 1
        if on_record:
            on_record(record)
    return written


def planned_runs(config: RunConfig, questions: Sequence[Question]) -> list[tuple[Question, str]]:
    """Every (question, method) pair of a run, in the order :func:`run_benchmark` runs them."""
    return [
        (question, method)
        for index, question in enumerate(questions)
        for method in method_order(config.methods, index)
    ]


def probe_record(config: RunConfig, question: Question, method: str, model: str) -> dict[str, Any]:
    """The fields of a record that :func:`~interlace.bench._store.record_key` reads, before the
    run: resume looks its key up in the store."""
    return {
        "benchmark": config.benchmark.name,
        "method": method,
        "question_id": question.id,
        "config": config.config_for(method, model),
    }


async def run_question(
    config: RunConfig, question: Question, method: str, llm: LLM
) -> dict[str, Any]:
    """Run ``method`` on ``question`` and return its store record (not written anywhere).

    The one-question step of :func:`run_benchmark` (also what a Ray worker runs: the
    ``interlace.bench._ray`` fan-out): a fresh agent on a :class:`MeteredLLM`, warmed first
    when it can be; an agent crash or a context overflow is a failed record.

    Raises:
        LLMError: the backend failed (anything but a context overflow).
    """
    meter = MeteredLLM(llm)
    agent = config.benchmark.make_agent(method, meter, config.options, question)
    warm = getattr(agent, "warm", None)
    started = time.monotonic()
    try:
        if warm is not None:
            await warm(question.text)
            started = time.monotonic()
        result = await agent.run(question.text)
    except LLMContextOverflowError as exc:
        error = f"context overflow: {exc}"
        result = _failed_result(question, method, error, time.monotonic() - started)
    except LLMError:
        raise
    except Exception as exc:
        error = f"agent crashed: {type(exc).__name__}: {exc}"
        result = _failed_result(question, method, error, time.monotonic() - started)
    correct = bool(result.answer) and config.benchmark.score(question, result)
    return make_record(config, question, method, result, meter.stats, correct, llm.model)
