"""Your tools on the CLI: ``--tools MODULE:ATTR``, ``--mcp COMMAND``, ``--mcp-url URL``."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interlace.cli import app
from interlace.testing import ScriptedLLM
from test_mcp import SERVER, http_url  # noqa: F401 - the fixture starts the HTTP server

runner = CliRunner()
MCP = shlex.join([sys.executable, str(SERVER)])
TOOLS = '''
from interlace import Tool, tool


@tool
def capital(country: str) -> str:
    """The capital city of a country."""
    return {"France": "Paris", "Italy": "Rome"}.get(country, "unknown")


def population(city: str, year: int = 2020) -> int:
    """Inhabitants of a city, in millions.

    Args:
        city: the city.
        year: the census year.
    """
    return {"Paris": 2, "Rome": 3}[city]


forecast = Tool.from_schema(
    "forecast",
    "Tomorrow's forecast.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    lambda **kwargs: "sunny in " + kwargs["city"],
)
TOOLS = [capital, population, forecast]
'''


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def tools_file(tmp_path: Path) -> Path:
    path = tmp_path / "geo_tools.py"
    path.write_text(TOOLS)
    return path


def test_tools_list_shows_signature_and_schema(tools_file: Path) -> None:
    result = runner.invoke(app, ["tools", "list", "--tools", f"{tools_file}:TOOLS"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "capital(country: str) - The capital city of a country." in out
    assert "population(city: str, year: int = 2020) - Inhabitants of a city" in out
    assert "forecast(city: str) - Tomorrow's forecast." in out
    assert '"description": "the census year."' in out and "3 tools" in out


def test_tools_list_json_is_openai_schemas(
    tools_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tools_file.parent)  # MODULE as an import name, found from here
    result = runner.invoke(app, ["tools", "list", "--tools", "geo_tools:population", "--json"])
    assert result.exit_code == 0, result.output
    (schema,) = json.loads(result.stdout)
    assert schema["type"] == "function" and schema["function"]["name"] == "population"
    assert schema["function"]["parameters"]["required"] == ["city"]


def test_tools_list_from_mcp_stdio_and_http(http_url: str) -> None:  # noqa: F811
    stdio = runner.invoke(app, ["tools", "list", "--mcp", MCP])
    assert stdio.exit_code == 0, stdio.output
    assert "add(a: int, b: int) - Add two integers." in stdio.output
    assert "shout_text(text: str, times: int = 1)" in stdio.output
    http = runner.invoke(app, ["tools", "list", "--mcp-url", http_url, "--json"])
    assert http.exit_code == 0, http.output
    names = [s["function"]["name"] for s in json.loads(http.stdout)]
    assert sorted(names) == ["add", "fail", "shout_text"]


def test_tools_list_misuse_and_failures(tools_file: Path) -> None:
    nothing = runner.invoke(app, ["tools", "list"])
    assert nothing.exit_code == 2 and "--tools MODULE:ATTR" in nothing.output
    for spec, message in (
        ("no_colon", "MODULE:ATTR"),
        ("live", "--search live"),
        ("no_such_module_xyz:f", "no module named 'no_such_module_xyz'"),
        (f"{tools_file}:nothing", "has no attribute 'nothing'"),
        (f"{tools_file}:__name__", "is not a Tool, a function or a LangChain tool"),
        (f"{_write(tools_file.with_name('broken.py'), 'import nosuch_dep_x')}:f", "nosuch_dep_x"),
        (f"{_write(tools_file.with_name('raising.py'), '1 / 0')}:f", "ZeroDivisionError"),
    ):
        result = runner.invoke(app, ["tools", "list", "--tools", spec])
        assert result.exit_code == 2, (spec, result.output)
        assert message in result.output, (spec, result.output)
    twice = runner.invoke(
        app, ["tools", "list", "--tools", f"{tools_file}:TOOLS", "--tools", f"{tools_file}:capital"]
    )
    assert twice.exit_code == 2 and "two tools are named capital" in twice.output
    down = runner.invoke(app, ["tools", "list", "--mcp", f"{sys.executable} -c pass"])
    assert down.exit_code == 1 and "could not connect" in down.output


def _scripted(monkeypatch: pytest.MonkeyPatch, replies: list[str]) -> ScriptedLLM:
    llm = ScriptedLLM(replies)
    monkeypatch.setattr("interlace.cli._options.load_llm", lambda spec, threads=None: llm)
    return llm


def test_run_with_module_tools(tools_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = '1. capital("Italy")\n2. population($1)\n3. join()\n<END_OF_PLAN>'
    llm = _scripted(monkeypatch, [plan, "Thought: 3 million.\nAction: Finish(3)"])
    result = runner.invoke(
        app, ["run", "How many live in Italy's capital?", "--tools", f"{tools_file}:TOOLS"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "▶ capital(country='Italy')" in result.output
        and "✓ population(city='Rome')" in result.output
    )
    assert "Answer: 3" in result.output
    planner_prompt = llm.requests[0].messages[0].content
    assert "population(city: str, year: int = 2020)" in planner_prompt
    assert "search(entity" not in planner_prompt  # your tools replace the built-in ones


def test_run_with_mcp_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = "1. add(2, 3)\n2. add($1, 10)\n3. join()\n<END_OF_PLAN>"
    _scripted(monkeypatch, [plan, "Thought: 15.\nAction: Finish(15)"])
    result = runner.invoke(app, ["run", "What is 2 + 3 + 10?", "--mcp", MCP])
    assert result.exit_code == 0, result.output
    assert "▶ add(a=2, b=3)" in result.output and "✓ add(a=5, b=10)" in result.output
    assert "Answer: 15" in result.output and "2 tool calls" in result.output


def test_run_with_examples_file(tools_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    examples = tools_file.with_name("ex.toml")
    examples.write_text(
        'planner = """\nQuestion: Capital of Spain?\n1. capital("Spain")\n2. join()\n"""\n'
    )
    plan = '1. capital("France")\n2. join()\n<END_OF_PLAN>'
    llm = _scripted(monkeypatch, [plan, "Thought: Paris.\nAction: Finish(Paris)"])
    result = runner.invoke(
        app,
        [
            "run",
            "Capital of France?",
            "--tools",
            f"{tools_file}:capital",
            "--examples",
            str(examples),
        ],
    )
    assert result.exit_code == 0, result.output
    assert 'capital("Spain")' in llm.requests[0].messages[0].content


def test_tools_list_takes_langchain_tools(tmp_path: Path) -> None:
    module = tmp_path / "lc_tools.py"
    module.write_text(
        "from langchain_core.tools import tool\n\n\n"
        "@tool\ndef multiply(a: int, b: int) -> int:\n"
        '    """Multiply two integers."""\n'
        "    return a * b\n"
    )
    result = runner.invoke(app, ["tools", "list", "--tools", f"{module}:multiply"])
    assert result.exit_code == 0, result.output
    assert "multiply(a: int, b: int) - Multiply two integers." in result.output
