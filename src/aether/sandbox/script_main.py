"""The job's side of a script job: run `input/script.py` as `__main__`, report an error as a file.

A script reads its inputs from `input/`, writes what it produces to `output/` and may print (its
output goes to a log file, and a job that prints too much fails). Stdlib and pydantic only at
import time, so a trivial script starts fast; the script imports what it uses.
Usage: `python -I -m aether.sandbox.script_main <job_dir>`.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from pathlib import Path

from aether.sandbox.layout import JobDir, JobError


def run_script(job_dir: JobDir) -> int:
    """The script's exit status: 0 when it returned, its own when it called `sys.exit`, 1 when
    it raised (then `output/error.json` says what)."""
    os.chdir(job_dir.root)
    sys.argv = [str(job_dir.script)]
    try:
        runpy.run_path(str(job_dir.script), run_name="__main__")
    except SystemExit as exc:
        return _exit_status(exc.code)
    except BaseException as exc:
        traceback.print_exc()
        _write_error(job_dir, exc)
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _write_error(job_dir: JobDir, exc: BaseException) -> None:
    # per process: every fork of a fork bomb reports, none may rename another's half-written file
    partial = job_dir.error.with_name(f"{job_dir.error.name}.{os.getpid()}.partial")
    try:
        partial.write_text(JobError.from_exception(exc).model_dump_json(), encoding="utf-8")
        os.replace(partial, job_dir.error)
    except OSError:
        pass  # the script may have filled its quota; the exit status still tells


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -I -m aether.sandbox.script_main <job_dir>", file=sys.stderr)
        return 2
    return run_script(JobDir(Path(argv[0])))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
