"""What every price provider shares: the Protocol, the parsed history, and small helpers.

A provider is two seams and no state beyond its settings: :meth:`PriceProvider.request`
says which URL (with query and headers) returns a ticker's daily history between two dates,
and :meth:`PriceProvider.parse` turns the bytes that came back into a series of
dividend-adjusted closes. Downloading, caching and the incremental tail update live in
:mod:`factorxray.data.prices.store`; the providers never touch the network or the disk.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from factorxray.data.tickers import check_ticker
from factorxray.errors import ParseError, UsageError

#: The first day asked for when the whole history is wanted.
EARLIEST = date(1970, 1, 1)


@dataclass(frozen=True)
class PriceRequest:
    """One GET: the address, its query parameters and extra headers."""

    url: str
    params: dict[str, str]
    headers: dict[str, str]


@runtime_checkable
class PriceProvider(Protocol):
    """A source of daily dividend-adjusted closes, one ticker per request.

    Attributes
    ----------
    name : str
        Short name used on the command line and in ``attrs["sources"]`` (``"yahoo"``).
    secrets : tuple of str
        Values (API keys) that must never appear in output, errors or the cache.
    """

    name: str
    secrets: tuple[str, ...]

    def request(self, ticker: str, start: date, end: date) -> PriceRequest:
        """The GET that returns ``ticker``'s daily history from ``start`` to ``end``."""
        ...

    def parse(self, ticker: str, content: bytes) -> pd.Series:
        """Adjusted closes from a response body (see :func:`clean_closes` for the shape)."""
        ...

    def describe_error(self, ticker: str, status: int, body: bytes) -> str | None:
        """A provider's own words for an HTTP error answer, or None to keep the generic one."""
        ...


def resolve_base_url(base_url: str | None, env: str, default: str) -> str:
    """The base URL from the argument, else the environment variable ``env``, else ``default``.

    Parameters
    ----------
    base_url : str or None
        Scheme and host[:port] given by the caller.
    env : str
        The environment variable that overrides the default (e.g. ``FACTORXRAY_YAHOO_URL``).
    default : str
        The provider's public address.

    Returns
    -------
    str
        The chosen base, without a trailing slash.

    Examples
    --------
    >>> resolve_base_url("http://127.0.0.1:9/", "NO_SUCH_VARIABLE", "https://x.test")
    'http://127.0.0.1:9'
    """
    chosen = base_url or os.environ.get(env) or default
    if not chosen.startswith(("http://", "https://")):
        raise UsageError(f"base URL {chosen!r} (from {env} or argument) must start with http(s)://")
    return chosen.rstrip("/")


def clean_closes(dates: Any, closes: Any, *, what: str) -> pd.Series:
    """Build the canonical price series: float closes on a sorted, unique daily index.

    Missing closes (None, NaN, empty text) are dropped; where a date repeats, its last row
    wins (providers repeat the live row of the current day). Non-positive closes are an
    error, because no return can be computed across them.

    Parameters
    ----------
    dates : sequence
        Anything :func:`pandas.to_datetime` reads as dates (time of day is dropped).
    closes : sequence
        The adjusted closes, same length.
    what : str
        What is parsed, for error messages (e.g. ``"Yahoo answer for SPY"``).

    Returns
    -------
    pandas.Series
        ``float64`` values named ``adj_close`` on a ``DatetimeIndex`` named ``date``.

    Raises
    ------
    ParseError
        Unreadable dates or values, or a close at or below zero.

    Examples
    --------
    >>> clean_closes(["2024-01-03", "2024-01-02"], [2.0, 1.0], what="demo").tolist()
    [1.0, 2.0]
    """
    index = _to_dates(dates, what=what)
    values = _to_floats(closes)
    if len(values) != len(index):
        raise ParseError(f"{what}: {len(index)} dates but {len(values)} closes")
    series = pd.Series(values, index=index.normalize(), name="adj_close")
    series = series.dropna()
    series = series[~series.index.duplicated(keep="last")].sort_index()
    if (series <= 0).any():
        bad_day = series.index[np.argmax(series.to_numpy() <= 0)]
        raise ParseError(f"{what}: non-positive adjusted close on {bad_day:%Y-%m-%d}")
    series.index.name = "date"
    return series


def _to_floats(closes: Any) -> np.ndarray:
    """Floats from numbers, None or text; anything unreadable becomes NaN."""
    try:
        return np.asarray(closes, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        values = pd.to_numeric(pd.Series(list(closes), dtype=object), errors="coerce")
        return values.to_numpy(dtype=np.float64)


def _to_dates(dates: Any, *, what: str) -> pd.DatetimeIndex:
    """Dates from text (``YYYY-MM-DD``, any time or UTC offset after it ignored) or datetimes."""
    raw = pd.Index(dates)
    try:
        if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
            text = pd.Index(raw.astype(str)).str.strip().str[:10]
            index = pd.DatetimeIndex(pd.to_datetime(text, format="%Y-%m-%d"))
        else:
            index = pd.DatetimeIndex(pd.to_datetime(raw))
    except (ValueError, TypeError) as exc:
        raise ParseError(f"{what}: unreadable dates, expected YYYY-MM-DD ({_short(exc)})") from None
    if index.tz is not None:
        index = index.tz_localize(None)
    return index


def _short(exc: BaseException, limit: int = 120) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_json(content: bytes, *, what: str) -> Any:
    """Decode a JSON body or raise :class:`ParseError` naming ``what``."""
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"{what}: malformed JSON ({_short(exc, 80)})") from None


def closes_from_rows(payload: Any, *, what: str) -> pd.Series:
    """Adjusted closes from a JSON list of daily rows with ``date`` and ``adjClose`` (FMP, Tiingo)."""
    if not isinstance(payload, list):
        raise ParseError(f"{what}: expected a JSON list of daily rows")
    try:
        dates = [row["date"] for row in payload]
        closes = [row["adjClose"] for row in payload]
    except (KeyError, TypeError):
        raise ParseError(f"{what}: rows without 'date' and 'adjClose'") from None
    return clean_closes(dates, closes, what=what)


def json_error_field(body: bytes, field: str) -> str | None:
    """The text of ``field`` in a JSON error answer, or None when absent or not JSON."""
    try:
        payload = load_json(body, what="")
    except ParseError:
        return None
    if isinstance(payload, dict) and payload.get(field):
        return str(payload[field])
    return None


__all__ = [
    "EARLIEST",
    "PriceProvider",
    "PriceRequest",
    "check_ticker",
    "clean_closes",
    "closes_from_rows",
    "json_error_field",
    "load_json",
    "resolve_base_url",
]
