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
from pathlib import Path
from typing import Any

from interlace._errors import UsageError
from interlace.trace._lanes import assign_lanes, span_family
from interlace.trace._spans import Span, Trace
from interlace.trace.analysis import critical_path, dependency_edges, latency

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


def _draw_one(ax: Any, trace: Trace, title: str, xmax: float, width_px: float) -> set[str]:
    """Draw one trace on ``ax``; returns the styles used (for the legend)."""
    from matplotlib.patches import Rectangle

    spans = trace.spans
    origin = trace.origin
    shown = [i for i, s in enumerate(spans) if span_family(s) != "agent"]
    lanes = assign_lanes([spans[i] for i in shown])
    tid_of = {i: lanes.tid_of[k] for k, i in enumerate(shown)}
    row = {lane.tid: n for n, lane in enumerate(lanes.lanes)}
    path = critical_path(trace)
    used: set[str] = set()
    px_per_s = width_px / xmax if xmax > 0 else 0.0
    for i in shown:
        span = spans[i]
        style = _style(span)
        used.add(style)
        x, y = span.start - origin, row[tid_of[i]]
        w = max(span.duration, xmax * 0.01)  # keep instant calls visible
        hatch = "///" if style == "trap" else None
        ax.add_patch(
            Rectangle(
                (x, y - 0.35),
                w,
                0.7,
                facecolor=_COLOURS[style],
                edgecolor="white",
                linewidth=0.5,
                hatch=hatch,
                zorder=2,
            )
        )
        label = _fit_label(span, w * px_per_s)
        if label:
            ax.text(
                x + w / 2,
                y,
                label,
                ha="center",
                va="center",
                fontsize=7.5,
                zorder=4,
                color="white" if style in ("planner", "joiner", "failed") else "black",
            )
    for step in path.steps:
        if step.span in tid_of:
            ax.add_patch(
                Rectangle(
                    (step.start - origin, row[tid_of[step.span]] - 0.35),
                    max(step.seconds, xmax * 0.01),
                    0.7,
                    fill=False,
                    edgecolor="black",
                    linewidth=2.2,
                    zorder=3,
                )
            )
    for src, dst in dependency_edges(spans):
        a, b = spans[src], spans[dst]
        ax.annotate(
            "",
            xy=(b.start - origin, row[tid_of[dst]]),
            xytext=(a.end - origin, row[tid_of[src]]),
            arrowprops={
                "arrowstyle": "->",
                "color": "#555555",
                "lw": 1.0,
                "connectionstyle": "arc3,rad=0.15",
                "shrinkA": 0,
                "shrinkB": 0,
            },
            zorder=5,
        )
    ax.set_yticks(range(len(lanes.lanes)), [lane.name for lane in lanes.lanes])
    ax.set_ylim(len(lanes.lanes) - 0.5, -0.5)
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
