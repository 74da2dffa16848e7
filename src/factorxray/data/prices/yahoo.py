"""Yahoo Finance chart API: daily dividend-adjusted closes, no key needed.

``GET {base}/v8/finance/chart/{TICKER}?period1=..&period2=..&interval=1d&events=div,split
&includeAdjustedClose=true`` answers JSON::

    {"chart": {"result": [{"meta": {"gmtoffset": -14400, ...},
                           "timestamp": [...],
                           "indicators": {"quote": [{"close": [...]}],
                                          "adjclose": [{"adjclose": [...]}]},
                           "events": {"dividends": {...},
                                      "splits": {"1484836200": {"date": 1484836200,
                                                 "numerator": 2, "denominator": 1}}}}],
               "error": null}}

The split events (``events=split``) are kept for the price sanity checks: an adjusted close
that still jumps by the split ratio on a listed split day is an unadjusted split.
An unknown ticker answers 404 with ``chart.error = {"code": "Not Found", "description": ...}``.
Timestamps are the session open in UTC; adding the exchange's ``gmtoffset`` gives the
trading date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from factorxray.data.prices.base import (
    SPLITS_ATTR,
    PriceRequest,
    clean_closes,
    load_json,
    resolve_base_url,
    split_events,
)
from factorxray.errors import ParseError, UnknownTickerError

DEFAULT_BASE_URL = "https://query1.finance.yahoo.com"
ENV_URL = "FACTORXRAY_YAHOO_URL"


def _timestamp(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp())


class YahooProvider:
    """Daily adjusted closes from Yahoo's chart API.

    Parameters
    ----------
    base_url : str, optional
        Scheme and host (``https://query1.finance.yahoo.com``); default from
        ``FACTORXRAY_YAHOO_URL``, else Yahoo's. The chart path is appended.

    Examples
    --------
    >>> YahooProvider("http://127.0.0.1:8000").request("SPY", date(2024, 1, 1), date(2024, 2, 1)).url
    'http://127.0.0.1:8000/v8/finance/chart/SPY'
    """

    name = "yahoo"
    secrets: tuple[str, ...] = ()

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = resolve_base_url(base_url, ENV_URL, DEFAULT_BASE_URL)

    def request(self, ticker: str, start: date, end: date) -> PriceRequest:
        """The chart request for ``ticker`` from ``start`` to the day after ``end``."""
        params = {
            "period1": str(_timestamp(start)),
            "period2": str(_timestamp(end) + 86400),
            "interval": "1d",
            "events": "div,split",
            "includeAdjustedClose": "true",
        }
        url = f"{self.base_url}/v8/finance/chart/{quote(ticker, safe='^=.-')}"
        return PriceRequest(url, params, {})

    def parse(self, ticker: str, content: bytes) -> pd.Series:
        """Adjusted closes from a chart answer (empty when the range holds no trading day)."""
        what = f"Yahoo answer for {ticker}"
        payload = load_json(content, what=what)
        chart = payload.get("chart") if isinstance(payload, dict) else None
        if not isinstance(chart, dict):
            raise ParseError(f"{what}: no 'chart' object")
        error = chart.get("error")
        if error:
            raise UnknownTickerError(f"Yahoo: {_error_text(error)}")
        results = chart.get("result")
        if not results or not isinstance(results, list) or not isinstance(results[0], dict):
            raise ParseError(f"{what}: no chart result")
        return _closes_from_result(results[0], what)

    def describe_error(self, ticker: str, status: int, body: bytes) -> str | None:
        """Yahoo's ``chart.error`` description from an error answer, if it has one."""
        try:
            error = load_json(body, what="")["chart"]["error"]
        except (ParseError, KeyError, TypeError):
            return None
        return f"Yahoo: {_error_text(error)}" if error else None


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("description") or error.get("code") or error)
    return str(error)


def _closes_from_result(result: dict[str, Any], what: str) -> pd.Series:
    stamps = result.get("timestamp") or []
    if not stamps:
        return clean_closes([], [], what=what)
    try:
        adjclose = result["indicators"]["adjclose"][0]["adjclose"]
    except (KeyError, IndexError, TypeError):
        raise ParseError(
            f"{what}: no indicators.adjclose (was includeAdjustedClose dropped?)"
        ) from None
    if not isinstance(adjclose, list) or len(adjclose) != len(stamps):
        raise ParseError(f"{what}: {len(stamps)} timestamps but a different number of adjcloses")
    meta = result.get("meta")
    offset = (meta if isinstance(meta, dict) else {}).get("gmtoffset") or 0
    try:
        days = _trading_days(stamps, offset)
    except (TypeError, ValueError, OverflowError):
        raise ParseError(f"{what}: unreadable timestamps") from None
    series = clean_closes(days, adjclose, what=what, strict=False)
    series.attrs[SPLITS_ATTR] = _split_events(result.get("events"), offset)
    return series


def _trading_days(stamps: Any, offset: Any) -> pd.DatetimeIndex:
    """Trading dates from session timestamps (UTC seconds) and the exchange's UTC offset."""
    seconds = np.asarray(stamps, dtype=np.int64) + int(offset)
    return pd.DatetimeIndex(pd.to_datetime(seconds, unit="s")).normalize()


def _split_events(events: Any, offset: Any) -> dict[str, float]:
    """``{"YYYY-MM-DD": numerator / denominator}`` from ``events.splits`` (empty if unreadable)."""
    splits = events.get("splits") if isinstance(events, dict) else None
    if not isinstance(splits, dict):
        return {}
    stamps, ratios = [], []
    for event in splits.values():
        if not isinstance(event, dict):
            continue
        try:
            stamp = int(event["date"])
            ratio = float(event["numerator"]) / float(event["denominator"])
        except (KeyError, TypeError, ValueError, OverflowError, ZeroDivisionError):
            continue
        stamps.append(stamp)
        ratios.append(ratio)
    if not stamps:
        return {}
    try:
        days = _trading_days(stamps, offset)
    except (TypeError, ValueError, OverflowError):
        return {}
    return split_events(days, ratios)


__all__ = ["DEFAULT_BASE_URL", "ENV_URL", "YahooProvider"]
