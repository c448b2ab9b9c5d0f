"""Entry point of the architect role (`python services/architect.py`); same as
`aether serve --service architect`."""

import sys

from aether.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", "--service", "architect", *sys.argv[1:]]))
