"""The three LLMCompiler benchmarks: HotpotQA (comparison), Movie recommendation, ParallelQA.

Each one loads its questions, builds the benchmark's own tools for a question (``search``, and
``math`` for ParallelQA) with the run's simulated tool latency, and builds an LLMCompiler or a
ReAct agent over them with the benchmark's few-shot examples (Kim et al. 2023, Sec. 5.1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from interlace._errors import UsageError
from interlace.bench import _data
from interlace.bench._examples import HOTPOTQA, MOVIE, PARALLELQA, Examples
from interlace.bench._latency import with_latency
from interlace.bench._mathtool import make_math
from interlace.bench._registry import Question, RunOptions, register
from interlace.bench._scoring import answer_choices, is_correct
from interlace.bench._search import WikipediaSearch, offline_store

if TYPE_CHECKING:
    from interlace._tools import Tool
    from interlace.agents._result import Agent, RunResult
    from interlace.llm._base import LLM

METHODS = ("compiler", "react")
NATIVE_METHODS = ("native", "native-parallel")
"""The backend's own function calling (:class:`~interlace.agents.NativeFunctionCalling`): run
only when named (``--methods native-parallel,compiler``), on an OpenAI-compatible backend."""


def make_search(options: RunOptions, sources: Sequence[str]) -> Callable[..., Any]:
    """The ``search(entity)`` tool function for ``options.search`` (offline or live)."""
    if options.search == "live":
        cache = options.cache_dir or Path(platformdirs.user_cache_dir("interlace")) / "wiki"
        live = WikipediaSearch(cache)

        async def live_search(entity: str) -> str:
            """Look up an entity; returns the first sentences of its Wikipedia page."""
            return await live.search(entity)

        live_search.__name__ = "search"
        return live_search
    if options.search != "offline":
        raise UsageError(f"unknown search backend {options.search!r}; use 'offline' or 'live'")
    store = offline_store(options.data_dir, sources)

    def search(entity: str) -> str:
        """Look up an entity; returns the first sentences of its encyclopedia page."""
        return store.search(entity)

    return search


def build_agent(
    method: str,
    llm: LLM,
    tools: Sequence[Tool],
    examples: Examples,
    options: RunOptions,
    question: Question,
) -> Agent | None:
    """The ``"compiler"``, ``"react"``, ``"native"`` or ``"native-parallel"`` agent of a
    benchmark run, with the run's settings that apply to every method alike (observation
    budget, answer choices); ``None`` for another method name. Built-in and custom benchmarks
    share it.

    Raises:
        UsageError: a native method on a backend without native function calling.
    """
    from interlace.agents import LLMCompiler, NativeFunctionCalling, ReAct

    if method in NATIVE_METHODS:  # answers in text: no grammar, so no answer choices
        return NativeFunctionCalling(
            llm,
            tools,
            parallel=method == "native-parallel",
            observation_tokens=options.observation_tokens,
        )

    choices = (
        answer_choices(question.text, question.meta.get("options") or ())
        if options.answer_choices
        else None
    )
    if method == "compiler":
        return LLMCompiler(
            llm,
            tools,
            planner_examples=examples.planner,
            joiner_examples=examples.joiner,
            stream=options.stream,
            observation_tokens=options.observation_tokens,
            answer_choices=choices,
        )
    if method == "react":
        return ReAct(
            llm,
            tools,
            examples=examples.react,
            observation_tokens=options.observation_tokens,
            answer_choices=choices,
        )
    return None


@dataclass(frozen=True, kw_only=True)
class LLMCompilerBenchmark:
    """A benchmark of the LLMCompiler paper (see module docstring).

    Attributes:
        name: registry name.
        loader: reads the questions from a data directory.
        examples: few-shot examples.
        sources: search corpora in priority order.
        datasets: what ``interlace bench`` fetches on first use (``interlace data list``).
        with_math: whether the ``math`` tool is offered.
        methods: ``("compiler", "react", "native", "native-parallel")``.
        default_methods: those run without ``--methods``: ``("compiler", "react")``.
    """

    name: str
    loader: Callable[[Path], list[Question]]
    examples: Examples
    sources: tuple[str, ...]
    datasets: tuple[str, ...] = ()
    with_math: bool = False
    methods: tuple[str, ...] = METHODS + NATIVE_METHODS
    default_methods: tuple[str, ...] = METHODS

    def load(self, data_dir: Path) -> list[Question]:
        """The benchmark's questions (raises DatasetNotFoundError when missing)."""
        return self.loader(data_dir)

    def tools(self, llm: LLM, options: RunOptions) -> list[Tool]:
        """Fresh tools for one question, with the run's tool latency."""
        from interlace._tools import Tool

        functions = [make_search(options, self.sources)]
        if self.with_math:
            functions.append(make_math(llm))
        return [Tool.from_function(with_latency(fn, options.tool_latency)) for fn in functions]

    def make_agent(self, method: str, llm: LLM, options: RunOptions, question: Question) -> Agent:
        """An LLMCompiler (``"compiler"``) or ReAct (``"react"``) agent for ``question``.

        Raises:
            UsageError: unknown method.
        """
        agent = build_agent(method, llm, self.tools(llm, options), self.examples, options, question)
        if agent is None:
            raise UsageError(f"{self.name}: unknown method {method!r}; use one of {self.methods}")
        return agent

    def score(self, question: Question, result: RunResult) -> bool:
        """Published rule (numbers within 10 %, else normalised exact match), and an answer
        that names one of the question's options (Movie's four; the "A or B" a comparison
        question names) is right when the label designates that option
        (:func:`~interlace.bench._scoring.gold_option`: "Arthur Conan Doyle" for the label
        "Arthur Ignatius Conan Doyle")."""
        return self.score_answer(question, result.answer)

    def score_answer(self, question: Question, answer: str) -> bool:
        """:meth:`score` of a final answer alone (its verdict reads nothing else; ``eval
        --rescore`` judges stored answers with it)."""
        options = answer_choices(question.text, question.meta.get("options") or ()) or ()
        if tuple(options) == ("yes", "no"):
            options = ()
        return is_correct(answer, question.label, options=options)


hotpotqa = register(
    LLMCompilerBenchmark(
        name="hotpotqa",
        loader=_data.load_hotpotqa,
        examples=HOTPOTQA,
        sources=("hotpotqa", "wiki"),
        datasets=("hotpotqa", "hotpotqa-evidence", "wiki"),
    )
)
movie = register(
    LLMCompilerBenchmark(
        name="movie",
        loader=_data.load_movie,
        examples=MOVIE,
        sources=("movielens", "wiki"),
        datasets=("movie", "movielens", "wiki"),
    )
)
parallelqa = register(
    LLMCompilerBenchmark(
        name="parallelqa",
        loader=_data.load_parallelqa,
        examples=PARALLELQA,
        sources=("wiki", "hotpotqa"),
        datasets=("parallelqa", "wiki", "hotpotqa-evidence"),
        with_math=True,
    )
)
