from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from _bench_helpers import SHARED_DATA
from interlace.agents._result import RunResult
from interlace.bench import get_benchmark
from interlace.bench._latency import Latency
from interlace.bench._registry import Question, QuestionId, RunOptions
from interlace.bench._runner import MeteredLLM, RunConfig, method_order, run_benchmark
from interlace.bench._store import RECORD_FIELDS, Store, read_records
from interlace.llm._base import LLM, GenerationConfig, Message, Usage
from interlace.testing import ScriptedLLM


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


QUESTIONS = [Question(id=QuestionId(f"q{i}"), text=f"question {i}?", label="yes") for i in range(4)]


@dataclass
class FakeAgent:
    name: str
    llm: LLM
    block: anyio.Event | None = None
    started: anyio.Event | None = None
    log: list[tuple[str, str]] = field(default_factory=list)

    async def run(self, question: str) -> RunResult:
        self.log.append((question, self.name))
        if self.started is not None:
            self.started.set()
        if self.block is not None:
            await self.block.wait()
        reply = await self.llm.complete(
            [Message(role="user", content=question)], GenerationConfig()
        )
        return RunResult(
            question=question,
            answer=reply.text,
            method=self.name,
            latency=0.01,
            llm_calls=1,
            usage=Usage(prompt_tokens=3, completion_tokens=1),
            cost_usd=0.0,
            tool_calls=2,
        )


@dataclass
class FakeBenchmark:
    name: str = "fake"
    methods: tuple[str, ...] = ("compiler", "react")
    block_on: tuple[str, str] | None = None
    started: anyio.Event = field(default_factory=anyio.Event)
    log: list[tuple[str, str]] = field(default_factory=list)

    def load(self, data_dir: Path) -> list[Question]:
        return QUESTIONS

    def make_agent(self, method: str, llm: LLM, options: RunOptions, question: Question) -> Any:
        blocked = self.block_on == (question.id, method)
        return FakeAgent(
            method,
            llm,
            block=anyio.Event() if blocked else None,
            started=self.started if blocked else None,
            log=self.log,
        )

    def score(self, question: Question, result: RunResult) -> bool:
        return result.answer == question.label


def _config(bench: Any, **kw: Any) -> RunConfig:
    options = RunOptions(data_dir=SHARED_DATA, tool_latency=Latency.parse("0ms"), **kw)
    return RunConfig(
        benchmark=bench, methods=("compiler", "react"), llm_spec="scripted", options=options
    )


def test_method_order_alternates() -> None:
    assert method_order(["compiler", "react"], 0) == ["compiler", "react"]
    assert method_order(["compiler", "react"], 1) == ["react", "compiler"]
    assert method_order(["a", "b", "c"], 4) == ["b", "c", "a"]


@pytest.mark.anyio
async def test_runner_alternates_and_records_every_field(tmp_path: Path) -> None:
    bench = FakeBenchmark()
    store = Store(tmp_path / "out.jsonl")
    n = await run_benchmark(_config(bench), QUESTIONS[:2], ScriptedLLM(lambda m: "yes"), store)
    assert n == 4
    assert bench.log == [
        ("question 0?", "compiler"),
        ("question 0?", "react"),
        ("question 1?", "react"),
        ("question 1?", "compiler"),
    ]
    records = store.records()
    assert all(set(RECORD_FIELDS) <= set(r) for r in records)
    first = records[0]
    assert first["correct"] is True and first["prediction"] == "yes"
    assert first["config"]["llm"] == "scripted" and first["config"]["stream"] is True
    assert records[1]["config"]["stream"] is None  # react has no streaming switch
    assert first["config"]["interlace_version"] and first["config"]["tool_latency"] == "0s"
    assert first["llm_calls"] == 1 and first["tokens_in"] >= 3


@pytest.mark.anyio
async def test_cancelled_run_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    bench = FakeBenchmark(block_on=(QuestionId("q2"), "compiler"))
    llm = ScriptedLLM(lambda m: "yes")
    async with anyio.create_task_group() as tg:

        async def go() -> None:
            await run_benchmark(_config(bench), QUESTIONS, llm, Store(path))

        tg.start_soon(go)
        await bench.started.wait()
        tg.cancel_scope.cancel()
    before = list(read_records(path))
    assert [(r["question_id"], r["method"]) for r in before] == [
        ("q0", "compiler"),
        ("q0", "react"),
        ("q1", "react"),
        ("q1", "compiler"),
    ]
    # Simulate a kill in the middle of a write: a partial last line.
    with path.open("a") as fh:
        fh.write('{"benchmark": "fake", "question_id": "q2", "meth')
    resumed = FakeBenchmark()
    written = await run_benchmark(_config(resumed), QUESTIONS, llm, Store(path))
    assert written == 4
    after = list(read_records(path))
    keys = [(r["question_id"], r["method"]) for r in after]
    assert len(keys) == len(set(keys)) == 8
    assert after[:4] == before
    assert [q for q, _ in resumed.log] == [
        "question 2?",
        "question 2?",
        "question 3?",
        "question 3?",
    ]
    assert path.read_text().endswith("\n")


@pytest.mark.anyio
async def test_other_configuration_is_not_skipped(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    llm = ScriptedLLM(lambda m: "no")
    await run_benchmark(_config(FakeBenchmark()), QUESTIONS[:1], llm, Store(path))
    again = await run_benchmark(
        _config(FakeBenchmark(), stream=False), QUESTIONS[:1], llm, Store(path)
    )
    assert again == 1  # compiler with --no-stream is new; react is the same configuration


@pytest.mark.anyio
async def test_crashing_agent_is_recorded_not_fatal(tmp_path: Path) -> None:
    class Crashy(FakeBenchmark):
        def make_agent(self, method: str, llm: LLM, options: RunOptions, q: Question) -> Any:
            agent = super().make_agent(method, llm, options, q)

            async def boom(question: str) -> RunResult:
                raise KeyError("bug")

            agent.run = boom
            return agent

    store = Store(tmp_path / "o.jsonl")
    await run_benchmark(_config(Crashy()), QUESTIONS[:1], ScriptedLLM(lambda m: "x"), store)
    rec = store.records()[0]
    assert rec["correct"] is False and "agent crashed: KeyError" in rec["errors"][0]


@pytest.mark.anyio
async def test_context_overflow_fails_the_question_not_the_run(tmp_path: Path) -> None:
    from interlace._errors import LLMConnectionError, LLMContextOverflowError

    def raising(error: Exception) -> type[FakeBenchmark]:
        class Overflowing(FakeBenchmark):
            def make_agent(self, method: str, llm: LLM, options: RunOptions, q: Question) -> Any:
                agent = super().make_agent(method, llm, options, q)

                async def overflow(question: str) -> RunResult:
                    if q.id == QUESTIONS[0].id:
                        raise error
                    return await type(agent).run(agent, question)

                agent.run = overflow
                return agent

        return Overflowing

    store = Store(tmp_path / "o.jsonl")
    too_long = LLMContextOverflowError("prompt of 4862 tokens does not fit n_ctx=4096")
    llm = ScriptedLLM(lambda m: "x")
    written = await run_benchmark(_config(raising(too_long)()), QUESTIONS[:2], llm, store)
    assert written == 4  # both methods of both questions: the run went on
    first = [r for r in store.records() if r["question_id"] == QUESTIONS[0].id]
    assert all(r["correct"] is False and "context overflow" in r["errors"][0] for r in first)
    down = raising(LLMConnectionError("server down"))()
    with pytest.raises(LLMConnectionError):  # the backend itself failing still stops the run
        await run_benchmark(_config(down), QUESTIONS[:2], llm, Store(tmp_path / "p.jsonl"))


def test_partial_last_line_is_truncated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"benchmark": "b", "method": "m", "question_id": "1"}) + '\n{"bro')
    store = Store(path)
    assert len(store) == 1
    store.append({"benchmark": "b", "method": "m", "question_id": "2"})
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)


@pytest.mark.anyio
async def test_metered_llm_counts_and_forwards() -> None:
    inner = ScriptedLLM(["a b", "c"])
    meter = MeteredLLM(inner)
    await meter.complete([Message(role="user", content="hi")])
    await meter.complete([Message(role="user", content="hi")])
    assert meter.stats.calls == 2 and meter.stats.usage.completion_tokens == 3
    assert meter.inner is inner and len(inner.requests) == 2  # only declared protocols forward


def _scripted_reply(messages: Any) -> str:
    system, last = messages[0].content, messages[-1].content
    if system.startswith("You answer a question with tool calls, in two steps"):  # LLMCompiler
        if last.startswith("Results"):
            return "Thought: both are American.\nAction: Finish(yes)"
        return '1. search("Scott Derrickson")\n2. search("Ed Wood")\n3. join()\n<END_OF_PLAN>'
    if "Observation" in last:
        return "Thought: both are American.\nAction: Finish(yes)"
    return 'Thought: look up.\nAction: search("Ed Wood")'


@pytest.mark.anyio
async def test_hotpotqa_with_real_agents_and_scripted_llm(tmp_path: Path) -> None:
    bench = get_benchmark("hotpotqa")
    questions = bench.load(SHARED_DATA)[:1]
    store = Store(tmp_path / "h.jsonl")
    config = RunConfig(
        benchmark=bench,
        methods=("compiler", "react"),
        llm_spec="scripted",
        options=RunOptions(data_dir=SHARED_DATA),
    )
    await run_benchmark(config, questions, ScriptedLLM(_scripted_reply), store)
    records = {r["method"]: r for r in store.records()}
    assert set(records) == {"compiler", "react"}
    for rec in records.values():
        assert rec["prediction"] == "yes" and rec["correct"] is True, rec["errors"]
        assert rec["tool_calls"] >= 1 and rec["trace"]["spans"]
    assert records["compiler"]["tool_calls"] == 2
