"""Serve the real Ken French zips of tests/data/kenfrench from a loopback server."""

from __future__ import annotations

from pathlib import Path

from tests._server import LoopbackServer, Reply, Request

KF_DIR = Path(__file__).parent / "data" / "kenfrench"


def zip_routes(folder: Path = KF_DIR, prefix: str = "/") -> dict:
    """Routes answering each ``{name}_CSV.zip`` with its bytes and an ETag."""
    routes = {}
    for path in sorted(folder.glob("*_CSV.zip")):
        body = path.read_bytes()
        etag = f'"{len(body)}-{hash(body) & 0xFFFFFFFF:x}"'

        def handler(request: Request, body: bytes = body, etag: str = etag) -> Reply:
            if request.headers.get("if-none-match") == etag:
                return Reply(304, b"", {"ETag": etag})
            return Reply(200, body, {"ETag": etag, "Content-Type": "application/zip"})

        routes[f"{prefix}{path.name}"] = handler
    return routes


def kenfrench_server() -> LoopbackServer:
    """A started server with every fixture zip at ``/{name}_CSV.zip``."""
    return LoopbackServer(zip_routes()).start()
