"""Structured logs: one JSON object per line, with the service, and the run and trace of the
call being served."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from aether.mesh.trace_context import bound_call, install_log_context
from aether.observability.logging import JsonFormatter, configure_logging

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    install_log_context()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("ds-analysts"))
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_names_the_service_run_and_trace(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("outside any run")
    with bound_call("run-1", CALLER):
        logger.warning("working on %s", "it", extra={"rows": 3})
    outside, inside = lines(stream)
    assert outside["service"] == "ds-analysts"
    assert (outside["run_id"], outside["trace_id"]) == ("-", "-")
    assert inside == inside | {
        "level": "WARNING",
        "service": "ds-analysts",
        "logger": "tests.observability",
        "message": "working on it",
        "run_id": "run-1",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "rows": 3,
    }
    assert str(inside["time"]).endswith("+00:00")


def test_exceptions_are_one_field_of_one_line(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("failed")
    (line,) = lines(stream)
    assert "ValueError: bad value" in str(line["exception"])


def test_text_format_shows_the_same_fields(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO", "architect", "text")
        with bound_call("run-2", CALLER):
            logging.getLogger("tests.text").info("hello")
        err = capsys.readouterr().err
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    assert (
        "INFO architect tests.text [run=run-2 trace=0af7651916cd43dd8448eb211c80319c]: hello" in err
    )
