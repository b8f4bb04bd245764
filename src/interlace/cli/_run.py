"""``interlace run``: answer one question, showing the work."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Sequence
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
from interlace.llm._base import LLM, Completion, GenerationConfig, Message, StreamItem, TextDelta


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
    backend = _EchoLLM(_options.load_llm(spec, threads), write)
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
