"""Entry point of the ds-orchestrator role (`python services/ds_orchestrator.py`); same as
`aether serve --service ds-orchestrator`."""

import sys

from aether.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", "--service", "ds-orchestrator", *sys.argv[1:]]))
