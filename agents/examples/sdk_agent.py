"""An agent built with claude-agent-sdk that uses the in-process ChronoTick tools.

`python agents/examples/sdk_agent.py "When is 90 seconds from now, and how sure are you?"`
Needs `pip install 'chronotick[sdk]'`, the Claude Code CLI it bundles, and ANTHROPIC_API_KEY.
Without them it says exactly what is missing and exits 2.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys

PROMPT = "What time is it, to the millisecond, and how far can I trust that?"


def missing_requirements() -> list[str]:
    missing = []
    try:
        import claude_agent_sdk  # noqa: F401
    except ImportError:
        return ["the claude-agent-sdk package (pip install 'chronotick[sdk]')"]
    if not os.environ.get("ANTHROPIC_API_KEY"):
        missing.append("ANTHROPIC_API_KEY in the environment")
    bundled = os.path.join(os.path.dirname(claude_agent_sdk.__file__), "_bundled")
    if not (shutil.which("claude") or os.path.isdir(bundled)):
        missing.append("the Claude Code CLI (bundled with claude-agent-sdk, or `claude` on PATH)")
    return missing


async def run(prompt: str) -> None:
    from claude_agent_sdk import AssistantMessage, ClaudeAgentOptions, ClaudeSDKClient, TextBlock

    from chronotick_mcp.sdk import create_chronotick_server

    options = ClaudeAgentOptions(
        mcp_servers={"chronotick": create_chronotick_server()},
        allowed_tools=[
            "mcp__chronotick__get_time",
            "mcp__chronotick__get_daemon_status",
            "mcp__chronotick__get_time_with_future_uncertainty",
            "mcp__chronotick__get_current_time",
        ],
    )
    async with ClaudeSDKClient(options=options) as client:
        await client.query(prompt)
        async for message in client.receive_response():
            if isinstance(message, AssistantMessage):
                for block in message.content:
                    if isinstance(block, TextBlock):
                        print(block.text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    missing = missing_requirements()
    if missing:
        print("sdk_agent: cannot start the agent; missing: " + "; ".join(missing), file=sys.stderr)
        return 2
    try:
        asyncio.run(run(" ".join(argv) or PROMPT))
    except Exception as exc:  # CLI not found, auth failure, ...: one line, not a traceback
        print(f"sdk_agent: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
