"""``interlace eval``: summarise result stores, one table per configuration."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from interlace._errors import InterlaceError
from interlace.bench._eval import Comparison, Report, evaluate_records, rescore_records
from interlace.cli import _options, app
from interlace.cli._common import fail
from interlace.cli._roles import print_role_tables


def _fmt(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, float | int) else "-"


def _interval(c: Comparison) -> str:
    return "-" if c.speedup_interval is None else "{:.2f}-{:.2f}".format(*c.speedup_interval)


def _split(c: Comparison) -> str:
    return f"{c.only_method_right} / {c.only_baseline_right}"


def _p_value(c: Comparison) -> str:
    return f"{c.accuracy_p:.3f}"


def _field(attr: str, spec: str) -> Callable[[Comparison], str]:
    """A comparison's attribute ``attr``, formatted with ``spec``."""
    return lambda c: _fmt(getattr(c, attr), spec)


def _cells(
    summaries: list[Any], comparisons: dict[str, Comparison], show: Callable[[Comparison], str]
) -> list[str]:
    """One cell per method column: ``show`` of its comparison, blank for the baseline."""
    return [show(comparisons[x.method]) if x.method in comparisons else "" for x in summaries]


_ROWS: tuple[tuple[str, str, str], ...] = (
    ("questions", "n", "d"),
    ("accuracy", "accuracy", ".1%"),
    ("latency mean (s)", "latency_mean", ".2f"),
    ("latency median (s)", "latency_median", ".2f"),
    ("latency p90 (s)", "latency_p90", ".2f"),
    ("tokens in / question", "tokens_in", ".0f"),
    ("tokens out / question", "tokens_out", ".0f"),
    ("cost $ / question", "cost_usd", ".4f"),
    ("LLM calls / question", "llm_calls", ".1f"),
    ("tool calls / question", "tool_calls", ".1f"),
    ("runs with errors", "errors", "d"),
    ("token bound (s)", "token_bound_s", ".2f"),
    ("token efficiency (bound/measured)", "token_efficiency", ".2f"),
)
_TRACE_ROWS = (
    ("critical path (s)", "critical_path_s", ".2f"),
    ("efficiency", "efficiency", ".2f"),
    ("LLM share", "llm_share", ".1%"),
    ("tool share", "tool_share", ".1%"),
    ("overlap share", "overlap_share", ".1%"),
)


def _print_report(report: Report) -> None:
    """One table per (benchmark, configuration): a column per method, a row per figure."""
    groups: dict[tuple[str, str, str, str], list[Any]] = defaultdict(list)
    for summary in report.summaries:
        key = (summary.benchmark, summary.llm, summary.tool_latency, summary.search)
        groups[key].append(summary)
    for (bench_name, llm, latency, search), summaries in groups.items():
        table = Table(
            title=f"{bench_name}", caption=f"llm={llm}  tool latency={latency}  search={search}"
        )
        table.add_column("", no_wrap=True)
        for summary in summaries:
            table.add_column(summary.method, justify="right", no_wrap=True)
        for label, attr, spec in _ROWS:
            table.add_row(label, *[_fmt(getattr(x, attr), spec) for x in summaries])
        if any(x.decode_latency_mean is not None for x in summaries):
            cells = [_fmt(x.decode_latency_mean, ".2f") for x in summaries]
            table.add_row("first-last token (s)", *cells)
        if any(x.trace_metrics for x in summaries):
            for label, metric, spec in _TRACE_ROWS:
                table.add_row(label, *[_fmt(x.trace_metrics.get(metric), spec) for x in summaries])
        for name in sorted({k for x in summaries for k in x.latency_model}):
            cells = [_fmt(x.latency_model.get(name), ".2f") for x in summaries]
            table.add_row(f"model L_{name} (s)", *cells)
        comparisons = {
            c.method: c
            for c in report.comparisons
            if (c.benchmark, c.llm, c.tool_latency, c.search) == (bench_name, llm, latency, search)
        }
        if comparisons:
            bases = {c.baseline for c in comparisons.values()}
            base = bases.pop() if len(bases) == 1 else report.baseline
            rows = (
                ("paired questions", "n", "d"),
                (f"speedup vs {base}", "speedup", ".2f"),
                (f"first-last speedup vs {base}", "decode_speedup", ".2f"),
                ("same calls: questions", "same_calls_n", "d"),
                ("same calls: speedup", "same_calls_speedup", ".2f"),
                (f"tokens saved vs {base}", "token_saving", ".1%"),
                (f"cost saved vs {base}", "cost_saving", ".1%"),
            )
            for label, attr, spec in rows:
                if all(getattr(c, attr) in (None, 0) for c in comparisons.values()):
                    continue
                table.add_row(label, *_cells(summaries, comparisons, _field(attr, spec)))
                if attr == "speedup":
                    table.add_row("  95% interval", *_cells(summaries, comparisons, _interval))
            table.add_row(f"right only here / only {base}", *_cells(summaries, comparisons, _split))
            table.add_row("  McNemar p (accuracy)", *_cells(summaries, comparisons, _p_value))
        _options.console().print(table)
    print_role_tables(report, _options.console())


@app.command(
    "eval",
    epilog="Examples:\n\n  interlace eval runs/hotpot.jsonl\n\n"
    "  interlace eval runs/*.jsonl --json > summary.json\n\n"
    "  interlace eval old.jsonl new.jsonl --split git_commit --baseline compiler@7f95125",
)
def eval_(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Result stores written by `interlace bench`.", exists=True, dir_okay=False
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    baseline: Annotated[
        str | None,
        typer.Option(
            help="Method the others are compared with (default: react, when the stores have "
            "it); a method no store has is an error.",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        list[str] | None,
        typer.Option(
            "--split",
            help="A run-configuration key whose values become separate columns, labelled "
            "METHOD@VALUE (repeatable): git_commit compares two versions of the code, "
            "observation_tokens or model two settings. With it, --baseline METHOD compares "
            "each column with METHOD of the same values; --baseline METHOD@VALUE with that "
            "one column.",
            metavar="KEY",
            show_default=False,
        ),
    ] = None,
    rescore: Annotated[
        bool,
        typer.Option(
            "--rescore",
            help="Judge each answer again with this version's scoring rule (HotpotQA, Movie, "
            "ParallelQA; other benchmarks keep the stored verdict). The stores are not changed.",
        ),
    ] = False,
) -> None:
    """Summarise result stores: accuracy, latency, tokens, cost, errors per method.

    Also LLMCompiler vs ReAct ratios (speedup, token and cost savings) over the questions both
    methods answered in the same configuration, with how sure they are: a 95% paired bootstrap
    interval of the speedup, and the questions right under only one method with an exact
    McNemar p-value (below 0.05: the accuracy difference is unlikely to be chance).
    """
    from interlace.cli._stores import read_stores, resolve_baseline

    try:
        records = read_stores(files)
        if rescore:
            records = rescore_records(records)
        keys = tuple(split or ())
        base = resolve_baseline(records, baseline, keys)
        report = evaluate_records(records, baseline=base, split=keys)
    except InterlaceError as exc:
        raise fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, default=str) + "\n")
    else:
        _print_report(report)
