"""Questions, the :class:`Benchmark` protocol and the registry every benchmark joins.

A benchmark is anything with a ``name``, the ``methods`` it supports, a ``load`` that reads its
questions from a data directory, a ``make_agent`` that builds a fresh agent for one question and
method, and a ``score`` that judges a :class:`~interlace.agents.RunResult`. The runner, the store,
resume, the progress bar and ``interlace eval`` only ever talk to this protocol.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NewType, Protocol, TypeVar, runtime_checkable

from interlace._errors import UsageError
from interlace.bench._latency import Latency

if TYPE_CHECKING:
    from interlace.agents._result import Agent, RunResult
    from interlace.llm._base import LLM

QuestionId = NewType("QuestionId", str)

#: Modules imported on first registry lookup so that they can register themselves
#: (missing ones are ignored). BFCL lives in ``interlace.bench.bfcl``.
PLUGIN_MODULES: tuple[str, ...] = ("interlace.bench.bfcl",)

#: Entry point group through which an installed package adds benchmarks: each entry names a
#: Benchmark object (``pkg.mod:BENCH``, registered) or a module that registers its own.
ENTRY_POINT_GROUP = "interlace.benchmarks"


@dataclass(frozen=True, kw_only=True)
class Question:
    """One benchmark question.

    Attributes:
        id: the dataset's id of the question (unique within its benchmark).
        text: the question as given to the agent.
        label: the gold answer.
        meta: dataset extras (level, branch, options, ...), JSON-serialisable.
    """

    id: QuestionId
    text: str
    label: str
    meta: Mapping[str, Any] = field(default_factory=dict)


DEFAULT_OBSERVATION_TOKENS = 96
"""The benchmarks' default ``--observation-tokens``: each observation cut to its 96 most
relevant tokens (0 keeps it whole). Chosen 2026-12-02 from paired runs on the embedded model
(0.5 s search, ``--threads 2``; docs/results-history.md, commit 43efc0f): on 100 HotpotQA comparison
questions (0-49 and the held-out 116-165) LLMCompiler went from 40% to 45% right and from 6.03
to 5.25 s, ReAct from 45% to 43% and from 8.72 to 8.12 s; on the 16 questions 100-115 and on
0-49 at commit 3dc12e6 the compiler also gained (50.0 -> 56.2%, 30 -> 36%) and ReAct moved
50.0 -> 37.5% and 36 -> 38%. Over the four comparisons (166 question pairs) the budget gave the
compiler 9 more right answers and ReAct 3 fewer, and both methods fewer prompt tokens."""


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Settings shared by every question of one benchmark run.

    Attributes:
        data_dir: the data directory (layout of ``/work/shared/data``).
        tool_latency: extra latency added to every tool call (see :mod:`._latency`).
        stream: LLMCompiler streams the plan into the task fetching unit (``False`` waits for
            the whole plan first, to compare).
        search: ``"offline"`` (local evidence store) or ``"live"`` (Wikipedia over HTTP).
        cache_dir: where the live search caches pages (``None``: the user cache dir).
        observation_tokens: each observation's token budget in every method's prompts
            (0: whole; :func:`~interlace.agents._observe.fit_observation`; default
            :data:`DEFAULT_OBSERVATION_TOKENS`).
        answer_choices: constrain every method's final answer to the choices the question's
            form admits (:func:`~interlace.bench._scoring.answer_choices`: yes/no, "A or B",
            multiple-choice options), where the backend constrains decoding.
    """

    data_dir: Path
    tool_latency: Latency = field(default_factory=Latency)
    stream: bool = True
    search: str = "offline"
    cache_dir: Path | None = None
    observation_tokens: int = DEFAULT_OBSERVATION_TOKENS
    answer_choices: bool = True


@runtime_checkable
class Benchmark(Protocol):
    """What the runner needs from a benchmark (see module docstring)."""

    @property
    def name(self) -> str:
        """Registry name, e.g. ``"hotpotqa"``."""
        ...

    @property
    def methods(self) -> tuple[str, ...]:
        """Method names this benchmark can build agents for, e.g. ``("compiler", "react")``."""
        ...

    def load(self, data_dir: Path) -> list[Question]:
        """Read the questions. Raises DatasetNotFoundError when files are missing."""
        ...

    def make_agent(self, method: str, llm: LLM, options: RunOptions, question: Question) -> Agent:
        """A fresh agent for ``question`` with ``method``. Raises UsageError on unknown methods."""
        ...

    def score(self, question: Question, result: RunResult) -> bool:
        """Whether ``result`` answers ``question`` correctly."""
        ...


_REGISTRY: dict[str, Benchmark] = {}
B = TypeVar("B", bound=Benchmark)
_plugins_loaded = False


@runtime_checkable
class FetchableBenchmark(Protocol):
    """A benchmark whose data comes from :data:`interlace.bench._data.DATASETS`: ``interlace
    bench`` fetches what is missing from the data directory before the run (first use)."""

    @property
    def datasets(self) -> tuple[str, ...]:
        """The names (``interlace data list``) of the datasets the benchmark reads."""
        ...


@runtime_checkable
class DefaultMethods(Protocol):
    """A benchmark that runs fewer methods than it supports when none are named (e.g. the
    native function-calling methods, which need a backend that offers them)."""

    @property
    def default_methods(self) -> tuple[str, ...]:
        """The methods ``interlace bench`` runs without ``--methods``."""
        ...


def default_methods(benchmark: Benchmark) -> tuple[str, ...]:
    """The methods to run when none are named: :attr:`DefaultMethods.default_methods` where
    the benchmark declares them, else all of its ``methods``."""
    if isinstance(benchmark, DefaultMethods):
        return benchmark.default_methods
    return benchmark.methods


def register(benchmark: B) -> B:
    """Add ``benchmark`` to the registry under ``benchmark.name`` (replacing any older one).

    Returns:
        the benchmark, so this can be used on a module-level instance.
    """
    _REGISTRY[benchmark.name] = benchmark
    return benchmark


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in PLUGIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception as exc:
            raise UsageError(
                f"benchmark plugin {entry.name!r} ({entry.value}) cannot be loaded: {exc!r}"
            ) from exc
        if isinstance(loaded, Benchmark):
            register(loaded)


def get_benchmark(name: str) -> Benchmark:
    """The registered benchmark called ``name``.

    Raises:
        UsageError: no benchmark has that name (the message lists the known ones).
    """
    _load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise UsageError(f"unknown benchmark {name!r}; known benchmarks: {known}") from None


def benchmark_names() -> list[str]:
    """Names of every registered benchmark, sorted."""
    _load_plugins()
    return sorted(_REGISTRY)
