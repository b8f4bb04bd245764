"""Replaying CML runs (the BFCL methods) on the replay token engine, with a toy vocabulary."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from interlace import Tool
from interlace.agents import AsyncLM
from interlace.agents._result import Agent, RunResult
from interlace.agents._sync import SyncCalling
from interlace.bench._latency import Latency, with_latency
from interlace.bench._registry import Question, QuestionId, RunOptions
from interlace.bench._replay import ReplayReport, replay_store
from interlace.bench._replay_cml import (
    ReplayEngineLLM,
    fit_cml_speed,
    injections,
    is_cml,
    model_output,
)
from interlace.bench._runner import RunConfig, run_benchmark
from interlace.bench._store import Store
from interlace.llm._base import LLM
from interlace.trace._speed import LLMSpeed

SCRIPT = (
    "[CALL] c1 [HEAD] lookup(key=1) [END]\n[CALL] c2 [HEAD] lookup(key=2) [END]\n"
    "[TRAP][END]\nBoth found."
)


class Words:
    """A small vocabulary: the word-ish chunks of :data:`SCRIPT` (so one token is a word, as
    with a real tokenizer), then every single byte, then EOS; text is split greedily."""

    def __init__(self) -> None:
        self.words = sorted(set(re.findall(r"\s*\S+\s*", SCRIPT)), key=len, reverse=True)
        self.n_vocab = len(self.words) + 257
        self.eos = self.n_vocab - 1

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        out: list[int] = []
        i = 0
        while i < len(text):
            word = next((w for w in self.words if text.startswith(w, i)), None)
            if word is not None:
                out.append(self.words.index(word))
                i += len(word)
            else:
                out.extend(len(self.words) + b for b in text[i].encode("utf-8"))
                i += 1
        return out

    def token_bytes(self, token: int) -> bytes:
        if token < len(self.words):
            return self.words[token].encode("utf-8")
        return bytes([token - len(self.words)]) if token < self.eos else b""


def lookup(key: int) -> str:
    """Look a key up; returns its value."""
    return f"value-{key}"


@dataclass
class ToyCML:
    """Two CML methods over one tool; ``model`` is the scripted model that records the store."""

    model: ReplayEngineLLM
    name: str = "toy-cml"
    methods: tuple[str, ...] = ("sync", "async")
    loads: list[str] = field(default_factory=list)

    def load(self, data_dir: Path) -> list[Question]:
        return [
            Question(id=QuestionId(f"q{i}"), text=f"Look up 1 and 2 ({i})", label="")
            for i in range(2)
        ]

    def make_agent(self, method: str, llm: LLM, options: RunOptions, question: Question) -> Agent:
        base: Any = getattr(llm, "inner", llm)
        if base is self.model:  # recording: the scripted model writes SCRIPT
            base.load(SCRIPT)
        tools = [Tool.from_function(with_latency(lookup, options.tool_latency))]
        if method == "async":
            return AsyncLM(base, tools)
        return SyncCalling(base, tools)

    def score(self, question: Question, result: RunResult) -> bool:
        return len(result.details["calls"]) == 2


RECORDING = LLMSpeed(ttft=0.05, prefill=2000.0, tpot=0.03, serial=True, name="recording")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ToyCML]:
    path = tmp_path_factory.mktemp("cml") / "toy.jsonl"
    toy = ToyCML(model=ReplayEngineLLM(Words(), RECORDING, model="bytes"))
    config = RunConfig(
        benchmark=toy,
        methods=toy.methods,
        llm_spec="scripted-engine",
        options=RunOptions(data_dir=path.parent, tool_latency=Latency.parse("80ms")),
    )
    anyio.run(run_benchmark, config, toy.load(path.parent), toy.model, Store(path))
    return path, toy


def _replay(source: Path, toy: ToyCML, target: Path, speed: str | LLMSpeed) -> ReplayReport:
    async def go() -> ReplayReport:
        return await replay_store(
            source,
            Store(target),
            speed,
            data_dir=source.parent,
            resolve=lambda _: toy,
            vocabulary=lambda _: Words(),
        )

    return anyio.run(go)


def test_injected_interrupts_are_told_apart_from_the_model_output() -> None:
    text = (
        "[CALL] c1 [HEAD] f() [END]\n\n[INTR] c1 [HEAD] 1 [END]\n[INTR] c2 [HEAD] x [END]\n"
        "[TRAP][END]"
    )
    assert model_output(text) == "[CALL] c1 [HEAD] f() [END]\n[TRAP][END]"
    assert injections(text) == ["\n[INTR] c1 [HEAD] 1 [END]\n[INTR] c2 [HEAD] x [END]\n"]


def test_cml_replay_at_the_recorded_speed_reproduces_latency_and_calls(
    store: tuple[Path, ToyCML], tmp_path: Path
) -> None:
    source, toy = store
    rows = [json.loads(line) for line in source.read_text().splitlines()]
    assert all(is_cml(r) and r["correct"] for r in rows)
    fitted = fit_cml_speed(rows, Words())
    assert fitted.tpot == pytest.approx(RECORDING.tpot, rel=0.5)  # plus the loop overhead
    report = _replay(source, toy, tmp_path / "replay.jsonl", "recorded")
    assert report.written == 4 and not report.skipped
    for method, ratio in report.fidelity().items():
        assert 0.85 <= ratio <= 1.15, (method, ratio, report.speed)
    replayed = [json.loads(line) for line in (tmp_path / "replay.jsonl").read_text().splitlines()]
    assert all(r["correct"] for r in replayed)
    by_key = {(r["question_id"], r["method"]): r for r in rows}
    for r in replayed:
        assert r["details"]["text"] == by_key[(r["question_id"], r["method"])]["details"]["text"]
    assert {d.kind for d in report.divergences} == {"unchecked"}


def test_cml_replay_at_a_faster_speed_is_faster(store: tuple[Path, ToyCML], tmp_path: Path) -> None:
    source, toy = store
    fast = LLMSpeed(ttft=0.0, prefill=1e6, tpot=0.0002)
    report = _replay(source, toy, tmp_path / "fast.jsonl", fast)
    assert all(ratio < 0.8 for ratio in report.fidelity().values()), report.fidelity()
