"""``interlace bench``, ``eval``, ``run`` and ``data``: benchmarks from the command line."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from interlace._errors import InterlaceError
from interlace.bench import _data
from interlace.bench._eval import Report, evaluate_records
from interlace.bench._latency import Latency
from interlace.bench._registry import (
    DEFAULT_OBSERVATION_TOKENS,
    FetchableBenchmark,
    Question,
    RunOptions,
    benchmark_names,
)
from interlace.bench._runner import RunConfig, run_benchmark
from interlace.bench._store import Store
from interlace.bench._subsets import select_subset
from interlace.cli import app
from interlace.cli._benchmarks import (
    ExamplesFile,
    QuestionsFile,
    Scorer,
    no_empty_store,
    pick_benchmark,
    with_remote_tools,
)
from interlace.cli._common import fail
from interlace.cli._roles import print_role_tables
from interlace.cli._sources import MCPCommands, MCPURLs, ToolSpecs, has_sources, open_tools
from interlace.llm._base import LLM, Completion, GenerationConfig, Message, StreamItem, TextDelta


def console() -> Console:
    """Standard output console (made per use, so the terminal width is read when printing)."""
    return Console()


def err() -> Console:
    """Standard error console."""
    return Console(stderr=True)


DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help=f"Benchmark data directory (default: ${_data.ENV_VAR}, else the user data dir).",
        show_default=False,
    ),
]
LLMSpec = Annotated[
    str,
    typer.Option(
        "--llm",
        help="Backend spec: local, local:smollm2-135m, openai:gpt-4o-mini, "
        "vllm:MODEL@http://host:8000/v1, ollama:MODEL, ...",
    ),
]


def _fail(exc: InterlaceError) -> typer.Exit:
    return fail(exc)  # exit 2 for a UsageError (command-line misuse), else 1


Threads = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="CPU threads for a local model (default: all cores). Use 1 per process when "
        "something else runs beside it: llama.cpp threads that share a core slow down badly.",
    ),
]


def _load_llm(spec: str, threads: int | None = None) -> LLM:
    from interlace.cli._models import ensure_local_model
    from interlace.llm._select import load_llm, parse_spec

    ensure_local_model(spec, err())
    if threads is not None and parse_spec(spec).kind == "local":
        return load_llm(spec, n_threads=threads)
    return load_llm(spec)


def _with_categories(bench_obj: Any, categories: str | None) -> Any:
    """The benchmark restricted to ``categories`` (``with_categories``), or as is when None."""
    if not categories:
        return bench_obj
    select = getattr(bench_obj, "with_categories", None)
    if select is None:
        raise typer.BadParameter(f"{bench_obj.name} has no categories", param_hint="--categories")
    return select(tuple(c.strip() for c in categories.split(",") if c.strip()))


def _fetch_missing(bench_obj: object, root: Path) -> None:
    """First use: fetch the benchmark's datasets that ``root`` does not have yet.

    Raises:
        NetworkUnavailableError: a dataset is missing and there is no network (the message
            points at ``--data-dir``).
    """
    if not isinstance(bench_obj, FetchableBenchmark):
        return
    for name in bench_obj.datasets:
        if not (root / _data.DATASETS[name].path).exists():
            err().print(f"first use: fetching {name} into {root} ({_data.DATASETS[name].url})")
            _data.fetch(name, root)


def _select(questions: list[Question], ids: str | None, limit: int | None) -> list[Question]:
    if ids:
        wanted = [i.strip() for i in ids.split(",") if i.strip()]
        by_id = {q.id: q for q in questions}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise typer.BadParameter(
                f"unknown question ids: {', '.join(missing)}", param_hint="--ids"
            )
        questions = [by_id[i] for i in wanted]  # type: ignore[index]
    return questions[:limit] if limit is not None else questions


class _Live:
    """Progress bar with running accuracy and mean latency per method."""

    def __init__(self, progress: Progress, methods: Sequence[str], total: int) -> None:
        self.progress = progress
        self.tasks = {m: progress.add_task(m, total=total, stats="") for m in methods}
        self.stats: dict[str, list[tuple[bool, float]]] = defaultdict(list)

    def skip(self, item: dict[str, Any]) -> None:
        self.progress.advance(self.tasks[item["method"]])

    def record(self, record: dict[str, Any]) -> None:
        method = record["method"]
        rows = self.stats[method]
        rows.append((bool(record["correct"]), float(record["latency"])))
        acc = sum(c for c, _ in rows) / len(rows)
        lat = sum(t for _, t in rows) / len(rows)
        self.progress.update(
            self.tasks[method], advance=1, stats=f"acc {acc:.0%}  mean {lat:.2f}s  (n={len(rows)})"
        )


@app.command(
    "bench",
    epilog=(
        "Examples:\n\n"
        "  interlace bench hotpotqa --limit 20 --store runs/hotpot.jsonl\n\n"
        "  interlace bench parallelqa --methods compiler,react --llm local:qwen2.5-coder-0.5b "
        "--tool-latency uniform:0.2-0.8s --store runs/pqa.jsonl\n\n"
        "  interlace bench parallelqa --subset offline --store runs/pqa-offline.jsonl\n\n"
        "  interlace bench movie --methods compiler --no-stream --store runs/movie.jsonl\n\n"
        "  interlace bench custom --questions geo.json --tools geo.py:area --examples geo.toml "
        "--store runs/geo.jsonl\n\n"
        "  interlace bench parallelqa --questions mine.jsonl --store runs/mine.jsonl\n\n"
        "Re-running the same command resumes: finished questions are skipped."
    ),
)
def bench(
    benchmark: Annotated[
        str, typer.Argument(help="hotpotqa, movie, parallelqa, bfcl, or custom (your own).")
    ],
    store: Annotated[
        Path, typer.Option("--store", help="JSONL results file (appended; resumable).")
    ],
    methods: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated methods (default: all of the benchmark's, e.g. "
            "compiler,react; bfcl: sync,sync-parallel,async,async-naive).",
            show_default=False,
        ),
    ] = None,
    llm: LLMSpec = "local",
    limit: Annotated[int | None, typer.Option(min=0, help="Only the first N questions.")] = None,
    ids: Annotated[
        str | None, typer.Option(help="Only these question ids (comma-separated).")
    ] = None,
    data_dir: DataDir = None,
    tool_latency: Annotated[
        str,
        typer.Option(
            help="Added tool latency: real, 0.5s, 500ms, uniform:0.2-0.8s, normal:0.5s,0.1s."
        ),
    ] = "real",
    stream: Annotated[
        bool, typer.Option(help="LLMCompiler streams the plan (--no-stream waits).")
    ] = True,
    search: Annotated[
        str, typer.Option(help="Search backend: offline (data dir) or live (Wikipedia).")
    ] = "offline",
    seed: Annotated[int, typer.Option(help="Seed of the tool-latency draws.")] = 0,
    observation_tokens: Annotated[
        int,
        typer.Option(
            min=0,
            help="Token budget of each observation in every method's prompts: the sentences "
            "most relevant to the question (BM25) are kept; 0 keeps whole observations.",
        ),
    ] = DEFAULT_OBSERVATION_TOKENS,
    answer_choices: Annotated[
        bool,
        typer.Option(
            help="Constrain every method's final answer to what the question's form admits "
            "(yes/no, 'A or B', the options) on backends that constrain decoding.",
        ),
    ] = True,
    subset: Annotated[
        str,
        typer.Option(
            help="Named question subset: all, or e.g. offline for parallelqa "
            "(questions whose every fact the offline search returns)."
        ),
    ] = "all",
    categories: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated categories, for benchmarks that have them "
            "(bfcl: parallel, parallel_multiple, multi_turn_base, multi_step)."
        ),
    ] = None,
    threads: Threads = None,
    questions_file: QuestionsFile = None,
    tools: ToolSpecs = None,
    mcp: MCPCommands = None,
    mcp_url: MCPURLs = None,
    examples: ExamplesFile = None,
    scorer: Scorer = "match",
) -> None:
    """Run METHODS on the same questions of BENCHMARK; one record per answer goes to --store.

    The method order alternates per question (q1: compiler, react; q2: react, compiler; ...) so
    machine drift hits every method alike. A killed run resumes where it stopped.
    """
    try:
        chosen_bench = pick_benchmark(
            benchmark,
            questions=questions_file,
            tools=tools,
            remote=bool(mcp or mcp_url),
            examples=examples,
            scorer=scorer,
        )
        bench_obj = _with_categories(chosen_bench, categories)
        if methods is None:
            methods = ",".join(bench_obj.methods)
        method_list = tuple(m.strip() for m in methods.split(",") if m.strip())
        unknown = [m for m in method_list if m not in bench_obj.methods]
        if unknown or not method_list:
            raise typer.BadParameter(
                f"{benchmark} supports {', '.join(bench_obj.methods)}; got {methods!r}",
                param_hint="--methods",
            )
        root = _data.data_dir(data_dir)
        _fetch_missing(bench_obj, root)
        chosen = select_subset(bench_obj.name, bench_obj.load(root), subset)
        questions = _select(chosen, ids, limit)
        options = RunOptions(
            data_dir=root,
            tool_latency=Latency.parse(tool_latency, seed=seed),
            stream=stream,
            search=search,
            observation_tokens=observation_tokens,
            answer_choices=answer_choices,
        )
        config = RunConfig(
            benchmark=bench_obj,
            methods=method_list,
            llm_spec=llm,
            options=options,
            extra={"threads": threads or os.cpu_count()},
        )
        with no_empty_store(store):
            results = Store(store)
            remote = (mcp or [], mcp_url or [])
            written = _bench_run(config, questions, results, llm, threads, method_list, remote)
    except InterlaceError as exc:
        raise _fail(exc) from exc
    err().print(f"wrote {written} records to {store} ({len(results)} in the store)")


def _bench_run(
    config: RunConfig,
    questions: list[Question],
    results: Store,
    llm: str,
    threads: int | None,
    method_list: Sequence[str],
    remote: tuple[Sequence[str], Sequence[str]] = ((), ()),
) -> int:
    """Load the backend and run the questions with a progress bar; records written.

    ``remote`` are the MCP servers (commands, URLs) whose tools a custom benchmark adds; they
    stay connected for the whole run.
    """
    backend = _load_llm(llm, threads)
    columns = (
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err()) as progress:
        live = _Live(progress, method_list, len(questions))
        return anyio.run(_bench_async, config, questions, backend, results, live, remote)


async def _bench_async(
    config: RunConfig,
    questions: list[Question],
    llm: LLM,
    store: Store,
    live: _Live,
    remote: tuple[Sequence[str], Sequence[str]] = ((), ()),
) -> int:
    try:
        async with open_tools(None, *remote) as served:
            if served:
                benchmark = with_remote_tools(config.benchmark, served)
                config = dataclasses.replace(config, benchmark=benchmark)
            return await run_benchmark(
                config, questions, llm, store, on_record=live.record, on_skip=live.skip
            )
    finally:
        await llm.aclose()


def _fmt(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, float | int) else "-"


_ROWS: tuple[tuple[str, str, str], ...] = (
    ("questions", "n", "d"),
    ("accuracy", "accuracy", ".1%"),
    ("latency mean (s)", "latency_mean", ".2f"),
    ("latency median (s)", "latency_median", ".2f"),
    ("latency p90 (s)", "latency_p90", ".2f"),
    ("tokens in / question", "tokens_in", ".0f"),
    ("tokens out / question", "tokens_out", ".0f"),
    ("cost $ / question", "cost_usd", ".4f"),
    ("LLM calls / question", "llm_calls", ".1f"),
    ("tool calls / question", "tool_calls", ".1f"),
    ("runs with errors", "errors", "d"),
    ("token bound (s)", "token_bound_s", ".2f"),
    ("token efficiency (bound/measured)", "token_efficiency", ".2f"),
)
_TRACE_ROWS = (
    ("critical path (s)", "critical_path_s", ".2f"),
    ("efficiency", "efficiency", ".2f"),
    ("LLM share", "llm_share", ".1%"),
    ("tool share", "tool_share", ".1%"),
    ("overlap share", "overlap_share", ".1%"),
)


def _print_report(report: Report) -> None:
    """One table per (benchmark, configuration): a column per method, a row per figure."""
    groups: dict[tuple[str, str, str, str], list[Any]] = defaultdict(list)
    for summary in report.summaries:
        key = (summary.benchmark, summary.llm, summary.tool_latency, summary.search)
        groups[key].append(summary)
    for (bench_name, llm, latency, search), summaries in groups.items():
        table = Table(
            title=f"{bench_name}", caption=f"llm={llm}  tool latency={latency}  search={search}"
        )
        table.add_column("", no_wrap=True)
        for summary in summaries:
            table.add_column(summary.method, justify="right", no_wrap=True)
        for label, attr, spec in _ROWS:
            table.add_row(label, *[_fmt(getattr(x, attr), spec) for x in summaries])
        if any(x.decode_latency_mean is not None for x in summaries):
            cells = [_fmt(x.decode_latency_mean, ".2f") for x in summaries]
            table.add_row("first-last token (s)", *cells)
        if any(x.trace_metrics for x in summaries):
            for label, metric, spec in _TRACE_ROWS:
                table.add_row(label, *[_fmt(x.trace_metrics.get(metric), spec) for x in summaries])
        for name in sorted({k for x in summaries for k in x.latency_model}):
            cells = [_fmt(x.latency_model.get(name), ".2f") for x in summaries]
            table.add_row(f"model L_{name} (s)", *cells)
        comparisons = {
            c.method: c
            for c in report.comparisons
            if (c.benchmark, c.llm, c.tool_latency, c.search) == (bench_name, llm, latency, search)
        }
        if comparisons:
            base = next(iter(comparisons.values())).baseline
            rows = (
                ("paired questions", "n", "d"),
                (f"speedup vs {base}", "speedup", ".2f"),
                (f"first-last speedup vs {base}", "decode_speedup", ".2f"),
                ("same calls: questions", "same_calls_n", "d"),
                ("same calls: speedup", "same_calls_speedup", ".2f"),
                (f"tokens saved vs {base}", "token_saving", ".1%"),
                (f"cost saved vs {base}", "cost_saving", ".1%"),
            )
            for label, attr, spec in rows:
                if all(getattr(c, attr) in (None, 0) for c in comparisons.values()):
                    continue
                cells = [
                    _fmt(getattr(comparisons[x.method], attr), spec)
                    if x.method in comparisons
                    else ""
                    for x in summaries
                ]
                table.add_row(label, *cells)
        console().print(table)
    print_role_tables(report, console())


@app.command(
    "eval",
    epilog="Examples:\n\n  interlace eval runs/hotpot.jsonl\n\n"
    "  interlace eval runs/*.jsonl --json > summary.json",
)
def eval_(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Result stores written by `interlace bench`.", exists=True, dir_okay=False
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    baseline: Annotated[
        str | None,
        typer.Option(
            help="Method the others are compared with (default: react, when the stores have "
            "it); a method no store has is an error.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Summarise result stores: accuracy, latency, tokens, cost, errors per method.

    Also LLMCompiler vs ReAct ratios (speedup, token and cost savings) over the questions both
    methods answered in the same configuration.
    """
    from interlace.cli._stores import read_stores, resolve_baseline

    try:
        records = read_stores(files)
        report = evaluate_records(records, baseline=resolve_baseline(records, baseline))
    except InterlaceError as exc:
        raise _fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, default=str) + "\n")
    else:
        _print_report(report)


# --------------------------------------------------------------------------- interlace run


class _EchoLLM(LLM):
    """Prints every request's text as it streams, under a header naming its role."""

    def __init__(self, inner: LLM, write: Callable[[str], None]) -> None:
        self.inner, self.model, self.write = inner, inner.model, write

    async def stream(
        self,
        messages: Sequence[Message],
        config: GenerationConfig = GenerationConfig(),  # noqa: B008
    ) -> AsyncIterator[StreamItem]:
        # A guess from the prompt's shape until agents report their roles (an event stream):
        # the joiner reads results (its own system prompt, or a continued conversation).
        system = messages[0].content if messages else ""
        role = (
            "react"
            if system.startswith("You answer a question by calling tools")
            else "joiner"
            if system.startswith("You get") or len(messages) > 2
            else "planner"
        )
        self.write(f"\n── {role} ──\n")
        async for item in self.inner.stream(messages, config):
            if isinstance(item, TextDelta):
                self.write(item.text)
            elif isinstance(item, Completion):
                self.write(
                    f"\n   [{item.usage.prompt_tokens} in / {item.usage.completion_tokens} "
                    f"out tokens, {item.timing.total:.2f}s]\n"
                )
            yield item

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _echo_tool(
    fn: Callable[..., Any],
    write: Callable[[str], None],
    t0: list[float],
    *,
    name: str | None = None,
) -> Callable[..., Any]:
    """``fn`` printing each call (as ``name``, default ``fn.__name__``) and its result."""
    import functools
    import inspect
    import time

    from interlace.bench._latency import preserve_signature

    is_async = inspect.iscoroutinefunction(fn)
    label = name or fn.__name__

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        call = f"{label}({', '.join(shown)})"
        start = time.monotonic()
        write(f"\n   ▶ {call} at +{start - t0[0]:.2f}s\n")
        result = (
            await fn(*args, **kwargs)
            if is_async
            else await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        )
        end = time.monotonic()
        write(f"   ✓ {call} ({end - start:.2f}s): {str(result)[:160]}\n")
        return result

    if name is None:  # Tool.from_function will read the signature (Tool.wrapped does not)
        preserve_signature(wrapper, fn)
    return wrapper


@app.command(
    "run",
    epilog=(
        "Examples:\n\n"
        '  interlace run "Were Scott Derrickson and Ed Wood of the same nationality?"\n\n'
        '  interlace run "Which is deeper, Lake Baikal or Lake Superior?" --method react\n\n'
        '  interlace run "Who directed Vertigo?" --search live --llm openai:gpt-4o-mini\n\n'
        '  interlace run "Is it warmer in Oslo or Rome?" --tools my_tools:TOOLS '
        "--examples my_examples.toml\n\n"
        '  interlace run "What is 2 + 3?" --mcp "python calc_server.py"\n\n'
        "Exits 1 when the run produced no answer or every tool call failed."
    ),
)
def run(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    search: Annotated[
        str,
        typer.Option(help="Built-in search: offline (store in the data dir) or live (Wikipedia)."),
    ] = "offline",
    tools: ToolSpecs = None,
    mcp: MCPCommands = None,
    mcp_url: MCPURLs = None,
    examples: ExamplesFile = None,
    method: Annotated[str, typer.Option(help="compiler or react.")] = "compiler",
    llm: LLMSpec = "local",
    data_dir: DataDir = None,
    stream: Annotated[bool, typer.Option(help="Stream the plan into the executor.")] = True,
    threads: Threads = None,
) -> None:
    """Answer one QUESTION, showing the work: with the built-in search and math tools, or with
    your tools (--tools, --mcp, --mcp-url, which replace the built-in ones).

    Prints the model's output (the plan) as it streams, each tool call with its start time and
    duration, and the answer with its latency, LLM calls and tokens.
    """
    if search not in ("offline", "live"):
        raise typer.BadParameter("use offline or live", param_hint="--search")
    if method not in ("compiler", "react"):
        raise typer.BadParameter("use compiler or react", param_hint="--method")
    setup = _RunSetup(
        search=search,
        sources=(tools, mcp, mcp_url),
        examples=examples,
        method=method,
        stream=stream,
    )
    try:
        result = anyio.run(_run_async, question, setup, llm, _data.data_dir(data_dir), threads)
    except InterlaceError as exc:
        raise _fail(exc) from exc
    console().print(f"\n[bold]Answer:[/bold] {result.answer}")
    console().print(
        f"{result.latency:.2f}s, {result.llm_calls} LLM calls, "
        f"{result.usage.prompt_tokens} in / {result.usage.completion_tokens} out tokens, "
        f"{result.tool_calls} tool calls, ${result.cost_usd:.4f}"
    )
    for error in result.errors:
        err().print(f"[yellow]note:[/yellow] {error}")
    problem = _no_answer(result)
    if problem:
        err().print(f"[red]error:[/red] {problem}")
        raise typer.Exit(code=1)


def _no_answer(result: Any) -> str | None:
    """Why ``result`` is no answer (exit code 1), or ``None``: an empty answer, or tool calls
    that all failed (whatever the model then said rests on no tool result)."""
    if not result.answer.strip():
        return "the run produced no answer (see the notes above)"
    calls = [s for s in result.trace.spans if s.kind == "tool"]
    succeeded = [s for s in calls if s.attrs.get("outcome") == "succeeded" or s.attrs.get("ok")]
    if calls and not succeeded:
        return f"all {len(calls)} tool calls failed, so the answer rests on no tool result"
    return None


@dataclass(frozen=True, kw_only=True)
class _RunSetup:
    """What `interlace run` was asked to use besides the question and the backend."""

    search: str
    sources: tuple[Sequence[str] | None, Sequence[str] | None, Sequence[str] | None]
    examples: Path | None
    method: str
    stream: bool


async def _run_async(
    question: str, setup: _RunSetup, spec: str, root: Path, threads: int | None = None
) -> Any:
    import time

    from interlace._tools import Tool
    from interlace.agents import LLMCompiler, ReAct
    from interlace.bench._benchmarks import make_search
    from interlace.bench._custom import NO_EXAMPLES, load_examples
    from interlace.bench._examples import HOTPOTQA, PARALLELQA, Examples
    from interlace.bench._mathtool import make_math

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    custom = has_sources(*setup.sources)
    builtin = Examples(
        planner=HOTPOTQA.planner + "\n###\n" + PARALLELQA.planner,
        joiner=HOTPOTQA.joiner,
        react=HOTPOTQA.react,
    )
    examples = load_examples(setup.examples) if setup.examples else None
    examples = examples or (NO_EXAMPLES if custom else builtin)
    backend = _EchoLLM(_load_llm(spec, threads), write)
    t0 = [time.monotonic()]
    try:
        async with open_tools(*setup.sources) as mine:
            if custom:
                tool_list = [t.wrapped(_echo_tool(t.fn, write, t0, name=t.name)) for t in mine]
            else:
                options = RunOptions(data_dir=root, search=setup.search)
                search = make_search(options, ("wiki", "hotpotqa", "movielens"))
                functions = [search, make_math(backend)]
                tool_list = [Tool.from_function(_echo_tool(fn, write, t0)) for fn in functions]
            if setup.method == "react":
                agent: Any = ReAct(backend, tool_list, examples=examples.react)
            else:
                agent = LLMCompiler(
                    backend,
                    tool_list,
                    stream=setup.stream,
                    planner_examples=examples.planner,
                    joiner_examples=examples.joiner,
                )
            t0[0] = time.monotonic()
            return await agent.run(question)
    finally:
        await backend.aclose()


# --------------------------------------------------------------------------- interlace data

data_app = typer.Typer(
    help="Benchmark data: list what is present, fetch it from its public sources.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@data_app.command(
    "fetch",
    epilog="Examples:\n\n  interlace data fetch all\n\n"
    "  interlace data fetch hotpotqa --data-dir ~/interlace-data",
)
def data_fetch(
    name: Annotated[str, typer.Argument(help=f"all, {', '.join(_data.DATASETS)}")] = "all",
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option(help="Download again even if present.")] = False,
) -> None:
    """Download datasets from their public sources (sha256-verified, atomic writes)."""
    root = _data.data_dir(data_dir)
    try:
        written = _data.fetch(name, root, force=force)
    except InterlaceError as exc:
        raise _fail(exc) from exc
    for path in written:
        console().print(f"fetched {path}")
    if not written:
        console().print(f"nothing to fetch: already present in {root}")


@data_app.command("list")
def data_list(data_dir: DataDir = None) -> None:
    """Show which datasets are present in the data directory."""
    root = _data.data_dir(data_dir)
    table = Table(title=f"Data in {root}")
    for col in ("name", "present", "path", "what"):
        table.add_column(col)
    for dataset, present in _data.status(root):
        table.add_row(
            dataset.name, "yes" if present else "[red]no[/red]", dataset.path, dataset.description
        )
    console().print(table)
    console().print(f"Benchmarks: {', '.join(benchmark_names())}")
