from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from _bench_helpers import SHARED_DATA
from interlace._errors import NetworkUnavailableError
from interlace.bench import _data
from interlace.bench._eval import evaluate_records, percentile
from interlace.bench._scoring import is_correct, normalize
from interlace.cli import app
from interlace.testing import ScriptedLLM

runner = CliRunner()


def _reply(messages: Any) -> str:
    system, last = messages[0].content, messages[-1].content
    if system.startswith("You answer a question by calling tools"):  # ReAct
        if "Observation" in last:
            return "Thought: both American.\nAction: Finish(yes)"
        return 'Thought: look.\nAction: search("Ed Wood")'
    if system.startswith("You get") or len(messages) > 2:  # LLMCompiler's joiner
        return "Thought: both American.\nAction: Finish(yes)"
    return '1. search("Scott Derrickson")\n2. search("Ed Wood")\n3. join()\n<END_OF_PLAN>'


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "interlace.cli._options.load_llm", lambda spec, threads=None: ScriptedLLM(_reply)
    )


def test_bench_then_eval(scripted: None, tmp_path: Path) -> None:
    store = tmp_path / "h.jsonl"
    args = [
        "bench",
        "hotpotqa",
        "--limit",
        "2",
        "--data-dir",
        str(SHARED_DATA),
        "--store",
        str(store),
        "--tool-latency",
        "1ms",
        "--threads",
        "1",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in store.read_text().splitlines()]
    assert [(r["question_id"], r["method"]) for r in records][:3] == [
        ("5a8b57f25542995d1e6f1371", "compiler"),
        ("5a8b57f25542995d1e6f1371", "react"),
        ("5adbf0a255429947ff17385a", "react"),
    ]
    assert records[0]["config"]["tool_latency"] == "0.001s"
    assert records[0]["config"]["threads"] == 1
    again = runner.invoke(app, args)  # resume: nothing left to do
    assert again.exit_code == 0 and "wrote 0 records" in again.output
    out = runner.invoke(app, ["eval", str(store), "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    methods = {s["method"]: s for s in report["summaries"]}
    assert methods["compiler"]["n"] == 2 and methods["compiler"]["accuracy"] == 0.5
    (comparison,) = report["comparisons"]
    assert comparison["method"] == "compiler" and comparison["n"] == 2
    assert comparison["speedup"] > 0
    table = runner.invoke(app, ["eval", str(store)], env={"COLUMNS": "200"})
    assert (
        table.exit_code == 0 and "compiler" in table.output and "speedup vs react" in table.output
    )


def test_bench_rejects_unknown_method_and_benchmark(scripted: None, tmp_path: Path) -> None:
    store = str(tmp_path / "x.jsonl")
    bad = runner.invoke(app, ["bench", "hotpotqa", "--methods", "magic", "--store", store])
    assert bad.exit_code != 0 and "supports compiler, react" in bad.output
    unknown = runner.invoke(app, ["bench", "nosuch", "--store", store])
    assert unknown.exit_code == 2 and "unknown benchmark" in unknown.output  # misuse


def test_bench_fetches_missing_data_on_first_use(
    scripted: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []

    def copy(name: str, root: Path, **_: object) -> list[Path]:  # the public source, offline
        fetched.append(name)
        relative = _data.DATASETS[name].path
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).symlink_to(SHARED_DATA / relative)
        return [root / relative]

    monkeypatch.setattr("interlace.bench._data.fetch", copy)
    store = tmp_path / "s.jsonl"
    args = ["bench", "hotpotqa", "--limit", "1", "--data-dir", str(tmp_path), "--store", str(store)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert fetched == ["hotpotqa", "hotpotqa-evidence", "wiki"] and "first use" in result.output
    assert len(store.read_text().splitlines()) == 2
    fetched.clear()
    assert runner.invoke(app, args).exit_code == 0 and fetched == []  # present now


def test_bench_missing_data_without_network_says_so(
    scripted: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(name: str, root: Path, **_: object) -> list[Path]:
        raise NetworkUnavailableError("no network: pass --data-dir to a directory with the data")

    monkeypatch.setattr("interlace.bench._data.fetch", offline)
    result = runner.invoke(
        app, ["bench", "movie", "--data-dir", str(tmp_path), "--store", str(tmp_path / "s.jsonl")]
    )
    assert result.exit_code == 1 and "--data-dir" in result.output
    assert not (tmp_path / "s.jsonl").exists()


def test_run_prints_plan_tool_calls_and_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int | None] = []

    def load(spec: str, n: int | None = None) -> ScriptedLLM:
        threads.append(n)
        return ScriptedLLM(_reply)

    monkeypatch.setattr("interlace.cli._options.load_llm", load)
    result = runner.invoke(
        app,
        [
            "run",
            "Were Scott Derrickson and Ed Wood of the same nationality?",
            "--data-dir",
            str(SHARED_DATA),
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert threads == [1]
    out = result.output
    assert "── planner ──" in out and '1. search("Scott Derrickson")' in out
    assert "▶ search(entity='Ed Wood')" in out and "✓ search(entity='Ed Wood')" in out
    assert "Answer: yes" in out


def test_data_list_and_offline_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = runner.invoke(app, ["data", "list", "--data-dir", str(SHARED_DATA)])
    assert listed.exit_code == 0 and "hotpotqa" in listed.output and "no" not in listed.output
    from interlace._errors import NetworkUnavailableError

    def offline(*a: Any, **k: Any) -> Any:
        raise NetworkUnavailableError("no network to download x; pass --data-dir")

    monkeypatch.setattr("interlace.bench._data.fetch", offline)
    fetched = runner.invoke(app, ["data", "fetch", "movie", "--data-dir", str(tmp_path)])
    assert fetched.exit_code == 1 and "--data-dir" in fetched.output  # a data error, not misuse


def test_scoring_rules() -> None:
    assert normalize("The  Mariana Trench!") == "mariana trench"
    assert is_correct("yes", "Yes") and not is_correct("no", "yes")
    assert is_correct("40.0", "40.9") and is_correct("about 44 km", "40.9")
    assert not is_correct("46", "40.9") and not is_correct("3 or 4", "3.5")
    opts = ["Fargo", "Heat", "Big", "Ghost"]
    assert is_correct("I would pick Fargo (1996).", "Fargo", options=opts)
    assert not is_correct("Fargo or Heat", "Fargo", options=opts)
    assert not is_correct("Heat", "Fargo", options=opts)


def test_eval_pairs_only_shared_questions() -> None:
    def rec(q: str, method: str, latency: float, tokens: int, correct: bool) -> dict[str, Any]:
        return {
            "benchmark": "b",
            "question_id": q,
            "method": method,
            "latency": latency,
            "tokens_in": tokens,
            "tokens_out": 0,
            "cost_usd": 0.0,
            "correct": correct,
            "errors": [],
            "config": {"llm": "x", "stream": True if method == "compiler" else None},
        }

    report = evaluate_records(
        [
            rec("1", "compiler", 1.0, 50, True),
            rec("2", "compiler", 1.0, 50, True),
            rec("1", "react", 3.0, 100, False),
            rec("3", "react", 100.0, 1, False),
        ]
    )
    (c,) = report.comparisons
    assert c.n == 1 and c.speedup == pytest.approx(3.0) and c.token_saving == pytest.approx(0.5)
    assert c.cost_saving is None
    react = next(s for s in report.summaries if s.method == "react")
    assert react.latency_mean == pytest.approx(51.5) and react.n == 2
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == pytest.approx(9.1)


def _bfcl_record(q: str, method: str, latency: float, details: dict[str, Any]) -> dict[str, Any]:
    """A correct BFCL store record with the given ``details``."""
    return {
        "benchmark": "bfcl",
        "question_id": q,
        "method": method,
        "latency": latency,
        "correct": True,
        "errors": [],
        "config": {"llm": "x"},
        "details": details,
    }


def test_eval_averages_the_latency_model_where_records_have_one() -> None:
    def rec(q: str, model: dict[str, float] | None) -> dict[str, Any]:
        return _bfcl_record(q, "async", 1.0, {"latency_model": model} if model else {})

    records = [rec("1", {"sync": 3.0, "async": 1.0}), rec("2", {"sync": 5.0, "async": 2.0})]
    report = evaluate_records([*records, rec("3", None)])
    (summary,) = report.summaries
    assert summary.latency_model == {"async": pytest.approx(1.5), "sync": pytest.approx(4.0)}


def test_eval_reports_first_to_last_token_latency_and_its_speedup() -> None:
    def rec(q: str, method: str, latency: float, decode: float | None) -> dict[str, Any]:
        details = {} if decode is None else {"decode_latency": decode}
        return _bfcl_record(q, method, latency, details)

    report = evaluate_records(
        [
            rec("1", "sync", 10.0, 6.0),
            rec("2", "sync", 10.0, 4.0),
            rec("1", "async", 5.0, 2.0),
            rec("2", "async", 5.0, 3.0),
        ],
        baseline="sync",
    )
    (c,) = report.comparisons
    assert c.speedup == pytest.approx(2.0) and c.decode_speedup == pytest.approx(2.0)
    sync = next(s for s in report.summaries if s.method == "sync")
    assert sync.decode_latency_mean == pytest.approx(5.0)
    partial = evaluate_records(
        [rec("1", "sync", 10.0, 6.0), rec("1", "async", 5.0, None)], baseline="sync"
    )
    assert partial.comparisons[0].decode_speedup is None  # not on every shared question
    assert next(s for s in partial.summaries if s.method == "async").decode_latency_mean is None


def test_eval_speedup_over_questions_with_the_same_calls() -> None:
    def rec(q: str, method: str, latency: float, calls: list[tuple[str, int]]) -> dict[str, Any]:
        listed = [{"name": n, "args": [], "arguments": {"x": x}} for n, x in calls]
        return _bfcl_record(q, method, latency, {"calls": listed})

    report = evaluate_records(
        [
            rec("1", "sync", 6.0, [("f", 1), ("g", 2)]),
            rec("1", "async", 3.0, [("g", 2), ("f", 1)]),  # same calls, other order
            rec("2", "sync", 2.0, [("f", 1)]),
            rec("2", "async", 8.0, [("f", 2)]),  # another argument: not the same calls
            rec("3", "sync", 1.0, []),
            rec("3", "async", 1.0, []),  # no calls: not counted
        ],
        baseline="sync",
    )
    (c,) = report.comparisons
    assert c.same_calls_n == 1 and c.same_calls_speedup == pytest.approx(2.0)
    assert c.speedup == pytest.approx(9.0 / 12.0)
