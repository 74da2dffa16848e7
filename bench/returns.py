"""Benchmark: fetching 20 funds' daily prices, cold (parallel downloads) and warm (cache).

Run: ``uv run python bench/returns.py``. A loopback server answers in Yahoo's chart format
from the real fixture prices and adds 200 ms of latency to every request
(``LoopbackServer(delay=0.2)``). Measured, each in a fresh cache folder:

- **cold**: ``fetch_returns`` of 20 tickers with the default 8 workers, target < 1.5 s; the
  ratio against the sequential equivalent (20 x 0.2 s of latency alone) is printed;
- **cold, 1 worker**: the same sequentially, for the measured ratio;
- **warm**: the same call again, every history fresh in the cache, target < 300 ms.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._prices_server import TICKERS, PriceServer  # noqa: E402

from factorxray.data.cache import Cache  # noqa: E402
from factorxray.returns import fetch_returns  # noqa: E402

DELAY = 0.2


def timed(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def cold(server: PriceServer, workers: int) -> float:
    cache = Cache(tempfile.mkdtemp(prefix="fx-bench-"))
    return timed(
        lambda: fetch_returns(TICKERS, base_url=server.url, cache=cache, max_workers=workers)
    )


def main() -> None:
    with PriceServer(delay=DELAY) as server:
        fetch_returns(TICKERS[:1], base_url=server.url, cache=Cache(tempfile.mkdtemp()))  # warm-up
        cold_times = [cold(server, 8) for _ in range(3)]
        sequential = cold(server, 1)
        cache = Cache(tempfile.mkdtemp(prefix="fx-bench-"))
        fetch_returns(TICKERS, base_url=server.url, cache=cache)
        requests_before = len(server.requests)
        warm_times = [
            timed(lambda: fetch_returns(TICKERS, base_url=server.url, cache=cache))
            for _ in range(10)
        ]
        assert len(server.requests) == requests_before, "warm runs must not touch the network"

    latency_only = len(TICKERS) * DELAY
    best_cold, best_warm = min(cold_times), min(warm_times)
    print(f"tickers: {len(TICKERS)}, server latency {DELAY * 1000:.0f} ms per request")
    print(
        f"cold, 8 workers : best {best_cold:.3f} s, median {statistics.median(cold_times):.3f} s "
        f"(target < 1.5 s) {'OK' if best_cold < 1.5 else 'SLOW'}"
    )
    print(
        f"sequential equivalent (20 x {DELAY} s latency alone): {latency_only:.2f} s "
        f"-> {latency_only / best_cold:.1f}x faster"
    )
    print(
        f"cold, 1 worker  : {sequential:.3f} s measured -> parallel is {sequential / best_cold:.1f}x faster"
    )
    print(
        f"warm cache      : best {best_warm * 1000:.0f} ms, median "
        f"{statistics.median(warm_times) * 1000:.0f} ms (target < 300 ms) "
        f"{'OK' if best_warm < 0.3 else 'SLOW'}"
    )


if __name__ == "__main__":
    main()
