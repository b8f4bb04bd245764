"""The ``interlace`` command line: a thin layer over the public API.

Each command group lives in its own module and registers itself on :data:`app`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from interlace.cli._common import EXIT_CODES, add_exit_codes

app = typer.Typer(
    name="interlace",
    help=(
        "Fast LLM function calling: LLMCompiler (parallel) and AsyncLM (asynchronous) "
        "on one runtime, with benchmarks you can reproduce on your own model."
    ),
    epilog=EXIT_CODES,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _print_version(value: bool) -> None:
    if value:
        from interlace import __version__

        typer.echo(f"interlace {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Log what the runtime does (LLM requests, retries, tool failures, replans, "
            "cache hits) to standard error.",
        ),
    ] = False,
) -> None:
    if verbose:
        _log_to_stderr()


def _log_to_stderr() -> None:
    """Send the ``interlace`` loggers' records, debug level and up, to a rich handler on
    standard error (the library itself configures no handler)."""
    import logging

    from rich.console import Console
    from rich.logging import RichHandler

    logger = logging.getLogger("interlace")
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        handler = RichHandler(console=Console(stderr=True), show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


# Command groups register on `app` when imported.
from interlace.cli import _bench, _data, _eval, _finetune, _models, _replay, _run, _sources, _trace  # noqa: E402, F401

add_exit_codes(app)  # after every command group registered


def main() -> None:
    """Console-script entry point."""
    app()
