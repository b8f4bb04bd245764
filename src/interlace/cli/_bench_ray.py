"""``interlace bench --ray``: the options and the run that fans the questions out over Ray.

The fan-out itself is :mod:`interlace.bench._ray`; this module only parses the options, shows
the same progress bar as a local run and imports Ray when ``--ray`` is given.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Annotated

import anyio
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from interlace._errors import UsageError
from interlace.bench._registry import Question
from interlace.bench._runner import RunConfig
from interlace.bench._store import Store
from interlace.cli import _options

LLMSpecs = Annotated[
    list[str] | None,
    typer.Option(
        "--llm",
        help="Backend spec: local, local:smollm2-135m, openai:gpt-4o-mini, "
        "vllm:MODEL@http://host:8000/v1, ollama:MODEL, ... With --ray, give it once per "
        "worker to give each worker its own endpoint (default: local).",
        show_default=False,
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray",
        help="Spread the questions over Ray workers: 'local' (a Ray instance on this machine) "
        "or a cluster address (HOST:6379, ray://HOST:10001, auto). Needs interlace[ray].",
        show_default=False,
    ),
]
RayWorkers = Annotated[
    int | None,
    typer.Option(
        "--ray-workers",
        min=1,
        help="Ray workers, each with its own LLM (default: one per --llm given, else one per "
        "--threads CPUs the cluster reports).",
        show_default=False,
    ),
]


def recorded_llm(specs: Sequence[str] | None, ray: str | None) -> str:
    """The ``llm`` a run records (and resumes by): the one spec, or several joined by ``,``.

    Raises:
        UsageError: several ``--llm`` without ``--ray``.
    """
    specs = list(specs or ["local"])
    if len(specs) > 1 and ray is None:
        raise UsageError(
            f"--llm given {len(specs)} times: several backends need --ray (one per worker), "
            "e.g. --ray local --llm vllm:M@http://a:8000/v1 --llm vllm:M@http://b:8000/v1"
        )
    return ",".join(specs)


def bench_on_ray(
    config: RunConfig,
    questions: list[Question],
    results: Store,
    *,
    address: str,
    workers: int | None,
    specs: Sequence[str] | None,
    threads: int | None,
    mcp: bool,
) -> int:
    """Run the questions on Ray workers with the progress bar of a local run; records written.

    Raises:
        UsageError: MCP tools with ``--ray`` (their sessions live in this process), Ray is
            missing, the address cannot be reached, or the workers do not fit the cluster.
        LLMError: a worker's backend failed.
        InterlaceError: every worker was lost.
    """
    from interlace.bench._ray import RayOptions, run_benchmark_on_ray
    from interlace.cli._bench import _Live

    if mcp:
        raise UsageError(
            "--mcp/--mcp-url tools cannot go to Ray workers (the servers are connected from "
            "this process); run without --ray, or give the tools with --tools"
        )
    options = RayOptions(
        address=address,
        llm_specs=tuple(specs or ("local",)),
        workers=workers,
        threads=threads or 1,
    )
    columns = (
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=_options.err()) as progress:  # the local run's bar
        live = _Live(progress, config.methods, len(questions))
        run = functools.partial(
            run_benchmark_on_ray,
            config,
            questions,
            results,
            options,
            on_record=live.record,
            on_skip=live.skip,
        )
        return anyio.run(run)
