"""The HTTP client against real loopback servers: retries, Retry-After, caps, redaction."""

from __future__ import annotations

import socket
import time

import pytest

from factorxray.data.http import HttpClient, redact_text, redact_url
from factorxray.errors import DataSourceError
from tests._server import LoopbackServer, Reply


def _flaky(statuses: list[int], headers: dict[str, str] | None = None):
    answers = iter(statuses)

    def handler(request):
        status = next(answers, 200)
        return Reply(status, b"ok" if status == 200 else b"busy", headers or {})

    return handler


def test_retries_5xx_then_succeeds() -> None:
    with (
        LoopbackServer({"/x": _flaky([500, 503])}) as server,
        HttpClient(retries=3, backoff=0.01) as client,
    ):
        response = client.get(f"{server.url}/x")
    assert response.status_code == 200 and response.content == b"ok"
    assert len(server.requests) == 3


def test_429_honours_retry_after() -> None:
    with (
        LoopbackServer({"/x": _flaky([429], {"Retry-After": "1"})}) as server,
        HttpClient(backoff=0.01) as client,
    ):
        started = time.perf_counter()
        client.get(f"{server.url}/x")
        waited = time.perf_counter() - started
    assert waited >= 0.95 and len(server.requests) == 2


def test_gives_up_with_one_line_after_retries() -> None:
    with (
        LoopbackServer({"/x": _flaky([500] * 10)}) as server,
        HttpClient(retries=2, backoff=0.01) as client,
    ):
        with pytest.raises(
            DataSourceError, match=r"^dataset X: HTTP 500 server error \(retry later\) from http"
        ):
            client.get(f"{server.url}/x", what="dataset X")
    assert len(server.requests) == 3


def test_404_is_not_retried() -> None:
    with LoopbackServer() as server, HttpClient(retries=3, backoff=0.01) as client:
        with pytest.raises(DataSourceError, match="HTTP 404 Not Found"):
            client.get(f"{server.url}/missing")
    assert len(server.requests) == 1


def test_timeout_and_connection_refused() -> None:
    with LoopbackServer({"/slow": lambda r: Reply(200, b"late", sleep=1.0)}) as server:
        with HttpClient(timeout=0.2, retries=1, backoff=0.01) as client:
            with pytest.raises(DataSourceError, match=r"timed out .* after 2 attempt"):
                client.get(f"{server.url}/slow")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with HttpClient(retries=0) as client:
        with pytest.raises(DataSourceError, match="connection failed"):
            client.get(f"http://127.0.0.1:{port}/x")


def test_truncated_body_is_an_error() -> None:
    body = b"z" * 50_000
    with LoopbackServer({"/t": lambda r: Reply(200, body, truncate_to=1000)}) as server:
        with HttpClient(retries=1, backoff=0.01) as client:
            with pytest.raises(
                DataSourceError, match=r"connection dropped mid-response|network error"
            ):
                client.get(f"{server.url}/t")


def test_size_cap() -> None:
    with (
        LoopbackServer({"/big": lambda r: Reply(200, b"x" * 5000)}) as server,
        HttpClient(max_bytes=1000) as client,
    ):
        with pytest.raises(DataSourceError, match="exceeds the 1000-byte limit"):
            client.get(f"{server.url}/big")


def test_keys_are_redacted_from_urls_and_errors() -> None:
    assert redact_url("http://h/p?symbol=SPY&apikey=SECRET1") == "http://h/p?symbol=SPY&apikey=***"
    assert "SECRET2" not in redact_text("failed: http://h/?token=SECRET2 and SECRET3", ["SECRET3"])
    with LoopbackServer() as server, HttpClient(secrets=["SECRET4"]) as client:
        with pytest.raises(DataSourceError) as caught:
            client.get(f"{server.url}/p", params={"symbol": "SPY", "apikey": "SECRET4"})
    assert "SECRET4" not in str(caught.value) and "apikey=***" in str(caught.value)
