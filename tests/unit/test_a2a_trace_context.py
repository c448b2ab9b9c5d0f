"""Trace context and service credentials: the small rules the A2A hops rely on."""

from __future__ import annotations

import logging

from aether.mesh.a2a_auth import SERVICE_CALLER, ServiceAuth
from aether.mesh.trace_context import (
    RUN_ID_HEADER,
    TRACEPARENT_HEADER,
    bound_call,
    current_call,
    incoming_traceparent,
    install_log_context,
    outgoing_headers,
    trace_id_for_run,
    valid_traceparent,
)

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_run_without_trace_context_gets_one_trace_for_all_its_calls() -> None:
    first, second = outgoing_headers("run-1"), outgoing_headers("run-1")
    assert first[RUN_ID_HEADER] == "run-1"
    trace = trace_id_for_run("run-1")
    assert first[TRACEPARENT_HEADER].startswith(f"00-{trace}-")
    assert second[TRACEPARENT_HEADER].startswith(f"00-{trace}-")
    assert first[TRACEPARENT_HEADER] != second[TRACEPARENT_HEADER]  # a new span per call
    assert valid_traceparent(first[TRACEPARENT_HEADER])


def test_calls_made_while_serving_a_call_continue_its_trace() -> None:
    with bound_call("run-2", incoming_traceparent({"Traceparent": CALLER})) as call:
        assert current_call() == call
        outgoing = outgoing_headers("run-2")[TRACEPARENT_HEADER]
    assert outgoing.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert outgoing.split("-")[2] != "b7ad6b7169203331"
    assert current_call() is None


def test_malformed_trace_context_is_ignored() -> None:
    assert valid_traceparent("garbage") is None
    assert valid_traceparent("00-" + "0" * 32 + "-b7ad6b7169203331-01") is None
    assert valid_traceparent(None) is None
    with bound_call("run-3", incoming_traceparent({"traceparent": "nope"})) as call:
        assert call.trace_id == trace_id_for_run("run-3")


def test_log_records_carry_the_run_and_trace() -> None:
    install_log_context()
    logger = logging.getLogger("test.a2a.trace")
    with bound_call("run-4", CALLER):
        inside = logger.makeRecord("x", logging.INFO, "f", 1, "inside", (), None)
    outside = logger.makeRecord("x", logging.INFO, "f", 1, "outside", (), None)
    assert (inside.__dict__["run_id"], inside.__dict__["trace_id"]) == (
        "run-4",
        "0af7651916cd43dd8448eb211c80319c",
    )
    assert (outside.__dict__["run_id"], outside.__dict__["trace_id"]) == ("-", "-")


def test_service_auth_accepts_the_token_and_api_keys_only_as_bearer() -> None:
    auth = ServiceAuth("token", ["key-1"])
    assert auth.enabled
    assert auth.caller("Bearer token") == SERVICE_CALLER
    assert (auth.caller("bearer key-1") or "").startswith("api-key-")
    assert auth.caller("Bearer nope") is None
    assert auth.caller("token") is None
    assert auth.caller(None) is None
    assert not ServiceAuth(None, []).enabled
