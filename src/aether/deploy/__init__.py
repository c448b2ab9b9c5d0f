"""Runs the distributed mesh: the topology, its start order, and a launcher for local processes.

Split by job so each piece can be used and tested alone: `model` (what the topology file may say),
`loader` (reads and validates it), `plan` (stages, ports, environment: what to start and how),
`process` / `readiness` / `launcher` (start, wait, stop; `logs` prefixes the output, `ports`
checks them), `engine` (container engines for `make run-distributed`), `probe` (the containers'
health check) and `cli` (`python -m aether.deploy`). Nothing is imported here, so the probe,
which runs every few seconds in every container, starts fast.
"""
