"""The benchmark an ``interlace bench`` command line asks for: built-in, with other questions,
or custom (``bench custom --questions FILE --tools MODULE:ATTR``); and a store that a failed
run does not leave behind empty."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from interlace._errors import UsageError
from interlace._tools import Tool
from interlace.bench._benchmarks import LLMCompilerBenchmark
from interlace.bench._custom import NO_EXAMPLES, SCORERS, CustomBenchmark, load_examples
from interlace.bench._custom import load_questions as _load_questions
from interlace.bench._registry import Benchmark, get_benchmark
from interlace.cli._sources import load_tool_spec

CUSTOM = "custom"

QuestionsFile = Annotated[
    Path | None,
    typer.Option(
        "--questions",
        help="Questions file (JSON or JSONL of {id, question, answer}): required by custom; on "
        "hotpotqa, movie or parallelqa it replaces their questions.",
        show_default=False,
    ),
]
ExamplesFile = Annotated[
    Path | None,
    typer.Option(
        "--examples",
        help="Few-shot examples, TOML or JSON with keys planner, joiner, react (in bench: "
        "custom only).",
        show_default=False,
    ),
]
Scorer = Annotated[
    str,
    typer.Option(
        "--scorer",
        help="custom: match (numbers within 10 %, else normalised text), exact (normalised "
        "text), numeric (numbers within 1e-6) or MODULE:ATTR, a function (prediction, answer) "
        "-> bool.",
    ),
]


def pick_benchmark(
    name: str,
    *,
    questions: Path | None,
    tools: Sequence[str] | None,
    examples: Path | None,
    scorer: str,
    remote: bool = False,
) -> Benchmark:
    """The benchmark ``name`` with the command line's ``--questions``/``--tools``/... applied.

    ``remote``: MCP servers were given (``--mcp``/``--mcp-url``); their tools are added when the
    run connects to them (:func:`with_remote_tools`).

    Raises:
        typer.BadParameter: an option that does not fit ``name`` (exit code 2).
        UsageError: an unknown benchmark, or a bad ``--tools``/``--scorer`` spec.
    """
    if name == CUSTOM:
        if questions is None or not (tools or remote):
            raise typer.BadParameter(
                "bench custom needs --questions FILE and tools: --tools MODULE:ATTR, --mcp "
                "COMMAND or --mcp-url URL",
                param_hint="custom",
            )
        return CustomBenchmark(
            name=f"{CUSTOM}:{questions.stem}",
            questions=questions,
            tools=[t for spec in tools or () for t in load_tool_spec(spec)],
            examples=load_examples(examples) if examples is not None else NO_EXAMPLES,
            scorer=_scorer(scorer),
        )
    given = [opt for opt, value in (("--tools", tools), ("--examples", examples)) if value]
    if remote:
        given.append("--mcp/--mcp-url")
    if scorer != "match":
        given.append("--scorer")
    if given:
        raise typer.BadParameter(
            f"{' and '.join(given)} only go with `bench custom`", param_hint=given[0]
        )
    bench_obj = get_benchmark(name)
    if questions is None:
        return bench_obj
    if not isinstance(bench_obj, LLMCompilerBenchmark):
        raise typer.BadParameter(
            f"{name} cannot take other questions; hotpotqa, movie and parallelqa can",
            param_hint="--questions",
        )
    return dataclasses.replace(
        bench_obj,
        name=f"{bench_obj.name}:{questions.stem}",
        loader=functools.partial(_questions_of, questions),
    )


def with_remote_tools(benchmark: Benchmark, tools: Sequence[Tool]) -> Benchmark:
    """``benchmark`` (a custom one) with ``tools`` (an MCP server's) added to its own.

    Raises:
        UsageError: not a custom benchmark, or two tools with one name.
    """
    if not isinstance(benchmark, CustomBenchmark):
        raise UsageError("--mcp and --mcp-url only go with `bench custom`")
    combined = [*benchmark.tools, *tools]
    names = [t.name for t in combined]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"two tools are named {', '.join(twice)}: tool names must be unique")
    return dataclasses.replace(benchmark, tools=combined)


def _questions_of(path: Path, data_dir: Path) -> Any:
    return _load_questions(path)


def _scorer(spec: str) -> Callable[[str, str], bool]:
    if spec in SCORERS:
        return SCORERS[spec]
    if ":" not in spec:
        raise UsageError(f"--scorer takes {', '.join(SCORERS)} or MODULE:ATTR, got {spec!r}")
    from interlace.cli._sources import import_module_or_file

    module_name, _, attr = spec.rpartition(":")
    fn = getattr(import_module_or_file(module_name), attr, None)
    if not callable(fn):
        raise UsageError(f"--scorer {spec}: not a function (prediction, answer) -> bool")
    return fn  # type: ignore[no-any-return]


@contextlib.contextmanager
def no_empty_store(path: Path) -> Iterator[None]:
    """Remove ``path`` if the block creates it and fails before writing a record."""
    existed = path.exists()
    try:
        yield
    except BaseException:
        if not existed and path.is_file() and path.stat().st_size == 0:
            path.unlink()
        raise
