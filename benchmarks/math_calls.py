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

from interlace.bench._mathtool import make_math
from interlace.bench._search import offline_store
from interlace.llm._base import LLM, Completion, GenerationConfig, Message, StreamItem
from interlace.llm._select import load_llm

UP = re.compile(r"increas|extend|grow|grew|magnif|lengthen|enlarg|swell|rise|raise|expand|boost")
DOWN = re.compile(r"decreas|reduc|shorten|shrink|diminish|declin|drop|fell|lower|cut")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
SEARCH = re.compile(r'(\d+)\. search\("(.*)"\)')
_DEFAULT = GenerationConfig()
MATH = re.compile(r'(\d+)\. math\("(.*)", \$(\d+)\)')


def math_calls(store: Path) -> list[tuple[str, str]]:
    """Distinct ``(problem, entity)`` of the store's single-search math calls, in order."""
    calls: dict[tuple[str, str], None] = {}
    for line in store.read_text().splitlines():
        record = json.loads(line) if line.strip() else {}
        if record.get("method") != "compiler":
            continue
        for span in record["trace"]["spans"]:
            if span["kind"] != "llm" or span["attrs"].get("role") != "planner":
                continue
            searches: dict[str, str] = {}
            for plan_line in span["attrs"].get("text", "").splitlines():
                if found := SEARCH.match(plan_line.strip()):
                    searches[found[1]] = found[2]
                elif (found := MATH.match(plan_line.strip())) and found[3] in searches:
                    calls[(found[2], searches[found[3]])] = None
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


class _Recording(LLM):
    """The LLM, keeping the text of each reply (the expression the model wrote)."""

    def __init__(self, inner: LLM, texts: list[str]) -> None:
        self.inner, self.texts, self.model = inner, texts, inner.model

    async def stream(
        self, messages: Sequence[Message], config: GenerationConfig = _DEFAULT
    ) -> AsyncIterator[StreamItem]:
        async for item in self.inner.stream(messages, config):
            if isinstance(item, Completion):
                self.texts.append(item.text.strip())
            yield item

    async def aclose(self) -> None:
        await self.inner.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.store, args.data_dir, args.threads))
