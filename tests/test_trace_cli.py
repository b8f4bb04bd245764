"""`interlace trace`: store reading, listing, timeline plots and exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from click.testing import CliRunner

from interlace._errors import UsageError
from interlace.cli import app
from interlace.trace import Span, Trace, trace_to_dict
from interlace.trace._plot import plot_timeline
from interlace.trace._records import iter_trace_records, read_trace_records

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _compiler() -> Trace:
    return Trace(
        origin=0.0,
        spans=[
            Span(kind="llm", name="planner", start=0.0, end=2.0, attrs={"role": "planner"}),
            Span(kind="tool", name="search", start=0.5, end=1.5, task_id=1),
            Span(kind="tool", name="search", start=0.7, end=2.5, task_id=2),
            Span(kind="tool", name="math", start=2.6, end=3.0, task_id=3, deps=(1, 2)),
            Span(kind="llm", name="joiner", start=3.1, end=3.6, attrs={"role": "joiner"}),
        ],
    )


def _react() -> Trace:
    return Trace(
        origin=0.0,
        spans=[
            Span(kind="llm", name="react", start=0.0, end=1.0),
            Span(kind="tool", name="search", start=1.0, end=2.0, task_id=1),
            Span(kind="llm", name="react", start=2.0, end=3.0),
            Span(kind="tool", name="search", start=3.0, end=4.0, task_id=2, attrs={"ok": False}),
            Span(kind="llm", name="react", start=4.0, end=5.0),
        ],
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    rows = [
        {"question_id": "q1", "method": "react", "trace": trace_to_dict(_react())},
        {"question_id": "q1", "method": "compiler", "trace": trace_to_dict(_compiler())},
        {"question_id": "q2", "method": "compiler", "trace": trace_to_dict(_compiler())},
        {"question_id": "q3", "method": "compiler", "trace": None},  # errored run: skipped
    ]
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    return path


def invoke(*args: str) -> tuple[int, str]:
    command = typer.main.get_command(app)
    is_group = hasattr(command, "list_commands")  # one registered command collapses the group
    argv = ["trace", *args] if is_group else list(args)
    result = CliRunner().invoke(command, argv, catch_exceptions=False)
    return result.exit_code, result.output


def test_read_records_skips_runs_without_a_trace(store: Path) -> None:
    records = read_trace_records(store)
    assert [(r.question_id, r.method) for r in records] == [
        ("q1", "react"),
        ("q1", "compiler"),
        ("q2", "compiler"),
    ]
    assert records[1].trace.spans[3].deps == (1, 2)


def test_read_records_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="line 2"):
        iter_trace_records(['{"question_id": "a", "method": "m", "trace": null}', "[1]"])
    with pytest.raises(UsageError, match="question_id"):
        iter_trace_records(['{"method": "m", "trace": {"spans": []}}'])
    with pytest.raises(UsageError, match="no such store file"):
        read_trace_records(tmp_path / "missing.jsonl")


def test_without_question_lists_runs_and_method_means(store: Path) -> None:
    code, out = invoke(str(store))
    assert code == 0
    assert "q1" in out and "q2" in out and "q3" not in out
    assert "per method" in out and "compiler" in out and "react" in out


def test_question_prints_the_critical_path(store: Path) -> None:
    code, out = invoke(str(store), "--question", "q1", "--method", "compiler")
    assert code == 0
    assert "critical path" in out and "search #2" in out and "math #3" in out
    assert "efficiency" in out


def test_compare_plot_and_exports(store: Path, tmp_path: Path) -> None:
    png, chrome, jsonl = tmp_path / "t.png", tmp_path / "t.json", tmp_path / "t.jsonl"
    code, out = invoke(
        str(store),
        "-q",
        "q1",
        "--compare",
        "--plot",
        str(png),
        "--chrome",
        str(chrome),
        "--jsonl",
        str(jsonl),
    )
    assert code == 0, out
    assert png.read_bytes().startswith(PNG_MAGIC)
    events = json.loads(chrome.read_text())["traceEvents"]
    assert {e["pid"] for e in events} == {1, 2}  # react and compiler as two processes
    processes = {e["args"]["name"] for e in events if e.get("name") == "process_name"}
    assert processes == {"react (q1)", "compiler (q1)"}
    assert len(jsonl.read_text().splitlines()) == len(_react().spans)


def test_unknown_question_or_method_is_a_clean_error(store: Path) -> None:
    code, out = invoke(str(store), "-q", "nope")
    assert code == 2 and "no traced run for question 'nope'" in out
    code, out = invoke(str(store), "-q", "q2", "-m", "react")
    assert code == 2 and "has no run of method" in out


def test_compare_stacks_on_a_taller_figure(tmp_path: Path) -> None:
    from matplotlib.image import imread

    one = plot_timeline([("compiler", _compiler())], tmp_path / "one.png")
    two = plot_timeline([("react", _react()), ("compiler", _compiler())], tmp_path / "two.png")
    h1, w1 = imread(one).shape[:2]
    h2, w2 = imread(two).shape[:2]
    assert h2 > h1 * 1.4 and abs(w2 - w1) < 0.1 * w1
    with pytest.raises(UsageError):
        plot_timeline([], tmp_path / "none.png")


def test_repeated_method_runs_get_distinct_labels(tmp_path: Path) -> None:
    rows = [
        {
            "question_id": "q1",
            "method": "compiler",
            "config": {"llm": "local", "tool_latency": latency},
            "trace": trace_to_dict(_compiler()),
        }
        for latency in ("0", "paper")
    ]
    store = tmp_path / "runs.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in rows))
    chrome = tmp_path / "c.json"
    code, out = invoke(str(store), "-q", "q1", "--compare", "--chrome", str(chrome))
    assert code == 0, out
    events = json.loads(chrome.read_text())["traceEvents"]
    names = {e["args"]["name"] for e in events if e.get("name") == "process_name"}
    assert names == {
        "compiler [llm=local, tool_latency=0] (q1)",
        "compiler [llm=local, tool_latency=paper] (q1)",
    }


def test_empty_store_is_a_clean_error(tmp_path: Path) -> None:
    store = tmp_path / "empty.jsonl"
    store.write_text("")
    code, out = invoke(str(store))
    assert code == 1 and "no traced runs" in out and "per method" not in out  # a data error
