"""A tiny HTTP endpoint on 127.0.0.1 that hands every JSON body it receives to a callback: where
custom resources answer CloudFormation, and where the Slack formatter posts."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonReceiver:
    def __init__(self, on_body: Callable[[Any], None], *, path: str = "/"):
        self.path = path

        class Handler(BaseHTTPRequestHandler):
            def _receive(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                on_body(json.loads(body or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_PUT(self) -> None:
                self._receive()

            def do_POST(self) -> None:
                self._receive()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the callback records what matters."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def stop(self) -> None:
        self.server.shutdown()
