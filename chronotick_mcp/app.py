"""The ChronoTick tools registered on a FastMCP server, for the stdio and HTTP transports.

Each tool's logic, input model and result model live in tools.py; this module only adapts them to
FastMCP: every parameter schema comes from the tool's input model, every output schema from its
result model.
"""

from __future__ import annotations

import inspect
import logging
from typing import Annotated, Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError, ValidationError
from fastmcp.server.middleware import Middleware, MiddlewareContext
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from chronotick_engine import DEFAULT_PATH
from chronotick_engine.embedded import ClockChoice
from chronotick_engine.errors import quoted
from chronotick_mcp import tools
from chronotick_mcp.zones import local_zone_name


class OneLineArgumentErrors(Middleware):
    """Bad tool arguments come back as a one-line error result, not pydantic's multi-line report."""

    async def on_call_tool(self, context: MiddlewareContext, call_next):  # type: ignore[override]
        try:
            return await call_next(context)
        except ValidationError as exc:
            cause = exc.__cause__
            if isinstance(cause, PydanticValidationError) and cause.errors():
                raise ToolError(tools.one_line(cause), log_level=logging.DEBUG) from None
            raise ToolError(
                f"invalid arguments: {quoted(str(exc).splitlines()[0])}", log_level=logging.DEBUG
            ) from None


def _handler(spec: tools.ToolSpec, ctx: tools.ToolContext):
    """A function whose signature is the input model's fields, for FastMCP to read its schema from."""

    async def handler(**kwargs: Any) -> Any:
        try:
            return await spec.acall(ctx, kwargs)
        except tools.ToolFailure as exc:
            # An answer to the caller (bad input, no daemon), not a fault of the server: no log line
            # per call, or one client could fill the server's log.
            raise ToolError(str(exc), log_level=logging.DEBUG) from None

    params = []
    hints: dict[str, Any] = {"return": spec.result}
    for name, field in spec.input.model_fields.items():
        hint = Annotated[(field.annotation, *field.metadata, Field(description=field.description))]
        default = inspect.Parameter.empty if field.is_required() else field.default
        params.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint)
        )
        hints[name] = hint
    handler.__signature__ = inspect.Signature(params, return_annotation=spec.result)  # type: ignore[attr-defined]
    handler.__annotations__ = hints
    handler.__name__ = handler.__qualname__ = spec.name
    return handler


def build_server(
    shm_path: str = DEFAULT_PATH,
    *,
    local_timezone: str | None = None,
    auth: Any = None,
    clock: ClockChoice | None = None,
) -> FastMCP:
    """Every tool of tools.TOOLS on one FastMCP server; `auth` is a FastMCP auth provider (HTTP).
    `clock` chooses the engine (default: auto, over `shm_path`)."""
    mcp = FastMCP(
        "chronotick",
        version=tools.package_version(),
        instructions=tools.INSTRUCTIONS,
        middleware=[OneLineArgumentErrors()],
        auth=auth,
    )
    ctx = tools.ToolContext(clock or ClockChoice("auto", shm_path), local_zone_name(local_timezone))
    for spec in tools.TOOLS:
        mcp.tool(
            _handler(spec, ctx),
            name=spec.name,
            description=spec.description,
            annotations=spec.annotations,
            run_in_thread=False,
        )
    return mcp
