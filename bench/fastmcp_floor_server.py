"""The cheapest FastMCP 4 stdio server: one tool returning a string, no schema, no middleware.

bench/mcp_roundtrip.py times it beside ChronoTick and mcp-server-time to show how much of a round
trip is FastMCP's own dispatch, which no tool on FastMCP can go below.
"""

from fastmcp import FastMCP

mcp = FastMCP("fastmcp-floor")


@mcp.tool
def get_time() -> str:
    return "0"


if __name__ == "__main__":
    mcp.run(transport="stdio", show_banner=False)
