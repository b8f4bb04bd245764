"""Training conversations from BFCL ground truth, on ids the benchmark never evaluates.

The split (one rule for every command; :func:`heldout_ids` computes it):

* ``parallel``, ``parallel_multiple``: the first 100 entries of each file are held out (the
  README's benchmark commands run the first 50); entries 100-199 are for training.
* ``multi_step``: the benchmark's first 30 groups are held out (the README runs ``--limit 30``);
  ``multi_turn_base``: its first 50 entries and every entry of those 30 groups are held out.
  Training uses the other ``multi_turn_base`` entries (first turns), alone and — for
  ``multi_step`` — grouped three at a time by the benchmark's own grouping
  (:func:`~interlace.bench.bfcl.multi_step_groups`) over the training entries only.

An :class:`Episode` is one task: its functions, question and ground-truth calls as chains (a
parallel call is a chain of one; a multi-turn entry's calls are one chain, since each acts on
the state the previous one left). Result values are what the benchmark's tools return: the
deterministic stand-in of a function without implementation, or the multi-turn backend's real
result, run through the executor's one invocation path.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from interlace._errors import CMLError, ToolArgumentError, UsageError
from interlace._executor import invoke_tool
from interlace._scheduler import Succeeded
from interlace._tools import find_tool
from interlace.agents._asynclm import render_system_prompt
from interlace.bench._registry import Question
from interlace.bench.bfcl._data import CATEGORIES, load, multi_step_groups
from interlace.bench.bfcl._tools import (
    BFCLTool,
    check_arguments,
    multi_step_tools,
    render_function,
    simple_tools,
)
from interlace.cml._grammar import parse_call_body, render_error, render_value
from interlace.finetune._simulate import (
    LATENCY_RANGE,
    POLICIES,
    TOKEN_TIME_RANGE,
    SimCall,
    SimPolicy,
    simulate,
)

#: Held-out leading entries per file (the benchmark's evaluation ids, with room to spare).
HELD_OUT_FIRST = {"parallel": 100, "parallel_multiple": 100, "multi_turn_base": 50}
#: Held-out leading groups of the benchmark's ``multi_step`` category.
HELD_OUT_GROUPS = 30


@dataclass(frozen=True, kw_only=True)
class Episode:
    """One training task.

    Attributes:
        id: a BFCL id (``parallel_120``) or, for a training group, ``multi_step_train_`` and
            its entries' numbers.
        category: its BFCL category.
        question: the user message, as the benchmark writes it.
        docs: the function documents offered in the prompt.
        chains: per chain, ``(name, kwargs)`` of each ground-truth call in order.
        values: the interrupt text of each call, chain by chain (same shape as ``chains``).
        oks: whether each call succeeded (same shape).
    """

    id: str
    category: str
    question: str
    docs: tuple[Mapping[str, Any], ...]
    chains: tuple[tuple[tuple[str, Mapping[str, Any]], ...], ...]
    values: tuple[tuple[str, ...], ...]
    oks: tuple[tuple[bool, ...], ...]


def heldout_ids(root: Path) -> dict[str, set[str]]:
    """The ids held out for evaluation, per category (see module docstring).

    ``multi_turn_base`` lists entry ids, ``multi_step`` the benchmark's group ids.

    Raises:
        DatasetNotFoundError: the BFCL wheel is not in ``root``.
    """
    held: dict[str, set[str]] = {}
    for category in ("parallel", "parallel_multiple", "multi_turn_base"):
        questions = load(root, (category,))
        held[category] = {q.id for q in questions[: HELD_OUT_FIRST[category]]}
    groups = load(root, ("multi_step",))[:HELD_OUT_GROUPS]
    held["multi_step"] = {q.id for q in groups}
    held["multi_turn_base"] |= {e["id"] for q in groups for e in q.meta["entries"]}
    return held


def episodes(root: Path, categories: Sequence[str] = CATEGORIES) -> list[Episode]:
    """Training episodes of ``categories``, in category then file order (held-out ids never).

    Entries whose ground truth does not bind to their functions are left out.

    Raises:
        UsageError: an unknown category.
        DatasetNotFoundError: the BFCL wheel is not in ``root``.
    """
    unknown = set(categories) - set(CATEGORIES)
    if unknown:
        raise UsageError(f"unknown BFCL categories {sorted(unknown)}; use {CATEGORIES}")
    held = heldout_ids(root)
    found: list[Episode] = []
    for category in categories:
        if category in ("parallel", "parallel_multiple"):
            for q in load(root, (category,)):
                if q.id not in held[category]:
                    found.extend(_parallel_episode(q))
            continue
        singles = [
            q for q in load(root, ("multi_turn_base",)) if q.id not in held["multi_turn_base"]
        ]
        if category == "multi_turn_base":
            found.extend(e for q in singles for e in _multi_turn_episode(root, category, [q]))
            continue
        by_entry = {q.meta["entries"][0]["id"]: q for q in singles}
        entries = [q.meta["entries"][0] for q in singles]
        for group in multi_step_groups(entries):
            found.extend(_multi_turn_episode(root, category, [by_entry[e["id"]] for e in group]))
    return found


def _first_values(spec: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """One accepted value per argument; BFCL's ``""`` option means the argument is omitted."""
    return {k: v[0] for k, v in spec.items() if v and v[0] != ""}


def _parallel_episode(q: Question) -> list[Episode]:
    docs = {f["name"]: f for f in q.meta["functions"]}
    tools = {t.name: dataclasses.replace(t, latency=0.0) for t in simple_tools(q.meta["functions"])}
    chains = []
    for item in q.meta["ground_truth"]:
        ((name, spec),) = item.items()
        found = find_tool(docs, name)
        if found is None:
            return []
        try:
            kwargs = check_arguments(found[1], [], _first_values(spec))
        except ToolArgumentError:
            return []
        chains.append(((found[0], kwargs),))
    values, oks = _run(tools, chains)
    return [
        Episode(
            id=q.id,
            category=q.meta["category"],
            question=q.text,
            docs=tuple(q.meta["functions"]),
            chains=tuple(chains),
            values=values,
            oks=oks,
        )
    ]


def _multi_turn_episode(root: Path, category: str, group: Sequence[Question]) -> list[Episode]:
    entries = [q.meta["entries"][0] for q in group]
    random.seed(0)  # some backends draw random numbers; traces must not depend on the run
    tools, _ = multi_step_tools(root, entries)
    by_name = {t.name: dataclasses.replace(t, latency=0.0) for t in tools}
    chains = []
    for entry in entries:
        chain = []
        for line in entry["ground_truth"]:
            try:
                name, args, kwargs = parse_call_body(line)
            except CMLError:
                return []
            found = find_tool(by_name, name)
            if found is None:
                return []
            try:
                bound = check_arguments(found[1].doc, args, kwargs)
            except ToolArgumentError:
                return []
            chain.append((found[0], bound))
        chains.append(tuple(chain))
    values, oks = _run(by_name, chains)
    if category == "multi_step":
        qid = "multi_step_train_" + "+".join(e["id"].rsplit("_", 1)[-1] for e in entries)
        text = "\n".join(f"Task {n}: {q.text}" for n, q in enumerate(group, 1))
    else:
        qid, text = group[0].id, group[0].text
    return [
        Episode(
            id=qid,
            category=category,
            question=text,
            docs=tuple(t.doc for t in tools),
            chains=tuple(chains),
            values=values,
            oks=oks,
        )
    ]


def _run(
    tools: Mapping[str, BFCLTool], chains: Sequence[Sequence[tuple[str, Mapping[str, Any]]]]
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[bool, ...], ...]]:
    """Each call's interrupt text and success, calls run chain by chain in order."""

    async def go() -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[bool, ...], ...]]:
        values, oks = [], []
        for chain in chains:
            vs, os_ = [], []
            for name, kwargs in chain:
                outcome = await invoke_tool(tools[name], (), kwargs, timeout=30.0)
                if isinstance(outcome, Succeeded):
                    vs.append(render_value(outcome.value))
                    os_.append(True)
                else:
                    vs.append(render_error(outcome.error))
                    os_.append(False)
            values.append(tuple(vs))
            oks.append(tuple(os_))
        return tuple(values), tuple(oks)

    return anyio.run(go)


def sample_traces(
    found: Sequence[Episode],
    *,
    n: int,
    seed: int,
    policies: Sequence[SimPolicy] = POLICIES,
) -> Iterator[dict[str, Any]]:
    """``n`` simulated conversations, each in every policy of ``policies`` (one JSON-ready
    record per conversation and policy).

    Sample ``i`` takes the episode at ``i`` modulo the count in an order shuffled by ``seed``
    (so ``n`` up to the episode count uses each episode once) and draws, from ``seed`` and
    ``i`` alone, one latency per function (:data:`LATENCY_RANGE`, shown in the prompt as the
    benchmark shows its hint) and one time per token (:data:`TOKEN_TIME_RANGE`). The policies
    of one sample share these draws.

    Record fields: ``id``, ``category``, ``sample``, ``seed``, ``policy``, ``messages``
    (``[{"role", "content"}]``: the agent's system prompt and the question), ``segments``
    (``[{"text", "model"}]``: the reply; ``model`` false for injected interrupts),
    ``calls`` (per call: id, name, chain, step, latency_s, gen_s, start_s, end_s,
    injected_s), ``latency_s``, ``token_time_s``, ``tokens``, ``traps``.

    Raises:
        UsageError: ``n`` is negative, no episodes, or an unknown policy.
    """
    if n < 0:
        raise UsageError(f"n must be >= 0, got {n}")
    if n and not found:
        raise UsageError("no training episodes to sample from (check the categories)")
    bad = set(policies) - set(POLICIES)
    if bad:
        raise UsageError(f"unknown policies {sorted(bad)}; use {POLICIES}")
    order = list(range(len(found)))
    random.Random(f"order:{seed}").shuffle(order)
    for i in range(n):
        episode = found[order[i % len(order)]]
        rng = random.Random(f"{seed}:{i}")
        latency = {d["name"]: rng.uniform(*LATENCY_RANGE) for d in episode.docs}
        token_time = rng.uniform(*TOKEN_TIME_RANGE)
        functions = "\n".join(render_function(d, latency[d["name"]]) for d in episode.docs)
        chains = [
            [
                SimCall(name=name, kwargs=kwargs, latency=latency[name], value=value, ok=ok)
                for (name, kwargs), value, ok in zip(calls, values, oks, strict=True)
            ]
            for calls, values, oks in zip(episode.chains, episode.values, episode.oks, strict=True)
        ]
        for policy in policies:
            trace = simulate(chains, policy=policy, token_time=token_time)
            system = render_system_prompt(functions, policy=policy)
            yield {
                "id": episode.id,
                "category": episode.category,
                "sample": i,
                "seed": seed,
                "policy": policy,
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": episode.question},
                ],
                "segments": [dataclasses.asdict(s) for s in trace.segments],
                "calls": [dataclasses.asdict(c) for c in trace.calls],
                "latency_s": trace.latency_s,
                "token_time_s": trace.token_time_s,
                "tokens": trace.tokens,
                "traps": trace.traps,
            }


def write_traces(records: Iterator[dict[str, Any]], out: Path) -> int:
    """Write records as JSON Lines to ``out`` (replaced); returns how many were written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
