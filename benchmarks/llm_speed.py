"""Measure the local backend: prefill and decode speed, RSS, and what KV prefix reuse saves.

Usage: ``python benchmarks/llm_speed.py [--model qwen2.5-coder-0.5b] [--threads N]``

Prints, for one model:
  * load seconds and RSS after loading,
  * prefill tokens/s (an ~800-token planner-like prompt, nothing cached) and decode tokens/s,
  * the same planner prompt again with another question (prefix reuse from the live KV cache),
  * planner/joiner prompts alternating, with the snapshot cache on and off (live KV only),
  * RSS at the end and the bytes held by the prefix cache.
All figures are measured in this run.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import anyio

from interlace.llm import Completion, GenerationConfig, LocalLLM, Message

TOOLS = "\n".join(
    f"{i}. {name}(query: str) - {desc}"
    for i, (name, desc) in enumerate(
        [
            ("search", "look a topic up in an encyclopedia and return the first paragraph"),
            ("math", "evaluate an arithmetic expression written in words or symbols"),
            ("lookup", "find a keyword in the last page that search returned"),
            ("join", "collect the results and hand them to the joiner; always the last task"),
        ],
        start=1,
    )
)
EXAMPLE = (
    "Question: Which is taller, the Eiffel Tower or the Statue of Liberty?\n"
    '1. search("Eiffel Tower height")\n2. search("Statue of Liberty height")\n'
    "Thought: both heights are known once the searches return.\n3. join()\n<END_OF_PLAN>\n###\n"
)
PLANNER = (
    "Write a plan of tool calls that answers the question. Each line is `N. tool(args)`; an "
    "argument may be `$K`, the result of task K. Calls without dependencies run in parallel.\n"
    f"Tools:\n{TOOLS}\n\nExamples:\n" + EXAMPLE * 9
)
JOINER = (
    "Read the question and the observations of the tool calls. If they answer the question, "
    "reply `Action: Finish(answer)`; otherwise `Action: Replan(what is missing)`.\n\nExamples:\n"
    + EXAMPLE.replace("<END_OF_PLAN>", "Observation: 330 m; 93 m\nAction: Finish(Eiffel Tower)")
    * 8
)


def rss_mb() -> float:
    """Current resident set size, MB (from /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def ask(llm: LocalLLM, system: str, question: str, max_tokens: int) -> Completion:
    messages = [Message(role="system", content=system), Message(role="user", content=question)]
    return await llm.complete(messages, GenerationConfig(max_tokens=max_tokens))


def row(label: str, c: Completion) -> str:
    u, t = c.usage, c.timing
    return (
        f"  {label:<34} prompt {u.prompt_tokens:4d} tok, cached {u.cached_prompt_tokens:4d}, "
        f"prefill {t.prefill or 0.0:6.2f} s, total {t.total:6.2f} s"
    )


async def main(model: str, threads: int | None) -> None:
    rss0 = rss_mb()
    t0 = time.monotonic()
    llm = LocalLLM(model, n_threads=threads)
    async with llm.exclusive():
        pass
    print(
        f"model {model}: load {time.monotonic() - t0:.2f} s, RSS {rss_mb():.0f} MB (was {rss0:.0f})"
    )

    first = await ask(llm, PLANNER, "Who was born first, Ada Lovelace or Charles Babbage?", 64)
    prefill_tps = (first.usage.prompt_tokens - first.usage.cached_prompt_tokens) / (
        first.timing.prefill or float("nan")
    )
    tpot = first.timing.tpot(first.usage.completion_tokens)
    print(f"prefill {prefill_tps:.1f} tok/s ({first.usage.prompt_tokens} prompt tokens)")
    decode_tps = 1 / tpot if tpot else float("nan")
    print(f"decode  {decode_tps:.1f} tok/s ({first.usage.completion_tokens} tokens)")
    print(row("planner, question A (cold)", first))
    again = await ask(llm, PLANNER, "What is the population of the capital of Peru?", 8)
    print(row("planner, question B (live KV)", again))

    print("alternating planner/joiner, snapshot cache on:")
    for k, (name, system) in enumerate([("joiner", JOINER), ("planner", PLANNER)] * 2):
        print(row(f"{name} #{k // 2 + 1}", await ask(llm, system, f"Question {k}: why?", 4)))
    print(
        f"  prefix cache: {len(llm.prefix_cache.entries)} snapshots, "
        f"{llm.prefix_cache.nbytes / 2**20:.1f} MiB; RSS {rss_mb():.0f} MB"
    )
    await llm.aclose()

    print("alternating planner/joiner, snapshot cache off (live KV only):")
    bare = LocalLLM(model, n_threads=threads, prefix_cache_entries=0)
    for k, (name, system) in enumerate([("planner", PLANNER), ("joiner", JOINER)] * 2):
        print(row(f"{name} #{k // 2 + 1}", await ask(bare, system, f"Question {k}: why?", 4)))
    print(f"RSS at the end {rss_mb():.0f} MB")
    await bare.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    anyio.run(main, args.model, args.threads)
