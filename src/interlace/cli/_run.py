"""``interlace run``: answer one question, showing the work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer

from interlace._errors import InterlaceError
from interlace.bench import _data
from interlace.bench._registry import RunOptions
from interlace.cli import _options, app
from interlace.cli._benchmarks import ExamplesFile
from interlace.cli._common import fail
from interlace.cli._options import DataDir, LLMSpec, Threads
from interlace.cli._sources import MCPCommands, MCPURLs, ToolSpecs, has_sources, open_tools


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
        raise fail(exc) from exc
    _options.console().print(f"\n[bold]Answer:[/bold] {result.answer}")
    _options.console().print(
        f"{result.latency:.2f}s, {result.llm_calls} LLM calls, "
        f"{result.usage.prompt_tokens} in / {result.usage.completion_tokens} out tokens, "
        f"{result.tool_calls} tool calls, ${result.cost_usd:.4f}"
    )
    for error in result.errors:
        _options.err().print(f"[yellow]note:[/yellow] {error}")
    problem = _no_answer(result)
    if problem:
        _options.err().print(f"[red]error:[/red] {problem}")
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
    question: str,
    setup: _RunSetup,
    spec: str,
    root: Path,
    threads: int | None = None,
) -> Any:
    from interlace._events import Answer, events
    from interlace._tools import Tool
    from interlace.agents import LLMCompiler, ReAct
    from interlace.bench._benchmarks import make_search
    from interlace.bench._custom import NO_EXAMPLES, load_examples
    from interlace.bench._examples import HOTPOTQA, PARALLELQA, Examples
    from interlace.bench._mathtool import make_math
    from interlace.cli._live import LiveView

    custom = has_sources(*setup.sources)
    builtin = Examples(
        planner=HOTPOTQA.planner + "\n###\n" + PARALLELQA.planner,
        joiner=HOTPOTQA.joiner,
        react=HOTPOTQA.react,
    )
    examples = load_examples(setup.examples) if setup.examples else None
    examples = examples or (NO_EXAMPLES if custom else builtin)
    backend = _options.load_llm(spec, threads)
    try:
        async with open_tools(*setup.sources) as mine:
            if custom:
                tool_list = list(mine)
            else:
                options = RunOptions(data_dir=root, search=setup.search)
                search = make_search(options, ("wiki", "hotpotqa", "movielens"))
                tool_list = [Tool.from_function(fn) for fn in (search, make_math(backend))]
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
            view, result = LiveView(_options.console()), None
            async for event in events(agent, question):  # iterated to its end
                if isinstance(event, Answer):
                    result = event.result
                else:
                    view.show(event)
            assert result is not None, "events() ends with an Answer or raises"
            return result
    finally:
        await backend.aclose()
