"""Entry point of the ds-analysts role (`python services/ds_analysts.py`); same as
`aether serve --service ds-analysts`."""

import sys

from aether.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", "--service", "ds-analysts", *sys.argv[1:]]))
