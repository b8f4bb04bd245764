"""The trace simulator (AsyncLM §5): property tests on random call chains, and the BFCL split."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from interlace._errors import UsageError
from interlace.cli import app
from interlace.cml import CallEvent, TextEvent, TokenMonitor, TrapEvent
from interlace.cml._grammar import split_block
from interlace.cml._monitor import BlockError
from interlace.finetune import SimCall, SimTrace, pieces, simulate
from interlace.finetune._bfcl import Episode, episodes, heldout_ids, sample_traces

_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="[]\n\r", blacklist_categories=("Cs",)),
    max_size=12,
)
_VALUE = st.one_of(st.integers(-1000, 1000), _TEXT, st.lists(st.integers(0, 9), max_size=3))
_CALL = st.builds(
    SimCall,
    name=st.sampled_from(["f", "get_weather", "math.hypot", "cd"]),
    kwargs=st.dictionaries(st.sampled_from(["x", "name", "city", "n"]), _VALUE, max_size=3),
    latency=st.floats(0.001, 1.0),
    value=_TEXT.map(lambda s: s.strip() or "ok"),
)
_CHAINS = st.lists(st.lists(_CALL, min_size=1, max_size=3), max_size=4)
_TOKEN_TIME = st.floats(0.005, 0.030)


def _blocks(segment: str) -> list[tuple[str, str, str]]:
    """An interrupt segment's blocks: one ``[INTR] id [HEAD] value [END]`` per line."""
    return [split_block(line) for line in segment.split("\n") if line]


def _calls_in_order(chains: list[list[SimCall]], trace: SimTrace) -> list[SimCall]:
    return [chains[c.chain][c.step] for c in trace.calls]


@settings(max_examples=150, deadline=None)
@given(chains=_CHAINS, token_time=_TOKEN_TIME, policy=st.sampled_from(["async", "sync"]))
def test_every_trace_reparses_with_the_cml_monitor(chains, token_time, policy) -> None:
    trace = simulate(chains, policy=policy, token_time=token_time)
    monitor = TokenMonitor()
    events = monitor.feed(trace.model_text) + monitor.close()
    assert monitor.violation is None
    assert not [e for e in events if isinstance(e, BlockError)]
    calls = [e.call for e in events if isinstance(e, CallEvent)]
    expected = _calls_in_order(chains, trace)
    assert [(c.name, dict(c.kwargs)) for c in calls] == [(s.name, dict(s.kwargs)) for s in expected]
    assert [c.id for c in calls] == [f"c{i}" for i in range(1, len(calls) + 1)]
    assert sum(isinstance(e, TrapEvent) for e in events) == trace.traps
    prose = "".join(e.text for e in events if isinstance(e, TextEvent))
    assert prose.strip() == "Done."
    assert trace.tokens == len(pieces(trace.model_text))
    for segment in trace.segments:
        if not segment.model:
            for kind, meta, body in _blocks(segment.text):
                assert kind == "[INTR]"
                assert body == next(
                    s.value for s, c in zip(expected, trace.calls, strict=True) if c.id == meta
                )


@settings(max_examples=150, deadline=None)
@given(chains=_CHAINS, token_time=_TOKEN_TIME, policy=st.sampled_from(["async", "sync"]))
def test_interrupts_are_outside_critical_sections_and_one_per_call(
    chains, token_time, policy
) -> None:
    trace = simulate(chains, policy=policy, token_time=token_time)
    monitor = TokenMonitor()
    seen: list[str] = []
    for segment in trace.segments:
        if segment.model:
            monitor.feed(segment.text)
        else:
            assert not monitor.critical and not monitor.in_call
            seen += [meta for _, meta, _ in _blocks(segment.text)]
    assert sorted(seen) == sorted(c.id for c in trace.calls)
    assert len(seen) == len(set(seen)) == sum(len(chain) for chain in chains)


@settings(max_examples=150, deadline=None)
@given(chains=_CHAINS, token_time=_TOKEN_TIME, policy=st.sampled_from(["async", "sync"]))
def test_arrival_order_follows_the_latencies(chains, token_time, policy) -> None:
    trace = simulate(chains, policy=policy, token_time=token_time)
    text = trace.text
    for c in trace.calls:
        assert math.isclose(c.end_s, c.start_s + c.latency_s)
        assert c.injected_s >= c.end_s - 1e-9
    order = [m for _, m, _ in (b for s in trace.segments if not s.model for b in _blocks(s.text))]
    by_id = {c.id: c for c in trace.calls}
    assert [by_id[i].end_s for i in order] == sorted(by_id[i].end_s for i in order)
    intr = {i: text.index(f"[INTR] {i} [HEAD]") for i in by_id}
    call = {i: text.index(f"[CALL] {i} [HEAD]") for i in by_id}
    for c in trace.calls:
        assert call[c.id] < intr[c.id]
        for d in trace.calls:
            written_from = d.start_s - d.gen_s  # d's first token starts here
            if c.end_s < written_from - 1e-9:  # c arrived before d was begun
                assert intr[c.id] < call[d.id]
            if c.end_s > d.start_s + 1e-9:  # c arrived after d's [END]
                assert intr[c.id] > call[d.id]
        if c.step > 0:  # a chain's next call waits for the previous call's result
            prev = next(p for p in trace.calls if (p.chain, p.step) == (c.chain, c.step - 1))
            assert intr[prev.id] < call[c.id]
            assert prev.injected_s <= c.start_s - c.gen_s + 1e-9


@settings(max_examples=100, deadline=None)
@given(latencies=st.lists(st.floats(0.001, 1.0), min_size=1, max_size=6), token_time=_TOKEN_TIME)
def test_async_writes_independent_calls_longest_first(latencies, token_time) -> None:
    chains = [
        [SimCall(name="f", kwargs={"i": i}, latency=x, value="ok")] for i, x in enumerate(latencies)
    ]
    trace = simulate(chains, policy="async", token_time=token_time)
    written = [c.latency_s for c in trace.calls]
    assert written == sorted(latencies, reverse=True)


@settings(max_examples=100, deadline=None)
@given(chains=_CHAINS, token_time=_TOKEN_TIME)
def test_sync_latency_is_the_sum_of_generation_and_execution(chains, token_time) -> None:
    sync = simulate(chains, policy="sync", token_time=token_time)
    total_exec = sum(c.latency for chain in chains for c in chain)
    assert math.isclose(sync.latency_s, sync.tokens * token_time + total_exec, rel_tol=1e-9)
    assert sync.traps == 0
    assert [(c.chain, c.step) for c in sync.calls] == sorted((c.chain, c.step) for c in sync.calls)
    run = simulate(chains, policy="async", token_time=token_time)
    assert run.latency_s >= max((c.end_s for c in run.calls), default=0.0)


def test_a_trap_is_written_when_the_model_must_wait() -> None:
    chains = [
        [
            SimCall(name="cd", kwargs={"folder": "a"}, latency=0.5, value="ok"),
            SimCall(name="ls", kwargs={}, latency=0.5, value="x.txt"),
        ]
    ]
    trace = simulate(chains, policy="async", token_time=0.01)
    assert trace.text.count("[TRAP][END]") == trace.traps == 2
    assert re.search(r"\[TRAP\]\[END\]\n\[INTR\] c1 .*\n\[CALL\] c2", trace.text)


def test_bad_input_is_a_usage_error() -> None:
    call = SimCall(name="f", kwargs={}, latency=0.1, value="ok")
    with pytest.raises(UsageError):
        simulate([[call]], policy="later", token_time=0.01)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        simulate([[call]], policy="async", token_time=0.0)
    with pytest.raises(UsageError):
        simulate(
            [[SimCall(name="f", kwargs={}, latency=-1.0, value="ok")]],
            policy="async",
            token_time=0.01,
        )
    with pytest.raises(UsageError):
        list(sample_traces([], n=1, seed=0))


def _episode(i: int) -> Episode:
    docs = (
        {
            "name": "f",
            "description": "a function",
            "parameters": {"properties": {"x": {"type": "integer"}}},
        },
    )
    return Episode(
        id=f"e{i}", category="parallel", question=f"call f {i} times", docs=docs,
        chains=tuple((("f", {"x": k}),) for k in range(i + 1)),
        values=tuple(("ok",) for _ in range(i + 1)),
        oks=tuple((True,) for _ in range(i + 1)),
    )  # fmt: skip


def test_same_seed_same_traces_other_seed_other_draws() -> None:
    found = [_episode(i) for i in range(3)]
    first = list(sample_traces(found, n=5, seed=7))
    assert first == list(sample_traces(found, n=5, seed=7))
    other = list(sample_traces(found, n=5, seed=8))
    assert [r["token_time_s"] for r in first] != [r["token_time_s"] for r in other]
    assert [r["policy"] for r in first] == ["async", "sync"] * 5
    assert {r["id"] for r in first[:6]} == {"e0", "e1", "e2"}  # n <= episodes: each once
    record = first[0]
    assert "Calls run in the background" in record["messages"][0]["content"]
    assert "takes ~" in record["messages"][0]["content"]


# -- on the BFCL data (the wheel the test session provisions) --------------------------------


def _root() -> Path:
    return Path(os.environ["INTERLACE_DATA_DIR"])


def test_training_episodes_never_use_an_evaluated_id() -> None:
    from interlace.bench.bfcl import load

    root = _root()
    held = heldout_ids(root)
    found = episodes(root)
    assert {e.category for e in found} == {
        "parallel",
        "parallel_multiple",
        "multi_turn_base",
        "multi_step",
    }
    evaluated: set[str] = set()
    for category, limit in (("parallel", 50), ("parallel_multiple", 50), ("multi_step", 30)):
        for q in load(root, (category,))[:limit]:  # the README's benchmark commands
            evaluated.add(q.id)
            evaluated.update(e["id"] for e in q.meta.get("entries", []))
    evaluated.update(q.id for q in load(root, ("multi_turn_base",))[:50])
    used: set[str] = set()
    for e in found:
        if e.category == "multi_step":
            numbers = e.id.removeprefix("multi_step_train_").split("+")
            used.update(f"multi_turn_base_{n}" for n in numbers)
        else:
            used.add(e.id)
    assert not used & evaluated
    assert not used & set().union(*held.values())


def test_cli_writes_the_same_file_for_the_same_seed(tmp_path: Path) -> None:
    runner = CliRunner()
    outs = []
    for name in ("a.jsonl", "b.jsonl"):
        out = tmp_path / name
        args = ["finetune", "simulate", "--categories", "parallel,multi_step", "--n", "3",
                "--seed", "5", "--out", str(out), "--data-dir", str(_root())]  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        outs.append(out.read_text(encoding="utf-8"))
    assert outs[0] == outs[1]
    records = [json.loads(line) for line in outs[0].splitlines()]
    assert len(records) == 6
    for record in records:
        text = "".join(s["text"] for s in record["segments"])
        assert text.count("[INTR]") == len(record["calls"]) > 0
    args = ["finetune", "simulate", "--categories", "nope", "--n", "1",
            "--out", str(tmp_path / "c.jsonl"), "--data-dir", str(_root())]  # fmt: skip
    bad = runner.invoke(app, args)
    assert bad.exit_code == 2
