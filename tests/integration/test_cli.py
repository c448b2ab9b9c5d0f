"""The `aether` command as a user runs it."""

import subprocess
import sys
from pathlib import Path


def test_the_command_stops_with_one_line_on_a_bad_setting(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aether.cli", "serve"],
        env={"PORT": "eighty", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("aether: invalid setting: PORT:")
