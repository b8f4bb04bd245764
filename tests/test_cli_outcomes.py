"""Clean outcomes: one exit-code rule for every command (0 ok, 1 run/data error, 2 misuse)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from _bench_helpers import SHARED_DATA
from interlace import Usage, __version__
from interlace._errors import LLMModelNotFoundError, NetworkUnavailableError
from interlace.bench._registry import default_methods, get_benchmark
from interlace.cli import app
from interlace.testing import ScriptedLLM

runner = CliRunner()
COMMANDS = (
    [],
    ["bench"],
    ["eval"],
    ["run"],
    ["trace"],
    ["data", "fetch"],
    ["data", "list"],
    ["models", "fetch"],
    ["models", "list"],
    ["tools", "list"],
    ["replay"],
)


def _record(method: str, qid: str = "q1") -> dict[str, Any]:
    return {
        "benchmark": "b",
        "question_id": qid,
        "method": method,
        "latency": 1.0,
        "correct": True,
        "config": {"llm": "x"},
    }


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"interlace {__version__}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "interlace")
def test_every_help_states_the_exit_codes(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "Exit codes: 0 success; 1 the run or its data failed" in result.output
    assert "2 command-line misuse" in result.output


def test_eval_refuses_files_that_are_not_stores(tmp_path: Path) -> None:
    readme = Path(__file__).parents[1] / "README.md"
    result = runner.invoke(app, ["eval", str(readme)])
    assert result.exit_code == 1 and "holds no result records" in result.output
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    result = runner.invoke(app, ["eval", str(empty)])
    assert result.exit_code == 1 and "is empty" in result.output
    result = runner.invoke(app, ["eval", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2 and "does not exist" in result.output  # a wrong path: misuse
    missing = runner.invoke(app, ["trace", str(tmp_path / "missing.jsonl")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    traced = runner.invoke(app, ["trace", str(readme)])
    assert traced.exit_code == 1 and "is not a store with traces" in traced.output  # as eval


def test_eval_rejects_a_baseline_no_store_has(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    store.write_text("".join(json.dumps(_record(m)) + "\n" for m in ("compiler", "react")))
    bad = runner.invoke(app, ["eval", str(store), "--baseline", "reactt"])
    assert bad.exit_code == 2 and "they have: compiler, react" in bad.output
    good = runner.invoke(app, ["eval", str(store), "--baseline", "compiler", "--json"])
    assert good.exit_code == 0, good.output
    (comparison,) = json.loads(good.stdout)["comparisons"]
    assert (comparison["method"], comparison["baseline"]) == ("react", "compiler")


def _scripted(monkeypatch: pytest.MonkeyPatch, reply: Any) -> None:
    monkeypatch.setattr("interlace.cli._options.load_llm", lambda spec, threads=None: reply)


def test_bench_rejects_a_negative_limit(tmp_path: Path) -> None:
    store = tmp_path / "s.jsonl"
    result = runner.invoke(app, ["bench", "hotpotqa", "--limit", "-3", "--store", str(store)])
    assert result.exit_code == 2 and "--limit" in result.output
    assert not store.exists()


def test_bench_defaults_to_the_benchmark_s_own_methods(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bfcl = get_benchmark("bfcl")
    monkeypatch.setattr(type(bfcl), "load", lambda self, root: [])
    _scripted(monkeypatch, ScriptedLLM(["unused"]))
    result = runner.invoke(
        app, ["bench", "bfcl", "--store", str(tmp_path / "b.jsonl")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    for method in default_methods(bfcl):
        assert method in result.output
    assert "compiler" not in result.output
    assert "native" not in result.output  # supported, but run only when named
    help_text = runner.invoke(app, ["bench", "--help"], env={"COLUMNS": "300"}).output
    assert "default: the benchmark's own" in help_text


def test_a_failed_bench_leaves_no_empty_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_model(spec: str, threads: int | None = None) -> Any:
        raise LLMModelNotFoundError("no such GGUF: /nowhere.gguf")

    monkeypatch.setattr("interlace.cli._options.load_llm", no_model)
    store = tmp_path / "new.jsonl"
    args = ["bench", "hotpotqa", "--limit", "1", "--data-dir", str(SHARED_DATA)]
    result = runner.invoke(app, [*args, "--store", str(store)])
    assert result.exit_code == 1 and "no such GGUF" in result.output
    assert not store.exists()
    kept = tmp_path / "kept.jsonl"  # a store that existed before is never removed
    kept.touch()
    assert runner.invoke(app, [*args, "--store", str(kept)]).exit_code == 1
    assert kept.exists()


FAILING_TOOLS = """
def lookup(name: str) -> str:
    \"\"\"Look a name up (this one is always down).\"\"\"
    raise ConnectionError("service down")
"""


def test_run_exits_1_when_every_tool_call_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = tmp_path / "down_tools.py"
    module.write_text(FAILING_TOOLS)
    plan = '1. lookup("a")\n2. lookup("b")\n3. join()\n<END_OF_PLAN>'
    _scripted(monkeypatch, ScriptedLLM([plan, "Thought: guess.\nAction: Finish(42)"]))
    result = runner.invoke(app, ["run", "Who?", "--tools", f"{module}:lookup"])
    assert result.exit_code == 1, result.output
    assert "Answer: 42" in result.output
    assert "all 2 tool calls failed" in result.output


def test_run_exits_1_when_the_answer_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlace.agents import LLMCompiler

    async def no_answer(self: Any, question: str) -> Any:
        from interlace.agents._result import RunResult

        return RunResult(
            question=question,
            answer="",
            method="compiler",
            latency=0.0,
            llm_calls=0,
            usage=Usage(),
            cost_usd=0.0,
            tool_calls=0,
        )

    monkeypatch.setattr(LLMCompiler, "run", no_answer)
    _scripted(monkeypatch, ScriptedLLM(["unused"]))
    result = runner.invoke(app, ["run", "Who?", "--data-dir", str(SHARED_DATA)])
    assert result.exit_code == 1 and "produced no answer" in result.output


def test_unknown_names_are_misuse_for_models_and_data_alike() -> None:
    models = runner.invoke(app, ["models", "fetch", "nosuch"])
    data = runner.invoke(app, ["data", "fetch", "nosuch"])
    assert models.exit_code == data.exit_code == 2
    assert "unknown model 'nosuch'" in models.output
    assert "unknown dataset 'nosuch'" in data.output


def test_no_network_is_a_run_error_for_models_and_data_alike(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def offline(*args: Any, **kwargs: Any) -> Any:
        raise NetworkUnavailableError("no network to download it")

    monkeypatch.setattr("interlace.cli._models.fetch_model", offline)
    monkeypatch.setattr("interlace.bench._data.fetch", offline)
    monkeypatch.setenv("INTERLACE_CACHE_DIR", str(tmp_path))
    models = runner.invoke(app, ["models", "fetch", "smollm2-135m"])
    data = runner.invoke(app, ["data", "fetch", "movie", "--data-dir", str(tmp_path)])
    assert models.exit_code == data.exit_code == 1
    assert "no network" in models.output and "no network" in data.output


def test_typer_misuse_is_2() -> None:
    assert runner.invoke(app, ["bench"]).exit_code == 2  # missing argument
    assert runner.invoke(app, ["eval", "--nosuch"]).exit_code == 2
    assert runner.invoke(app, ["run", "Q", "--search", "magic"]).exit_code == 2


def test_replay_refuses_a_non_store_and_leaves_no_empty_store(tmp_path: Path) -> None:
    readme = Path(__file__).parents[1] / "README.md"
    out = tmp_path / "replayed.jsonl"
    args = ["replay", str(readme), "--store", str(out), "--llm-speed"]
    result = runner.invoke(app, [*args, "gpu-8b"])
    assert result.exit_code == 1 and "holds no result records" in result.output
    assert not out.exists()
    store = tmp_path / "s.jsonl"
    store.write_text(json.dumps(_record("compiler")) + "\n")
    bad_speed = runner.invoke(app, ["replay", str(store), "--store", str(out), "--llm-speed", "x"])
    assert bad_speed.exit_code == 2 and "unknown LLM speed" in bad_speed.output
    assert not out.exists()
