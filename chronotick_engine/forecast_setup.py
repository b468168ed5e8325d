"""Attaching the optional TimesFM forecasters to a daemon's clock model.

The TimesFM backend is not part of this build yet: enabling it is reported in one line and the
daemon carries on with the classical model, with models_ready false.
"""

from __future__ import annotations

import logging

from chronotick_engine.config import ChronoTickConfig

log = logging.getLogger("chronotick.forecast")


def attach_forecasters(daemon: object, cfg: ChronoTickConfig) -> bool:
    """Returns whether any forecaster was attached."""
    if not (cfg.short_term.enabled or cfg.long_term.enabled):
        return False
    log.warning(
        "TimesFM forecasters requested but this build has no TimesFM backend; using the classical model"
    )
    return False
