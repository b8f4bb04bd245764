"""Tools from a real MCP server (tests/mcp_server.py, the official SDK), over stdio and HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlace import (
    LLMCompiler,
    ToolExecutionError,
    ToolSourceError,
    mcp_http_tools,
    mcp_stdio_tools,
)
from interlace.testing import ScriptedLLM

pytestmark = pytest.mark.anyio
SERVER = Path(__file__).with_name("mcp_server.py")
STDIO = [sys.executable, str(SERVER)]


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    """The URL of the test server on 127.0.0.1 (it prints it once its socket listens)."""
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "http"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_stdio_lists_tools_with_their_schemas() -> None:
    async with mcp_stdio_tools(STDIO) as tools:
        by_name = {t.name: t for t in tools}
        assert list(by_name) == ["add", "shout_text", "fail"]  # "shout-text" made an identifier
        add = by_name["add"]
        assert add.description == "Add two integers."
        assert add.parameters["required"] == ["a", "b"]
        assert add.render() == "add(a: int, b: int) - Add two integers."
        assert by_name["shout_text"].render().startswith("shout_text(text: str, times: int = 1)")
        assert add.openai_schema()["function"]["parameters"]["properties"]["a"]["type"] == (
            "integer"
        )


async def test_stdio_calls_return_values_and_server_errors_raise() -> None:
    async with mcp_stdio_tools(STDIO) as tools:
        by_name = {t.name: t for t in tools}
        assert await by_name["add"].invoke((2, "3"), {}) == 5  # "3" converted before sending
        assert await by_name["shout_text"].invoke(("hi",), {"times": 2}) == "HI HI"
        with pytest.raises(ToolExecutionError, match="refused: no"):
            await by_name["fail"].invoke(("no",), {})


PLAN = '1. add(2, 3)\n2. fail("no")\n3. add($1, 10)\n4. shout_text($2)\n5. join()\n<END_OF_PLAN>'


async def test_a_plan_over_mcp_tools_fails_only_the_failed_branch() -> None:
    async with mcp_stdio_tools(STDIO) as tools:
        llm = ScriptedLLM([PLAN, "Thought: 15.\nAction: Finish(15)"])
        result = await LLMCompiler(llm, tools, max_replans=0).run("What is 2 + 3 + 10?")
    assert result.answer == "15"
    assert result.tool_calls == 3  # add, fail, add; shout_text skipped (its input failed)
    errors = " ".join(result.errors)
    assert "refused: no" in errors
    joiner_prompt = llm.requests[-1].messages[-1].content
    assert "15" in joiner_prompt and "refused: no" in joiner_prompt


async def test_http_lists_and_calls(http_url: str) -> None:
    async with mcp_http_tools(http_url) as tools:
        by_name = {t.name: t for t in tools}
        assert sorted(by_name) == ["add", "fail", "shout_text"]
        assert await by_name["add"].invoke((), {"a": 40, "b": 2}) == 42
        with pytest.raises(ToolExecutionError, match="refused: x"):
            await by_name["fail"].invoke(("x",), {})


async def test_a_server_that_exits_is_a_tool_source_error() -> None:
    with pytest.raises(ToolSourceError, match="could not connect"):
        async with mcp_stdio_tools([sys.executable, "-c", "raise SystemExit(3)"]):
            pass


async def test_a_missing_command_is_a_tool_source_error() -> None:
    with pytest.raises(ToolSourceError, match="no-such-mcp-server"):
        async with mcp_stdio_tools("no-such-mcp-server --flag"):
            pass


async def test_an_unreachable_url_is_a_tool_source_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on (closed right away)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ToolSourceError, match=f"127.0.0.1:{port}"):
        async with mcp_http_tools(f"http://127.0.0.1:{port}/mcp", connect_timeout=10):
            pass


async def test_the_body_s_own_errors_pass_through_unchanged() -> None:
    with pytest.raises(KeyError, match="mine"):
        async with mcp_stdio_tools(STDIO):
            raise KeyError("mine")
