"""``interlace bench``: run methods on a benchmark's questions into a resumable store."""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from interlace._errors import InterlaceError
from interlace.bench import _data
from interlace.bench._latency import Latency
from interlace.bench._registry import (
    DEFAULT_OBSERVATION_TOKENS,
    FetchableBenchmark,
    Question,
    RunOptions,
    default_methods,
)
from interlace.bench._runner import RunConfig, run_benchmark
from interlace.bench._store import Store
from interlace.bench._subsets import select_subset
from interlace.cli import _options, app
from interlace.cli._bench_ray import LLMSpecs, RayAddress, RayWorkers, bench_on_ray, recorded_llm
from interlace.cli._benchmarks import (
    ExamplesFile,
    QuestionsFile,
    Scorer,
    no_empty_store,
    pick_benchmark,
    with_remote_tools,
)
from interlace.cli._common import fail
from interlace.cli._options import DataDir, Threads
from interlace.cli._sources import MCPCommands, MCPURLs, ToolSpecs, open_tools
from interlace.llm._base import LLM


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
            _options.err().print(
                f"first use: fetching {name} into {root} ({_data.DATASETS[name].url})"
            )
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
            help="Comma-separated methods (default: the benchmark's own, e.g. "
            "compiler,react; bfcl: sync,sync-parallel,async,async-naive). native and "
            "native-parallel (hotpotqa, movie, parallelqa) use an OpenAI-compatible "
            "backend's own function calling.",
            show_default=False,
        ),
    ] = None,
    llm_specs: LLMSpecs = None,
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
            "most relevant to the question (BM25) are kept (a quarter of it in the joiner's "
            "prompt for a result a later task consumed); 0 keeps whole observations.",
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
    ray: RayAddress = None,
    ray_workers: RayWorkers = None,
) -> None:
    """Run METHODS on the same questions of BENCHMARK; one record per answer goes to --store.

    The method order alternates per question (q1: compiler, react; q2: react, compiler; ...) so
    machine drift hits every method alike. A killed run resumes where it stopped.
    """
    try:
        llm = recorded_llm(llm_specs, ray)
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
            methods = ",".join(default_methods(bench_obj))
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
            if ray is not None:
                written = bench_on_ray(
                    config,
                    questions,
                    results,
                    address=ray,
                    workers=ray_workers,
                    specs=llm_specs,
                    threads=threads,
                    mcp=bool(mcp or mcp_url),
                )
            else:
                written = _bench_run(config, questions, results, llm, threads, method_list, remote)
    except InterlaceError as exc:
        raise fail(exc) from exc
    _options.err().print(f"wrote {written} records to {store} ({len(results)} in the store)")


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
    backend = _options.load_llm(llm, threads)
    columns = (
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=_options.err()) as progress:
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
