"""Runs analysis code out of process, behind a `Runner`, so the isolation can change underneath.

Deliberately empty: `job_main` imports this package inside the sandbox, where only pandas, pyarrow,
pydantic and `aether.analysis` exist; import the runner modules themselves.
"""
