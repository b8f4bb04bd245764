"""Mask time per token of the two grammar engines on the embedded model: llguidance vs GBNF.

Usage: ``python benchmarks/grammar_speed.py [--model qwen2.5-coder-0.5b] [--threads 2]``

1. Decodes a HotpotQA-style plan under interlace's plan grammar through ``LocalLLM`` (the real
   path: llguidance masks, forced tokens evaluated as a batch) and prints the decode time per
   output token and the grammar's share of it.
2. Follows the same output tokens with each engine alone and times computing the next-token
   constraint at every step: llguidance (``compute_bitmask`` plus unpacking the bits into a
   vocabulary mask) and llama.cpp's GBNF sampler (``llama_sampler_apply`` on all candidates,
   an equivalent GBNF plan grammar). The lines end with ``ratio_gbnf_over_llguidance=...``.
3. Runs AsyncLM (sync policy, two BFCL-style functions, one a dotted name) under the CML grammar
   and prints the grammar's time per output token and its share of the run's decode time.
All figures are measured in this run; the issue's target is a mask under 5 % of decode time.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import time

import anyio
import llama_cpp
import numpy as np

from interlace._grammars import plan_grammar
from interlace._tools import Tool
from interlace.agents import AsyncLM
from interlace.agents._prompts import compiler_system
from interlace.bench._examples import HOTPOTQA
from interlace.bench._latency import Latency
from interlace.bench.bfcl._tools import simple_tools
from interlace.llm import GenerationConfig, LocalLLM, Message

GBNF = r"""
root ::= step
step ::= [1-9] [0-9]? ". " ( "join()" | call "\n" step )
call ::= "search(" string ")"
string ::= "\"" ( [^"\\\n] | "\\" [^\n] )* "\""
"""


def _search(query: str) -> str:
    """Look a topic up in the encyclopedia.

    Args:
        query: the topic.
    """
    return query


async def main(model: str, threads: int | None) -> None:
    tools = [Tool.from_function(_search, name="search")]
    grammar = plan_grammar(tools)
    llm = LocalLLM(model, n_threads=threads)
    messages = [
        Message(role="system", content=compiler_system(tools, HOTPOTQA.planner, HOTPOTQA.joiner)),
        Message(role="user", content="Question: Which is older, Oslo or Helsinki?\n\nPlan now."),
    ]
    await llm.complete(messages, GenerationConfig(max_tokens=1))  # warm the prefix
    done = await llm.complete(messages, GenerationConfig(max_tokens=120, grammar=grammar))
    free = await llm.complete(messages, GenerationConfig(max_tokens=40))
    decode = done.timing.end - (done.timing.start + (done.timing.prefill or 0.0))
    n = done.usage.completion_tokens
    print(f"constrained plan: {n} tokens in {decode:.2f} s of decoding ({done.text!r})")
    print(
        f"  grammar time {done.timing.grammar or 0.0:.4f} s = "
        f"{(done.timing.grammar or 0.0) / decode:.2%} of decode time"
    )
    tpot_free = free.timing.tpot(free.usage.completion_tokens) or float("nan")
    print(f"unconstrained decode: {1 / tpot_free:.1f} tok/s")

    async with llm.exclusive() as engine:
        tokens = engine.tokenize(done.text, special=False)
        constraint = engine.grammars.constraint(grammar)
        ll_times = []
        for token in tokens:
            t0 = time.perf_counter()
            constraint.allowed()
            ll_times.append(time.perf_counter() - t0)
            constraint.accept([token])
        vocab = engine._vocab
        n_vocab = engine._n_vocab
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, GBNF.encode(), b"root")
        data = (llama_cpp.llama_token_data * n_vocab)()
        logits = np.zeros(n_vocab, dtype=np.float32)
        gbnf_times = []
        for token in tokens:
            for i in range(n_vocab):
                data[i].id, data[i].logit, data[i].p = i, float(logits[i]), 0.0
            array = llama_cpp.llama_token_data_array(
                data=ctypes.cast(data, llama_cpp.llama_token_data_p),
                size=n_vocab,
                selected=-1,
                sorted=False,
            )
            t0 = time.perf_counter()
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
            gbnf_times.append(time.perf_counter() - t0)
            llama_cpp.llama_sampler_accept(sampler, token)
        llama_cpp.llama_sampler_free(sampler)
    await _cml(llm)
    await llm.aclose()
    ll, gb = statistics.median(ll_times), statistics.median(gbnf_times)
    per_token = decode / max(n, 1)
    print(f"mask per token, median of {len(tokens)} steps (vocabulary {n_vocab}):")
    print(f"  llguidance {ll * 1e3:7.3f} ms = {ll / per_token:6.2%} of a decode step")
    print(f"  GBNF       {gb * 1e3:7.3f} ms = {gb / per_token:6.2%} of a decode step")
    print(f"ratio_gbnf_over_llguidance={gb / ll:.1f}")


_FUNCTIONS = [
    {
        "name": "math.gcd",
        "description": "Greatest common divisor of two integers.",
        "parameters": {
            "type": "dict",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
    {
        "name": "get_weather",
        "description": "Weather forecast for a city.",
        "parameters": {
            "type": "dict",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
]


async def _cml(llm: LocalLLM) -> None:
    """The CML grammar's cost on a real AsyncLM run (section 3 of the module docstring)."""
    tools = simple_tools(_FUNCTIONS, latency=Latency.parse("50ms"))
    agent = AsyncLM(llm, tools, policy="sync", functions="\n".join(t.render() for t in tools))
    question = "What is the gcd of 84 and 36, and the weather in Lima for 3 days?"
    await agent.warm(question)
    result = await agent.run(question)
    tokens = result.usage.completion_tokens
    decode = result.details["decode_latency"]
    grammar = result.details["grammar_s"]
    print(f"constrained CML (sync): {tokens} tokens, {decode:.2f} s of decoding; calls:")
    for call in result.details["calls"]:
        print(f"  {call['name']}({call['arguments']})")
    print(
        f"  CML grammar {grammar * 1e3 / max(tokens, 1):.3f} ms per token = "
        f"{grammar / decode if decode else float('nan'):.2%} of decode time "
        f"(grammar compiled in {result.details['grammar_build_s'] * 1e3:.1f} ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    anyio.run(main, args.model, args.threads)
