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
