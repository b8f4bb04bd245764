"""Does every role's fixed prompt stay cached, whatever ran in between? (the KV policy)

Usage: ``python benchmarks/prefix_reuse.py [--questions 8] [--threads 2] [--model NAME]``

Replays the order of requests that ``interlace bench`` makes — methods alternating per question
(compiler first on even questions, ReAct first on odd ones), each LLMCompiler run a planner
request then a joiner request continuing it, each ReAct run three turns and a final one, and a
ParallelQA-style math-tool request per question — with the agents' real fixed prompts (the
HotpotQA examples) and a few generated tokens per request (so, as in a real run, each request
leaves a snapshot that the next prompt does not extend).

For each role it prints, over the questions after the first, the share of requests whose whole
fixed prefix (the system message) came from the prefix cache, the mean uncached prompt tokens
and the mean prefill seconds; once with pinned fixed prefixes (the default KV policy) and once
with pinning off (``max_pinned=0``: the plain LRU of earlier versions). The last line is
``fixed_prefix_reuse=<share with pinning>``. All figures are measured in this run.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import anyio

from interlace._tools import Tool
from interlace.agents._prompts import compiler_system, joiner_header, react_system
from interlace.bench._examples import HOTPOTQA
from interlace.llm import GenerationConfig, LocalLLM, Message

QUESTIONS = [
    ("Frank Lloyd Wright", "Le Corbusier"),
    ("the Danube", "the Rhine"),
    ("Marie Curie", "Lise Meitner"),
    ("Oslo", "Helsinki"),
    ("The Beatles", "The Rolling Stones"),
    ("Mount Kenya", "Mount Kilimanjaro"),
    ("Akira Kurosawa", "Yasujiro Ozu"),
    ("Toyota", "Honda"),
    ("Lake Baikal", "Lake Tanganyika"),
    ("Bach", "Handel"),
    ("Nairobi", "Kampala"),
    ("Pixar", "DreamWorks"),
]
PARAGRAPH = (
    "{x} is widely known, and its history has been written about at length by many authors "
    "in several languages over the last hundred years."
)
GENERATED = 6  # tokens per request: a reply the next prompt does not contain, as in a real run
MATH_SYSTEM = "Rewrite the problem as ONE arithmetic expression. " * 6


def _search(query: str) -> str:
    """Look a topic up in the encyclopedia and return its first paragraph.

    Args:
        query: the topic.
    """
    return query


TOOLS = [Tool.from_function(_search, name="search")]
COMPILER = compiler_system(TOOLS, HOTPOTQA.planner, HOTPOTQA.joiner)
REACT = react_system(TOOLS, HOTPOTQA.react)


def _requests(index: int, a: str, b: str) -> list[tuple[str, list[Message]]]:
    """The (role, messages) of one question, in bench's order for question ``index``."""
    question = f"Which is older, {a} or {b}?"
    plan = f'1. search("{a}")\n2. search("{b}")\n3. join()'
    planner = [
        Message(role="system", content=COMPILER),
        Message(role="user", content=f"Question: {question}\n\nWrite the plan now."),
    ]
    results = joiner_header(final=False) + "".join(
        f'{i}. search("{x}")\nObservation: {PARAGRAPH.format(x=x)}\n' for i, x in ((1, a), (2, b))
    )
    joiner = [
        *planner,
        Message(role="assistant", content=plan),
        Message(role="user", content=results),
    ]
    compiler = [("planner", planner), ("joiner", joiner)]
    react: list[tuple[str, list[Message]]] = []
    turns = [Message(role="system", content=REACT), Message(role="user", content=question)]
    for x in (a, b, a):
        react.append(("react", list(turns)))
        turns += [
            Message(role="assistant", content=f'Thought: look up {x}.\nAction: search("{x}")'),
            Message(role="user", content=f"Observation: {PARAGRAPH.format(x=x)}"),
        ]
    react.append(("react-final", list(turns)))
    math = [
        (
            "math",
            [
                Message(role="system", content=MATH_SYSTEM),
                Message(role="user", content=f"Problem: the age of {a} plus 10%\nExpression:"),
            ],
        )
    ]
    first, second = (compiler, react) if index % 2 == 0 else (react, compiler)
    return [*first, *math, *second]


async def measure(model: str, threads: int | None, n: int, max_pinned: int) -> dict[str, float]:
    llm = LocalLLM(model, n_threads=threads, prefix_cache_entries=8)
    llm.prefix_cache.max_pinned = max_pinned
    stats: dict[str, list[tuple[bool, int, float]]] = defaultdict(list)
    for index, (a, b) in enumerate(QUESTIONS[:n]):
        for role, messages in _requests(index, a, b):
            t0 = time.monotonic()
            done = await llm.complete(messages, GenerationConfig(max_tokens=GENERATED))
            if index == 0:
                continue  # the first question fills the cache
            usage = done.usage
            hit = usage.cached_prompt_tokens >= (done.fixed_prompt_tokens or 0)
            uncached = usage.prompt_tokens - usage.cached_prompt_tokens
            stats[role].append((hit, uncached, done.timing.prefill or time.monotonic() - t0))
    await llm.aclose()
    label = "pinned fixed prefixes" if max_pinned else "pinning off (plain LRU)"
    print(f"{label}: {n - 1} questions after the first")
    shares: dict[str, float] = {}
    for role, rows in stats.items():
        share = sum(h for h, _, _ in rows) / len(rows)
        shares[role] = share
        tokens = sum(u for _, u, _ in rows) / len(rows)
        seconds = sum(s for _, _, s in rows) / len(rows)
        print(
            f"  {role:<12} fixed prefix reused {share:6.1%} of {len(rows):2d} requests, "
            f"uncached prompt {tokens:6.1f} tok, prefill {seconds:5.2f} s"
        )
    return shares


async def main(model: str, threads: int | None, n: int) -> None:
    pinned = await measure(model, threads, n, max_pinned=8)
    await measure(model, threads, n, max_pinned=0)
    overall = sum(pinned.values()) / len(pinned)
    print(f"fixed_prefix_reuse={overall:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--questions", type=int, default=8)
    args = parser.parse_args()
    anyio.run(main, args.model, args.threads, min(args.questions, len(QUESTIONS)))
