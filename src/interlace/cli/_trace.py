"""``interlace trace``: inspect, plot and export the traces in a benchmark store file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from interlace._errors import DataError, InterlaceError, UsageError
from interlace.cli import app
from interlace.cli._common import fail
from interlace.trace._records import TraceRecord, read_trace_records
from interlace.trace._serial import trace_to_chrome, trace_to_jsonl
from interlace.trace.analysis import average_metrics, critical_path, metrics

_console = Console()


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0%}" if unit == "%" else f"{value:.2f}{unit}"
    return str(value)


def _list(records: Sequence[TraceRecord], limit: int) -> None:
    table = Table(title=f"{len(records)} traced runs (showing {min(limit, len(records))})")
    for column in ("question", "method", "latency", "critical path", "efficiency"):
        table.add_column(column)
    for rec in records[:limit]:
        m = metrics(rec.trace)
        table.add_row(
            rec.question_id,
            rec.method,
            _fmt(m["latency_s"], " s"),
            _fmt(m["critical_path_s"], " s"),
            _fmt(m["efficiency"], "%"),
        )
    _console.print(table)
    summary = Table(title="per method (means)")
    for column in (
        "method",
        "n",
        "latency",
        "critical path",
        "efficiency",
        "LLM waits",
        "tools wait",
    ):
        summary.add_column(column)
    for method in dict.fromkeys(r.method for r in records):
        avg = average_metrics([r.trace for r in records if r.method == method])
        summary.add_row(
            method,
            str(avg["n"]),
            _fmt(avg["latency_s"], " s"),
            _fmt(avg["critical_path_s"], " s"),
            _fmt(avg["efficiency"], "%"),
            _fmt(avg["llm_wait_share"], "%"),
            _fmt(avg["tool_wait_share"], "%"),
        )
    _console.print(summary)


def _select(
    records: Sequence[TraceRecord], question: str | None, methods: Sequence[str]
) -> list[TraceRecord]:
    """The runs of one question (the first in the file if not given), filtered by method."""
    if not records:  # the file's content, not the command line: a data error (exit 1)
        raise DataError("the file holds no traced runs (records with a non-empty 'trace')")
    qid = question if question is not None else records[0].question_id
    chosen = [r for r in records if r.question_id == qid]
    if not chosen:
        raise UsageError(f"no traced run for question {qid!r}; omit --question to list them")
    if methods:
        have = {r.method for r in chosen}
        missing = [m for m in methods if m not in have]
        if missing:
            raise UsageError(
                f"question {qid!r} has no run of method(s) {missing}; it has {sorted(have)}"
            )
        chosen = [r for m in methods for r in chosen if r.method == m]
    return chosen


def _labels(chosen: Sequence[TraceRecord]) -> list[str]:
    """Method names, with the run configuration added when a method appears more than once."""
    counts: dict[str, int] = {}
    for rec in chosen:
        counts[rec.method] = counts.get(rec.method, 0) + 1
    labels = []
    for n, rec in enumerate(chosen, 1):
        if counts[rec.method] == 1:
            labels.append(rec.method)
            continue
        config = rec.record.get("config")
        keys = ("llm", "tool_latency", "stream", "search")
        extra = (
            ", ".join(f"{k}={config[k]}" for k in keys if k in config)
            if isinstance(config, dict)
            else ""
        )
        labels.append(f"{rec.method} [{extra or f'run {n}'}]")
    return labels


def _describe(rec: TraceRecord) -> None:
    path = critical_path(rec.trace)
    _console.print(f"[bold]{rec.question_id}[/] / [bold]{rec.method}[/]")
    for key, value in metrics(rec.trace).items():
        unit = "%" if key.endswith("_share") or key == "efficiency" else ""
        _console.print(f"  {key:22} {_fmt(value, unit)}")
    _console.print("  critical path:")
    for step in path.steps:
        label = f"{step.name} #{step.task_id}" if step.task_id is not None else step.name
        part = " (prefix)" if step.partial else ""
        _console.print(f"    {step.kind:5} {label:24} {step.seconds:8.3f} s{part}")


def _export(chosen: Sequence[TraceRecord], chrome: Path | None, jsonl: Path | None) -> None:
    if chrome is not None:
        events: list[dict[str, Any]] = []
        for pid, (label, rec) in enumerate(zip(_labels(chosen), chosen, strict=True), 1):
            name = f"{label} ({rec.question_id})"
            events += trace_to_chrome(rec.trace, process_name=name, pid=pid)["traceEvents"]
        chrome.write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}))
        _console.print(f"wrote {chrome} (open in https://ui.perfetto.dev or chrome://tracing)")
    if jsonl is not None:
        jsonl.write_text(trace_to_jsonl(chosen[0].trace))
        _console.print(f"wrote {jsonl} ({chosen[0].method}, one span per line)")


@app.command("trace")
def trace_command(
    file: Annotated[
        Path,
        typer.Argument(help="Benchmark store file (JSON lines).", exists=True, dir_okay=False),
    ],
    question: Annotated[
        str | None, typer.Option("--question", "-q", help="Question id (default: the first).")
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option("--method", "-m", help="Method to show; repeat to pick several."),
    ] = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare", help="Stack every (selected) method of the question on one time axis."
        ),
    ] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a timeline chart (.png/.svg).")] = None,
    chrome: Annotated[
        Path | None, typer.Option(help="Write Chrome trace-event JSON (Perfetto).")
    ] = None,
    jsonl: Annotated[Path | None, typer.Option(help="Write the spans as JSON lines.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to list when no --question is given.")] = 20,
) -> None:
    """Show where the time of traced runs went: critical path, idle shares, timeline plots.

    Without --question, lists the traced runs and per-method means (and plots/exports the first
    question). Examples:

        interlace trace runs.jsonl

        interlace trace runs.jsonl -q hotpot-12 --compare --plot timeline.png

        interlace trace runs.jsonl -q hotpot-12 -m compiler --chrome t.json
    """
    try:
        try:
            records = read_trace_records(file)
        except UsageError as exc:  # the file's content, not the command line: exit 1
            raise DataError(f"{file} is not a store with traces: {exc}") from exc
        if question is None and records:
            _list(records, limit)
        chosen = _select(records, question, method or [])
        if not compare:
            chosen = chosen[:1]
        if question is not None:
            for rec in chosen:
                _describe(rec)
        if plot is not None:
            from interlace.trace._plot import plot_timeline

            runs = list(zip(_labels(chosen), (rec.trace for rec in chosen), strict=True))
            plot_timeline(runs, plot, title=f"question {chosen[0].question_id}")
            _console.print(f"wrote {plot}")
        _export(chosen, chrome, jsonl)
    except InterlaceError as exc:
        raise fail(exc) from exc
