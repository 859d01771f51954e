"""A stand-in for `reflex run` in `atlas run`'s supervisor tests (ATLAS_RUN_WEB_COMMAND): answers GET /ping on the
port given, ignores SIGTERM as `reflex run` does without a terminal, and has a grandchild in its process group
that ignores SIGTERM too (as Reflex's backend and bun are)."""

from __future__ import annotations

import signal
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

IGNORE = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)"


class _Ping(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ping" else 404)
        self.end_headers()
        self.wfile.write(b"pong")

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen([sys.executable, "-c", IGNORE])
    print(f"stub web on port {sys.argv[1]}, grandchild {grandchild.pid}", flush=True)
    HTTPServer(("127.0.0.1", int(sys.argv[1])), _Ping).serve_forever()


if __name__ == "__main__":
    main()
