"""Process-wide logging: one format for every service, level from LOG_LEVEL."""

from __future__ import annotations

import logging

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format=_FORMAT, force=True)
    # Access logs of every probe and chunk would drown the events that matter.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
