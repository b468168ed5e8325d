"""A 401 that says what is wrong and how to fix it.

FastMCP's bearer-token verifier answers a missing or wrong token with a bare 401 and no body, and
Claude Code then shows only "Failed to connect". This ASGI middleware gives such a 401 a JSON body
(RFC 6750's `error` and `error_description`) saying whether the token was missing or wrong, and how
to give it; everything else passes through untouched.
"""

from __future__ import annotations

import json
from typing import Any

HOW = 'give it as a header, e.g. claude mcp add --transport http NAME URL --header "Authorization: Bearer <token>"'


class ExplainUnauthorized:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        given = any(k == b"authorization" for k, _ in scope.get("headers", ()))
        held: dict[str, Any] = {}

        async def explain(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                held["start"] = message
                return
            if "start" in held and message["type"] == "http.response.body":
                start = held.pop("start")
                body = message.get("body", b"")
                if not body and not message.get("more_body"):
                    why = "the bearer token is wrong" if given else "this server needs a bearer token"
                    body = json.dumps(
                        {"error": "invalid_token", "error_description": f"{why}: {HOW}"}
                    ).encode()
                    headers = [
                        (k, v) for k, v in start["headers"] if k not in (b"content-length", b"content-type")
                    ]
                    headers += [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ]
                    start = {**start, "headers": headers}
                    message = {**message, "body": body}
                await send(start)
            await send(message)

        await self.app(scope, receive, explain)
