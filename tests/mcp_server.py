"""A tiny MCP server for the tests, built with the official SDK (``MCPServer``, once FastMCP).

``python tests/mcp_server.py`` serves over stdio; ``python tests/mcp_server.py http`` serves
streamable HTTP on 127.0.0.1 at a free port, printing its URL as the first line of stdout once
the socket listens (so a test can connect at once, without polling or sleeping).
"""

from __future__ import annotations

import socket
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("interlace-test")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool(name="shout-text")
def shout(text: str, times: int = 1) -> str:
    """Upper-case a text, repeated."""
    return " ".join([text.upper()] * times)


@server.tool()
def fail(reason: str) -> str:
    """Always fails, with the reason."""
    raise ToolError(f"refused: {reason}")


def _serve_http() -> None:
    import anyio
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning")
    print(f"http://127.0.0.1:{sock.getsockname()[1]}/mcp", flush=True)
    anyio.run(uvicorn.Server(config).serve, [sock])


if __name__ == "__main__":
    if sys.argv[1:] == ["http"]:
        _serve_http()
    else:
        server.run()
