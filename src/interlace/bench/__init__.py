"""Benchmarks: datasets, their tools, a resumable runner, a results store and evaluation.

The registry
------------
A benchmark is any object that satisfies :class:`Benchmark`::

    name: str                                   # "hotpotqa"
    methods: tuple[str, ...]                    # ("compiler", "react")
    load(data_dir) -> list[Question]            # Question(id, text, label, meta)
    make_agent(method, llm, options, question) -> Agent   # a fresh agent per question
    score(question, result) -> bool

Register it once at import time with :func:`register`; ``interlace bench NAME`` then shares the
runner, the store, resume, the progress bar and ``interlace eval``. Built in: ``hotpotqa``,
``movie``, ``parallelqa`` (LLMCompiler, Kim et al. 2023, Sec. 5). Modules listed in
:data:`PLUGIN_MODULES` (``interlace.bench.bfcl``) are imported on the first lookup so they can
register themselves.

``make_agent`` receives the run's LLM wrapped in a :class:`MeteredLLM` (it counts requests made
by tools, e.g. ``math``); its ``inner`` attribute is the backend itself.
"""

from interlace.bench._benchmarks import LLMCompilerBenchmark, make_search
from interlace.bench._data import DATASETS, Dataset, data_dir, fetch, status
from interlace.bench._eval import (
    Comparison,
    MethodSummary,
    Report,
    evaluate_files,
    evaluate_records,
)
from interlace.bench._examples import Examples
from interlace.bench._latency import Latency, with_latency
from interlace.bench._mathtool import evaluate as evaluate_expression
from interlace.bench._mathtool import make_math
from interlace.bench._registry import (
    PLUGIN_MODULES,
    Benchmark,
    Question,
    QuestionId,
    RunOptions,
    benchmark_names,
    get_benchmark,
    register,
)
from interlace.bench._runner import MeteredLLM, RunConfig, method_order, run_benchmark
from interlace.bench._scoring import is_correct, normalize
from interlace.bench._search import EvidenceStore, Page, WikipediaSearch, offline_store
from interlace.bench._store import Store, read_records

__all__ = [
    "DATASETS",
    "PLUGIN_MODULES",
    "Benchmark",
    "Comparison",
    "Dataset",
    "EvidenceStore",
    "Examples",
    "LLMCompilerBenchmark",
    "Latency",
    "MeteredLLM",
    "MethodSummary",
    "Page",
    "Question",
    "QuestionId",
    "Report",
    "RunConfig",
    "RunOptions",
    "Store",
    "WikipediaSearch",
    "benchmark_names",
    "data_dir",
    "evaluate_expression",
    "evaluate_files",
    "evaluate_records",
    "fetch",
    "get_benchmark",
    "is_correct",
    "make_math",
    "make_search",
    "method_order",
    "normalize",
    "offline_store",
    "read_records",
    "register",
    "run_benchmark",
    "status",
    "with_latency",
]
