"""Server-sent events as a test reads them: one dict per event, its fields by name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def sse_frames(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Events as {id, event, data, retry} (the fields they carry); a comment line (a keep-alive)
    comes as {"comment": text}."""
    current: dict[str, Any] = {}
    for line in lines:
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif not line:
            if "data" in current:
                yield current
            current = {}
        else:
            field, _, value = line.partition(":")
            current[field] = value.removeprefix(" ")


def sse_events(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Every event of a whole stream, comments left out."""
    return [frame for frame in sse_frames(lines) if "comment" not in frame]
