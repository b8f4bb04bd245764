"""The ``interlace`` command line: a thin layer over the public API.

Each command group lives in its own module and registers itself on :data:`app`.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="interlace",
    help=(
        "Fast LLM function calling: LLMCompiler (parallel) and AsyncLM (asynchronous) "
        "on one runtime, with benchmarks you can reproduce on your own model."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

# Command groups register on `app` when imported.
from interlace.cli import _bench, _models, _replay, _trace  # noqa: E402, F401


def main() -> None:
    """Console-script entry point."""
    app()
