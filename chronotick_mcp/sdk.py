"""The ChronoTick tools as claude-agent-sdk in-process tools (extra `chronotick[sdk]`).

    from chronotick_mcp.sdk import get_time, get_daemon_status, get_time_with_future_uncertainty
    server = create_sdk_mcp_server(name="chronotick", version="1.0.0", tools=[get_time, ...])

or simply `create_chronotick_server()`, which serves every tool (`ALL_TOOLS`). Each tool's input
schema is its input model's (tools.py); replies carry the same JSON as the stdio tools' structured
content. The segment path comes from $CHRONOTICK_SHM_PATH (default /dev/shm/chronotick_shm), the
local zone from $TZ or the system. With no daemon, the tools are served by the engine in this
process (`engine="auto"`, the default), exactly as `chronotick-stdio-server --engine auto` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claude_agent_sdk import SdkMcpTool, create_sdk_mcp_server, tool

from chronotick_engine import default_path
from chronotick_engine.embedded import ClockChoice
from chronotick_engine.embedded.choice import DEFAULT_SYNC_WAIT_S
from chronotick_mcp import tools
from chronotick_mcp.zones import local_zone_name

# The SDK re-checks each input schema against its metaschema on every call (jsonschema.validate):
# against 2020-12, the default dialect, that costs ~0.6 ms a call; against draft-07 ~0.1 ms. Our
# schemas use nothing newer than draft-07, the dialect most MCP servers already declare.
_DIALECT = {"$schema": "http://json-schema.org/draft-07/schema#"}
_ctx: tools.ToolContext | None = None


def _context() -> tools.ToolContext:
    """The module-level tools' context: auto over $CHRONOTICK_SHM_PATH (followed when it changes)."""
    global _ctx
    path = default_path()
    if _ctx is None or _ctx.clock.segment.shm_path != path:
        _ctx = tools.ToolContext(ClockChoice("auto", path), local_zone_name())
    return _ctx


def _sdk_tool(spec: tools.ToolSpec, context: Callable[[], tools.ToolContext] = _context) -> SdkMcpTool[Any]:
    schema = {**_DIALECT, **spec.input.model_json_schema()}
    schema.pop("title", None)

    async def handler(args: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await spec.acall(context(), args)
        except tools.ToolFailure as exc:
            return {"content": [{"type": "text", "text": str(exc)}], "is_error": True}
        return {"content": [{"type": "text", "text": result.model_dump_json()}]}

    return tool(spec.name, spec.description, schema, annotations=spec.annotations)(handler)


ALL_TOOLS: list[SdkMcpTool[Any]] = [_sdk_tool(spec) for spec in tools.TOOLS]
_BY_NAME = {t.name: t for t in ALL_TOOLS}
get_time = _BY_NAME["get_time"]
get_current_time = _BY_NAME["get_current_time"]
convert_time = _BY_NAME["convert_time"]
compare_times = _BY_NAME["compare_times"]
time_until = _BY_NAME["time_until"]
get_daemon_status = _BY_NAME["get_daemon_status"]
get_time_with_future_uncertainty = _BY_NAME["get_time_with_future_uncertainty"]
shift_time = _BY_NAME["shift_time"]
time_between = _BY_NAME["time_between"]
add_business_days = _BY_NAME["add_business_days"]
date_info = _BY_NAME["date_info"]
next_occurrences = _BY_NAME["next_occurrences"]
__all__ = [t.name for t in ALL_TOOLS] + ["ALL_TOOLS", "create_chronotick_server"]


def create_chronotick_server(
    name: str = "chronotick",
    version: str = "1.0.0",
    *,
    engine: str = "auto",
    config: str | None = None,
    sync_wait: float = DEFAULT_SYNC_WAIT_S,
    shm_path: str | None = None,
    local_timezone: str | None = None,
    clock: ClockChoice | None = None,
):
    """The ready McpSdkServerConfig for ClaudeAgentOptions(mcp_servers={"chronotick": ...}).

    `engine`, `config` and `sync_wait` are chronotick-stdio-server's --engine, --config and
    --sync-wait (a bad one raises ChronoTickError with a one-line message); or pass a `clock`
    (a ClockChoice) of your own, and close() it when done. An engine that will serve starts now,
    in the background. The server's tools are its own: other servers and the module-level tools
    keep theirs."""
    clock = clock or ClockChoice(engine, shm_path or default_path(), config, sync_wait)
    ctx = tools.ToolContext(clock, local_zone_name(local_timezone))
    clock.start()
    own = [_sdk_tool(spec, lambda: ctx) for spec in tools.TOOLS]
    return create_sdk_mcp_server(name=name, version=version, tools=own)
