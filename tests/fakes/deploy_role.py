"""A stand-in for one Aether role, for the launcher's tests (standard library only).

It listens on HOST:PORT like a real role and serves `/health`, `/ready`, `/env` (the variables the
launcher handed it) and `/die?code=N` (exit at once with N). Flags make it misbehave on purpose:
refuse to start while a dependency is not ready, stay unready until a file exists, fail at start,
ignore SIGTERM, or leave a child process in its group.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

SHOWN_ENV = ("HOST", "PORT", "SERVICE_TOKEN", "DEPLOYMENT_MODE", "AETHER_DATA_DIR", "ROLE_NOTE")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--needs", nargs="*", default=[], help="URL variables that must be ready")
    parser.add_argument("--ready-file", type=Path, help="unready until this file exists")
    parser.add_argument("--fail-start", type=int, help="print a line and exit with this code")
    parser.add_argument("--ignore-sigterm", action="store_true")
    parser.add_argument("--child-pid-file", type=Path, help="start a child; write its pid here")
    args = parser.parse_args()
    name: str = args.name

    if args.fail_start is not None:
        print(f"{name}: failing on purpose", flush=True)
        return int(args.fail_start)
    for variable in args.needs:
        urls = os.environ.get(variable)
        # A role with several replicas is given every replica's URL, comma-separated.
        if urls is None or not all(_answers(f"{url}/ready") for url in urls.split(",")):
            print(f"{name}: dependency {variable}={urls} is not ready", flush=True)
            return 4
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.child_pid_file is not None:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        args.child_pid_file.write_text(str(child.pid))

    ready_file: Path | None = args.ready_file

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/health":
                self._send(200, {"status": "ok", "role": name})
            elif parts.path == "/ready":
                ready = ready_file is None or ready_file.exists()
                self._send(200 if ready else 503, {"ready": ready})
            elif parts.path == "/env":
                shown = {
                    k: v for k, v in os.environ.items() if k in SHOWN_ENV or k.endswith("_URL")
                }
                self._send(200, shown)
            elif parts.path == "/die":
                code = int(parse_qs(parts.query).get("code", ["1"])[0])
                self._send(200, {"dying": code})
                print(f"{name}: dying with code {code}", flush=True)
                os._exit(code)
            else:
                self._send(404, {"error": "not found"})

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests read the role's own lines, not an access log."""

    server = ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler)
    print(f"{name} listening on {os.environ['PORT']}", flush=True)
    print(f"{name}: stderr works too", file=sys.stderr, flush=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    thread.join()
    return 0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError):
        return False


if __name__ == "__main__":
    raise SystemExit(main())
