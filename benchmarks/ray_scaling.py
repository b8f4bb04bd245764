"""Throughput of ``interlace bench --ray`` with 1 and 2 workers on the same HotpotQA questions.

Usage: ``python benchmarks/ray_scaling.py [--questions 20] [--llm local] [--data-dir DIR]``

Starts a local Ray instance (2 CPUs, no dashboard) and runs the first N HotpotQA questions
(default 20) with LLMCompiler and ReAct, 0.5 s added to every search, each worker's embedded
model on one thread (``--threads 1``): first on one worker, then on two, each into a fresh
store. The clock of each run starts once every worker has loaded its model (start-up is
printed apart) and stops at the last record. For each run it prints the records written, the
seconds and the questions per minute (a question counts once all its methods answered); the
last line is ``scaling_2_over_1=<questions/minute with 2 workers / with 1>``. Every figure is
measured in this run; run it on an otherwise idle machine (a 2-core machine has nothing to
spare for anything else while two workers run).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import anyio
import ray

from interlace.bench._benchmarks import hotpotqa
from interlace.bench._latency import Latency
from interlace.bench._ray import RayFanOut, RayOptions
from interlace.bench._registry import Question, RunOptions
from interlace.bench._runner import RunConfig
from interlace.bench._store import Store

METHODS = ("compiler", "react")
SEARCH_LATENCY = "0.5s"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _run(config: RunConfig, questions: list[Question], workers: int, llm: str, out: Path) -> float:
    """One run on ``workers`` workers into a fresh store; questions per minute (printed too)."""
    store_path = out / f"ray-{workers}-workers.jsonl"
    store_path.unlink(missing_ok=True)
    options = RayOptions(address="local", llm_specs=(llm,), workers=workers, threads=1)
    fan_out = RayFanOut(config, options)
    begun = time.monotonic()
    ready: list[float] = []
    written = anyio.run(
        lambda: fan_out.run(
            questions, Store(store_path), on_ready=lambda: ready.append(time.monotonic())
        )
    )
    end = time.monotonic()
    expected = len(questions) * len(config.methods)
    if written != expected or not ready:
        raise SystemExit(f"{workers} workers wrote {written} of {expected} records")
    seconds = end - ready[0]
    per_minute = len(questions) / seconds * 60.0
    print(
        f"workers={workers} questions={len(questions)} records={written} "
        f"startup_s={ready[0] - begun:.1f} run_s={seconds:.1f} "
        f"questions_per_minute={per_minute:.2f}",
        flush=True,
    )
    return per_minute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20, help="first N HotpotQA questions")
    parser.add_argument("--llm", default="local", help="backend spec of every worker")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="benchmark data")
    parser.add_argument("--out", type=Path, default=None, help="keep the stores here")
    args = parser.parse_args()
    if args.questions < 1:
        parser.error("--questions must be >= 1")
    questions = hotpotqa.load(args.data_dir)[: args.questions]
    options = RunOptions(data_dir=args.data_dir, tool_latency=Latency.parse(SEARCH_LATENCY))
    config = RunConfig(
        benchmark=hotpotqa, methods=METHODS, llm_spec=args.llm, options=options, extra={}
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="ray-scaling-") as scratch:
            out = args.out or Path(scratch)
            out.mkdir(parents=True, exist_ok=True)
            one = _run(config, questions, 1, args.llm, out)
            two = _run(config, questions, 2, args.llm, out)
    finally:
        ray.shutdown()
    print(f"scaling_2_over_1={two / one:.2f}")


if __name__ == "__main__":
    main()
