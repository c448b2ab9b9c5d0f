"""`python -m aether.deploy`: see aether.deploy.cli."""

from aether.deploy.cli import main

raise SystemExit(main())
