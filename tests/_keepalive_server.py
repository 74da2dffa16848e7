"""A raw HTTP/1.1 server on 127.0.0.1 that keeps connections alive and can drip its head.

``http.server`` writes a response's status line and headers in one piece, so it cannot
play a server that stalls *before* the body. This one reads requests off each connection
in turn and answers request number ``n`` (counted per connection, from 1) whole, or, when
``n`` is in ``drip_from``-and-later, byte by byte with ``drip`` seconds between bytes,
status line and headers included. ``connections`` counts accepted connections, so a test
can prove that its second request reused the first one's connection.
"""

from __future__ import annotations

import socket
import threading
import time

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class KeepAliveServer:
    """Answers ``ANSWER`` to every GET; from request ``drip_from`` of a connection on, dripped."""

    def __init__(self, drip_from: int = 2, drip: float = 0.3) -> None:
        self.drip_from = drip_from
        self.drip = drip
        self.connections = 0
        self.requests = 0
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._address = self._sock.getsockname()[:2]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43125``."""
        host, port = self._address
        return f"http://{host}:{port}"

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        buffer = b""
        number = 0
        try:
            while not self._stopped.is_set():
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buffer += data
                _, buffer = buffer.split(b"\r\n\r\n", 1)  # a GET has no body
                number += 1
                with self._lock:
                    self.requests += 1
                if number < self.drip_from:
                    conn.sendall(ANSWER)
                    continue
                for offset in range(len(ANSWER)):
                    if self._stopped.is_set():
                        return
                    conn.sendall(ANSWER[offset : offset + 1])
                    time.sleep(self.drip)
        except OSError:  # the client hung up: what a deadline does
            return
        finally:
            conn.close()

    def __enter__(self) -> KeepAliveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._sock.close()
