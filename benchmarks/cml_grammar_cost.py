"""What the CML grammar costs in real runs, read from BFCL result stores.

Usage: ``python benchmarks/cml_grammar_cost.py STORE.jsonl [STORE.jsonl ...]``

For every CML record (methods ``sync``, ``sync-parallel``, ``async``, ...) whose details give
``grammar_s`` (the embedded engine's time computing the CML grammar's masks and forced tokens,
seconds) prints per method: records, output tokens, grammar milliseconds per output token and the
grammar's share of the run's decode time (``decode_latency``: first to last decoded token, tool
waits included, so the share of pure decoding is a little higher), and the runs whose errors name
the grammar (a fallback to unconstrained decoding). The issue's target is a mask under 5 % of
decode time. Last line: ``cml_grammar_ms_per_token=<over all records>``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def main(paths: list[Path]) -> None:
    all_grammar = all_tokens = 0.0
    for path in paths:
        per: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0])
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            details = record.get("details") or {}
            if "grammar_s" not in details:
                continue
            row = per[record["method"]]
            row[0] += 1
            row[1] += record.get("tokens_out") or 0
            row[2] += details["grammar_s"]
            row[3] += details.get("decode_latency") or 0.0
            row[4] += any("grammar" in e for e in record.get("errors", ()))
        if not per:
            print(f"{path}: no CML record with grammar_s (a store of an earlier version?)")
            continue
        print(path)
        for method, (n, tokens, grammar, decode, fallbacks) in sorted(per.items()):
            ms = grammar * 1e3 / tokens if tokens else float("nan")
            share = grammar / decode if decode else float("nan")
            print(
                f"  {method:14s} {int(n):3d} runs {int(tokens):6d} output tokens  "
                f"grammar {ms:6.3f} ms/token = {share:6.2%} of decode time  "
                f"fallbacks {int(fallbacks)}"
            )
            all_grammar += grammar
            all_tokens += tokens
    overall = all_grammar * 1e3 / all_tokens if all_tokens else float("nan")
    print(f"cml_grammar_ms_per_token={overall:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+", type=Path)
    main(parser.parse_args().stores)
