"""``interlace replay``: re-run a stored benchmark at another LLM speed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interlace._errors import InterlaceError
from interlace.bench import _data
from interlace.bench._replay import ReplayReport, replay_store
from interlace.bench._store import Store
from interlace.cli import app
from interlace.cli._benchmarks import no_empty_store
from interlace.cli._common import fail
from interlace.cli._stores import read_stores
from interlace.trace._speed import PRESETS


def _speed_help() -> str:
    presets = ", ".join(PRESETS)
    return (
        "Backend speed: recorded (fitted to the store; requests one at a time like the local "
        f"model), a preset ({presets}), or ttft=SECONDS,prefill=TOKENS_PER_S,tpot=SECONDS "
        "[,serial=1]; a preset with overrides: gpu-8b,tpot=0.02."
    )


@app.command(
    "replay",
    epilog=(
        "Examples:\n\n"
        "  interlace replay results/hotpotqa-0.5s.jsonl --store runs/hotpot-gpu.jsonl "
        "--llm-speed gpu-8b\n\n"
        "  interlace replay results/movie-0.5s.jsonl --store runs/movie-check.jsonl "
        "--llm-speed recorded --limit 5\n\n"
        "  interlace replay runs/pqa.jsonl --store runs/pqa-fast.jsonl "
        "--llm-speed ttft=0.03,prefill=8000,tpot=0.008 --methods compiler\n\n"
        "Then: interlace eval runs/hotpot-gpu.jsonl (the replay is its own configuration)."
    ),
)
def replay(
    source: Annotated[Path, typer.Argument(help="A result store written by `interlace bench`.")],
    store: Annotated[
        Path, typer.Option("--store", help="Where the replayed records go (appended; resumable).")
    ],
    llm_speed: Annotated[str, typer.Option("--llm-speed", help=_speed_help())] = "recorded",
    methods: Annotated[
        str | None, typer.Option(help="Only these methods (comma-separated).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help=f"Benchmark data directory (default: ${_data.ENV_VAR}, else the user data dir).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Re-run every stored question and method of SOURCE with an LLM that replays the recorded
    replies at --llm-speed; the same agents, tools and tool latency run for real.

    Prints recorded against replayed latency per method, and every request whose prompt
    diverged from the recording (agent prompts changed since), or that could not be matched.
    BFCL's CML runs replay on a token engine with the recorded model's vocabulary (its GGUF file
    must be in the model cache; no weights are loaded).
    """
    if not source.is_file():
        raise typer.BadParameter(f"no such store: {source}", param_hint="SOURCE")
    chosen = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    try:
        read_stores([source])  # a file that is not a store is a data error, not 0 runs
        with no_empty_store(store):
            report = anyio.run(
                _replay_async,
                source,
                Store(store),
                llm_speed,
                _data.data_dir(data_dir),
                chosen,
                limit,
            )
    except InterlaceError as exc:
        raise fail(exc) from exc  # exit 2 for a UsageError (command-line misuse), else 1
    if as_json:
        sys.stdout.write(json.dumps(report_to_json(report), indent=2, default=str) + "\n")
        return
    print_report(report, Console())
    Console(stderr=True).print(f"wrote {report.written} records to {store}")


async def _replay_async(
    source: Path,
    store: Store,
    speed: str,
    data_dir: Path,
    methods: list[str] | None,
    limit: int | None,
) -> ReplayReport:
    def progress(record: dict[str, Any]) -> None:
        Console(stderr=True).print(
            f"  {record['method']:>10} q{record['question_id']}: {record['latency']:.2f}s",
            highlight=False,
        )

    return await replay_store(
        source, store, speed, data_dir=data_dir, methods=methods, limit=limit, on_record=progress
    )


def report_to_json(report: ReplayReport) -> dict[str, Any]:
    """The ``--json`` form of a replay report."""
    return {
        "speed": report.speed.to_dict(),
        "written": report.written,
        "fidelity": report.fidelity(),
        "recorded_latency": dict(report.recorded_latency),
        "replayed_latency": dict(report.replayed_latency),
        "divergences": [
            {"kind": k, "role": r, "count": n} for (k, r), n in report.divergence_counts().items()
        ],
        "skipped": [{"question_id": q, "method": m, "reason": why} for q, m, why in report.skipped],
    }


def print_report(report: ReplayReport, console: Console) -> None:
    """Latency per method (recorded, replayed, ratio), divergences, skipped records."""
    console.print(f"[bold]speed[/bold] {escape(str(report.speed))}")
    if report.speed.source:
        console.print(f"  source: {escape(report.speed.source)}", highlight=False)
    table = Table(title="latency per method, recorded and replayed (means over the same runs)")
    for column in ("method", "runs", "recorded (s)", "replayed (s)", "replayed / recorded"):
        table.add_column(column, justify="left" if column == "method" else "right")
    fidelity = report.fidelity()
    for method, recorded in report.recorded_latency.items():
        replayed = report.replayed_latency.get(method, [])
        n = len(recorded)
        ratio = fidelity.get(method)
        table.add_row(
            method,
            str(n),
            f"{sum(recorded) / n:.2f}" if n else "-",
            f"{sum(replayed) / len(replayed):.2f}" if replayed else "-",
            f"{ratio:.3f}" if ratio is not None else "-",
        )
    console.print(table)
    counts = report.divergence_counts()
    if counts:
        div = Table(title="requests that did not match their recording")
        for column in ("kind", "role", "requests"):
            div.add_column(column, justify="right" if column == "requests" else "left")
        for (kind, role), n in counts.items():
            div.add_row(kind, role, str(n))
        console.print(div)
    if report.skipped:
        reasons: dict[str, int] = {}
        for _, _, why in report.skipped:
            reasons[why] = reasons.get(why, 0) + 1
        for why, n in reasons.items():
            console.print(f"[yellow]skipped {n} records:[/yellow] {escape(why)}")
