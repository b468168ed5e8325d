"""The ChronoTick tools registered on a FastMCP server, for any transport.

Each tool's logic and result model live in tools.py; this module only adapts them to FastMCP.
"""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError, ValidationError
from fastmcp.server.middleware import Middleware, MiddlewareContext
from mcp.types import ToolAnnotations
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from chronotick_engine import DEFAULT_PATH, ChronoTickClient
from chronotick_mcp import tools

INSTRUCTIONS = (
    "ChronoTick gives the current time with an honest 95% error bar from a local daemon that disciplines "
    "the clock against NTP. Prefer get_time over guessing the date or time; check status and uncertainty_ms "
    "before relying on sub-second precision."
)


class OneLineArgumentErrors(Middleware):
    """Bad tool arguments come back as a one-line error result, not pydantic's multi-line report."""

    async def on_call_tool(self, context: MiddlewareContext, call_next):  # type: ignore[override]
        try:
            return await call_next(context)
        except ValidationError as exc:
            cause = exc.__cause__
            if isinstance(cause, PydanticValidationError) and cause.errors():
                err = cause.errors()[0]
                where = ".".join(str(p) for p in err["loc"]) or "arguments"
                raise ToolError(f"invalid argument {where}: {err['msg']}") from None
            raise ToolError(f"invalid arguments: {str(exc).splitlines()[0]}") from None


def _annotations(title: str) -> ToolAnnotations:
    return ToolAnnotations(title=title, read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def build_server(shm_path: str = DEFAULT_PATH) -> FastMCP:
    mcp = FastMCP("chronotick", instructions=INSTRUCTIONS, middleware=[OneLineArgumentErrors()])
    client = ChronoTickClient(shm_path)

    @mcp.tool(
        description=tools.GET_TIME_DESCRIPTION,
        annotations=_annotations("Get corrected time"),
        run_in_thread=False,
    )
    def get_time(
        timezone: Annotated[
            str | None, Field(description="IANA time zone for the iso field, e.g. 'Asia/Tokyo'; default UTC")
        ] = None,
    ) -> tools.TimeResult:
        try:
            return tools.get_time(client, timezone)
        except tools.ToolFailure as exc:
            raise ToolError(str(exc)) from None

    @mcp.tool(
        description=tools.STATUS_DESCRIPTION,
        annotations=_annotations("Get daemon status"),
        run_in_thread=False,
    )
    def get_daemon_status() -> tools.DaemonStatusResult:
        try:
            return tools.get_daemon_status(client)
        except tools.ToolFailure as exc:
            raise ToolError(str(exc)) from None

    @mcp.tool(
        description=tools.FUTURE_DESCRIPTION,
        annotations=_annotations("Get time with future uncertainty"),
        run_in_thread=False,
    )
    def get_time_with_future_uncertainty(
        future_seconds: Annotated[
            float, Field(ge=0, le=3600, allow_inf_nan=False, description="horizon in seconds, 0-3600")
        ],
    ) -> tools.FutureTimeResult:
        try:
            return tools.get_time_with_future_uncertainty(client, future_seconds)
        except tools.ToolFailure as exc:
            raise ToolError(str(exc)) from None

    return mcp
