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


OTHER_DIR = Path(__file__).parent / "data" / "other-factors"
#: URL path (as the libraries publish them) -> fixture file in tests/data/other-factors.
LIBRARY_FILES = {
    "/q/q5_factors_monthly_2023.csv": "q5_factors_monthly_2023.csv",
    "/liq/liq_data_1962_2023.txt": "liq_data_1962_2023.txt",
    "/aqr/Betting-Against-Beta-Equity-Factors-Monthly.xlsx": (
        "Betting Against Beta Equity Factors Monthly.xlsx"
    ),
    "/aqr/Quality-Minus-Junk-Factors-Monthly.xlsx": "Quality Minus Junk Factors Monthly.xlsx",
    "/aqr/The-Devil-in-HMLs-Details-Factors-Monthly.xlsx": (
        "The Devil in HMLs Details Factors Monthly.xlsx"
    ),
}


def library_routes(folder: Path = OTHER_DIR) -> dict:
    """Routes answering the real q-factor, liquidity and AQR files, each with an ETag."""
    routes = {}
    for url_path, file in LIBRARY_FILES.items():
        body = (folder / file).read_bytes()
        etag = f'"{len(body)}-{hash(body) & 0xFFFFFFFF:x}"'

        def handler(request: Request, body: bytes = body, etag: str = etag) -> Reply:
            if request.headers.get("if-none-match") == etag:
                return Reply(304, b"", {"ETag": etag})
            return Reply(200, body, {"ETag": etag})

        routes[url_path] = handler
    return routes


def library_env(server_url: str) -> dict[str, str]:
    """The environment variables pointing every library client at a loopback server."""
    return {
        "FACTORXRAY_KENFRENCH_URL": server_url + "/",
        "FACTORXRAY_QFACTORS_URL": server_url + "/q/",
        "FACTORXRAY_AQR_URL": server_url + "/aqr/",
        "FACTORXRAY_LIQUIDITY_URL": server_url + "/liq/",
    }


def all_factor_server() -> LoopbackServer:
    """A started server with the Ken French zips and every other library's real files."""
    return LoopbackServer({**zip_routes(), **library_routes()}).start()
