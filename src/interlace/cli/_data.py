"""``interlace data``: list the benchmark data present, fetch it from its public sources."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from interlace._errors import InterlaceError
from interlace.bench import _data
from interlace.bench._registry import benchmark_names
from interlace.cli import _options, app
from interlace.cli._common import fail
from interlace.cli._options import DataDir

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
        raise fail(exc) from exc
    for path in written:
        _options.console().print(f"fetched {path}")
    if not written:
        _options.console().print(f"nothing to fetch: already present in {root}")


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
    _options.console().print(table)
    _options.console().print(f"Benchmarks: {', '.join(benchmark_names())}")
