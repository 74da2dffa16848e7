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
    #: Send the body one byte at a time, this many seconds apart (a server that never
    #: trips a per-read timeout but never finishes either).
    drip: float = 0.0
    #: Send this many bytes of the body, then reset the connection (TCP RST).
    reset_after: int | None = None


Handler = Callable[[Request], Reply]


class _QuietServer(ThreadingHTTPServer):
    """A client hanging up mid-answer (a refused bomb, a deadline) is no test failure."""

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


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
                    if reply.reset_after is not None:
                        import socket
                        import struct

                        self.wfile.write(body[: reply.reset_after])
                        self.wfile.flush()
                        self.connection.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        self.close_connection = True
                        return
                    if reply.drip:
                        for offset in range(len(body)):
                            self.wfile.write(body[offset : offset + 1])
                            self.wfile.flush()
                            time.sleep(reply.drip)
                    else:
                        self.wfile.write(body)
                    self.wfile.flush()
                    if reply.truncate_to is not None:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._httpd = _QuietServer(("127.0.0.1", 0), _Handler)
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


def gzip_bomb(size: int) -> bytes:
    """A gzip body that inflates to ``size`` zero bytes (about 1/1000 of that on the wire).

    Built from identical full-flushed deflate blocks, so a 512 MB bomb takes a fraction of a
    second instead of compressing 512 MB.
    """
    import struct
    import zlib

    block = bytes(1 << 20)
    packer = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    one = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    whole, rest = divmod(size, len(block))
    tail = packer.compress(block[:rest]) + packer.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(whole):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(block[:rest], crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)
    return header + one * whole + tail + trailer
