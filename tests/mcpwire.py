"""MCP on the wire, for tests and benchmarks that speak JSON-RPC without a client library."""

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "chronotick-test", "version": "1"},
    },
}


def call_stdio_tool(shm_path: str, tool: str, args: dict | None = None, *extra: str) -> dict:
    """One tool call through the real stdio server (serving the daemon at `shm_path` only), with the
    mcp SDK's client; the structured result, or AssertionError with the error text."""
    import asyncio
    import os
    import sys
    from pathlib import Path

    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    async def go() -> dict:
        params = StdioServerParameters(
            command=str(Path(sys.executable).parent / "chronotick-stdio-server"),
            args=["--shm-path", shm_path, "--engine", "daemon", *extra],
            env={**os.environ},
        )
        async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            result = await session.call_tool(tool, args or {})
            assert not result.is_error, result.content
            return result.structured_content

    return asyncio.run(go())
