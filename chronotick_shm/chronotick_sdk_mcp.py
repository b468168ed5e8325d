"""The deployment guide's name for the in-process agent tools (claude-agent-sdk, the `sdk` extra).

Thin re-exports of chronotick_mcp.sdk: every tool it has, `ALL_TOOLS` and `create_chronotick_server`.
"""

try:
    from chronotick_mcp.sdk import *  # noqa: F403
    from chronotick_mcp.sdk import __all__  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name and exc.name.split(".")[0] in ("claude_agent_sdk", "mcp", "fastmcp"):
        raise ModuleNotFoundError(
            f"chronotick_shm.chronotick_sdk_mcp needs the sdk extra: pip install 'chronotick[sdk]' "
            f"(missing {exc.name})",
            name=exc.name,
        ) from None
    raise
