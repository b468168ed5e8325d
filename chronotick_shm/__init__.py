"""The deployment guide's name for the client library: `from chronotick_shm import ChronoTickClient`.

Thin re-exports only; everything is defined in chronotick_engine. The agent tools are in
`chronotick_shm.chronotick_sdk_mcp` (the `sdk` extra).
"""

from chronotick_engine import *  # noqa: F403
from chronotick_engine import __all__  # noqa: F401
