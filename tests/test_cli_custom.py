"""Custom benchmarks: ``bench custom --questions --tools [--examples] [--scorer]`` end to end,
and ``--questions`` on a built-in benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from _bench_helpers import SHARED_DATA
from interlace._errors import DataError
from interlace.bench._custom import SCORERS, load_examples, load_questions
from interlace.cli import app
from interlace.testing import ScriptedLLM

runner = CliRunner()
TOOLS = '''
def area(country: str) -> float:
    """Land area of a country, in thousands of km2."""
    return {"France": 551.7, "Spain": 506.0, "Italy": 302.1}[country]
'''
QUESTIONS = [
    {"id": "fr-es", "question": "Which is larger, France or Spain?", "answer": "France"},
    {"id": "it", "question": "Area of Italy in thousand km2?", "answer": "302.1", "level": 1},
]
EXAMPLES = '''
planner = """
Question: Which is larger, Peru or Chile?
1. area("Peru")
2. area("Chile")
3. join()
<END_OF_PLAN>"""
joiner = """
Question: Which is larger, Peru or Chile?
Thought: 1285 is more than 756.
Action: Finish(Peru)"""
'''


def _reply(messages: Any) -> str:
    """A scripted model that plans with `area`, then answers (wrongly for Italy)."""
    text = " ".join(m.content for m in messages)
    question = messages[1].content if len(messages) > 1 else ""
    if messages[0].content.startswith("You answer a question by calling tools"):  # ReAct
        if "Observation" in messages[-1].content:
            return "Thought: done.\nAction: Finish(France)"
        return 'Thought: look.\nAction: area("France")'
    if len(messages) > 2 or "Observation" in messages[-1].content:
        return "Thought: compare.\nAction: Finish(France)"
    assert "Peru" in text  # the examples file reached the planner prompt
    if "Italy" in question:
        return '1. area("Italy")\n2. join()\n<END_OF_PLAN>'
    return '1. area("France")\n2. area("Spain")\n3. join()\n<END_OF_PLAN>'


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "geo.py").write_text(TOOLS)
    questions = tmp_path / "geo.json"
    questions.write_text(json.dumps(QUESTIONS))
    examples = tmp_path / "geo.toml"
    examples.write_text(EXAMPLES)
    return {"tools": tmp_path / "geo.py", "questions": questions, "examples": examples}


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "interlace.cli._options.load_llm", lambda spec, threads=None: ScriptedLLM(_reply)
    )


def test_bench_custom_end_to_end_then_eval(
    scripted: None, files: dict[str, Path], tmp_path: Path
) -> None:
    store = tmp_path / "runs.jsonl"
    args = [
        "bench",
        "custom",
        "--questions",
        str(files["questions"]),
        "--tools",
        f"{files['tools']}:area",
        "--examples",
        str(files["examples"]),
        "--store",
        str(store),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in store.read_text().splitlines()]
    assert {(r["question_id"], r["method"]) for r in records} == {
        ("fr-es", "compiler"),
        ("fr-es", "react"),
        ("it", "compiler"),
        ("it", "react"),
    }
    by_key = {(r["question_id"], r["method"]): r for r in records}
    assert by_key["fr-es", "compiler"]["correct"] is True
    assert by_key["fr-es", "compiler"]["tool_calls"] == 2
    assert by_key["it", "compiler"]["correct"] is False  # answered France
    assert {r["benchmark"] for r in records} == {"custom:geo"}
    assert by_key["it", "compiler"]["meta"] == {"level": 1}
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "wrote 0 records" in again.output  # resumed
    report = json.loads(runner.invoke(app, ["eval", str(store), "--json"]).stdout)
    accuracy = {s["method"]: s["accuracy"] for s in report["summaries"]}
    assert accuracy == {"compiler": 0.5, "react": 0.5}


def test_bench_custom_with_a_scorer_function(
    scripted: None, files: dict[str, Path], tmp_path: Path
) -> None:
    scorer = tmp_path / "lenient.py"
    scorer.write_text("def score(prediction, answer):\n    return True\n")
    store = tmp_path / "s.jsonl"
    result = runner.invoke(
        app,
        [
            "bench",
            "custom",
            "--questions",
            str(files["questions"]),
            "--tools",
            f"{files['tools']}:area",
            "--examples",
            str(files["examples"]),
            "--methods",
            "compiler",
            "--scorer",
            f"{scorer}:score",
            "--store",
            str(store),
        ],
    )
    assert result.exit_code == 0, result.output
    assert all(json.loads(line)["correct"] for line in store.read_text().splitlines())


def test_bench_custom_misuse(files: dict[str, Path], tmp_path: Path) -> None:
    store = str(tmp_path / "s.jsonl")
    missing = runner.invoke(app, ["bench", "custom", "--store", store], env={"COLUMNS": "300"})
    assert missing.exit_code == 2 and "needs --questions FILE and tools" in missing.output
    builtin = runner.invoke(
        app, ["bench", "hotpotqa", "--tools", f"{files['tools']}:area", "--store", store]
    )
    assert builtin.exit_code == 2 and "only go with `bench custom`" in builtin.output
    bad_scorer = runner.invoke(
        app,
        [
            "bench",
            "custom",
            "--questions",
            str(files["questions"]),
            "--tools",
            f"{files['tools']}:area",
            "--scorer",
            "fuzzy",
            "--store",
            store,
        ],
    )
    assert bad_scorer.exit_code == 2 and "--scorer takes match, exact, numeric" in bad_scorer.output
    assert not Path(store).exists()


def test_builtin_benchmark_on_your_questions(
    scripted: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    questions = tmp_path / "mine.jsonl"
    questions.write_text(
        json.dumps({"id": "q1", "question": "Were Ed Wood and Scott Derrickson American?"}) + "\n"
    )
    monkeypatch.setattr(
        "interlace.cli._options.load_llm",
        lambda spec, threads=None: ScriptedLLM(
            lambda m: (
                'Thought: look.\nAction: search("Ed Wood")'
                if "Observation" not in m[-1].content
                else "Thought: yes.\nAction: Finish(yes)"
            )
        ),
    )
    store = tmp_path / "p.jsonl"
    result = runner.invoke(
        app,
        [
            "bench",
            "hotpotqa",
            "--questions",
            str(questions),
            "--methods",
            "react",
            "--data-dir",
            str(SHARED_DATA),
            "--store",
            str(store),
        ],
    )
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in store.read_text().splitlines()]
    assert (record["benchmark"], record["question_id"]) == ("hotpotqa:mine", "q1")
    assert record["tool_calls"] >= 1  # hotpotqa's own search tool


def test_questions_and_examples_files_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    for text, message in (
        ("[]", "non-empty list"),
        ('[{"answer": "x"}]', "'question' text"),
        ('[{"id": 1, "question": "a"}, {"id": "1", "question": "b"}]', "ids repeat: 1"),
        ("{", "not valid JSON"),
    ):
        bad.write_text(text)
        with pytest.raises(DataError, match=message):
            load_questions(bad)
    (one,) = load_questions(_write(tmp_path / "q.json", '{"questions": [{"question": "Q?"}]}'))
    assert (one.id, one.text, one.label) == ("1", "Q?", "")
    with pytest.raises(DataError, match="planner, joiner, react"):
        load_examples(_write(tmp_path / "e.json", '{"plans": "x"}'))
    examples = load_examples(_write(tmp_path / "e.json", '{"react": "Question: x"}'))
    assert (examples.planner, examples.react) == ("", "Question: x")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_scorers() -> None:
    assert SCORERS["match"]("about 44 km", "40.9") and not SCORERS["exact"]("44", "40.9")
    assert SCORERS["exact"]("The Eiffel Tower!", "eiffel tower")
    assert not SCORERS["exact"]("", "")
    assert SCORERS["numeric"]("it is 302.1", "302.1") and not SCORERS["numeric"]("302", "302.1")


PLUGIN = '''
from pathlib import Path

from interlace import Tool
from interlace.bench._custom import CustomBenchmark


def area(country: str) -> float:
    """Land area of a country, in thousands of km2."""
    return 551.7


BENCH = CustomBenchmark(name="geo", questions=Path("geo.json"), tools=[Tool.from_function(area)])
'''


def _plugin_env(root: Path, value: str) -> dict[str, str]:
    """An installed-looking package (a .dist-info with an entry point) on PYTHONPATH."""
    import os

    (root / "geo_plugin.py").write_text(PLUGIN)
    info = root / "geo_plugin-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: geo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[interlace.benchmarks]\ngeo = {value}\n")
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def test_a_package_registers_a_benchmark_through_an_entry_point(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "from interlace.bench._registry import benchmark_names; print(benchmark_names())"
    run = subprocess.run(
        [sys.executable, "-c", code],
        env=_plugin_env(tmp_path, "geo_plugin:BENCH"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "'geo'" in run.stdout and "'hotpotqa'" in run.stdout
    broken = subprocess.run(
        [sys.executable, "-c", code],
        env=_plugin_env(tmp_path, "geo_plugin:NOPE"),
        capture_output=True,
        text=True,
    )
    assert broken.returncode != 0
    assert "benchmark plugin 'geo' (geo_plugin:NOPE) cannot be loaded" in broken.stderr


def test_bench_custom_with_mcp_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import shlex
    import sys

    from test_mcp import SERVER

    questions = tmp_path / "sums.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps({"id": f"s{a}", "question": f"What is {a} + 3?", "answer": str(a + 3)})
            for a in (1, 2)
        )
    )

    def reply(messages: Any) -> str:
        if len(messages) > 2 or "Observation" in messages[-1].content:
            return "Thought: the sum.\nAction: Finish(4)"  # right for s1 only
        a = messages[-1].content.split("What is ")[1].split(" ")[0]
        return f"1. add({a}, 3)\n2. join()\n<END_OF_PLAN>"

    monkeypatch.setattr(
        "interlace.cli._options.load_llm", lambda spec, threads=None: ScriptedLLM(reply)
    )
    store = tmp_path / "sums-out.jsonl"
    result = runner.invoke(
        app,
        [
            "bench",
            "custom",
            "--questions",
            str(questions),
            "--mcp",
            shlex.join([sys.executable, str(SERVER)]),
            "--methods",
            "compiler",
            "--scorer",
            "numeric",
            "--store",
            str(store),
        ],
    )
    assert result.exit_code == 0, result.output
    records = {r["question_id"]: r for r in map(json.loads, store.read_text().splitlines())}
    assert records["s1"]["correct"] is True and records["s2"]["correct"] is False
    assert records["s1"]["tool_calls"] == records["s2"]["tool_calls"] == 1
    assert not records["s1"]["errors"]
    misuse = runner.invoke(
        app,
        ["bench", "hotpotqa", "--mcp", "python x.py", "--store", str(tmp_path / "h.jsonl")],
        env={"COLUMNS": "300"},
    )
    assert misuse.exit_code == 2 and "only go with `bench custom`" in misuse.output
