"""The job side of a script job: exit statuses and the error file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aether.sandbox import script_main
from aether.sandbox.layout import JobDir, JobError


@pytest.fixture
def job_dir(tmp_path: Path) -> Iterator[JobDir]:
    directory = JobDir(tmp_path / "job")
    directory.create()
    cwd = os.getcwd()
    yield directory
    os.chdir(cwd)


def run(job_dir: JobDir, source: str) -> int:
    job_dir.script.write_text(source)
    return script_main.run_script(job_dir)


def test_a_script_runs_as_main_in_its_job_directory(job_dir: JobDir) -> None:
    source = "import os\nassert __name__ == '__main__'\nopen('output/cwd', 'w').write(os.getcwd())"

    assert run(job_dir, source) == 0
    assert (job_dir.output / "cwd").read_text() == str(job_dir.root)


def test_an_exception_is_status_1_and_an_error_file(job_dir: JobDir) -> None:
    assert run(job_dir, "raise KeyError('meter')") == 1

    error = JobError.model_validate_json(job_dir.error.read_text())
    assert (error.type, error.message) == ("KeyError", "'meter'")


def test_sys_exit_keeps_its_status(job_dir: JobDir) -> None:
    assert run(job_dir, "import sys\nsys.exit(3)") == 3
    assert run(job_dir, "import sys\nsys.exit()") == 0
    assert run(job_dir, "import sys\nsys.exit('bad input')") == 1
    assert not job_dir.error.exists()
