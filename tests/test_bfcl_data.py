"""BFCL on the real data: the bfcl-eval wheel in the data directory (`interlace data fetch bfcl`).

The AST checker and the state checker must accept BFCL's own ground truth, reject a wrong value,
and match parallel calls in any order.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from _bench_helpers import SHARED_DATA
from interlace.bench.bfcl import CATEGORIES, check_parallel, load
from interlace.bench.bfcl import multi_step_state_matches as state_matches
from interlace.bench.bfcl._data import wheel_path


@pytest.fixture(scope="module")
def root() -> Path:
    if not wheel_path(SHARED_DATA).exists():
        pytest.fail(f"no BFCL wheel under {SHARED_DATA}: run `interlace data fetch bfcl`")
    return SHARED_DATA


def first_value(options: list[Any]) -> Any:
    """The first allowed value; a nested dict lists allowed values per key in turn."""
    value = options[0]
    if isinstance(value, dict):
        return {k: first_value(v) for k, v in value.items() if "" not in v}
    return value


def gold_calls(ground_truth: list[dict[str, dict[str, list[Any]]]]) -> list[dict[str, Any]]:
    """One call per ground-truth entry: optional parameters ("" allowed) left out, every other
    parameter at its first allowed value."""
    calls = []
    for entry in ground_truth:
        ((name, params),) = entry.items()
        arguments = {k: first_value(v) for k, v in params.items() if "" not in v}
        calls.append({"name": name, "arguments": arguments})
    return calls


def test_categories_have_their_published_sizes(root: Path) -> None:
    sizes = {c: len(load(root, (c,))) for c in CATEGORIES}
    assert sizes["parallel"] == 200 and sizes["parallel_multiple"] == 200
    assert sizes["multi_turn_base"] == 200
    assert sizes["multi_step"] >= 30  # groups of three multi_turn_base first turns


@pytest.mark.parametrize("category", ["parallel", "parallel_multiple"])
def test_ast_checker_accepts_ground_truth_in_any_order_and_rejects_a_wrong_value(
    root: Path, category: str
) -> None:
    rng = random.Random(0)
    for question in load(root, (category,))[:40]:
        truth, functions = question.meta["ground_truth"], question.meta["functions"]
        calls = gold_calls(truth)
        assert check_parallel(calls, truth, functions), question.id
        rng.shuffle(calls)
        assert check_parallel(calls, truth, functions), question.id
        assert not check_parallel(calls[1:], truth, functions), question.id  # one call missing
        wrong = [dict(c, arguments=dict(c["arguments"])) for c in calls]
        key = next(iter(wrong[0]["arguments"]), None)
        if key is not None:
            wrong[0]["arguments"][key] = "surely-not-a-listed-value-42"
            assert not check_parallel(wrong, truth, functions), question.id


@pytest.mark.parametrize("category", ["multi_turn_base", "multi_step"])
def test_state_checker_accepts_the_ground_truth_of_multi_turn_questions(
    root: Path, category: str
) -> None:
    from interlace.bench.bfcl import _parse_truth

    for question in load(root, (category,))[:5]:
        entries = question.meta["entries"]
        truth = [_parse_truth(line) for e in entries for line in e["ground_truth"]]
        assert state_matches(root, entries, truth), question.id


def test_multi_step_check_needs_the_ground_truth_results_and_keeps_initial_state(
    root: Path,
) -> None:
    from interlace.bench.bfcl import _parse_truth

    questions = load(root, ("multi_step",))
    for question in questions[:30]:
        entries = question.meta["entries"]
        truth = [_parse_truth(line) for e in entries for line in e["ground_truth"]]
        # doing nothing fails even where the ground truth only reads (ls, get_watchlist: no state
        # change), because the ground truth's results must be among the model's (BFCL's response
        # checker)
        assert not state_matches(root, entries, []), question.id
        # checking twice gives the same verdict: replaying must not change the entry's state
        assert state_matches(root, entries, truth), question.id
        assert state_matches(root, entries, truth), question.id
    read_only = next(q for q in questions if q.id == "multi_step_8+59+108")
    entries = read_only.meta["entries"]
    truth = [_parse_truth(line) for e in entries for line in e["ground_truth"]]
    assert not state_matches(root, entries, truth[:-1])  # get_watchlist() left out
