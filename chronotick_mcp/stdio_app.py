"""The ChronoTick tools on the mcp SDK's own MCPServer, for the stdio transport.

Claude Code starts the stdio server at the beginning of every session and waits for it, so its
cold start matters. FastMCP costs more to import than the SDK's MCPServer (which the official time
server is built on) and imports its session store on the first call; over stdio nothing of
FastMCP's is needed. The tools, their models and their one-line errors are tools.py's, exactly as
over HTTP (app.py, FastMCP, for its bearer-token auth).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent
from pydantic.json_schema import PydanticJsonSchemaWarning

from chronotick_engine import DEFAULT_PATH
from chronotick_engine.embedded import ClockChoice
from chronotick_mcp import tools
from chronotick_mcp.zones import local_zone_name


class _Absent:
    """The default of every parameter: an argument the caller did not give (None may be given)."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def _tool(spec: tools.ToolSpec, ctx: tools.ToolContext) -> Tool:
    """An MCPServer tool whose advertised schemas are the spec's models. Its Python signature takes
    any argument, so that the input model alone validates them and a bad one is tools.py's
    one-line error, not the SDK's multi-line report."""

    async def handler(**kwargs: Any) -> Any:
        given = {k: v for k, v in kwargs.items() if v is not _ABSENT}
        try:
            return await spec.acall(ctx, given)
        except tools.ToolFailure as exc:
            return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)

    lax = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=_ABSENT, annotation=Any)
        for name in spec.input.model_fields
    ]
    handler.__signature__ = inspect.Signature(lax, return_annotation=spec.result)  # type: ignore[attr-defined]
    handler.__annotations__ = {**dict.fromkeys(spec.input.model_fields, Any), "return": spec.result}
    handler.__name__ = handler.__qualname__ = spec.name
    with warnings.catch_warnings():
        # The SDK derives a schema from this lax signature, whose <absent> defaults have no JSON
        # form; that schema is replaced below by the input model's, so its warning (which Claude
        # Code would show in its MCP log) says nothing true.
        warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
        tool = Tool.from_function(
            handler,
            name=spec.name,
            title=spec.title,
            description=spec.description,
            annotations=spec.annotations,
            structured_output=True,
        )
    schema = spec.input.model_json_schema()
    schema.pop("title", None)
    return tool.model_copy(update={"parameters": schema})


class _StrictArgumentsServer(MCPServer):
    """The SDK passes a tool only the arguments its signature names and drops the rest; an argument
    the schema does not name (additionalProperties: false) is refused here instead, in one line.

    The calendar tools join once the handshake is over (or at the first tools request, should a
    client skip `notifications/initialized`): building their models would otherwise delay
    `initialize`, which Claude Code waits for at the start of every session."""

    def __init__(self, *args: Any, ctx: tools.ToolContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ctx: tools.ToolContext | None = ctx

    def add_calendar_tools(self) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is None:
            return
        # mcp 2.x's MCPServer builds a Tool from a function's signature only; ours carry the input
        # model's schema instead (see _tool), so they go into its tool table as built.
        table = self._tool_manager._tools
        for spec in tools.CALENDAR_TOOLS:
            table.setdefault(spec.name, _tool(spec, ctx))

    async def list_tools(self) -> Any:
        self.add_calendar_tools()
        return await super().list_tools()

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        self.add_calendar_tools()
        spec = tools.BY_NAME.get(name)
        if spec is not None:
            try:
                spec.validate(arguments)
            except tools.ToolFailure as exc:
                return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)
        return await super().call_tool(name, arguments, context)


def build_stdio_server(
    shm_path: str = DEFAULT_PATH, *, local_timezone: str | None = None, clock: ClockChoice | None = None
) -> MCPServer:
    """The stdio server. `clock` chooses the engine (default: auto, over `shm_path`); an engine that
    will serve starts once the client has finished initialising, so it never delays `initialize`
    (its imports, on its own thread, would compete for the interpreter with the handshake's)."""
    clock = clock or ClockChoice("auto", shm_path)
    ctx = tools.ToolContext(clock, local_zone_name(local_timezone))
    server = _StrictArgumentsServer(
        "chronotick",
        version=tools.package_version(),
        instructions=tools.INSTRUCTIONS,
        tools=[_tool(spec, ctx) for spec in tools.CORE_TOOLS],
        subscriptions=False,
        ctx=ctx,
    )

    async def start_engine_after_handshake(mctx: Any, call_next: Any) -> Any:
        result = await call_next(mctx)
        if mctx.method == "notifications/initialized":
            server.add_calendar_tools()
            clock.start()
        return result

    server.middleware.append(start_engine_after_handshake)
    return server
