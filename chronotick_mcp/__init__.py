"""ChronoTick as MCP tools: one implementation (tools.py), two transports (server.py, sdk.py)."""
