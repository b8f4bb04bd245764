"""Paired statistics of ``interlace eval``: exact McNemar test and bootstrap speedup interval."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from interlace.bench._eval import evaluate_records
from interlace.bench._stats import bootstrap_ratio_interval, mcnemar_exact
from interlace.cli import app


def test_mcnemar_exact_matches_hand_computed_binomial_tails() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(6, 0) == pytest.approx(2 / 64)
    assert mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 1024)
    assert mcnemar_exact(8, 8) == 1.0  # capped at 1
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


@given(st.integers(0, 200), st.integers(0, 200))
def test_mcnemar_exact_is_symmetric_bounded_and_falls_as_the_split_grows(b: int, c: int) -> None:
    p = mcnemar_exact(b, c)
    assert 0.0 < p <= 1.0 and p == mcnemar_exact(c, b)
    assert mcnemar_exact(min(b, c), max(b, c) + 1) <= p + 1e-12


def test_bootstrap_interval_of_a_constant_ratio_is_that_ratio() -> None:
    low, high = bootstrap_ratio_interval([2.0, 4.0, 6.0], [1.0, 2.0, 3.0]) or (0, 0)
    assert low == pytest.approx(2.0) and high == pytest.approx(2.0)


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible() -> None:
    base = [3.0, 5.0, 4.0, 9.0, 2.5, 6.0, 4.4, 7.0]
    mine = [1.0, 4.0, 2.0, 3.0, 2.0, 5.0, 1.5, 6.5]
    estimate = sum(base) / sum(mine)
    interval = bootstrap_ratio_interval(base, mine)
    assert interval is not None and interval == bootstrap_ratio_interval(base, mine)
    low, high = interval
    assert low < estimate < high
    narrow = bootstrap_ratio_interval(base * 20, mine * 20)
    assert narrow is not None and narrow[1] - narrow[0] < high - low  # more pairs, tighter
    assert bootstrap_ratio_interval([1.0], [1.0]) is None
    with pytest.raises(ValueError):
        bootstrap_ratio_interval([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        bootstrap_ratio_interval([1.0, 2.0], [1.0, 2.0], level=1.0)


def _rec(q: int, method: str, latency: float, correct: bool) -> dict[str, Any]:
    return {
        "benchmark": "b",
        "question_id": str(q),
        "method": method,
        "latency": latency,
        "correct": correct,
        "errors": [],
        "config": {"llm": "x"},
    }


# Compiler right on 0-7 and 9, ReAct on 8-9: 8 pairs only the compiler got, 1 only ReAct.
_RECORDS = [
    *(_rec(q, "compiler", 1.0 + q / 10, q != 8) for q in range(10)),
    *(_rec(q, "react", 2.0 + q / 5, q >= 8) for q in range(10)),
]


def test_eval_reports_discordant_pairs_their_p_value_and_a_speedup_interval() -> None:
    (c,) = evaluate_records(_RECORDS).comparisons
    assert (c.only_method_right, c.only_baseline_right) == (8, 1)
    assert c.accuracy_p == pytest.approx(2 * (1 + 9) / 512)
    assert c.speedup is not None and c.speedup_interval is not None
    low, high = c.speedup_interval
    assert low <= c.speedup <= high and low > 1.0


def test_eval_table_prints_the_interval_and_the_test(tmp_path: Any) -> None:
    store = tmp_path / "s.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in _RECORDS))
    out = CliRunner().invoke(app, ["eval", str(store)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "95% interval" in out.output and "8 / 1" in out.output
    assert "0.039" in out.output


def _versioned(records: list[dict[str, Any]], commit: str, slower: float) -> list[dict[str, Any]]:
    """``records`` as a run of ``commit`` whose latencies are ``slower`` times as long."""
    return [
        {**r, "latency": r["latency"] * slower, "config": {**r["config"], "git_commit": commit}}
        for r in records
    ]


_OLD, _NEW = "a" * 40, "b" * 40
_TWO_VERSIONS = [*_versioned(_RECORDS, _OLD, 1.5), *_versioned(_RECORDS, _NEW, 1.0)]


def test_eval_without_split_merges_two_versions_into_one_group() -> None:
    report = evaluate_records(_TWO_VERSIONS)
    assert sorted(s.method for s in report.summaries) == ["compiler", "react"]


def test_split_by_commit_compares_each_version_with_its_own_baseline() -> None:
    report = evaluate_records(_TWO_VERSIONS, split=("git_commit",))
    assert sorted(s.method for s in report.summaries) == [
        "compiler@aaaaaaa",
        "compiler@bbbbbbb",
        "react@aaaaaaa",
        "react@bbbbbbb",
    ]
    pairs = {(c.method, c.baseline) for c in report.comparisons}
    assert pairs == {("compiler@aaaaaaa", "react@aaaaaaa"), ("compiler@bbbbbbb", "react@bbbbbbb")}


def test_split_with_a_full_label_baseline_compares_two_versions_of_one_method() -> None:
    report = evaluate_records(_TWO_VERSIONS, baseline="compiler@aaaaaaa", split=("git_commit",))
    new = next(c for c in report.comparisons if c.method == "compiler@bbbbbbb")
    assert new.baseline == "compiler@aaaaaaa" and new.n == 10
    assert new.speedup == pytest.approx(1.5)
    assert new.speedup_interval == pytest.approx((1.5, 1.5))
    assert (new.only_method_right, new.only_baseline_right) == (0, 0)


def test_eval_cli_split_prints_version_columns_and_checks_the_baseline(tmp_path: Any) -> None:
    store = tmp_path / "s.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in _TWO_VERSIONS))
    runner = CliRunner()
    args = ["eval", str(store), "--split", "git_commit"]
    out = runner.invoke(app, [*args, "--baseline", "compiler@aaaaaaa"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "compiler@bbbbbbb" in out.output and "speedup vs compiler@aaaaaaa" in out.output
    assert "1.50" in out.output
    bad = runner.invoke(app, [*args, "--baseline", "compiler@ccccccc"])
    assert bad.exit_code != 0 and "compiler@aaaaaaa" in bad.output
    plain = runner.invoke(app, [*args, "--baseline", "react"], env={"COLUMNS": "200"})
    assert plain.exit_code == 0, plain.output
    assert "speedup vs react" in plain.output and "react@aaaaaaa" in plain.output
