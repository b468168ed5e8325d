"""The ChronoTick tools as claude-agent-sdk in-process tools (extra `chronotick[sdk]`).

    from chronotick_mcp.sdk import get_time, get_daemon_status, get_time_with_future_uncertainty
    server = create_sdk_mcp_server(name="chronotick", version="1.0.0", tools=[get_time, ...])

or simply `create_chronotick_server()`. Replies carry the same JSON as the stdio tools' structured
content. The segment path comes from $CHRONOTICK_SHM_PATH (default /dev/shm/chronotick_shm).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claude_agent_sdk import SdkMcpTool, create_sdk_mcp_server, tool
from mcp.types import ToolAnnotations
from pydantic import BaseModel

from chronotick_engine import ChronoTickClient, default_path
from chronotick_mcp import tools

_ANNOTATIONS = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
# The SDK re-checks each input schema against its metaschema on every call (jsonschema.validate):
# against 2020-12, the default dialect, that costs ~0.6 ms a call; against draft-07 ~0.1 ms. Our
# schemas use nothing newer than draft-07, the dialect most MCP servers already declare.
_DIALECT = {"$schema": "http://json-schema.org/draft-07/schema#"}
_client: ChronoTickClient | None = None


def _shared_client() -> ChronoTickClient:
    global _client
    path = default_path()
    if _client is None or _client.shm_path != path:
        _client = ChronoTickClient(path)
    return _client


def _reply(produce: Callable[[ChronoTickClient], BaseModel]) -> dict[str, Any]:
    try:
        result = produce(_shared_client())
    except tools.ToolFailure as exc:
        return {"content": [{"type": "text", "text": str(exc)}], "is_error": True}
    return {"content": [{"type": "text", "text": result.model_dump_json()}]}


@tool(
    "get_time",
    tools.GET_TIME_DESCRIPTION,
    {
        **_DIALECT,
        "type": "object",
        "properties": {
            "timezone": {"type": ["string", "null"], "description": "IANA zone for iso; default UTC"}
        },
        "additionalProperties": False,
    },
    annotations=_ANNOTATIONS,
)
async def get_time(args: dict[str, Any]) -> dict[str, Any]:
    return _reply(lambda c: tools.get_time(c, args.get("timezone")))


@tool(
    "get_daemon_status",
    tools.STATUS_DESCRIPTION,
    {**_DIALECT, "type": "object", "properties": {}, "additionalProperties": False},
    annotations=_ANNOTATIONS,
)
async def get_daemon_status(args: dict[str, Any]) -> dict[str, Any]:
    return _reply(tools.get_daemon_status)


@tool(
    "get_time_with_future_uncertainty",
    tools.FUTURE_DESCRIPTION,
    {
        **_DIALECT,
        "type": "object",
        "properties": {"future_seconds": {"type": "number", "minimum": 0, "maximum": 3600}},
        "required": ["future_seconds"],
        "additionalProperties": False,
    },
    annotations=_ANNOTATIONS,
)
async def get_time_with_future_uncertainty(args: dict[str, Any]) -> dict[str, Any]:
    return _reply(lambda c: tools.get_time_with_future_uncertainty(c, args["future_seconds"]))


ALL_TOOLS: list[SdkMcpTool[Any]] = [get_time, get_daemon_status, get_time_with_future_uncertainty]
__all__ = [t.name for t in ALL_TOOLS] + ["ALL_TOOLS", "create_chronotick_server"]


def create_chronotick_server(name: str = "chronotick", version: str = "1.0.0"):
    """The ready McpSdkServerConfig for ClaudeAgentOptions(mcp_servers={"chronotick": ...})."""
    return create_sdk_mcp_server(name=name, version=version, tools=ALL_TOOLS)
