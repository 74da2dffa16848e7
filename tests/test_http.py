"""The HTTP client against real loopback servers: retries, Retry-After, caps, redaction,
the whole-request deadline, the cap on waiting, decompression bombs and the memory budget."""

from __future__ import annotations

import gzip
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path

import pytest

from factorxray.data.http import ByteBudget, HttpClient, redact_text, redact_url
from factorxray.errors import DataSourceError, HttpStatusError, UnreachableError
from tests._keepalive_server import KeepAliveServer
from tests._server import LoopbackServer, Reply, gzip_bomb

ROOT = Path(__file__).resolve().parents[1]


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
    with HttpClient(retries=3, backoff=0.5) as client:
        started = time.perf_counter()
        with pytest.raises(
            UnreachableError, match=rf"cannot reach 127.0.0.1:{port}: connection refused"
        ):
            client.get(f"http://127.0.0.1:{port}/x")
        assert time.perf_counter() - started < 0.4  # refused is an answer: no backoff, no retry


def test_truncated_body_is_an_error() -> None:
    body = b"z" * 50_000
    with LoopbackServer({"/t": lambda r: Reply(200, body, truncate_to=1000)}) as server:
        with HttpClient(retries=1, backoff=0.01) as client:
            with pytest.raises(
                DataSourceError, match=r"connection dropped mid-response|network error"
            ):
                client.get(f"{server.url}/t")


def test_connection_reset_mid_body_is_retried_then_one_line() -> None:
    body = b"z" * 100_000
    answers = iter([Reply(200, body, reset_after=5000), Reply(200, body)])
    with (
        LoopbackServer({"/r": lambda r: next(answers, Reply(200, body, reset_after=10))}) as server,
        HttpClient(retries=1, backoff=0.01) as client,
    ):
        assert client.get(f"{server.url}/r").content == body  # reset, retried, whole
        with pytest.raises(DataSourceError) as caught:
            client.get(f"{server.url}/r", what="dataset X")
    message = str(caught.value)
    assert message.startswith("dataset X: ") and "after 2 attempt(s)" in message
    assert "connection dropped mid-response" in message or "network error" in message
    assert "\n" not in message and len(server.requests) == 4


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


# ------------------------------------------------------------ deadline and waiting


def test_a_dripping_server_is_cut_off_at_the_deadline() -> None:
    """A byte every 0.1 s never trips the 2 s read timeout; the 1.5 s deadline ends it."""
    drip = Reply(200, b"x" * 10_000, drip=0.1)
    with (
        LoopbackServer({"/drip": lambda r: drip}) as server,
        HttpClient(timeout=2, deadline=1.5, retries=3, backoff=0.01) as client,
    ):
        started = time.perf_counter()
        with pytest.raises(DataSourceError, match=r"did not finish within 1.5 s .*DEADLINE"):
            client.get(f"{server.url}/drip", what="dataset X")
        elapsed = time.perf_counter() - started
    assert elapsed < 3.0  # the deadline plus at most one read, never the whole body
    assert len(server.requests) == 1  # running out of time is not retried


def test_a_stalled_read_is_cut_at_the_deadline_not_the_read_timeout() -> None:
    with (
        LoopbackServer({"/stall": lambda r: Reply(200, b"late", sleep=5)}) as server,
        HttpClient(timeout=30, deadline=0.5, retries=0) as client,
    ):
        started = time.perf_counter()
        with pytest.raises(DataSourceError, match=r"did not finish within 0\.5 s"):
            client.get(f"{server.url}/stall")
        assert time.perf_counter() - started < 2.0


def test_headers_dripped_on_a_kept_alive_connection_are_cut_at_the_deadline() -> None:
    """Issue 11: a reused connection's socket was unknown until the headers had arrived.

    The first request opens the connection and is answered at once; the second, on the
    same kept-alive connection, gets its status line and headers one byte every 0.3 s
    (about 20 s in all), each byte well within the 5 s read timeout.
    """
    with (
        KeepAliveServer(drip_from=2, drip=0.3) as server,
        HttpClient(timeout=5, deadline=1.5, retries=3, backoff=0.01) as client,
    ):
        assert client.get(f"{server.url}/x").content == b"ok"
        started = time.perf_counter()
        with pytest.raises(DataSourceError) as caught:
            client.get(f"{server.url}/x", what="dataset X")
        elapsed = time.perf_counter() - started
        assert server.connections == 1  # the second request did reuse the connection
        assert server.requests == 2  # running out of time is not retried
    message = str(caught.value)
    host = server.url.removeprefix("http://")
    assert message.startswith(f"dataset X: http://{host}/x did not finish within 1.5 s")
    assert "FACTORXRAY_HTTP_DEADLINE" in message and "\n" not in message
    assert 1.4 < elapsed < 1.5 + 0.5, elapsed


def test_headers_dripped_on_a_new_connection_are_cut_at_the_deadline() -> None:
    with (
        KeepAliveServer(drip_from=1, drip=0.3) as server,
        HttpClient(timeout=5, deadline=1.0, retries=0) as client,
    ):
        started = time.perf_counter()
        with pytest.raises(DataSourceError, match=r"did not finish within 1 s"):
            client.get(f"{server.url}/x")
        assert time.perf_counter() - started < 1.0 + 0.5


def test_every_request_of_a_client_has_its_own_deadline_on_a_shared_connection() -> None:
    """A request's deadline bounds its own I/O only: the next one on the pool starts afresh."""
    with (
        KeepAliveServer(drip_from=3, drip=0.3) as server,
        HttpClient(timeout=5, deadline=1.0, retries=0) as client,
    ):
        for _ in range(2):  # each within its deadline, on one connection
            assert client.get(f"{server.url}/x").content == b"ok"
        time.sleep(1.1)  # longer than a deadline: an idle pooled connection owes nothing
        with pytest.raises(DataSourceError, match=r"did not finish within 1 s"):
            client.get(f"{server.url}/x")
        assert server.connections == 1
        assert client.get(f"{server.url}/x").content == b"ok"  # a fresh connection, whole


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_hosts_fail_at_once_without_retrying() -> None:
    """Issue 12: a refused connection or an unknown host name was retried with backoff."""
    waits: list[str] = []
    with HttpClient(retries=3, backoff=1.0, on_wait=lambda line, _s: waits.append(line)) as client:
        port = _closed_port()
        started = time.perf_counter()
        with pytest.raises(UnreachableError) as caught:
            client.get(f"http://127.0.0.1:{port}/x", what="dataset X")
        assert time.perf_counter() - started < 0.5
        assert str(caught.value) == (
            f"dataset X: cannot reach 127.0.0.1:{port}: connection refused "
            f"(http://127.0.0.1:{port}/x); check your network connection"
        )
        with pytest.raises(UnreachableError, match=r"cannot reach nosuch\.invalid: host name not"):
            client.get("http://nosuch.invalid/x")  # .invalid never resolves (RFC 6761)
    assert waits == []


def test_retry_after_longer_than_the_cap_fails_at_once_saying_so() -> None:
    with (
        LoopbackServer({"/x": _flaky([429] * 5, {"Retry-After": "3600"})}) as server,
        HttpClient(retries=3, backoff=0.01) as client,
    ):
        started = time.perf_counter()
        with pytest.raises(HttpStatusError) as caught:
            client.get(f"{server.url}/x", what="prices for SPY")
        assert time.perf_counter() - started < 1.0
    message = str(caught.value)
    assert caught.value.status_code == 429 and "\n" not in message
    assert "asks to wait 3600 s" in message and "FACTORXRAY_HTTP_MAX_WAIT" in message
    assert len(server.requests) == 1


def test_each_wait_is_announced_with_what_is_waited_for(caplog) -> None:
    lines: list[tuple[str, float]] = []
    with (
        LoopbackServer({"/x": _flaky([503, 429], {"Retry-After": "0"})}) as server,
        HttpClient(
            retries=3, backoff=0.01, on_wait=lambda line, s: lines.append((line, s))
        ) as client,
    ):
        client.get(f"{server.url}/x", what="dataset F-F_Momentum_Factor")
    assert [seconds for _, seconds in lines] == [0, 0]
    assert lines[0][0].startswith("dataset F-F_Momentum_Factor: HTTP 503 server error")
    assert "waiting 0 s (the server asked for 0 s) before retry 1 of 3" in lines[0][0]
    assert "HTTP 429" in lines[1][0] and "retry 2 of 3" in lines[1][0]
    # Without a callback, the line goes to the factorxray.http logger (WARNING from 1 s).
    with (
        LoopbackServer({"/y": _flaky([503], {"Retry-After": "1"})}) as server,
        HttpClient(retries=1) as client,
        caplog.at_level(logging.INFO, logger="factorxray.http"),
    ):
        client.get(f"{server.url}/y", what="prices for SPY")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and record.name == "factorxray.http"
    assert "prices for SPY: HTTP 503" in record.getMessage()
    assert "waiting 1 s (the server asked for 1 s) before retry 1 of 1" in record.getMessage()


def test_total_waiting_of_a_client_is_capped() -> None:
    """Every answer asks for 1 s: the client waits twice (2 s of its 2.5 s), then no more."""
    with (
        LoopbackServer({"/x": _flaky([503] * 1000, {"Retry-After": "1"})}) as server,
        HttpClient(retries=3, max_total_wait=2.5, on_wait=lambda *a: None) as client,
    ):
        errors = []
        started = time.perf_counter()
        for _ in range(5):
            with pytest.raises(HttpStatusError) as caught:
                client.get(f"{server.url}/x")
            errors.append(str(caught.value))
        elapsed = time.perf_counter() - started
    assert client.waited == 2 and elapsed < 3.5
    assert len(server.requests) == 3 + 4  # three tries of the first, one of each other
    for error in errors:
        assert "already waited 2 s" in error and "FACTORXRAY_HTTP_MAX_TOTAL_WAIT" in error


def test_a_wait_past_the_deadline_is_not_taken() -> None:
    with (
        LoopbackServer({"/x": _flaky([503] * 5, {"Retry-After": "5"})}) as server,
        HttpClient(retries=3, deadline=2, on_wait=lambda *a: None) as client,
    ):
        started = time.perf_counter()
        with pytest.raises(HttpStatusError, match="would pass the 2 s deadline"):
            client.get(f"{server.url}/x")
        assert time.perf_counter() - started < 1.0


# ------------------------------------------------------------ compression and memory


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def test_gzip_and_deflate_bodies_are_decoded() -> None:
    text = b"date,value\n" * 5000
    routes = {
        "/gz": lambda r: Reply(200, gzip.compress(text), {"Content-Encoding": "gzip"}),
        "/zl": lambda r: Reply(200, zlib.compress(text), {"Content-Encoding": "deflate"}),
        "/raw": lambda r: Reply(
            200,
            _raw_deflate(text),
            {"Content-Encoding": "deflate"},
        ),
        "/two": lambda r: Reply(
            200, gzip.compress(text[:100]) + gzip.compress(text[100:]), {"Content-Encoding": "gzip"}
        ),
    }
    with LoopbackServer(routes) as server, HttpClient() as client:
        assert client.get(f"{server.url}/gz").content == text
        assert client.get(f"{server.url}/zl").content == text
        assert client.get(f"{server.url}/two").content == text
        assert client.get(f"{server.url}/raw").content == text
        assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_corrupt_or_unknown_encodings_are_one_line_errors() -> None:
    routes = {
        "/bad": lambda r: Reply(200, b"\x1f\x8b\x08\x00garbage" * 10, {"Content-Encoding": "gzip"}),
        "/br": lambda r: Reply(200, b"xx", {"Content-Encoding": "br"}),
    }
    with LoopbackServer(routes) as server, HttpClient(retries=0) as client:
        with pytest.raises(DataSourceError, match="corrupt gzip body"):
            client.get(f"{server.url}/bad")
        with pytest.raises(DataSourceError, match="Content-Encoding br"):
            client.get(f"{server.url}/br")


def test_a_gzip_bomb_is_refused_at_the_cap_without_inflating_it() -> None:
    bomb = gzip_bomb(512 * 1024 * 1024)
    with (
        LoopbackServer(
            {"/bomb": lambda r: Reply(200, bomb, {"Content-Encoding": "gzip"})}
        ) as server,
        HttpClient(max_bytes=4 * 1024 * 1024, retries=2) as client,
    ):
        with pytest.raises(
            DataSourceError, match=r"exceeds the 4194304-byte limit once gzip-decoded"
        ):
            client.get(f"{server.url}/bomb")
    assert len(server.requests) == 1  # a bomb is not retried
    assert client.budget.used == 0 and client.budget.peak <= 4 * 1024 * 1024


def test_an_error_answer_keeps_only_the_start_of_its_body() -> None:
    bomb = gzip_bomb(256 * 1024 * 1024)
    with (
        LoopbackServer({"/e": lambda r: Reply(500, bomb, {"Content-Encoding": "gzip"})}) as server,
        HttpClient(retries=0) as client,
    ):
        with pytest.raises(HttpStatusError) as caught:
            client.get(f"{server.url}/e")
    assert len(caught.value.body) == 64 * 1024
    assert client.budget.peak <= 2 * 1024 * 1024


def test_the_memory_budget_is_shared_by_concurrent_downloads() -> None:
    """Twenty threads, each fetching a 512 MB gzip bomb: together they never hold over 64 MB."""
    bomb = gzip_bomb(512 * 1024 * 1024)
    budget = ByteBudget(64 * 1024 * 1024)
    errors: list[str] = []
    with (
        LoopbackServer(
            {"/bomb": lambda r: Reply(200, bomb, {"Content-Encoding": "gzip"})}
        ) as server,
        HttpClient(retries=0, memory_budget=budget, max_connections=20) as client,
    ):

        def fetch() -> None:
            try:
                client.get(f"{server.url}/bomb")
            except DataSourceError as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=fetch) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(errors) == 20
    assert all("memory budget" in e or "byte limit" in e for e in errors)
    assert any("memory budget" in e for e in errors)
    assert budget.peak <= 64 * 1024 * 1024 and budget.used == 0


def test_twenty_gzip_bombs_at_once_stay_within_the_memory_budget_in_rss(tmp_path) -> None:
    """The issue's case, measured: 20 tickers each answering a 512 MB gzip body (2 MB on the
    wire), fetched 8 at a time with default settings, in a fresh process: its peak RSS grows
    by far less than one bomb (it grew by 5.6 GB before the fix)."""
    bomb = gzip_bomb(512 * 1024 * 1024)
    route = {"/v8/finance/chart/*": lambda r: Reply(200, bomb, {"Content-Encoding": "gzip"})}
    script = textwrap.dedent(
        """
        import resource, sys
        from factorxray.data.cache import Cache
        from factorxray.errors import AllFailedError
        from factorxray.returns import fetch_returns
        tickers = [f"T{i:02d}" for i in range(20)]
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            fetch_returns(tickers, base_url=sys.argv[1], cache=Cache(sys.argv[2]))
        except AllFailedError as exc:
            reasons = exc.failures
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert len(reasons) == 20, reasons
        print((after - before) // 1024, "MB;", sorted(set(r[-90:] for r in reasons.values())))
        """
    )
    with LoopbackServer(route) as server:
        done = subprocess.run(
            [sys.executable, "-c", script, server.url, str(tmp_path / "cache")],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    grown_mb = int(done.stdout.split()[0])
    assert grown_mb < 400, done.stdout
