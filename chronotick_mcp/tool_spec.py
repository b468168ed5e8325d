"""ToolSpec: one tool, defined once (name, title, description, input and result models, function),
from which every transport registers it: the stdio server (stdio_app.py), FastMCP over HTTP
(app.py) and the claude-agent-sdk server (sdk.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp.types import ToolAnnotations
from pydantic import BaseModel, ValidationError

from chronotick_mcp.clock import ToolContext, ToolFailure
from chronotick_mcp.models import ToolInput


def one_line(exc: ValidationError) -> str:
    """A pydantic validation error as the one line an agent reads."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "arguments"
    return f"invalid argument {where}: {err['msg']}"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input: type[ToolInput]
    result: type[BaseModel]
    run: Callable[[ToolContext, Any], BaseModel]
    # Reads the clock: waits (up to --sync-wait) for a starting embedded engine; a callable decides
    # from the validated arguments (a calendar tool given only fixed dates never waits).
    waits: bool | Callable[[Any], bool] = False

    @property
    def annotations(self) -> ToolAnnotations:
        """What every transport advertises: every ChronoTick tool only reads."""
        return ToolAnnotations(
            title=self.title, read_only_hint=True, idempotent_hint=True, open_world_hint=False
        )

    def validate(self, arguments: dict[str, Any] | None) -> ToolInput:
        """The input model of `arguments`; ToolFailure (one line) on any bad input."""
        try:
            return self.input.model_validate(arguments or {})
        except ValidationError as exc:
            raise ToolFailure(one_line(exc)) from None

    def call(self, ctx: ToolContext, arguments: dict[str, Any] | None) -> BaseModel:
        """Validate `arguments` and run at once (no wait for a starting engine)."""
        return self.run(ctx, self.validate(arguments))

    async def acall(self, ctx: ToolContext, arguments: dict[str, Any] | None) -> BaseModel:
        """What every transport runs: validate, let a starting engine settle, run."""
        args = self.validate(arguments)
        if self.waits(args) if callable(self.waits) else self.waits:
            await ctx.clock.settle()
        return self.run(ctx, args)
