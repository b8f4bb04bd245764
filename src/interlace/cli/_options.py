"""What several commands share: their common options, consoles and the backend loader."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from interlace.bench import _data
from interlace.llm._base import LLM


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
Threads = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="CPU threads for a local model (default: all cores). Use 1 per process when "
        "something else runs beside it: llama.cpp threads that share a core slow down badly.",
    ),
]


def load_llm(spec: str, threads: int | None = None) -> LLM:
    """The backend ``spec`` names, its model fetched on first use (progress on stderr).

    Commands call it as ``_options.load_llm`` so a test can replace it in one place.

    Raises:
        UsageError: ``spec`` names no backend or model.
        InterlaceError: the model could not be fetched or loaded.
    """
    from interlace.cli._models import ensure_local_model
    from interlace.llm._select import load_llm as load
    from interlace.llm._select import parse_spec

    ensure_local_model(spec, err())
    if threads is not None and parse_spec(spec).kind == "local":
        return load(spec, n_threads=threads)
    return load(spec)
