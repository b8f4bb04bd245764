"""kill -9 of a benchmark run at random moments, then resume: no lost, no duplicated records.

The child process runs the real runner and store (what ``interlace bench`` uses) on a scripted
model; the parent SIGKILLs it after a random number of records plus a random delay (often in
the middle of writing a large record), again and again, until a run completes. The store must
then hold exactly one complete record per (question, method).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interlace.bench._store import read_records, record_key

QUESTIONS = 8
METHODS = ("a", "b")

CHILD = """
import sys
from pathlib import Path

import anyio

from interlace.agents._result import RunResult
from interlace.bench._latency import Latency
from interlace.bench._registry import Question, QuestionId, RunOptions
from interlace.bench._runner import RunConfig, run_benchmark
from interlace.bench._store import Store
from interlace.llm._base import GenerationConfig, Message, Usage
from interlace.testing import ScriptedLLM

PAD = "x" * 400_000  # a large record: a kill can land in the middle of its write


class Agent:
    def __init__(self, method, llm):
        self.method, self.llm = method, llm

    async def run(self, question):
        messages = [Message(role="user", content=question)]
        reply = await self.llm.complete(messages, GenerationConfig())
        return RunResult(question=question, answer=reply.text, method=self.method, latency=0.0,
                         llm_calls=1, usage=Usage(), cost_usd=0.0, tool_calls=0,
                         details={"pad": PAD})


class Bench:
    name = "killtest"
    methods = @METHODS@

    def load(self, data_dir):
        return []

    def make_agent(self, method, llm, options, question):
        return Agent(method, llm)

    def score(self, question, result):
        return result.answer == "yes"


async def main(path):
    questions = [Question(id=QuestionId(f"q{i}"), text=f"question {i}?", label="yes")
                 for i in range(@QUESTIONS@)]
    options = RunOptions(data_dir=path.parent, tool_latency=Latency.parse("0ms"))
    config = RunConfig(benchmark=Bench(), methods=Bench.methods, llm_spec="scripted",
                       options=options)
    llm = ScriptedLLM(lambda m: "yes", ttft=0.002)
    await run_benchmark(config, questions, llm, Store(path),
                        on_record=lambda r: print("record", flush=True))
    print("done", flush=True)


anyio.run(main, Path(sys.argv[1]))
""".replace("@METHODS@", repr(METHODS)).replace("@QUESTIONS@", str(QUESTIONS))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_runs_resume_without_lost_or_duplicated_records(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    store = tmp_path / "store.jsonl"
    rng = random.Random(20261201)
    kills = partial_lines = 0
    for _ in range(40):  # bounded: each round writes at least one record or completes
        child = subprocess.Popen(
            [sys.executable, str(script), str(store)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert child.stdout is not None
        wanted = rng.randint(1, 3)
        seen = [child.stdout.readline() for _ in range(wanted)]
        if "done\n" in seen or "" in seen:  # finished (or died) before the kill point
            assert child.wait(timeout=60) == 0
            break
        time.sleep(rng.uniform(0.0, 0.01))  # the random moment (not test ordering)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        kills += 1
        partial_lines += not store.read_bytes().endswith(b"\n")
    else:
        pytest.fail("the run never completed")
    records = list(read_records(store))
    keys = [record_key(r) for r in records]
    assert len(keys) == len(set(keys)), "a record was duplicated"
    assert {k[3] for k in keys} == {f"q{i}" for i in range(QUESTIONS)}
    assert len(records) == QUESTIONS * len(METHODS), "a record was lost"
    assert all(r["prediction"] == "yes" and len(r["details"]["pad"]) == 400_000 for r in records)
    assert kills >= 2  # resumed at least twice
    lines = store.read_text(encoding="utf-8").splitlines()
    assert all(json.loads(line)["benchmark"] == "killtest" for line in lines)  # no torn lines
    print(f"kills={kills} partial_lines_repaired={partial_lines}")
