"""The per-role LLM accounting table of ``interlace eval`` (one per benchmark configuration)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from interlace.bench._eval import MethodSummary, Report

_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("calls", "calls", ".2f"),
    ("uncached", "uncached_prompt_tokens", ".0f"),
    ("cached", "cached_prompt_tokens", ".0f"),
    ("output", "output_tokens", ".0f"),
    ("time s", "time_s", ".2f"),
    ("TTFT s", "ttft_s", ".2f"),
    ("runs", "runs", ".0f"),
)
_TITLE = "LLM requests per role, means per question (uncached/cached prompt tokens, output tokens)"


def role_table(title: str, caption: str, summaries: Sequence[MethodSummary]) -> Table | None:
    """Rows (method, role), columns the means per question of :attr:`MethodSummary.roles`
    (``runs``: how many of the method's questions had the role); ``None`` without roles."""
    if not any(s.roles for s in summaries):
        return None
    table = Table(title=f"{title}: {_TITLE}", caption=caption, box=box.SIMPLE_HEAD)
    table.add_column("method", min_width=8, overflow="fold")
    table.add_column("role", no_wrap=True)
    for label, _, _ in _COLUMNS:
        table.add_column(label, justify="right", no_wrap=True)
    for summary in summaries:
        for role, row in summary.roles.items():
            cells = [format(row.get(key, 0.0), spec) for _, key, spec in _COLUMNS]
            table.add_row(summary.method, role, *cells)
    return table


def print_role_tables(report: Report, console: Console) -> None:
    """One :func:`role_table` per (benchmark, llm, tool latency, search) of ``report``."""
    groups: dict[tuple[str, str, str, str], list[MethodSummary]] = defaultdict(list)
    for summary in report.summaries:
        groups[(summary.benchmark, summary.llm, summary.tool_latency, summary.search)].append(
            summary
        )
    for (bench, llm, latency, search), summaries in groups.items():
        caption = f"llm={llm}  tool latency={latency}  search={search}"
        table = role_table(bench, caption, summaries)
        if table is not None:
            console.print(table)
