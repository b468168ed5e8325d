"""The cheapest FastMCP 4 server: one tool returning a string, no schema, no middleware. stdio, or
Streamable HTTP on 127.0.0.1 with `--http PORT`.

bench/mcp_roundtrip.py times it beside ChronoTick and mcp-server-time to show how much of a round
trip is FastMCP's own dispatch, which no tool on FastMCP can go below.
"""

from fastmcp import FastMCP

mcp = FastMCP("fastmcp-floor")


@mcp.tool
def get_time() -> str:
    return "0"


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        mcp.run(transport="http", host="127.0.0.1", port=int(sys.argv[2]), show_banner=False)
    else:
        mcp.run(transport="stdio", show_banner=False)
