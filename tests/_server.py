"""A real HTTP server on 127.0.0.1 for tests: routes map a path to a handler.

A handler gets the request (path, query, headers) and returns ``Reply(status, body, headers)``.
``delay`` on the server adds latency to every request (used by the benchmarks).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """What a route handler sees of the request."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    """What a route handler answers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Send only this many bytes of the body while announcing the full length (truncation).
    truncate_to: int | None = None
    #: Sleep this long before answering (timeouts).
    sleep: float = 0.0


Handler = Callable[[Request], Reply]


class LoopbackServer:
    """A threading HTTP server on 127.0.0.1, port chosen by the OS.

    Routes: exact path -> handler, or a prefix ending in ``*`` -> handler. Unknown paths: 404.
    Every request is logged in ``requests`` (path and query) for assertions.
    """

    def __init__(self, routes: dict[str, Handler] | None = None, delay: float = 0.0) -> None:
        self.routes: dict[str, Handler] = dict(routes or {})
        self.delay = delay
        self.requests: list[Request] = []
        #: Requests being answered right now, and the most there ever were at once.
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                request = Request(
                    parts.path, query, {k.lower(): v for k, v in self.headers.items()}
                )
                with server._lock:
                    server.requests.append(request)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.delay:
                        time.sleep(server.delay)
                    reply = server._route(request)
                    if reply.sleep:
                        time.sleep(reply.sleep)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Length": str(len(reply.body)), **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if reply.truncate_to is not None:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    body = (
                        reply.body if reply.truncate_to is None else reply.body[: reply.truncate_to]
                    )
                    self.wfile.write(body)
                    self.wfile.flush()
                    if reply.truncate_to is not None:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _route(self, request: Request) -> Reply:
        handler = self.routes.get(request.path)
        if handler is None:
            for pattern, candidate in self.routes.items():
                if pattern.endswith("*") and request.path.startswith(pattern[:-1]):
                    handler = candidate
                    break
        if handler is None:
            return Reply(404, b"not found")
        return handler(request)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43125``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
