"""Replay the math tool on the math calls of stored LLMCompiler plans and score its percent changes.

Usage: ``python benchmarks/math_calls.py STORE.jsonl [--data-dir DIR] [--threads 2]``

Reads the planner's plan text from every compiler record of the store, keeps each
``math("problem", $N)`` call whose ``$N`` is a ``search("entity")`` of the same plan, and runs
the math tool (embedded model) on it with that search's offline result as context, once per
distinct (problem, entity). A call whose problem is a percent change ("increased by 12%") is
right when its value is the first number of its expression times ``1 + p/100`` (or ``1 - p/100``)
and that number is in the context: the factor the model wrote is the one the problem asked for.
Prints every wrong call, then ``percent_right=<right>/<n>`` and the math tool's time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from interlace._plan import Ref
from interlace._planner import parse_plan
from interlace.bench._mathtool import make_math
from interlace.bench._search import offline_store
from interlace.llm._base import Completion, GenerationConfig, Message, StreamItem
from interlace.llm._select import load_llm
from interlace.llm._wrap import ForwardingLLM

UP = re.compile(r"increas|extend|grow|grew|magnif|lengthen|enlarg|swell|rise|raise|expand|boost")
DOWN = re.compile(r"decreas|reduc|shorten|shrink|diminish|declin|drop|fell|lower|cut")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def math_calls(store: Path) -> list[tuple[str, str]]:
    """Distinct ``(problem, entity)`` of the store's ``math("problem", $N)`` calls whose ``$N``
    is a ``search("entity")`` of the same plan, in order."""
    calls: dict[tuple[str, str], None] = {}
    for line in store.read_text().splitlines():
        record = json.loads(line) if line.strip() else {}
        if record.get("method") != "compiler":
            continue
        for span in record["trace"]["spans"]:
            if span["kind"] != "llm" or span["attrs"].get("role") != "planner":
                continue
            plan, _ = parse_plan(span["attrs"].get("text", ""))
            searches = {
                task.id: task.args[0]
                for task in plan.tasks
                if task.tool == "search" and len(task.args) == 1 and isinstance(task.args[0], str)
            }
            for task in plan.tasks:
                match task.tool, task.args:
                    case "math", (str() as problem, Ref(task_id=ref)) if ref in searches:
                        calls[(problem, searches[ref])] = None
    return list(calls)


def factor_right(problem: str, context: str, expression: str, value: Any) -> bool | None:
    """Whether a percent-change call wrote the asked factor; ``None`` for other problems."""
    percent = re.search(r"by (\d+(?:\.\d+)?)%", problem)
    up, down = bool(UP.search(problem)), bool(DOWN.search(problem))
    if percent is None or up == down:
        return None
    factor = 1 + float(percent[1]) / 100 * (1 if up else -1)
    numbers = NUMBER.findall(expression)
    if not numbers or not isinstance(value, int | float) or float(numbers[0]) == 0:
        return False
    return numbers[0] in context.replace(",", "") and abs(value / float(numbers[0]) - factor) < 1e-4


async def main(store: Path, data_dir: Path, threads: int) -> None:
    evidence = offline_store(data_dir)
    calls = math_calls(store)
    llm = load_llm("local:qwen2.5-coder-0.5b", n_threads=threads)
    expressions: list[str] = []
    math = make_math(_Recording(llm, expressions))
    right = total = 0
    t0 = time.perf_counter()
    for problem, entity in calls:
        context = evidence.search(entity)
        try:
            value: Any = await math(problem, context)
        except Exception as exc:  # a failed call is a wrong call; keep going
            value = exc
        verdict = factor_right(problem, context, expressions[-1], value)
        if verdict is None:
            continue
        total += 1
        right += verdict
        if not verdict:
            print(f"  wrong: {problem!r} ({entity}) -> {expressions[-1]!r} = {value}")
    elapsed = time.perf_counter() - t0
    print(f"{len(calls)} calls, {total} percent changes, math tool {elapsed:.1f} s")
    print(f"percent_right={right}/{total}")


class _Recording(ForwardingLLM):
    """The LLM, keeping the text of each reply (the expression the model wrote)."""

    def __init__(self, inner: Any, texts: list[str]) -> None:
        super().__init__(inner)
        self.texts = texts

    async def observe(
        self,
        items: AsyncIterator[StreamItem],
        messages: Sequence[Message],
        config: GenerationConfig,
    ) -> AsyncIterator[StreamItem]:
        async for item in items:
            if isinstance(item, Completion):
                self.texts.append(item.text.strip())
            yield item


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.store, args.data_dir, args.threads))
