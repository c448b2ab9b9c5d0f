"""The containers' health check: `python -m aether.deploy.probe [PATH|URL]`, exit 0 on a 2xx answer.

Slim Python images have no curl, so the Containerfile, compose and anyone else probe with this.
A bare path is taken on this container's own port (PORT, default 8000). Only the standard library
is used, and nothing else of Aether is imported, so a probe costs a few milliseconds of start-up.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

TIMEOUT_SECONDS = 4.0


def probe_url(target: str, environ: dict[str, str] | None = None) -> str:
    if target.startswith(("http://", "https://")):
        return target
    env = os.environ if environ is None else environ
    return f"http://127.0.0.1:{env.get('PORT', '8000')}{target}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    url = probe_url(args[0] if args else "/health")
    # No proxy: a container's HTTP(S)_PROXY must never intercept a probe of itself.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=TIMEOUT_SECONDS) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        print(f"probe {url}: HTTP {exc.code}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"probe {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    raise SystemExit(main())
