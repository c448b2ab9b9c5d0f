"""Entry point of the gateway role (`python services/gateway.py`); same as `aether serve`."""

from aether.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", "--service", "gateway"]))
