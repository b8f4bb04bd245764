"""How often each role's fixed prompt came from the KV prefix cache, read from result stores.

Usage: ``python benchmarks/fixed_prefix_reuse.py STORE.jsonl [STORE.jsonl ...]``

For every LLM request recorded in the stores' traces whose span gives ``fixed_prompt_tokens``
(the embedded engine reports it: the tokens of the request's leading system messages), the
request counts as served when ``cached_prompt_tokens >= fixed_prompt_tokens``. The first
question of each store is left out (it fills the cache). Also counts the runs whose errors say
a reply had no readable action (the joiner's ``Action:`` line, ReAct's ``Finish``): the format
errors that grammars are meant to remove. Last line: ``fixed_prefix_reuse=<share over all>``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

FORMAT_ERRORS = ("no Finish/Replan", "no Finish(...)", "no readable action")


def main(paths: list[Path]) -> None:
    total = served_total = 0
    for path in paths:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if not records:
            continue
        first = records[0]["question_id"]
        served: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        format_errors: dict[str, int] = defaultdict(int)
        for record in records:
            if any(m in e for e in record.get("errors", ()) for m in FORMAT_ERRORS):
                format_errors[record["method"]] += 1
            if record["question_id"] == first:
                continue
            for span in record.get("trace", {}).get("spans", ()):
                attrs = span.get("attrs", {})
                fixed = attrs.get("fixed_prompt_tokens")
                if span.get("kind") != "llm" or not fixed:
                    continue
                row = served[(record["method"], span["name"])]
                row[0] += 1
                row[1] += attrs.get("cached_prompt_tokens", 0) >= fixed
        print(path)
        for (method, role), (n, hit) in sorted(served.items()):
            share = f"{hit:4d}/{n:<4d} {hit / n:7.1%}"
            print(f"  {method:<10} {role:<12} fixed prefix from the cache {share}")
            total, served_total = total + n, served_total + hit
        methods = sorted({r["method"] for r in records})
        print(
            "  runs with a format error: " + ", ".join(f"{m} {format_errors[m]}" for m in methods)
        )
    print(f"fixed_prefix_reuse={served_total / total:.3f}" if total else "fixed_prefix_reuse=n/a")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+", type=Path)
    main(parser.parse_args().stores)
