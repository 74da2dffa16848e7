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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from factorxray.data.tickers import check_ticker
from factorxray.errors import ParseError, UsageError, quote

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
        """Adjusted closes from a response body (see :func:`clean_closes` for the shape).

        Parsed leniently: conflicting or unusable prices are left in
        ``attrs["price_issues"]``, and the provider's split events, when the answer lists
        them, in ``attrs["splits"]`` (see :func:`take_issues`).
        """
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
        raise UsageError(
            f"base URL {quote(chosen)} (from {env} or argument) must start with http(s)://"
        )
    return chosen.rstrip("/")


@dataclass(frozen=True)
class PriceIssue:
    """Something wrong, or likely wrong, in a price history: where, what, and how bad.

    Attributes
    ----------
    kind : str
        ``"conflict"`` (one date, different prices; the last row is used when allowed),
        ``"non-positive"`` (a price at or below zero, or not finite; its row is left out), ``"split"`` (an unadjusted or split-like jump),
        ``"spike"`` (a jump that reverses within days) or ``"stale"`` (a long run of one
        unchanged price). See :mod:`factorxray.data.prices.sanity`.
    day : str
        The date, ``YYYY-MM-DD``.
    message : str
        One line naming the date and the size, without the ticker.
    severe : bool
        True when the history should not be used unless the user allows suspect prices.
    """

    kind: str
    day: str
    message: str
    severe: bool

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe form kept in the cache metadata."""
        return {"kind": self.kind, "day": self.day, "message": self.message, "severe": self.severe}

    @classmethod
    def from_dict(cls, raw: Any) -> PriceIssue | None:
        """Read back :meth:`to_dict`; None for anything else."""
        if not isinstance(raw, dict):
            return None
        kind, day, message = raw.get("kind"), raw.get("day"), raw.get("message")
        if not (isinstance(kind, str) and isinstance(day, str) and isinstance(message, str)):
            return None
        return cls(kind, day, message, bool(raw.get("severe")))


#: Where the lenient parsers leave what they found (see :func:`clean_closes`).
ISSUES_ATTR = "price_issues"
#: Where a parser leaves the provider's split events: ``{"YYYY-MM-DD": ratio}``, ratio
#: being new shares per old share (2.0 for a 2-for-1 split).
SPLITS_ATTR = "splits"
#: Two prices for one date that differ by less than this (relative) are the same price.
SAME_PRICE = 1e-9
#: On the last date of an answer, providers may repeat the day's row with a live price:
#: two prices this close (relative) there are not a conflict; the later row is kept.
LIVE_ROW_TOLERANCE = 0.02


def clean_closes(dates: Any, closes: Any, *, what: str, strict: bool = True) -> pd.Series:
    """Build the canonical price series: float closes on a sorted, unique daily index.

    Missing closes (None, NaN, empty text) are dropped. Two problems are found here, in
    the raw rows, before anything else sees them:

    * a date given **different prices** (more than 1e-9 apart; on the answer's last date,
      more than 2%, since providers repeat the current day's row with a live price);
      identical repeats are dropped silently, and of conflicting ones the last row is kept;
    * a price **at or below zero, or infinite**, through which no return can be computed;
      the row is dropped.

    (Where the user allows suspect prices, the series returned is what is used: the last
    of conflicting rows, without the unusable ones.)

    With ``strict`` (the default) either is a :class:`ParseError`. Otherwise they are
    recorded as :class:`PriceIssue` objects (severe) in ``result.attrs["price_issues"]``,
    for the caller to report, or to refuse unless the user allows suspect prices.

    Parameters
    ----------
    dates : sequence
        Anything :func:`pandas.to_datetime` reads as dates (time of day is dropped).
    closes : sequence
        The adjusted closes, same length.
    what : str
        What is parsed, for error messages (e.g. ``"Yahoo answer for SPY"``).
    strict : bool
        Raise on conflicting or non-positive prices instead of recording them.

    Returns
    -------
    pandas.Series
        ``float64`` values named ``adj_close`` on a ``DatetimeIndex`` named ``date``.

    Raises
    ------
    ParseError
        Unreadable dates or values; with ``strict``, a conflict or a bad price.

    Examples
    --------
    >>> clean_closes(["2024-01-03", "2024-01-02"], [2.0, 1.0], what="demo").tolist()
    [1.0, 2.0]
    >>> lenient = clean_closes(["2024-01-02", "2024-01-02", "2024-01-03"], [1.0, 1.3, 1.1],
    ...                        what="demo", strict=False)
    >>> lenient.tolist(), lenient.attrs["price_issues"][0].message
    ([1.3, 1.1], '2 different prices on 2024-01-02: 1 and 1.3 (30.0% apart)')
    """
    index = _to_dates(dates, what=what)
    values = _to_floats(closes)
    if len(values) != len(index):
        raise ParseError(f"{what}: {len(index)} dates but {len(values)} closes")
    series = pd.Series(values, index=index.normalize(), name="adj_close").dropna()
    issues = _conflicts(series) if series.index.has_duplicates else []
    series = series[~series.index.duplicated(keep="last")].sort_index()
    bad = ~(np.isfinite(series.to_numpy()) & (series.to_numpy() > 0))
    if bad.any():
        for day, value in series[bad].items():
            kind = "non-positive" if value <= 0 else "non-finite"
            issues.append(
                PriceIssue(
                    "non-positive",
                    f"{day:%Y-%m-%d}",
                    f"{kind} price {value:g} on {day:%Y-%m-%d}",
                    True,
                )
            )
        series = series[~bad]
    issues.sort(key=lambda issue: issue.day)
    if strict and issues:
        extra = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise ParseError(f"{what}: {issues[0].message}{extra}")
    series.index.name = "date"
    if not strict:
        series.attrs[ISSUES_ATTR] = issues
    return series


def _conflicts(series: pd.Series) -> list[PriceIssue]:
    """One issue per date given prices further apart than :data:`SAME_PRICE`."""
    last_day = series.index.max()
    issues = []
    repeated = series[series.index.duplicated(keep=False)]
    for day, group in repeated.groupby(level=0, sort=True):
        low, high = float(group.min()), float(group.max())
        if not (np.isfinite(low) and np.isfinite(high)) or low <= 0:
            continue  # reported as an unusable price
        apart = high / low - 1.0
        tolerance = LIVE_ROW_TOLERANCE if day == last_day else SAME_PRICE
        if apart <= tolerance:
            continue
        first, kept = float(group.iloc[0]), float(group.iloc[-1])
        shown = f"{first:.6g} and {kept:.6g}" if first != kept else f"{low:.6g} to {high:.6g}"
        issues.append(
            PriceIssue(
                "conflict",
                f"{day:%Y-%m-%d}",
                f"{group.nunique()} different prices on {day:%Y-%m-%d}: {shown} ({apart:.1%} "
                "apart)",
                severe=True,
            )
        )
    return issues


def take_issues(series: pd.Series) -> tuple[list[PriceIssue], dict[str, float]]:
    """Remove and return what a lenient parse attached: its issues and split events."""
    issues = list(series.attrs.pop(ISSUES_ATTR, []) or [])
    splits = dict(series.attrs.pop(SPLITS_ATTR, {}) or {})
    return issues, splits


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


def closes_from_rows(payload: Any, *, what: str, split_field: str | None = None) -> pd.Series:
    """Adjusted closes from a JSON list of daily rows with ``date`` and ``adjClose`` (FMP, Tiingo).

    Parsed leniently (see :func:`clean_closes`). With ``split_field`` (Tiingo's
    ``splitFactor``), rows whose factor is not 1 are the provider's split events.
    """
    if not isinstance(payload, list):
        raise ParseError(f"{what}: expected a JSON list of daily rows")
    try:
        dates = [row["date"] for row in payload]
        closes = [row["adjClose"] for row in payload]
    except (KeyError, TypeError):
        raise ParseError(f"{what}: rows without 'date' and 'adjClose'") from None
    series = clean_closes(dates, closes, what=what, strict=False)
    if split_field is not None:
        factors = [row.get(split_field) for row in payload]
        series.attrs[SPLITS_ATTR] = split_events(dates, factors)
    return series


def split_events(dates: Any, ratios: Any) -> dict[str, float]:
    """``{"YYYY-MM-DD": ratio}`` for the rows whose split ratio is a number other than 0 or 1.

    Examples
    --------
    >>> split_events(["2017-01-19", "2017-01-20"], [2.0, 1.0])
    {'2017-01-19': 2.0}
    """
    values = _to_floats(ratios)
    try:
        days = _to_dates(dates, what="split events")
    except ParseError:
        return {}
    if len(values) != len(days):
        return {}
    keep = np.isfinite(values) & (values > 0) & (np.abs(values - 1.0) > 1e-9)
    return {f"{day:%Y-%m-%d}": float(v) for day, v in zip(days[keep], values[keep], strict=True)}


def json_error_field(body: bytes, field: str) -> str | None:
    """The text of ``field`` in a JSON error answer, or None when absent or not JSON."""
    try:
        payload = load_json(body, what="")
    except ParseError:
        return None
    if isinstance(payload, dict) and payload.get(field):
        return str(payload[field])
    return None


def side_by_side(closes: Mapping[str, pd.Series]) -> pd.DataFrame:
    """Series of every fund on the union of their days (sorted), NaN where a fund has none.

    What ``pd.DataFrame(closes)`` gives for sorted, unique daily indexes, in numpy: pandas'
    index union and frequency inference cost a tenth of a warm fetch.

    Examples
    --------
    >>> a = pd.Series([1.0, 2.0], index=pd.to_datetime(["2024-01-02", "2024-01-04"]))
    >>> b = pd.Series([3.0], index=pd.to_datetime(["2024-01-03"]))
    >>> side_by_side({"A": a, "B": b}).to_numpy().tolist()
    [[1.0, nan], [nan, 3.0], [2.0, nan]]
    """
    days = np.unique(np.concatenate([series.index.to_numpy() for series in closes.values()]))
    values = np.full((len(days), len(closes)), np.nan)
    for column, series in enumerate(closes.values()):
        values[np.searchsorted(days, series.index.to_numpy()), column] = series.to_numpy(
            dtype=np.float64
        )
    return pd.DataFrame(values, index=pd.DatetimeIndex(days, name="date"), columns=list(closes))


__all__ = [
    "EARLIEST",
    "ISSUES_ATTR",
    "SPLITS_ATTR",
    "PriceIssue",
    "PriceProvider",
    "PriceRequest",
    "check_ticker",
    "clean_closes",
    "closes_from_rows",
    "json_error_field",
    "load_json",
    "resolve_base_url",
    "side_by_side",
    "split_events",
    "take_issues",
]
