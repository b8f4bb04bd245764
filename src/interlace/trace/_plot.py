"""Timeline (Gantt) charts of traces, with dependencies and the critical path.

One row per lane (:func:`interlace.trace.assign_lanes`): the LLM on top, then one row per
concurrently running tool call. Bars are coloured by role (planner, joiner, decode, interrupt,
trap, tool call, failed tool call); grey arrows run from each dependency's end to the dependent
call's start; spans on the critical path (:func:`interlace.trace.critical_path`) get a thick
black outline (only the prefix of a streaming planner that its successor waited for). Several
traces stack on one shared time axis, so two methods of one question compare at a glance.
Rendering uses matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlace._errors import UsageError
from interlace.trace._lanes import assign_lanes, span_family
from interlace.trace._spans import Span, Trace, dependency_edges
from interlace.trace.analysis import CriticalPath, critical_path, latency

_COLOURS = {
    "planner": "#4c72b0",
    "joiner": "#8172b3",
    "llm": "#64b5cd",
    "interrupt": "#2a9d8f",
    "trap": "#e5e5e5",
    "tool": "#dd8452",
    "failed": "#c44e52",
}
_LEGEND = {
    "planner": "LLM: planner",
    "joiner": "LLM: joiner",
    "llm": "LLM: other (ReAct step, decode)",
    "interrupt": "interrupt (inject results)",
    "trap": "trap (decoding paused)",
    "tool": "tool call",
    "failed": "tool call (failed)",
}


def _style(span: Span) -> str:
    if span.kind == "tool":
        failed = (
            span.attrs.get("outcome") not in (None, "succeeded") or span.attrs.get("ok") is False
        )
        return "failed" if failed or "error" in span.attrs else "tool"
    if span.kind in ("interrupt", "trap"):
        return span.kind
    role = str(span.attrs.get("role", span.name)).lower()
    if "plan" in role:
        return "planner"
    return "joiner" if "join" in role else "llm"


def _label(span: Span) -> str:
    return f"{span.name} #{span.task_id}" if span.task_id is not None else span.name


def _fit_label(span: Span, width_px: float) -> str:
    """The longest of ``name #id`` / ``#id`` / ``name`` that fits a bar ``width_px`` wide."""
    if span.kind == "trap":
        return ""
    full = _label(span)
    options = [full, f"#{span.task_id}"] if span.task_id is not None else [full]
    for text in options:
        if width_px > 5.2 * len(text) + 6:  # ~5 px per character at 7.5 pt
            return text
    return ""


@dataclass(frozen=True, kw_only=True)
class _Layout:
    """Where one trace's spans go on its axes."""

    trace: Trace
    shown: list[int]  # indices of the drawn spans (LLM and tool families)
    row: dict[int, int]  # span index -> row (0 = top)
    names: list[str]  # row labels
    xmax: float  # seconds shown on the x axis
    px_per_s: float

    @classmethod
    def of(cls, trace: Trace, xmax: float, width_px: float) -> _Layout:
        shown = [i for i, s in enumerate(trace.spans) if span_family(s) != "agent"]
        lanes = assign_lanes([trace.spans[i] for i in shown])
        row_of_tid = {lane.tid: n for n, lane in enumerate(lanes.lanes)}
        row = {i: row_of_tid[lanes.tid_of[k]] for k, i in enumerate(shown)}
        px = width_px / xmax if xmax > 0 else 0.0
        names = [lane.name for lane in lanes.lanes]
        return cls(trace=trace, shown=shown, row=row, names=names, xmax=xmax, px_per_s=px)

    def box(self, start: float, seconds: float, row: int) -> tuple[float, float, float, float]:
        """``(x, y, width, height)`` of a bar; instant calls stay visible (1% of the axis)."""
        return start - self.trace.origin, row - 0.35, max(seconds, self.xmax * 0.01), 0.7


def _draw_bars(ax: Any, lay: _Layout) -> set[str]:
    from matplotlib.patches import Rectangle

    used: set[str] = set()
    for i in lay.shown:
        span = lay.trace.spans[i]
        style = _style(span)
        used.add(style)
        x, y, w, h = lay.box(span.start, span.duration, lay.row[i])
        hatch = "///" if style == "trap" else None
        ax.add_patch(
            Rectangle(
                (x, y),
                w,
                h,
                facecolor=_COLOURS[style],
                edgecolor="white",
                linewidth=0.5,
                hatch=hatch,
                zorder=2,
            )
        )
        label = _fit_label(span, w * lay.px_per_s)
        if label:
            colour = "white" if style in ("planner", "joiner", "failed") else "black"
            ax.text(
                x + w / 2,
                y + h / 2,
                label,
                ha="center",
                va="center",
                fontsize=7.5,
                zorder=4,
                color=colour,
            )
    return used


def _draw_path(ax: Any, lay: _Layout, path: CriticalPath) -> None:
    from matplotlib.patches import Rectangle

    for step in path.steps:
        if step.span in lay.row:
            x, y, w, h = lay.box(step.start, step.seconds, lay.row[step.span])
            ax.add_patch(
                Rectangle((x, y), w, h, fill=False, edgecolor="black", linewidth=2.2, zorder=3)
            )


def _draw_dependencies(ax: Any, lay: _Layout) -> None:
    spans, origin = lay.trace.spans, lay.trace.origin
    arrow = {
        "arrowstyle": "->",
        "color": "#555555",
        "lw": 1.0,
        "connectionstyle": "arc3,rad=0.15",
        "shrinkA": 0,
        "shrinkB": 0,
    }
    for src, dst in dependency_edges(spans):
        ax.annotate(
            "",
            xy=(spans[dst].start - origin, lay.row[dst]),
            xytext=(spans[src].end - origin, lay.row[src]),
            arrowprops=arrow,
            zorder=5,
        )


def _draw_one(ax: Any, trace: Trace, title: str, xmax: float, width_px: float) -> set[str]:
    """Draw one trace on ``ax``; returns the styles used (for the legend)."""
    lay = _Layout.of(trace, xmax, width_px)
    path = critical_path(trace)
    used = _draw_bars(ax, lay)
    _draw_path(ax, lay, path)
    _draw_dependencies(ax, lay)
    ax.set_yticks(range(len(lay.names)), lay.names)
    ax.set_ylim(len(lay.names) - 0.5, -0.5)
    efficiency = path.efficiency
    eff = f" ({efficiency:.0%} efficient)" if efficiency is not None else ""
    ax.set_title(
        f"{title}: latency {latency(trace):.2f} s, critical path {path.length:.2f} s{eff}",
        fontsize=10,
        loc="left",
    )
    ax.grid(axis="x", color="#dddddd", zorder=0)
    ax.set_axisbelow(True)
    return used


def _lane_count(trace: Trace) -> int:
    return max(1, len(assign_lanes([s for s in trace.spans if span_family(s) != "agent"]).lanes))


def plot_timeline(
    runs: Sequence[tuple[str, Trace]], path: str | Path, *, title: str | None = None
) -> Path:
    """Render one timeline per run, stacked on one shared time axis, to an image file.

    Args:
        runs: ``(label, trace)`` pairs, drawn top to bottom (e.g. ``[("react", t1),
            ("compiler", t2)]``).
        path: output file; the suffix picks the format (``.png``, ``.svg``, ``.pdf``).
        title: figure title (e.g. the question id).

    Returns:
        The written path.

    Raises:
        UsageError: ``runs`` is empty.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not runs:
        raise UsageError("plot_timeline needs at least one (label, trace) run")
    counts = [_lane_count(t) for _, t in runs]
    xmax = max(max(latency(t) for _, t in runs), 1e-3) * 1.02
    width_in = 12.0
    fig, axes = plt.subplots(
        len(runs),
        1,
        sharex=True,
        squeeze=False,
        layout="constrained",
        figsize=(width_in, 1.0 + sum(0.42 * c + 0.7 for c in counts)),
        gridspec_kw={"height_ratios": [c + 1.0 for c in counts]},
    )
    used: set[str] = set()
    plot_px = width_in * fig.dpi * 0.88
    for ax, (label, trace) in zip(axes[:, 0], runs, strict=True):
        used |= _draw_one(ax, trace, label, xmax, plot_px)
    axes[-1, 0].set_xlim(0, xmax)
    axes[-1, 0].set_xlabel("time since the run started (s)")
    handles = [
        Patch(facecolor=_COLOURS[k], label=v, hatch="///" if k == "trap" else None)
        for k, v in _LEGEND.items()
        if k in used
    ]
    handles.append(Patch(fill=False, edgecolor="black", linewidth=2.2, label="critical path"))
    handles.append(Patch(facecolor="none", edgecolor="#555555", label="→ dependency"))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(len(handles), 5),
        fontsize=8,
        frameon=False,
    )
    if title:
        fig.suptitle(title, fontsize=11)
    out = Path(path)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
