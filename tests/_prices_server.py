"""A loopback price server answering like Yahoo, FMP and Tiingo, from the real fixture closes.

``PriceServer`` wraps :class:`tests._server.LoopbackServer` with the three providers' routes:

* ``/v8/finance/chart/{TICKER}``: Yahoo chart JSON (``period1``/``period2`` filter);
* ``/stable/historical-price-eod/dividend-adjusted``: FMP list, newest first (``apikey``);
* ``/tiingo/daily/{ticker}/prices``: Tiingo list (``Authorization: Token KEY``).

Knobs for tests: ``closes`` (ticker -> Series, add or remove funds), ``last_day`` (hide
days after it, as if asked earlier), ``scale`` (multiply every close, as a new dividend
rescales adjusted history), ``faults`` (ticker -> list of :class:`Reply` served first, one
per request), ``broken`` (ticker -> :class:`Reply` served every time), ``splits`` (ticker
-> {"YYYY-MM-DD": (new, old)}: split events Yahoo lists in ``events.splits`` and Tiingo as
``splitFactor``), ``extra_rows`` (ticker -> [("YYYY-MM-DD", close)] appended to the answer
after the real rows, as a provider repeating a date). ``NOSUCH`` is unknown everywhere.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from tests._server import LoopbackServer, Reply, Request

PRICES_DIR = Path(__file__).parent / "data" / "prices"
ETF_DIR = PRICES_DIR / "etf-prices"
TICKERS = tuple(sorted(p.name.removesuffix(".csv.gz") for p in ETF_DIR.glob("*.csv.gz")))
FMP_KEY = "fmp-SECRET-key-8d41f0"
TIINGO_KEY = "tiingo-SECRET-key-27c9aa"
YAHOO_UNKNOWN = {
    "chart": {
        "result": None,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
    }
}


@functools.cache
def fixture_closes(ticker: str) -> pd.Series:
    """The real adjusted closes of one fixture ETF (exact floats, DatetimeIndex)."""
    text = gzip.decompress((ETF_DIR / f"{ticker}.csv.gz").read_bytes()).decode()
    frame = pd.read_csv(io.StringIO(text), dtype={"Date": str})
    series = pd.Series(
        frame["Close"].to_numpy(dtype=float), index=pd.to_datetime(frame["Date"]), name=ticker
    )
    series.index.name = "date"
    return series


def all_fixture_closes() -> pd.DataFrame:
    """Every fixture ETF as one wide frame (NaN before each fund's inception)."""
    return pd.DataFrame({t: fixture_closes(t) for t in TICKERS}).sort_index()


def _json(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload).encode()
    return Reply(status, body, {"Content-Type": "application/json", **(headers or {})})


class PriceServer:
    """A started loopback server speaking the three providers' formats (use as a context)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.closes: dict[str, pd.Series] = {t: fixture_closes(t) for t in TICKERS}
        self.last_day: pd.Timestamp | None = None
        self.scale = 1.0
        self.faults: dict[str, list[Reply]] = {}
        self.broken: dict[str, Reply] = {}
        self.splits: dict[str, dict[str, tuple[int, int]]] = {}
        self.extra_rows: dict[str, list[tuple[str, float]]] = {}
        self.fmp_key = FMP_KEY
        self.tiingo_key = TIINGO_KEY
        self.server = LoopbackServer(
            {
                "/v8/finance/chart/*": self._yahoo,
                "/stable/historical-price-eod/dividend-adjusted": self._fmp,
                "/tiingo/daily/*": self._tiingo,
            },
            delay=delay,
        )

    def reset(self) -> PriceServer:
        """Back to the fixture closes, no faults, an empty request log (reuse between tests)."""
        self.closes = {t: fixture_closes(t) for t in TICKERS}
        self.last_day = None
        self.scale = 1.0
        self.faults.clear()
        self.broken.clear()
        self.splits.clear()
        self.extra_rows.clear()
        self.fmp_key, self.tiingo_key = FMP_KEY, TIINGO_KEY
        with self.server._lock:
            self.server.requests.clear()
        return self

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    def __enter__(self) -> PriceServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def _fault(self, ticker: str) -> Reply | None:
        if ticker in self.broken:
            return self.broken[ticker]
        queue = self.faults.get(ticker)
        return queue.pop(0) if queue else None

    def _series(self, ticker: str, first: pd.Timestamp, last: pd.Timestamp) -> pd.Series | None:
        if ticker not in self.closes:
            return None
        series = self.closes[ticker] * self.scale
        extra = self.extra_rows.get(ticker)
        if extra:
            added = pd.Series([v for _, v in extra], index=pd.to_datetime([d for d, _ in extra]))
            series = pd.concat([series, added])  # repeated dates stay, after the real rows
        if self.last_day is not None:
            series = series[series.index <= self.last_day]
        return series[(series.index >= first) & (series.index <= last)]

    def _split_events(self, ticker: str) -> dict[str, dict[str, object]]:
        events = {}
        for day, (new, old) in self.splits.get(ticker, {}).items():
            stamp = int(pd.Timestamp(day).timestamp()) + 13 * 3600 + 30 * 60
            events[str(stamp)] = {
                "date": stamp,
                "numerator": new,
                "denominator": old,
                "splitRatio": f"{new}:{old}",
            }
        return events

    def _yahoo(self, request: Request) -> Reply:
        ticker = request.path.rsplit("/", 1)[-1]
        fault = self._fault(ticker)
        if fault is not None:
            return fault
        first = pd.Timestamp(int(request.query.get("period1", "0")), unit="s")
        last = pd.Timestamp(int(request.query.get("period2", "9999999999")), unit="s")
        series = self._series(ticker, first.normalize(), last - pd.Timedelta(seconds=1))
        if series is None:
            return _json(YAHOO_UNKNOWN, 404)
        stamps = (series.index.as_unit("s").asi8 + 13 * 3600 + 30 * 60).tolist()  # 9:30 New York
        values = series.tolist()
        result = {
            "meta": {
                "currency": "USD",
                "symbol": ticker,
                "exchangeName": "PCX",
                "instrumentType": "ETF",
                "gmtoffset": -14400,
                "timezone": "EDT",
                "exchangeTimezoneName": "America/New_York",
                "dataGranularity": "1d",
            },
            "timestamp": stamps,
            "events": {"dividends": {}, "splits": self._split_events(ticker)},
            "indicators": {
                "quote": [
                    {
                        "open": values,
                        "high": values,
                        "low": values,
                        "close": values,
                        "volume": [1000] * len(values),
                    }
                ],
                "adjclose": [{"adjclose": values}],
            },
        }
        if not stamps:
            del result["timestamp"]
            result["indicators"] = {"quote": [{}], "adjclose": [{}]}
        return _json({"chart": {"result": [result], "error": None}})

    def _fmp(self, request: Request) -> Reply:
        if request.query.get("apikey") != self.fmp_key:
            return _json(
                {"Error Message": "Invalid API KEY. Feel free to create a Free API Key."}, 401
            )
        ticker = request.query.get("symbol", "")
        fault = self._fault(ticker)
        if fault is not None:
            return fault
        series = self._series(
            ticker,
            pd.Timestamp(request.query.get("from", "1900-01-01")),
            pd.Timestamp(request.query.get("to", "2100-01-01")),
        )
        if series is None:
            return _json([])
        rows = [
            {
                "symbol": ticker,
                "date": f"{day:%Y-%m-%d}",
                "adjOpen": value,
                "adjHigh": value,
                "adjLow": value,
                "adjClose": value,
                "volume": 1000,
            }
            for day, value in zip(series.index, series.tolist(), strict=True)
        ]
        return _json(rows[::-1])

    def _split_factor(self, ticker: str, day: pd.Timestamp) -> float:
        return _split_factor_of(self.splits.get(ticker, {}), day)

    def _tiingo(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Token {self.tiingo_key}":
            return _json({"detail": "Invalid token."}, 401)
        ticker = request.path.split("/")[3].upper()
        fault = self._fault(ticker)
        if fault is not None:
            return fault
        series = self._series(
            ticker,
            pd.Timestamp(request.query.get("startDate", "1900-01-01")),
            pd.Timestamp(request.query.get("endDate", "2100-01-01")),
        )
        if series is None:
            return _json({"detail": f"Error: Ticker '{ticker.lower()}' not found"}, 404)
        rows = [
            {
                "date": f"{day:%Y-%m-%d}T00:00:00.000Z",
                "close": value,
                "high": value,
                "low": value,
                "open": value,
                "volume": 1000,
                "adjClose": value,
                "adjHigh": value,
                "adjLow": value,
                "adjOpen": value,
                "adjVolume": 1000,
                "divCash": 0.0,
                "splitFactor": self._split_factor(ticker, day),
            }
            for day, value in zip(series.index, series.tolist(), strict=True)
        ]
        return _json(rows)


def _split_factor_of(splits: dict[str, tuple[int, int]], day: pd.Timestamp) -> float:
    new, old = splits.get(f"{day:%Y-%m-%d}", (1, 1))
    return new / old


def period1_days(request: Request) -> pd.Timestamp:
    """The first day a Yahoo request asked for."""
    return pd.Timestamp(datetime.fromtimestamp(int(request.query["period1"]), UTC).date())
