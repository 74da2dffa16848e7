"""Without a network: an unreachable host fails at once and says how to work offline.

Issue 12: ``fx.load_factors("xray7")`` without a network retried for about 7 s and never
mentioned ``snapshot=True``; a live ``analyze`` without a network never suggested
``--offline``. "No network" is played by a closed loopback port (connection refused);
``test_http.py::test_unreachable_hosts_fail_at_once_without_retrying`` covers a host name
that does not resolve.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import factorxray as fx
from factorxray.data.cache import Cache
from factorxray.data.kenfrench import read_dataset
from factorxray.errors import AllFailedError, UnreachableError
from tests._prices_server import PriceServer

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT_ADVICE = "or pass snapshot=True to use the bundled snapshot"
#: The same advice on the command line (tests/test_reliability_messages.py checks each).
CLI_SNAPSHOT_ADVICE = "or add --offline to use the bundled snapshot"
PRICES_ADVICE = "or pass offline=True to work offline"
#: The same advice on the command line.
CLI_PRICES_ADVICE = "or add --offline to work offline"


@pytest.fixture
def closed_url() -> str:
    """A loopback address nothing listens on: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_load_factors_without_network_fails_at_once_saying_snapshot_true(
    tmp_path: Path, closed_url: str
) -> None:
    cache = Cache(tmp_path / "cache")
    started = time.perf_counter()
    with pytest.raises(UnreachableError) as caught:
        fx.load_factors("xray7", base_url=closed_url, cache=cache)
    elapsed = time.perf_counter() - started
    message = str(caught.value)
    host = closed_url.removeprefix("http://").rstrip("/")
    assert message.startswith(f"dataset F-F_Research_Data_5_Factors_2x3: cannot reach {host}: ")
    assert message.endswith(f"check your network connection, {SNAPSHOT_ADVICE}")
    assert "\n" not in message
    assert elapsed < 1.0  # was 3.5 s of backoff (about 7 s on a loaded machine)
    factors = fx.load_factors("xray7", base_url=closed_url, cache=cache, snapshot=True)
    assert list(factors.columns) == ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "MOM", "VOL", "RF"]


def test_a_dataset_outside_the_snapshot_says_so(tmp_path: Path, closed_url: str) -> None:
    with pytest.raises(UnreachableError) as caught:
        read_dataset("F-F_ST_Reversal_Factor", base=closed_url, cache=Cache(tmp_path / "c"))
    assert str(caught.value).endswith(
        "check your network connection (this dataset is not in the bundled snapshot)"
    )


def test_a_kept_cached_copy_is_offered_when_the_network_is_gone(
    kf_server, tmp_path: Path, closed_url: str
) -> None:
    stale = Cache(tmp_path / "c", ttl_seconds=0)  # every read wants to revalidate
    read_dataset("F-F_Research_Data_Factors", base=kf_server.url, cache=stale)
    with pytest.raises(UnreachableError) as caught:
        read_dataset("F-F_Research_Data_Factors", base=closed_url, cache=stale)
    message = str(caught.value)
    assert "connection refused" in message
    assert message.endswith("is kept; pass snapshot=True to use it)")
    assert "bundled snapshot" not in message  # one piece of advice, the better one
    kept = read_dataset("F-F_Research_Data_Factors", base=closed_url, cache=stale, snapshot=True)
    assert kept.vintage == "202511" and not kept.url.startswith("snapshot:")


def test_prices_without_network_fail_at_once_saying_offline(
    tmp_path: Path, closed_url: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(AllFailedError) as caught:
        fx.fetch_returns(["SPY", "MTUM"], base_url=closed_url, cache=Cache(tmp_path / "c"))
    assert time.perf_counter() - started < 1.5
    host = closed_url.removeprefix("http://").rstrip("/")
    for ticker in ("SPY", "MTUM"):
        reason = caught.value.failures[ticker]
        assert reason.startswith(f"yahoo prices for {ticker}: cannot reach {host}: connection")
        assert reason.endswith(f"check your network connection, {PRICES_ADVICE}")


def test_stale_cached_prices_without_network_point_at_offline(
    tmp_path: Path, closed_url: str
) -> None:
    stale = Cache(tmp_path / "c", ttl_seconds=0)
    with PriceServer() as server:
        fx.fetch_returns(["SPY"], base_url=server.url, cache=stale)
    with pytest.raises(AllFailedError) as caught:
        fx.fetch_returns(["SPY"], base_url=closed_url, cache=stale)
    reason = caught.value.failures["SPY"]
    assert "connection refused" in reason
    assert reason.endswith("is kept; pass offline=True to use it)")
    assert fx.fetch_returns(["SPY"], cache=stale, offline=True)["SPY"].notna().sum() > 100


def _cli(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "factorxray", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    return done, time.perf_counter() - started


def test_a_live_cli_run_without_network_suggests_offline(tmp_path: Path, closed_url: str) -> None:
    env = {
        "FACTORXRAY_CACHE_DIR": str(tmp_path / "cache"),
        "FACTORXRAY_KENFRENCH_URL": closed_url,
        "FACTORXRAY_YAHOO_URL": closed_url,
    }
    done, elapsed = _cli(["analyze", "SPY", "MTUM", "--out", str(tmp_path / "r")], env)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == "error: none of the 2 funds could be analyzed; see the reasons above"
    for ticker in ("SPY", "MTUM"):
        (line,) = [x for x in lines if x.startswith(f"not analyzed: {ticker}: ")]
        assert "connection refused" in line and line.endswith(CLI_PRICES_ADVICE)
    assert "waiting" not in done.stderr  # no backoff announced: nothing was retried
    assert elapsed < 15  # 10.7 s before (3.5 s of backoff per ticker), mostly start-up now

    done, _ = _cli(["factors", "show", "ff3"], env)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: dataset F-F_Research_Data_Factors: cannot reach 127.0.0.1:")
    assert line.endswith(CLI_SNAPSHOT_ADVICE)


def test_a_live_cli_run_with_prices_but_no_factor_library_suggests_offline(
    tmp_path: Path, closed_url: str
) -> None:
    with PriceServer() as server:
        done, _ = _cli(
            ["analyze", "SPY", "--out", str(tmp_path / "r")],
            {
                "FACTORXRAY_CACHE_DIR": str(tmp_path / "cache"),
                "FACTORXRAY_KENFRENCH_URL": closed_url,
                "FACTORXRAY_YAHOO_URL": server.url,
            },
        )
    assert done.returncode == 1, done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("not analyzed: SPY: ")]
    assert "no xray7 factors for region us: dataset F-F_Research_Data_5_Factors_2x3" in line
    assert line.endswith(CLI_SNAPSHOT_ADVICE)
