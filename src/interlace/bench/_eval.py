"""``interlace eval``: summarise result stores per (benchmark, method) and compare methods.

Groups are (benchmark, method label, llm, tool latency, search); the method label is the
method, with ``" (no stream)"`` for LLMCompiler runs that did not stream the plan, and with
``@value`` for each configuration key the records are *split* by (``interlace eval --split
git_commit``: one group per commit, so two versions of one method compare like two methods).
Each group also gets the per-role LLM accounting of its traces and the token-throughput bound
(:mod:`interlace.trace.analysis`) at one backend speed per configuration, so the methods of a
configuration are measured against the same speed. Ratios of
LLMCompiler against ReAct use only the questions BOTH answered in the same configuration
(Kim et al. 2023 report latency speedup and token/cost savings this way), with how sure each
ratio is (:mod:`interlace.bench._stats`: an exact McNemar test of the accuracy difference and a
paired bootstrap interval of the speedup).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interlace.bench._stats import bootstrap_ratio_interval, mcnemar_exact
from interlace.bench._store import read_records
from interlace.trace._serial import trace_from_dict
from interlace.trace._spans import Trace
from interlace.trace._speed import LLMSpeed
from interlace.trace.analysis import (
    ROLE_FIELDS,
    average_metrics,
    fit_trace_speed,
    role_usage,
    token_bound,
)

GroupKey = tuple[str, str, str, str, str]


@dataclass(frozen=True, kw_only=True)
class MethodSummary:
    """Figures of one (benchmark, method, configuration) group.

    Attributes:
        benchmark, method, llm, tool_latency, search: the group.
        n: records. accuracy: share correct (0-1).
        latency_mean, latency_median, latency_p90: seconds.
        tokens_in, tokens_out: mean tokens per question. cost_usd: mean US dollars per question.
        llm_calls, tool_calls: mean per question. errors: records with at least one error.
        trace_metrics: mean of ``interlace.trace.analysis.metrics`` over the group's traces
            (empty when that module is unavailable).
        decode_latency_mean: mean seconds from the first to the last generated token
            (``details["decode_latency"]``: the AsyncLM paper's latency; excludes the prompt's
            prefill, includes re-prefills caused by interrupts); ``None`` when no record has it.
        latency_model: mean of each record's ``details["latency_model"]`` (AsyncLM, §4: the
            latencies ``sync``, ``sync_parallel`` and ``async`` predicted from the run's measured
            generation and execution times, seconds); empty when no record has one.
        roles: per LLM role (``planner``, ``joiner``, ``react``, ``math``, ``cml``, ...; the
            ``role`` of each ``kind="llm"`` span, :func:`interlace.trace.analysis.role_usage`),
            means per question over the records with a trace: ``calls``,
            ``uncached_prompt_tokens``, ``cached_prompt_tokens``, ``output_tokens`` (tokens),
            ``time_s``, ``ttft_s`` (seconds), and ``runs``: records in which the role occurs.
        token_bound_s: mean token-throughput bound (``analysis.token_bound``) at ``llm_speed``,
            seconds; ``None`` when no speed is known.
        token_efficiency: total bound / total measured latency over the group's records (below
            1: time lost to overhead, waiting or a backend slower than ``llm_speed``).
        llm_speed: the speed the bound assumes (``LLMSpeed.to_dict``): a replay's own speed,
            else the speed fitted to every record of the same benchmark and configuration.
    """

    benchmark: str
    method: str
    llm: str
    tool_latency: str
    search: str
    n: int
    accuracy: float
    latency_mean: float
    latency_median: float
    latency_p90: float
    tokens_in: float
    tokens_out: float
    cost_usd: float
    llm_calls: float
    tool_calls: float
    errors: int
    trace_metrics: Mapping[str, Any]
    latency_model: Mapping[str, float] = field(default_factory=dict)
    decode_latency_mean: float | None = None
    roles: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    token_bound_s: float | None = None
    token_efficiency: float | None = None
    llm_speed: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """LLMCompiler (``method``) against a baseline, over the questions both answered.

    Attributes:
        speedup: baseline mean latency / method mean latency (> 1 means faster).
        decode_speedup: the same ratio of first-to-last-token latencies (``None`` unless
            every shared question has one on both sides).
        same_calls_n, same_calls_speedup: the questions on which both made the same function
            calls (``details["calls"]``: names and arguments, in any order; calling agents
            only), and the end-to-end speedup over them: the calling policy's effect with the
            model's choices held equal. ``0`` / ``None`` when no such question exists.
        token_saving: 1 - method tokens (in + out) / baseline tokens (0.3 = 30 % fewer).
        cost_saving: 1 - method cost / baseline cost (``None`` when the baseline cost is 0).
        accuracy, baseline_accuracy: on the shared questions (0-1).
        only_method_right, only_baseline_right: shared questions right under only one of the
            two (the discordant pairs).
        accuracy_p: two-sided exact McNemar p-value of the accuracy difference
            (:func:`~interlace.bench._stats.mcnemar_exact`; 1.0 when no pair differs): a small
            value (say below 0.05) means the difference is unlikely to be chance.
        speedup_interval: 95 % paired bootstrap interval of ``speedup``
            (:func:`~interlace.bench._stats.bootstrap_ratio_interval`); ``None`` with fewer
            than two shared questions. An interval that contains 1.0 means the sample cannot
            tell which method is faster.
    """

    benchmark: str
    llm: str
    tool_latency: str
    search: str
    method: str
    baseline: str
    n: int
    speedup: float | None
    token_saving: float | None
    cost_saving: float | None
    accuracy: float
    baseline_accuracy: float
    decode_speedup: float | None = None
    same_calls_n: int = 0
    same_calls_speedup: float | None = None
    only_method_right: int = 0
    only_baseline_right: int = 0
    accuracy_p: float = 1.0
    speedup_interval: tuple[float, float] | None = None


def method_label(record: Mapping[str, Any], split: Sequence[str] = ()) -> str:
    """``"compiler"``, ``"compiler (no stream)"``, ``"react"``, ...; with ``split``, each of
    those configuration keys' values appended as ``@value`` (``"compiler@7f95125"`` for
    ``split=("git_commit",)``: a 40-digit commit is cut to 7, a missing key reads ``-``)."""
    config = record.get("config") or {}
    label = str(record.get("method"))
    if config.get("stream") is False:
        label += " (no stream)"
    return label + split_suffix(record, split)


def split_suffix(record: Mapping[str, Any], split: Sequence[str]) -> str:
    """The ``@value`` part of :func:`method_label` (``""`` without ``split``)."""
    config = record.get("config") or {}
    return "".join(f"@{_split_value(config.get(key))}" for key in split)


def _split_value(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    if len(text) == 40 and all(c in "0123456789abcdef" for c in text):
        return text[:7]
    return text


def _group(record: Mapping[str, Any], split: Sequence[str] = ()) -> GroupKey:
    config = record.get("config") or {}
    return (
        str(record.get("benchmark")),
        method_label(record, split),
        str(config.get("llm")),
        str(config.get("tool_latency")),
        str(config.get("search")),
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0-1) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return statistics.fmean(items) if items else 0.0


def _traces(records: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Trace]]:
    """Each record with a readable trace, paired with it (malformed traces are left out)."""
    out = []
    for record in records:
        data = record.get("trace")
        if not isinstance(data, dict):
            continue
        try:
            out.append((record, trace_from_dict(data)))
        except Exception:  # a malformed trace must not break the summary
            continue
    return out


def _trace_metrics(traces: Sequence[Trace]) -> Mapping[str, Any]:
    if not traces:
        return {}
    try:
        return average_metrics(traces)
    except Exception:  # a malformed trace must not break the summary
        return {}


def _roles(traces: Sequence[Trace]) -> dict[str, dict[str, float]]:
    """Per-role means per question (see :attr:`MethodSummary.roles`)."""
    if not traces:
        return {}
    totals: dict[str, dict[str, float]] = {}
    for trace in traces:
        for role, row in role_usage(trace).items():
            acc = totals.setdefault(role, dict.fromkeys((*ROLE_FIELDS, "runs"), 0.0))
            for name in ROLE_FIELDS:
                acc[name] += row[name]
            acc["runs"] += 1
    return {
        role: {k: (v if k == "runs" else v / len(traces)) for k, v in row.items()}
        for role, row in sorted(totals.items())
    }


def replay_speed(record: Mapping[str, Any]) -> LLMSpeed | None:
    """The speed a replay record was made at (``config["replay"]["speed"]``), else ``None``."""
    replay = (record.get("config") or {}).get("replay")
    speed = replay.get("speed") if isinstance(replay, Mapping) else None
    return LLMSpeed.from_dict(speed) if isinstance(speed, Mapping) else None


def _speed_for(records: Sequence[Mapping[str, Any]]) -> LLMSpeed | None:
    """A replay's speed, else the speed fitted to ``records``' traces (``None``: unknown)."""
    for record in records:
        if (speed := replay_speed(record)) is not None:
            return speed
    try:
        return fit_trace_speed(t for _, t in _traces(records))
    except Exception:  # an unfittable store gets no bound, not a crash
        return None


def _token_bound(
    pairs: Sequence[tuple[Mapping[str, Any], Trace]], speed: LLMSpeed | None
) -> tuple[float | None, float | None]:
    """(mean bound, total bound / total latency) over ``pairs`` at ``speed``."""
    if speed is None or not pairs:
        return None, None
    bounds = [token_bound(t, speed) for _, t in pairs]
    measured = sum(float(r.get("latency") or 0.0) for r, _ in pairs)
    return _mean(bounds), _ratio(sum(bounds), measured)


def summarize_group(
    key: GroupKey, records: Sequence[Mapping[str, Any]], *, speed: LLMSpeed | None = None
) -> MethodSummary:
    """The :class:`MethodSummary` of one group's records.

    Args:
        key: the group.
        records: its records.
        speed: the backend speed of the token-throughput bound (``None``: fitted to
            ``records``; :func:`evaluate_records` passes one speed per configuration).
    """
    latencies = [float(r.get("latency") or 0.0) for r in records]
    pairs = _traces(records)
    traces = [t for _, t in pairs]
    speed = speed if speed is not None else _speed_for(records)
    bound, efficiency = _token_bound(pairs, speed)
    return MethodSummary(
        benchmark=key[0],
        method=key[1],
        llm=key[2],
        tool_latency=key[3],
        search=key[4],
        n=len(records),
        accuracy=_mean(1.0 if r.get("correct") else 0.0 for r in records),
        latency_mean=_mean(latencies),
        latency_median=statistics.median(latencies) if latencies else 0.0,
        latency_p90=percentile(latencies, 0.9),
        tokens_in=_mean(float(r.get("tokens_in") or 0) for r in records),
        tokens_out=_mean(float(r.get("tokens_out") or 0) for r in records),
        cost_usd=_mean(float(r.get("cost_usd") or 0.0) for r in records),
        llm_calls=_mean(float(r.get("llm_calls") or 0) for r in records),
        tool_calls=_mean(float(r.get("tool_calls") or 0) for r in records),
        errors=sum(1 for r in records if r.get("errors")),
        trace_metrics=_trace_metrics(traces),
        latency_model=_latency_model(records),
        decode_latency_mean=_mean(decode) if (decode := _decode_latencies(records)) else None,
        roles=_roles(traces),
        token_bound_s=bound,
        token_efficiency=efficiency,
        llm_speed=None if speed is None else speed.to_dict(),
    )


def _decode_latency(record: Mapping[str, Any]) -> float | None:
    value = (record.get("details") or {}).get("decode_latency")
    return float(value) if isinstance(value, int | float) else None


def _calls_key(record: Mapping[str, Any]) -> list[str] | None:
    """The record's function calls as sorted canonical texts (``None``: it lists none)."""
    calls = (record.get("details") or {}).get("calls")
    if not isinstance(calls, list) or not calls:
        return None
    return sorted(
        json.dumps(
            [c.get("name"), c.get("args", []), c.get("arguments", {})], sort_keys=True, default=str
        )
        for c in calls
        if isinstance(c, Mapping)
    )


def _decode_latencies(records: Sequence[Mapping[str, Any]]) -> list[float]:
    return [v for r in records if (v := _decode_latency(r)) is not None]


def _latency_model(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    models = [
        m
        for r in records
        if isinstance(m := (r.get("details") or {}).get("latency_model"), Mapping)
    ]
    keys = sorted({k for m in models for k in m})
    return {k: _mean(float(m[k]) for m in models if k in m) for k in keys}


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def compare(
    method: Sequence[Mapping[str, Any]],
    baseline: Sequence[Mapping[str, Any]],
    key: GroupKey,
    baseline_name: str,
) -> Comparison | None:
    """Compare two groups over the question ids present in both (``None`` if none are)."""
    mine = {str(r["question_id"]): r for r in method}
    theirs = {str(r["question_id"]): r for r in baseline}
    shared = sorted(set(mine) & set(theirs))
    if not shared:
        return None

    def total(
        rows: dict[str, Mapping[str, Any]], field: Callable[[Mapping[str, Any]], float]
    ) -> float:
        return sum(field(rows[q]) for q in shared)

    def tokens(r: Mapping[str, Any]) -> float:
        return float(r.get("tokens_in") or 0) + float(r.get("tokens_out") or 0)

    def latency(r: Mapping[str, Any]) -> float:
        return float(r.get("latency") or 0.0)

    def cost(r: Mapping[str, Any]) -> float:
        return float(r.get("cost_usd") or 0.0)

    def correct(r: Mapping[str, Any]) -> float:
        return 1.0 if r.get("correct") else 0.0

    my_tokens, their_tokens = total(mine, tokens), total(theirs, tokens)
    my_cost, their_cost = total(mine, cost), total(theirs, cost)
    saving = _ratio(my_tokens, their_tokens)
    cost_ratio = _ratio(my_cost, their_cost)
    same = [
        q
        for q in shared
        if (calls := _calls_key(mine[q])) is not None and calls == _calls_key(theirs[q])
    ]
    same_speedup = _ratio(
        sum(latency(theirs[q]) for q in same), sum(latency(mine[q]) for q in same)
    )
    decode_speedup = None
    if all(_decode_latency(rows[q]) is not None for rows in (mine, theirs) for q in shared):
        decode_speedup = _ratio(
            total(theirs, lambda r: _decode_latency(r) or 0.0),
            total(mine, lambda r: _decode_latency(r) or 0.0),
        )
    only_mine = sum(1 for q in shared if correct(mine[q]) > correct(theirs[q]))
    only_theirs = sum(1 for q in shared if correct(theirs[q]) > correct(mine[q]))
    return Comparison(
        benchmark=key[0],
        llm=key[2],
        tool_latency=key[3],
        search=key[4],
        method=key[1],
        baseline=baseline_name,
        n=len(shared),
        speedup=_ratio(total(theirs, latency), total(mine, latency)),
        token_saving=None if saving is None else 1.0 - saving,
        cost_saving=None if cost_ratio is None else 1.0 - cost_ratio,
        accuracy=total(mine, correct) / len(shared),
        baseline_accuracy=total(theirs, correct) / len(shared),
        decode_speedup=decode_speedup,
        same_calls_n=len(same),
        same_calls_speedup=same_speedup,
        only_method_right=only_mine,
        only_baseline_right=only_theirs,
        accuracy_p=mcnemar_exact(only_mine, only_theirs),
        speedup_interval=bootstrap_ratio_interval(
            [latency(theirs[q]) for q in shared], [latency(mine[q]) for q in shared]
        ),
    )


@dataclass(frozen=True, kw_only=True)
class Report:
    """Everything ``interlace eval`` prints."""

    summaries: list[MethodSummary]
    comparisons: list[Comparison]
    baseline: str = "react"
    """The baseline as asked for (each comparison names the label it was compared with)."""

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable form (``--json``)."""
        return {
            "summaries": [asdict(s) for s in self.summaries],
            "comparisons": [asdict(c) for c in self.comparisons],
        }


def evaluate_records(
    records: Iterable[Mapping[str, Any]], *, baseline: str = "react", split: Sequence[str] = ()
) -> Report:
    """Summaries per group, and every other method against ``baseline`` in the same config.

    Duplicate (group, question) records — e.g. the same store given twice — count once.
    With ``split``, a ``baseline`` that is a plain method (``"react"``) means that method with
    the same split values as each group; a full label (``"compiler@7f95125"``) means that group.

    Args:
        records: result records (:mod:`interlace.bench._store`).
        baseline: the method label the others are compared with (with ``split``, a label such
            as ``"compiler@7f95125"``).
        split: configuration keys whose values tell groups of one method apart (see
            :func:`method_label`), e.g. ``("git_commit",)`` to compare two versions.
    """
    groups: dict[GroupKey, dict[str, Mapping[str, Any]]] = defaultdict(dict)
    suffixes: dict[GroupKey, str] = {}
    for record in records:
        key = _group(record, split)
        groups[key].setdefault(str(record.get("question_id")), record)
        suffixes[key] = split_suffix(record, split)
    configs: dict[tuple[str, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for key, rows in groups.items():
        configs[(key[0], *key[2:])].extend(rows.values())
    speeds = {config: _speed_for(rows) for config, rows in configs.items()}
    summaries = [
        summarize_group(k, list(v.values()), speed=speeds[(k[0], *k[2:])])
        for k, v in sorted(groups.items())
    ]
    labels = {key[1] for key in groups}
    comparisons = []
    for key, rows in sorted(groups.items()):
        # The baseline label itself, else the baseline method of the same split values
        # (--split git_commit without --baseline: each commit's compiler against its react).
        base = baseline if baseline in labels else baseline + suffixes[key]
        base_key = (key[0], base, *key[2:])
        if key[1] == base or base_key not in groups:
            continue
        result = compare(list(rows.values()), list(groups[base_key].values()), key, base)
        if result is not None:
            comparisons.append(result)
    return Report(summaries=summaries, comparisons=comparisons, baseline=baseline)


def rescore_records(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records with ``correct`` judged again by this version's rule for their benchmark.

    For the benchmarks whose verdict depends on the final answer alone (HotpotQA, Movie,
    ParallelQA: :meth:`LLMCompilerBenchmark.score`): the stored question, label, prediction and
    ``meta`` (Movie's options) are scored again, so a store written before a scoring fix reads
    as it would today. Records of other benchmarks (BFCL checks the calls; a custom benchmark's
    scorer may be gone) keep their stored verdict. Records are copied, never changed in place.
    """
    from interlace._errors import UsageError
    from interlace.bench._benchmarks import LLMCompilerBenchmark
    from interlace.bench._registry import Question, QuestionId, get_benchmark

    out: list[dict[str, Any]] = []
    for record in records:
        row = dict(record)
        try:
            bench = get_benchmark(str(row.get("benchmark")))
        except UsageError:  # an unregistered benchmark: keep the stored verdict
            bench = None
        if isinstance(bench, LLMCompilerBenchmark):
            question = Question(
                id=QuestionId(str(row.get("question_id"))),
                text=str(row.get("question", "")),
                label=str(row.get("label", "")),
                meta=dict(row.get("meta") or {}),
            )
            answer = str(row.get("prediction") or "")
            row["correct"] = bool(answer) and bench.score_answer(question, answer)
        out.append(row)
    return out


def evaluate_files(
    paths: Sequence[Path], *, baseline: str = "react", split: Sequence[str] = ()
) -> Report:
    """:func:`evaluate_records` over every record of the store files ``paths``."""
    records = (r for path in paths for r in read_records(path))
    return evaluate_records(records, baseline=baseline, split=split)
