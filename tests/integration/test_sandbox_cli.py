"""`aether sandbox run` and `aether sandbox check` as a user runs them, in the configured sandbox
(gVisor here; the process fallback where runsc is missing outside CI)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from aether import cli
from tests.integration.test_sandbox_gvisor import require_runsc

SCRIPT = """
import json
import logging
from collections.abc import Iterator
readings = json.load(open("input/readings.json"))
print(f"{len(readings)} readings")
json.dump({"total": sum(readings)}, open("output/result.json", "w"))
open("output/table.csv", "w").write("total\\n%s\\n" % sum(readings))
"""


@pytest.fixture(autouse=True)
def environment(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The session's root cache, a data directory of the test's own, and the root logger as it
    was (the command configures logging onto the captured stderr)."""
    require_runsc()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg"))
    monkeypatch.setenv("AETHER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SANDBOX", "gvisor")
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_run_prints_what_the_script_produced_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "analysis.py").write_text(SCRIPT)
    (tmp_path / "readings.json").write_text("[1.5, 2.5, 3]")

    status = cli.main(["sandbox", "run", "analysis.py", "--input", "readings.json", "--json"])

    report = json.loads(capsys.readouterr().out)
    assert status == 0
    assert report["ok"] is True
    assert report["sandbox"].startswith("gvisor")
    assert report["stdout"] == "3 readings\n"
    assert report["result"] == {"total": 7.0}
    assert [file["name"] for file in report["files"]] == ["result.json", "table.csv"]


def test_run_reports_a_failing_script_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.py").write_text("print('starting')\n1 / 0\n")

    status = cli.main(["sandbox", "run", "broken.py"])

    err = capsys.readouterr().err
    assert status == 1
    assert "ZeroDivisionError: division by zero" in err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("-- failed: script failed: ZeroDivisionError: division by zero (gvisor")
    )


def test_check_prints_one_passing_line_per_check(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["sandbox", "check"])

    lines = capsys.readouterr().out.splitlines()
    assert status == 0, "\n".join(lines)
    assert lines[0].startswith("      sandbox: gvisor")
    names = [line.split(":", 1)[0] for line in lines[1:]]
    assert names == [
        "ok    job runs",
        "ok    network blocked",
        "ok    host files unreadable",
        "ok    job unprivileged",
        "ok    writes confined to output/",
        "ok    memory limited to 256 MiB",
        "ok    processes limited to 32",
        "ok    time limited to 5 s",
        "ok    standard output limited",
        "ok    file size limited to 16 MiB",
    ]
