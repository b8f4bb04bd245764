"""Replaying a store at an LLM speed: fidelity at the recorded speed, divergence, speed models."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

from interlace import Tool
from interlace._errors import UsageError
from interlace.agents import LLMCompiler, ReAct
from interlace.agents._result import Agent, RunResult
from interlace.bench._eval import evaluate_files
from interlace.bench._latency import with_latency
from interlace.bench._mathtool import make_math
from interlace.bench._recorded import recorded_requests
from interlace.bench._registry import Question, QuestionId, RunOptions
from interlace.bench._replay import ReplayReport, replay_store
from interlace.bench._runner import RunConfig, run_benchmark
from interlace.bench._store import Store
from interlace.llm._base import (
    LLM,
    Completion,
    GenerationConfig,
    Message,
    StreamItem,
    TextDelta,
    Timing,
    Usage,
    now,
)
from interlace.trace._speed import PRESETS, LLMSpeed, RequestTiming, fit_speed, parse_speed
from test_eval_roles import _is_joiner

_WORD = re.compile(r"\s*\S+\s*")


class CpuLikeLLM(LLM):
    """A scripted model with a CPU's shape: one request at a time, TTFT growing with the
    prompt (``ttft + words / prefill``), ``tpot`` per further word."""

    def __init__(self, ttft: float, prefill: float, tpot: float) -> None:
        self.model = "cpu-like"
        self._ttft, self._prefill, self._tpot = ttft, prefill, tpot
        self.lock = anyio.Lock()

    async def stream(
        self,
        messages: Sequence[Message],
        config: GenerationConfig = GenerationConfig(),  # noqa: B008
    ) -> AsyncIterator[StreamItem]:
        start = now()
        reply = _reply(messages)
        for stop in config.stop:
            reply = reply.split(stop)[0] if stop else reply
        async with self.lock:
            prompt, cached = self._cached(messages)
            await anyio.sleep(self._ttft + (prompt - cached) / self._prefill)
            first = now()
            pieces = _WORD.findall(reply)
            for i, piece in enumerate(pieces):
                if i:
                    await anyio.sleep(self._tpot)
                yield TextDelta(text=piece)
            yield Completion(
                text=reply,
                model=self.model,
                usage=Usage(
                    prompt_tokens=prompt, completion_tokens=len(pieces), cached_prompt_tokens=cached
                ),
                timing=Timing(start=start, first_token=first, end=now()),
            )

    def _cached(self, messages: Sequence[Message]) -> tuple[int, int]:
        """``(prompt words, of which cached)``: no KV cache here."""
        return sum(len(_WORD.findall(m.content)) for m in messages), 0


def _reply(messages: Sequence[Message]) -> str:
    """Math: an expression. LLMCompiler: a plan, then the answer. ReAct (no join() in its
    system prompt): a search, then (once an observation came back) the answer."""
    if messages[-1].content.endswith("Expression:"):
        return "2 * 3"
    if _is_joiner(messages):
        return "Thought: it is six.\nAction: Finish(6)"
    if "join()" in messages[0].content:
        return '1. search("Alpha")\n2. math("twice three", $1)\n3. join()\n<END_OF_PLAN>'
    if any(m.role == "assistant" for m in messages):
        return "Thought: it is six.\nAction: Finish(6)"
    return 'Thought: look it up.\nAction: search("Alpha")'


def search(entity: str) -> str:
    """Look up an entity; returns a sentence about it."""
    return f"{entity} has 3 moons."


@dataclass(frozen=True)
class Toy:
    """A two-method benchmark with a search and a math tool, for replays."""

    name: str = "toy"
    methods: tuple[str, ...] = ("compiler", "react")

    def load(self, data_dir: Path) -> list[Question]:
        return [
            Question(
                id=QuestionId(str(i)), text=f"What is twice the moons of Alpha {i}?", label="6"
            )
            for i in range(2)
        ]

    def make_agent(self, method: str, llm: LLM, options: RunOptions, question: Question) -> Agent:
        fns = [search, make_math(llm)]
        tools = [Tool.from_function(with_latency(f, options.tool_latency)) for f in fns]
        if method == "compiler":
            return LLMCompiler(llm, tools, stream=options.stream)
        return ReAct(llm, tools)

    def score(self, question: Question, result: RunResult) -> bool:
        return result.answer.strip() == question.label


async def _record_store(path: Path) -> None:
    from interlace.bench._latency import Latency

    config = RunConfig(
        benchmark=Toy(),
        methods=Toy().methods,
        llm_spec="cpu-like",
        options=RunOptions(data_dir=path.parent, tool_latency=Latency.parse("50ms")),
    )
    llm = CpuLikeLLM(ttft=0.02, prefill=4000.0, tpot=0.004)
    await run_benchmark(config, Toy().load(path.parent), llm, Store(path))


def _replay(source: Path, target: Path, speed: str | LLMSpeed) -> ReplayReport:
    async def go() -> ReplayReport:
        return await replay_store(
            source, Store(target), speed, data_dir=source.parent, resolve=lambda _: Toy()
        )

    return anyio.run(go)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "toy.jsonl"
    anyio.run(_record_store, path)
    return path


def test_replay_at_the_recorded_speed_reproduces_latency_per_method(
    recorded: Path, tmp_path: Path
) -> None:
    report = _replay(recorded, tmp_path / "replay.jsonl", "recorded")
    assert report.written == 4 and not report.skipped
    assert report.speed.serial and report.speed.name == "recorded"
    assert report.speed.prefill == pytest.approx(4000.0, rel=0.3)
    assert report.speed.tpot == pytest.approx(0.004, rel=0.3)
    for method, ratio in report.fidelity().items():
        assert 0.85 <= ratio <= 1.15, (method, ratio, report.speed)
    # only the planner's prompt is unchecked (its requests carry no digest); nothing diverged
    kinds = {(d.kind, d.role) for d in report.divergences}
    assert kinds <= {("unchecked", "planner")}, report.divergences
    rows = [json.loads(line) for line in (tmp_path / "replay.jsonl").read_text().splitlines()]
    assert all(r["correct"] for r in rows)
    assert rows[0]["config"]["replay"]["speed"]["name"] == "recorded"
    assert rows[0]["config"]["llm"].startswith("replay:recorded(")
    summaries = evaluate_files([recorded, tmp_path / "replay.jsonl"]).summaries
    assert len(summaries) == 4  # the replay is its own configuration
    assert all(s.token_efficiency is not None for s in summaries)


def test_a_fast_replay_is_faster_and_resumes(recorded: Path, tmp_path: Path) -> None:
    target = tmp_path / "gpu.jsonl"
    fast = "ttft=0.001,prefill=1000000,tpot=0.0001"
    report = _replay(recorded, target, fast)
    assert report.written == 4
    assert all(ratio < 0.8 for ratio in report.fidelity().values()), report.fidelity()
    again = _replay(recorded, target, fast)
    assert again.written == 0


def _rewrite(source: Path, target: Path, edit: Any) -> Path:
    rows = [json.loads(line) for line in source.read_text().splitlines()]
    target.write_text("".join(json.dumps(edit(copy.deepcopy(r))) + "\n" for r in rows))
    return target


def _spans(record: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        s for s in record["trace"]["spans"] if s["kind"] == "llm" and s["attrs"]["role"] == role
    ]


def test_diverged_prompts_and_missing_requests_are_reported_not_raised(
    recorded: Path, tmp_path: Path
) -> None:
    def edit(record: dict[str, Any]) -> dict[str, Any]:
        if record["method"] == "compiler":
            (joiner,) = _spans(record, "joiner")
            record["trace"]["spans"].remove(joiner)  # the replay will ask for one more request
        else:
            for span in _spans(record, "react"):
                span["attrs"]["prompt_sha"] = "0" * 16  # as if the prompts had changed
        return record

    source = _rewrite(recorded, tmp_path / "edited.jsonl", edit)
    report = _replay(source, tmp_path / "out.jsonl", "gpu-8b")
    assert report.written == 4
    kinds = {(d.kind, d.role) for d in report.divergences}
    assert ("extra", "agent") in kinds and ("prompt", "react") in kinds


def test_old_stores_without_texts_are_replayed_from_their_details(
    recorded: Path, tmp_path: Path
) -> None:
    def edit(record: dict[str, Any]) -> dict[str, Any]:
        for span in record["trace"]["spans"]:
            span["attrs"].pop("text", None)
            span["attrs"].pop("prompt_sha", None)
        record["trace"]["spans"] = [  # old stores did not trace the math tool's requests
            s for s in record["trace"]["spans"] if s["attrs"].get("role") != "math"
        ]
        return record

    source = _rewrite(recorded, tmp_path / "old.jsonl", edit)
    rows = [json.loads(line) for line in source.read_text().splitlines()]
    texts = {r.role: r.text for r in recorded_requests(rows[0]) if rows[0]["method"] == "compiler"}
    assert texts["planner"] is not None and "search(" in texts["planner"]
    assert texts["joiner"] is not None and "Finish(6)" in texts["joiner"]
    report = _replay(source, tmp_path / "out.jsonl", "gpu-8b")
    assert report.written == 4
    kinds = {d.kind for d in report.divergences}
    assert {"reconstructed", "unchecked", "extra"} <= kinds  # extra: the untraced math requests
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {r["method"]: r["prediction"] for r in out if r["question_id"] == "0"}["react"] == "6"


def test_replay_cli_writes_a_store_and_prints_fidelity(recorded: Path, tmp_path: Path) -> None:
    from interlace.cli import app

    out = tmp_path / "cli.jsonl"
    monkey = pytest.MonkeyPatch()
    monkey.setattr("interlace.bench._replay.get_benchmark", lambda _: Toy())
    try:
        args = ["replay", str(recorded), "--store", str(out), "--llm-speed", "gpu-8b", "--json"]
        result = CliRunner().invoke(app, [*args, "--data-dir", str(tmp_path)])
    finally:
        monkey.undo()
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["written"] == 4 and set(report["fidelity"]) == {"compiler", "react"}
    assert report["speed"]["name"] == "gpu-8b" and report["speed"]["source"]
    bad = CliRunner().invoke(
        app, ["replay", str(recorded), "--store", str(out), "--llm-speed", "x"]
    )
    assert bad.exit_code != 0 and "unknown LLM speed" in bad.output


def test_speed_specs_presets_and_errors() -> None:
    gpu = parse_speed("gpu-8b")
    assert gpu is PRESETS["gpu-8b"] and "H100" in gpu.source
    custom = parse_speed("ttft=0.03,prefill=8000,tpot=0.008")
    assert (custom.ttft, custom.prefill, custom.tpot, custom.serial) == (0.03, 8000, 0.008, False)
    assert parse_speed("gpu-8b,tpot=0.02").tpot == 0.02
    assert parse_speed("ttft=0,prefill=10,tpot=0,serial=1").serial
    assert custom.request_seconds(800, 11) == pytest.approx(0.03 + 0.1 + 0.08)
    for bad in (
        "fast",
        "ttft=x,prefill=1,tpot=1",
        "ttft=1,tpot=1",
        "gpu-8b,speed=3",
        "prefill=0,ttft=0,tpot=0",
    ):
        with pytest.raises(UsageError):
            parse_speed(bad)
    assert LLMSpeed.from_dict(custom.to_dict()) == custom


def test_fit_speed_recovers_a_linear_ttft_and_the_decode_rate() -> None:
    rows = [
        RequestTiming(
            uncached_prompt_tokens=u,
            output_tokens=n,
            ttft=0.2 + u / 150.0,
            duration=0.2 + u / 150.0 + (n - 1) * 0.03,
        )
        for u, n in ((10, 5), (300, 20), (150, 2), (600, 40))
    ]
    speed = fit_speed(rows)
    assert speed.ttft == pytest.approx(0.2) and speed.prefill == pytest.approx(150.0)
    assert speed.tpot == pytest.approx(0.03) and speed.serial
    flat = fit_speed(
        [
            RequestTiming(uncached_prompt_tokens=u, output_tokens=1, ttft=0.5, duration=0.5)
            for u in (1, 50)
        ]
    )
    assert flat.ttft == pytest.approx(0.5) and flat.prefill >= 1e6
    with pytest.raises(UsageError):
        fit_speed([])


class PrefillingCpuLikeLLM(CpuLikeLLM):
    """:class:`CpuLikeLLM` with a KV prefix (the words of the longest common text prefix with
    the last prompt are cached) and :class:`~interlace.llm.PrefixPrefill`, like the local model:
    LLMCompiler prefills its joiner's context in the background as tasks finish."""

    def __init__(self, ttft: float, prefill: float, tpot: float) -> None:
        super().__init__(ttft, prefill, tpot)
        self.last = ""

    def _cached(self, messages: Sequence[Message]) -> tuple[int, int]:
        text = "\n".join(m.content for m in messages)
        pairs = enumerate(zip(self.last, text, strict=False))
        same = next((i for i, (a, b) in pairs if a != b), min(len(self.last), len(text)))
        common = text[:same]
        self.last = text
        return len(_WORD.findall(text)), len(_WORD.findall(common))

    async def prefill(
        self, messages: Sequence[Message], *, open_end: bool = False, background: bool = False
    ) -> int:
        async with self.lock:
            words, cached = self._cached(messages)
            await anyio.sleep((words - cached) / self._prefill)
        return words - cached


def test_background_prefills_are_replayed_as_prefills(tmp_path: Path) -> None:
    """A compiler run recorded on a backend that prefills ahead replays its prefills (not as
    replies to the joiner), each at its recorded tokens: fidelity holds, nothing diverges."""
    from interlace.bench._latency import Latency

    source = tmp_path / "prefilled.jsonl"
    config = RunConfig(
        benchmark=Toy(),
        methods=("compiler",),
        llm_spec="cpu-like",
        options=RunOptions(data_dir=tmp_path, tool_latency=Latency.parse("50ms")),
    )
    llm = PrefillingCpuLikeLLM(ttft=0.02, prefill=1500.0, tpot=0.004)
    anyio.run(run_benchmark, config, Toy().load(tmp_path), llm, Store(source))
    recorded_rows = [json.loads(line) for line in source.read_text().splitlines()]
    assert all(_spans(r, "joiner-prefill") for r in recorded_rows)  # the feature under replay

    report = _replay(source, tmp_path / "replay.jsonl", "recorded")
    assert report.written == 2
    assert 0.85 <= report.fidelity()["compiler"] <= 1.15, report
    kinds = {(d.kind, d.role) for d in report.divergences}
    assert kinds <= {("unchecked", "planner")}, report.divergences
    rows = [json.loads(line) for line in (tmp_path / "replay.jsonl").read_text().splitlines()]
    assert all(r["correct"] for r in rows)
    for old, new in zip(recorded_rows, rows, strict=True):
        tokens = [s["attrs"]["prompt_tokens"] for s in _spans(new, "joiner-prefill")]
        assert tokens == [s["attrs"]["prompt_tokens"] for s in _spans(old, "joiner-prefill")]
