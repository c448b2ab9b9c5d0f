"""What goes into the sandbox's root, and when a root is rebuilt."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aether.sandbox.rootfs import (
    AETHER_FILES,
    PACKAGES,
    RootSources,
    _parse_ldd,
    real_interpreter,
)

LDD = """\
/root/python3.11:
\tlinux-vdso.so.1 (0x00007ffd)
\tlibpython3.11.so.1.0 => /opt/python/lib/libpython3.11.so.1.0 (0x00007f89)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f88)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f8a)
/root/_ctypes.so:
\tlibffi.so.8 => not found
"""


def test_ldd_output_yields_libraries_and_the_loader() -> None:
    assert list(_parse_ldd(LDD)) == [
        ("libpython3.11.so.1.0", Path("/opt/python/lib/libpython3.11.so.1.0")),
        ("libc.so.6", Path("/lib/x86_64-linux-gnu/libc.so.6")),
        (None, Path("/lib64/ld-linux-x86-64.so.2")),
    ]


def test_the_interpreter_is_a_real_binary_not_a_launcher() -> None:
    interpreter = real_interpreter()

    assert interpreter.read_bytes()[:4] == b"\x7fELF"
    assert not interpreter.is_symlink()


def test_only_the_analysis_libraries_and_their_requirements_are_taken() -> None:
    sources = RootSources.of_this_interpreter()

    names = {name.lower() for name, _ in sources.distributions}
    assert {"numpy", "pandas", "pyarrow", "pydantic", "pydantic_core"} <= names
    assert not names & {"fastapi", "sqlalchemy", "httpx", "openai", "uvicorn", "a2a-sdk"}
    assert set(PACKAGES) <= names


def test_aethers_job_side_is_taken_without_the_service() -> None:
    files = RootSources.of_this_interpreter().aether_files

    assert "sandbox/job_main.py" in files
    assert "sandbox/worker_main.py" in files
    assert "analysis/registry.py" in files
    assert not any(name.startswith(("gateway/", "store/", "mesh/", "llm/")) for name in files)
    assert "config.py" not in files
    assert "sandbox/charts.py" in files
    assert "sandbox/written.py" in files
    assert len(AETHER_FILES) == 9


def test_a_change_of_the_job_code_changes_the_fingerprint(tmp_path: Path) -> None:
    sources = RootSources.of_this_interpreter()
    edited = tmp_path / "registry.py"
    edited.write_text("# edited\n")

    changed = dataclasses.replace(
        sources, aether_files={**sources.aether_files, "analysis/registry.py": edited}
    )

    assert sources.fingerprint() == RootSources.of_this_interpreter().fingerprint()
    assert changed.fingerprint() != sources.fingerprint()
