"""BFCL (Berkeley Function Calling Leaderboard) for AsyncLM and its baselines.

``interlace bench bfcl --methods sync,sync-parallel,async-naive,async`` runs the categories
``parallel``, ``parallel_multiple``, ``multi_turn_base`` (first turns) and ``multi_step``
(AsyncLM's multi-step parallel set) through the shared runner; ``--categories parallel,multi_step``
(or ``$INTERLACE_BFCL_CATEGORIES``, comma-separated, when the option is absent) loads fewer
categories.
Every result's ``details`` holds ``calls`` (what the checker judged), ``decode_latency`` (first to
last generated token, seconds) and ``latency_model`` (``sync``/``sync_parallel``/``async``
seconds from the measured generation and execution times of the calls).

``native`` and ``native-parallel`` (run only when named, on an OpenAI-compatible backend) offer
the functions natively (``tools=``, :class:`~interlace.agents.NativeFunctionCalling`): each BFCL
document becomes an OpenAI function schema (:func:`~interlace.bench.bfcl._native.openai_schema`),
dotted names are offered under the names of
:class:`~interlace.llm._toolcalls.FunctionNames` (``math.factorial`` → ``math_factorial``) and
the calls are recorded, and scored, under the BFCL names. Their ``details`` hold ``calls`` only.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from interlace._errors import ToolArgumentError, UsageError
from interlace._tools import find_tool
from interlace.agents._asynclm import AsyncLM
from interlace.agents._native import NativeFunctionCalling
from interlace.agents._result import Agent, RunResult
from interlace.agents._sync import SyncCalling
from interlace.bench._registry import Question, RunOptions, register
from interlace.bench.bfcl._checker import bind_positional, check_parallel
from interlace.bench.bfcl._data import (
    CATEGORIES,
    MULTI_TURN,
    fetch_wheel,
    load,
    multi_step_groups,
)
from interlace.bench.bfcl._native import NativeBFCLTool
from interlace.bench.bfcl._tools import (
    BFCLTool,
    backend_docs,
    backend_instances,
    check_arguments,
    function_latency,
    hashed_latency,
    multi_step_tools,
    render_function,
    simple_tools,
)
from interlace.llm._base import LLM, GenerationConfig

CML_METHODS = ("sync", "sync-parallel", "async-naive", "async", "async-futures")
NATIVE_METHODS = ("native", "native-parallel")
METHODS = CML_METHODS + NATIVE_METHODS

__all__ = [
    "CATEGORIES",
    "METHODS",
    "BFCLBenchmark",
    "BFCLTool",
    "check_parallel",
    "fetch_wheel",
    "function_latency",
    "hashed_latency",
    "load",
    "multi_step_groups",
    "render_function",
]


def _state(obj: Any, depth: int = 0) -> Any:
    """A plain, comparable copy of a backend object's public state."""
    if depth > 20:
        return repr(obj)
    if isinstance(obj, dict):
        return {str(k): _state(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [_state(v, depth + 1) for v in obj]
    if hasattr(obj, "__dict__"):
        items = vars(obj).items()
        return {
            k: _state(v, depth + 1) for k, v in items if not k.startswith("_") and k != "parent"
        }
    return obj


class BFCLBenchmark:
    """The BFCL benchmark (see module docstring).

    Attributes:
        name: ``"bfcl"``.
        methods: ``("sync", "sync-parallel", "async-naive", "async", "async-futures",
            "native", "native-parallel")`` (``async-futures``: async where a call may take an
            earlier call's result, ``$c1``; the native methods: the backend's own function
            calling).
        default_methods: those run without ``--methods``: all but the native ones.
        categories: categories :meth:`load` reads.
        max_tokens: generated-token budget per run.
    """

    name = "bfcl"
    methods: tuple[str, ...] = METHODS
    default_methods: tuple[str, ...] = CML_METHODS
    datasets: tuple[str, ...] = ("bfcl",)  # fetched by `interlace bench` on first use

    def __init__(self, *, categories: Sequence[str] | None = None, max_tokens: int = 256) -> None:
        env = os.environ.get("INTERLACE_BFCL_CATEGORIES")
        chosen = categories or (env.split(",") if env else CATEGORIES)
        unknown = set(chosen) - set(CATEGORIES)
        if unknown:
            raise UsageError(f"unknown BFCL categories {sorted(unknown)}; use {CATEGORIES}")
        self.categories = tuple(chosen)
        self.max_tokens = max_tokens
        self._root: Path | None = None

    def with_categories(self, categories: Sequence[str]) -> BFCLBenchmark:
        """A copy that loads only ``categories`` (``interlace bench bfcl --categories``).

        Raises:
            UsageError: an unknown category.
        """
        return BFCLBenchmark(categories=categories, max_tokens=self.max_tokens)

    def load(self, data_dir: Path) -> list[Question]:
        """Questions of the chosen categories (fetches the wheel with pip when it is absent)."""
        fetch_wheel(data_dir)
        self._root = data_dir
        return load(data_dir, self.categories)

    def _tools(self, question: Question, options: RunOptions) -> list[BFCLTool]:
        if question.meta["category"] in MULTI_TURN:
            tools, _ = multi_step_tools(
                options.data_dir, question.meta["entries"], options.tool_latency
            )
            return tools
        return simple_tools(question.meta["functions"], options.tool_latency)

    def make_agent(self, method: str, llm: LLM, options: RunOptions, question: Question) -> Agent:
        """A fresh agent with fresh tools (and backend state) for ``question``.

        Raises:
            UsageError: unknown method, or a native method on a backend without native
                function calling (the embedded model).
        """
        tools = self._tools(question, options)
        if method in NATIVE_METHODS:  # on the metered backend: it forwards native calling
            config = GenerationConfig(max_tokens=self.max_tokens)
            offered = [NativeBFCLTool(tool) for tool in tools]
            return NativeFunctionCalling(
                llm, offered, parallel=method == "native-parallel", config=config
            )
        functions = "\n".join(t.render() for t in tools)
        base: Any = getattr(llm, "inner", llm)
        common: dict[str, Any] = {"functions": functions, "max_tokens": self.max_tokens}
        if method == "async":
            return AsyncLM(base, tools, **common)
        if method == "async-futures":  # a call may take an earlier call's result ($c1)
            return AsyncLM(base, tools, futures=True, **common)
        if method == "async-naive":
            return AsyncLM(base, tools, naive=True, **common)
        if method in ("sync", "sync-parallel"):
            return SyncCalling(base, tools, parallel=method == "sync-parallel", **common)
        raise UsageError(f"bfcl: unknown method {method!r}; use one of {self.methods}")

    def score(self, question: Question, result: RunResult) -> bool:
        """BFCL AST check (parallel categories) or state and response check (multi-turn)."""
        calls: list[Mapping[str, Any]] = list(result.details.get("calls", []))
        if question.meta["category"] not in MULTI_TURN:
            docs = {f["name"]: f for f in question.meta["functions"]}
            named = [
                {
                    "name": c["name"],
                    "arguments": bind_positional(
                        c.get("args", []), _arguments(c), docs.get(c["name"])
                    ),
                }
                for c in calls
            ]
            return check_parallel(named, question.meta["ground_truth"], question.meta["functions"])
        root = self._root or Path(".")
        entries = question.meta["entries"]
        return multi_step_state_matches(root, entries, accepted_calls(root, entries, calls))


def _arguments(call: Mapping[str, Any]) -> Mapping[str, Any]:
    """A recorded call's arguments by name; a native call whose arguments were not a JSON
    object keeps its text under ``"<unparsed>"``, which no parameter matches (a wrong call)."""
    arguments = call.get("arguments", {})
    return arguments if isinstance(arguments, Mapping) else {"<unparsed>": arguments}


def accepted_calls(
    root: Path, entries: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The calls the run's tools accepted, as they reached the backends: a function of the
    entries (excluded functions removed; names matched as the run matches them) whose arguments
    bind to its document. Calls rejected during the run (unknown or excluded function, bad
    arguments) never touched a backend, so the scorer does not replay them either.

    Returns:
        ``{"name", "args": [], "arguments"}`` per accepted call, arguments bound by name.
    """
    docs = {doc["name"]: doc for entry in entries for doc in backend_docs(root, entry)}
    accepted = []
    for call in calls:
        if call.get("ran") is False:  # a future skipped because its input failed
            continue
        found = find_tool(docs, str(call.get("name", "")))
        if found is None:
            continue
        name, doc = found
        try:
            bound = check_arguments(doc, call.get("args", []), _arguments(call))
        except ToolArgumentError:
            continue
        accepted.append({"name": name, "args": [], "arguments": bound})
    return accepted


def _replay(instances: Mapping[str, Any], calls: Sequence[Mapping[str, Any]]) -> list[str]:
    """Run ``calls`` on ``instances`` in order; the text of each result (errors included) of the
    calls some instance implements."""
    results = []
    for call in calls:
        for obj in instances.values():
            method = getattr(obj, call["name"], None)
            if method is not None and not call["name"].startswith("_"):
                try:
                    value = method(*call.get("args", []), **call["arguments"])
                except Exception as exc:  # the model's bad calls fail, as in BFCL
                    value = f"Error during execution: {exc}"
                results.append(value if isinstance(value, str) else repr(value))
                break
    return results


def _parse_truth(line: str) -> dict[str, Any]:
    from interlace.cml._grammar import parse_call_body

    name, args, kwargs = parse_call_body(line)
    return {"name": name, "args": list(args), "arguments": kwargs}


def multi_step_state_matches(
    root: Path, entries: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]]
) -> bool:
    """BFCL's multi-turn check of one group: replay the model's calls and the ground truth on
    fresh backends of each entry (in written order, no latency); the model is right when every
    public attribute of every backend object matches (BFCL's state checker) and every result of
    the ground-truth calls is among the model's results, in any order (its response checker; a
    read-only task such as ``ls`` or ``get_watchlist`` is thus not passed by doing nothing)."""
    for entry in entries:
        random.seed(0)
        mine = backend_instances(root, entry)
        got = _replay(mine, calls)
        random.seed(0)
        gold = backend_instances(root, entry)
        want = _replay(gold, [_parse_truth(line) for line in entry["ground_truth"]])
        if any(_state(mine[k]) != _state(gold[k]) for k in gold):
            return False
        if Counter(want) - Counter(got):
            return False
    return True


bfcl = register(BFCLBenchmark())
