"""How the launcher writes: aligned role prefixes, and exits described in words."""

from __future__ import annotations

import io

from aether.deploy.logs import LogSink
from aether.deploy.process import describe_exit


def test_every_line_is_prefixed_with_its_role_padded_to_the_longest_name() -> None:
    stream = io.StringIO()
    sink = LogSink(["gateway", "ds-orchestrator"], stream=stream)
    sink.line("gateway", "started")
    sink.say("all ready")
    assert stream.getvalue().splitlines() == [
        "gateway         | started",
        "launcher        | all ready",
    ]


def test_exits_are_described_as_codes_or_signals() -> None:
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-15) == "SIGTERM"
    assert describe_exit(-9) == "SIGKILL"
    assert describe_exit(-200) == "signal 200"
    assert describe_exit(None) == "still running"
