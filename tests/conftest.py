"""Shared pytest fixtures: loopback HTTP servers and an isolated cache folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._server import LoopbackServer

DATA = Path(__file__).parent / "data"


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    """An empty loopback server; tests add routes to ``loopback.routes``."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache folder and fast retries; no test touches the user's cache."""
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("FACTORXRAY_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("FACTORXRAY_HTTP_BACKOFF", "0.01")
    monkeypatch.setenv("FACTORXRAY_HTTP_TIMEOUT", "5")
    for name in (
        "FACTORXRAY_KENFRENCH_URL",
        "FACTORXRAY_YAHOO_URL",
        "FACTORXRAY_FMP_URL",
        "FACTORXRAY_TIINGO_URL",
        "FACTORXRAY_QFACTORS_URL",
        "FACTORXRAY_AQR_URL",
        "FACTORXRAY_LIQUIDITY_URL",
        "DASK_SCHEDULER_ADDRESS",
        "FMP_API_KEY",
        "TIINGO_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    return cache_dir


@pytest.fixture
def kf_server() -> Iterator[LoopbackServer]:
    """A loopback server with every real Ken French fixture zip at ``/{name}_CSV.zip``."""
    from tests._kenfrench_server import kenfrench_server

    server = kenfrench_server()
    try:
        yield server
    finally:
        server.stop()
