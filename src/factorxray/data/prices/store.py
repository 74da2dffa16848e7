"""Download a ticker's daily history through the cache, fetching only the missing tail.

Each ticker's whole history (inception to the last settled trading day) is one cache entry:
namespace ``prices-<source>``, key = ticker, bytes = a NumPy ``.npy`` array of
``(date, adj_close)`` records (days and float64 closes, exact; read without pickle). The
binary form reads in under a millisecond where parsing CSV text took 10-17 ms a ticker; entries
written as CSV ``date,adj_close`` by earlier versions are still read. The metadata holds
the redacted URL, the first and last date and the row count; never an API key.

When a cached history is stale (older than :data:`PRICES_TTL_SECONDS`, or the caller asks
to refresh), only the tail is requested, from :data:`OVERLAP_DAYS` calendar days before the
last cached date. Adjusted closes are rescaled backwards each time a fund pays a dividend
or splits, so the cached levels may all have changed: if the overlapping days of the tail
disagree with the cache by more than :data:`RESCALE_TOLERANCE` (relative), the whole
history is downloaded again. A tail that does not overlap the cache at all is treated the
same way. That full answer replaces the cache only if it looks like the same history: one
starting more than :data:`MAX_LATER_START_DAYS` after the cached first day, or holding
fewer than :data:`MIN_ROWS_FRACTION` of the cached rows over the cached span, is refused
(the cache is kept and the ticker fails, saying so).

What the parser found wrong in an answer (conflicting duplicates, unusable prices: see
:func:`~factorxray.data.prices.base.clean_closes`) and the provider's split events are kept
in the metadata (``issues``, ``splits``) and returned with every later read of the entry,
so a suspect history is reported every time it is used, not only when it was downloaded.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from factorxray.data.cache import Cache, CacheEntry, kept_copy_error
from factorxray.data.http import HttpClient, redact_text, redact_url
from factorxray.data.prices.base import (
    EARLIEST,
    PriceIssue,
    PriceProvider,
    clean_closes,
    take_issues,
)
from factorxray.errors import (
    DOWNLOAD_ONCE,
    PASS_OFFLINE,
    DataSourceError,
    HttpStatusError,
    NotCachedError,
    ParseError,
    UnknownTickerError,
    UnreachableError,
    quote,
    with_message,
)

#: How a user works without a network, in the API's words (the CLI prints its own,
#: ``add --offline``: :func:`factorxray.errors.cli_wording`).
OFFLINE_HINT = PASS_OFFLINE.python
#: Daily prices are re-validated after a day (or the cache's own TTL, if shorter).
PRICES_TTL_SECONDS = 24 * 3600
#: Calendar days of overlap requested before the last cached date on a tail update.
OVERLAP_DAYS = 7
#: Largest relative difference between cached and fresh adjusted closes on the same day.
RESCALE_TOLERANCE = 1e-6
#: A full re-download may start at most this many days after the cached history starts...
MAX_LATER_START_DAYS = 31
#: ...and must hold at least this fraction of the cached rows over the cached span.
MIN_ROWS_FRACTION = 0.9
#: The largest price answer accepted (after decompression): the longest daily histories are
#: 1-2 MB of JSON, so 32 MB leaves room and keeps 8 concurrent downloads well under the
#: HTTP client's memory budget even when every answer is a decompression bomb.
MAX_ANSWER_BYTES = 32 * 1024 * 1024
#: Where a trading day's close is settled: after 16:30 New York time.
_EXCHANGE_TZ = ZoneInfo("America/New_York")
_SETTLED_AFTER = (16, 30)


@dataclass(frozen=True)
class PriceHistory:
    """One ticker's daily adjusted closes and where they came from.

    Attributes
    ----------
    ticker, source : str
        The symbol and the provider name (``"yahoo"``).
    closes : pandas.Series
        Adjusted closes on a ``DatetimeIndex`` named ``date``.
    fetched_at : str
        When the data was last confirmed with the provider (ISO 8601, UTC).
    origin : str
        ``"cache"`` (fresh enough, no request), ``"offline"`` (cache only, any age),
        ``"download"`` (whole history), ``"tail"`` (only the new days were requested) or
        ``"file"``.
    issues : tuple of PriceIssue
        What parsing found wrong (conflicting duplicates, unusable prices), in date order.
    splits : mapping of str to float
        The provider's split events, ``{"YYYY-MM-DD": new shares per old share}``.
    """

    ticker: str
    source: str
    closes: pd.Series
    fetched_at: str
    origin: str
    issues: tuple[PriceIssue, ...] = ()
    splits: Mapping[str, float] = field(default_factory=dict)

    def record(self) -> dict[str, str]:
        """The JSON-safe summary kept in ``attrs["sources"]``."""
        return {
            "source": self.source,
            "first": f"{self.closes.index[0]:%Y-%m-%d}",
            "last": f"{self.closes.index[-1]:%Y-%m-%d}",
            "fetched_at": self.fetched_at,
            "origin": self.origin,
        }


def namespace_for(source: str) -> str:
    """The cache namespace of a price source: ``prices-yahoo``, ``prices-fmp``..."""
    return f"prices-{source}"


#: The record layout of a cached history (``.npy``): the day and its adjusted close.
CLOSES_DTYPE = np.dtype([("date", "<M8[D]"), ("adj_close", "<f8")])

#: How the cached bytes of each form begin.
_NPY_MAGIC = b"\x93NUMPY"
#: The days a cached history may hold (anything else is damage, and would not fit the index).
_FIRST_DAY, _END_DAY = np.datetime64("1800-01-01", "D"), np.datetime64("2300-01-01", "D")
#: The one ``.npy`` header :func:`closes_to_bytes` writes, with the number of rows.
_NPY_HEADER = re.compile(
    rb"\{'descr': \[\('date', '<M8\[D\]'\), \('adj_close', '<f8'\)\], "
    rb"'fortran_order': False, 'shape': \((\d{1,12}),\), \} *\n"
)


def closes_to_bytes(closes: pd.Series) -> bytes:
    """The cached form of a history: a ``.npy`` array of ``(date, adj_close)`` records.

    Exact (float64 as is) and read back without parsing text (:func:`closes_from_bytes`).

    Examples
    --------
    >>> s = pd.Series([0.1, 1 / 3], index=pd.to_datetime(["2024-01-02", "2024-01-03"]))
    >>> closes_from_bytes(closes_to_bytes(s), "demo").tolist() == [0.1, 1 / 3]
    True
    """
    records = np.empty(len(closes), dtype=CLOSES_DTYPE)
    records["date"] = pd.DatetimeIndex(closes.index).to_numpy().astype("M8[D]")
    records["adj_close"] = closes.to_numpy(dtype=np.float64)
    # The header is written here, not by numpy, so that it is exactly the one the reader
    # accepts whatever numpy version wrote it (padded to 64 bytes, as numpy pads it).
    header = (
        f"{{'descr': {CLOSES_DTYPE.descr!r}, 'fortran_order': False, 'shape': ({len(records)},), }}"
    ).encode("latin1")
    padding = -(len(_NPY_MAGIC) + 4 + len(header) + 1) % 64
    header += b" " * padding + b"\n"
    prefix = _NPY_MAGIC + b"\x01\x00" + len(header).to_bytes(2, "little")
    return prefix + header + records.tobytes()


def closes_from_bytes(content: bytes, what: str) -> pd.Series:
    """Read back :func:`closes_to_bytes` (or the CSV ``date,adj_close`` of older versions).

    Raises
    ------
    ParseError
        Bytes that are neither form, or a history that is not sorted, unique and positive.
    """
    if content.startswith(_NPY_MAGIC):
        return _closes_from_npy(content, what)
    try:
        frame = pd.read_csv(io.BytesIO(content), dtype={"date": str})
        return clean_closes(frame["date"], frame["adj_close"], what=what)
    except (ValueError, KeyError, pd.errors.ParserError) as exc:
        raise _unreadable(what, exc) from None


def _closes_from_npy(content: bytes, what: str) -> pd.Series:
    records = _npy_records(content, what)
    days = records["date"]
    values = np.array(records["adj_close"], dtype=np.float64)
    if not ((days >= _FIRST_DAY) & (days < _END_DAY)).all():  # NaT compares False
        raise _unreadable(what, "a date missing or outside 1800-2299")
    if len(days) > 1 and not (days[1:] > days[:-1]).all():
        raise _unreadable(what, "dates repeated or out of order")
    if not (np.isfinite(values) & (values > 0)).all():
        raise _unreadable(what, "a close that is not a positive number")
    index = pd.DatetimeIndex(days.astype("M8[us]"), name="date")
    return pd.Series(values, index=index, name="adj_close")


def _npy_records(content: bytes, what: str) -> np.ndarray:
    """The records of a ``.npy`` history, its header checked before anything is read.

    Only the header :func:`closes_to_bytes` writes (format 1.0, these records, one
    dimension) is accepted, matched as text: numpy's own header reader evaluates the
    header and warns on damaged bytes, and a header may announce any size.
    """
    header_start = len(_NPY_MAGIC) + 4
    if content[len(_NPY_MAGIC) : len(_NPY_MAGIC) + 2] != b"\x01\x00":
        raise _unreadable(what, "not a version 1.0 .npy array")
    header_end = header_start + int.from_bytes(content[header_start - 2 : header_start], "little")
    match = _NPY_HEADER.fullmatch(content[header_start:header_end])
    if match is None:
        raise _unreadable(what, f"not an array of {CLOSES_DTYPE.descr}")
    rows = int(match.group(1))
    if len(content) - header_end != rows * CLOSES_DTYPE.itemsize:
        raise _unreadable(what, f"{rows} records announced, {len(content) - header_end} bytes")
    return np.frombuffer(content, dtype=CLOSES_DTYPE, count=rows, offset=header_end)


def _unreadable(what: str, problem: object) -> ParseError:
    reason = quote(" ".join(str(problem).split()), 100)
    return ParseError(f"{what}: unreadable cached prices ({reason}); clear the cache")


def settled(closes: pd.Series, now: datetime) -> pd.Series:
    """Drop rows of days whose close is not final yet at ``now`` (today before 16:30 New York).

    Providers return the running session as a row; caching it would make the next tail
    update disagree with the cache and force a full download.
    """
    local = now.astimezone(_EXCHANGE_TZ)
    last_final = (
        local.date()
        if (local.hour, local.minute) >= _SETTLED_AFTER
        else (local.date() - timedelta(days=1))
    )
    return closes[closes.index <= pd.Timestamp(last_final)]


def max_relative_gap(cached: pd.Series, fresh: pd.Series) -> float:
    """Largest ``|fresh / cached - 1|`` over the days both hold (inf when none are shared)."""
    common = cached.index.intersection(fresh.index)
    if len(common) == 0:
        return float("inf")
    ratio = fresh.loc[common].to_numpy() / cached.loc[common].to_numpy()
    return float(np.max(np.abs(ratio - 1.0)))


class PriceStore:
    """Daily histories of one provider, through the cache.

    Parameters
    ----------
    provider : PriceProvider
        Where to download.
    client : HttpClient
        The shared client (its HTTP errors carry the body, from which the provider's own
        error description is taken).
    cache : Cache
        Where histories live.
    now : callable, optional
        Returns the current time (tests freeze it).
    """

    def __init__(
        self,
        provider: PriceProvider,
        client: HttpClient,
        cache: Cache,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.provider = provider
        self.client = client
        self.cache = cache
        self.namespace = namespace_for(provider.name)
        self.ttl_seconds = min(cache.ttl_seconds, PRICES_TTL_SECONDS)
        self._now = now or (lambda: datetime.now(_EXCHANGE_TZ))

    def history(self, ticker: str, *, offline: bool = False, refresh: bool = False) -> PriceHistory:
        """``ticker``'s whole daily history, downloading only what the cache lacks.

        Parameters
        ----------
        ticker : str
            A normalised symbol (see :func:`~factorxray.data.prices.base.check_ticker`).
        offline : bool
            Use the cache only, however old; raise :class:`NotCachedError` when absent.
        refresh : bool
            Bring the cache up to date now even if it is fresh (still tail-only).

        Returns
        -------
        PriceHistory

        Raises
        ------
        NotCachedError, UnknownTickerError, DataSourceError
            With a one-line reason; never an API key.
        """
        try:
            return self._history(ticker, offline=offline, refresh=refresh)
        except DataSourceError as exc:
            message = redact_text(str(exc), self.provider.secrets)
            if isinstance(exc, UnreachableError) and getattr(exc, "kept_copy", None) is None:
                message += f", or {OFFLINE_HINT} to work offline"
            raise with_message(exc, message) from None

    def _history(self, ticker: str, *, offline: bool, refresh: bool) -> PriceHistory:
        entry = self.cache.get(self.namespace, ticker)
        if offline:
            if entry is None:
                raise NotCachedError(
                    f"no cached {self.provider.name} prices for {ticker} in {self.cache.root}; "
                    f"{DOWNLOAD_ONCE.python} them"
                )
            return self._from_entry(ticker, entry, "offline")
        if entry is not None and not refresh and entry.is_fresh(self.ttl_seconds):
            return self._from_entry(ticker, entry, "cache")
        if entry is not None:
            cached = self._read_entry(ticker, entry)
            if cached is not None and len(cached):
                try:
                    return self._update_tail(ticker, cached, entry)
                except DataSourceError as exc:
                    raise kept_copy_error(exc, entry, OFFLINE_HINT) from None
        return self._download_all(ticker)

    def _read_entry(self, ticker: str, entry: CacheEntry) -> pd.Series | None:
        try:
            return closes_from_bytes(entry.data, f"cached {ticker}")
        except ParseError:
            return None

    def _from_entry(self, ticker: str, entry: CacheEntry, origin: str) -> PriceHistory:
        closes = self._read_entry(ticker, entry)
        if closes is None or closes.empty:
            if origin == "offline":
                raise NotCachedError(
                    f"the cached {self.provider.name} prices for {ticker} are unreadable; "
                    f"{DOWNLOAD_ONCE.python} them again"
                )
            return self._download_all(ticker)
        issues, splits = _found_in(entry)
        return PriceHistory(
            ticker,
            self.provider.name,
            closes,
            entry.meta["fetched_at"],
            origin,
            tuple(issues),
            splits,
        )

    def _fetch(self, ticker: str, start: date) -> _Answer:
        """Download and parse ``ticker`` from ``start`` to today."""
        today = self._now().date()
        request = self.provider.request(ticker, start, today)
        what = f"{self.provider.name} prices for {ticker}"
        try:
            response = self.client.get(
                request.url,
                params=request.params,
                headers=request.headers,
                what=what,
                max_bytes=MAX_ANSWER_BYTES,
            )
        except DataSourceError as exc:
            raise self._explain(ticker, exc) from None
        try:
            closes = self.provider.parse(ticker, response.content)
        except DataSourceError:
            raise
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            raise ParseError(
                f"{what}: unexpected answer layout ({type(exc).__name__}: {quote(str(exc), 80)})"
            ) from None
        issues, splits = take_issues(closes)
        closes = settled(closes, self._now())
        last = f"{closes.index[-1]:%Y-%m-%d}" if len(closes) else ""
        issues = [issue for issue in issues if issue.day <= last]
        return _Answer(closes, redact_url(response.url), issues, splits)

    def _explain(self, ticker: str, exc: DataSourceError) -> DataSourceError:
        """Add the provider's own words to an HTTP error; a 404 means an unknown ticker."""
        if not isinstance(exc, HttpStatusError):
            return exc
        described = self.provider.describe_error(ticker, exc.status_code, exc.body)
        if exc.status_code == 404:
            return UnknownTickerError(f"{described or 'unknown ticker'} (HTTP 404 from {exc.url})")
        message = f"{exc}: {described}" if described else str(exc)
        env_key = getattr(self.provider, "env_key", None)
        if exc.status_code in (401, 403) and env_key:
            message += f"; check the key in {env_key}"
        return HttpStatusError(message, status_code=exc.status_code, url=exc.url, body=exc.body)

    def _download_all(self, ticker: str, cached: pd.Series | None = None) -> PriceHistory:
        answer = self._fetch(ticker, EARLIEST)
        if answer.closes.empty:
            raise UnknownTickerError(
                f"{self.provider.name} returned no prices (unknown or delisted ticker?)"
            )
        if cached is not None:
            self._check_replacement(ticker, cached, answer.closes)
        return self._store(ticker, answer, "download")

    def _check_replacement(self, ticker: str, cached: pd.Series, fresh: pd.Series) -> None:
        """Refuse a full download that would throw away much of a good cached history."""
        first, last = cached.index[0], cached.index[-1]
        later = (fresh.index[0] - first).days
        rows = int(((fresh.index >= first) & (fresh.index <= last)).sum())
        if later > MAX_LATER_START_DAYS:
            problem = (
                f"starts {fresh.index[0]:%Y-%m-%d}, {later} days after the cached history "
                f"({first:%Y-%m-%d} to {last:%Y-%m-%d})"
            )
        elif rows < MIN_ROWS_FRACTION * len(cached):
            problem = (
                f"has {rows} rows from {first:%Y-%m-%d} to {last:%Y-%m-%d} where the cache "
                f"has {len(cached)}"
            )
        else:
            return
        raise DataSourceError(
            f"the full {self.provider.name} history downloaded for {ticker} {problem}, so it "
            f"was not allowed to replace the cache; to accept it, run "
            f"`factorxray cache clear {self.namespace}` and fetch again"
        )

    def _update_tail(self, ticker: str, cached: pd.Series, entry: CacheEntry) -> PriceHistory:
        since = (cached.index[-1] - pd.Timedelta(days=OVERLAP_DAYS)).date()
        tail = self._fetch(ticker, since)
        if max_relative_gap(cached, tail.closes) > RESCALE_TOLERANCE:
            return self._download_all(ticker, cached)
        start = tail.closes.index[0]
        merged = pd.concat([cached[cached.index < start], tail.closes])
        old_issues, old_splits = _found_in(entry)
        kept = [issue for issue in old_issues if issue.day < f"{start:%Y-%m-%d}"]
        answer = _Answer(merged, tail.url, kept + tail.issues, {**old_splits, **tail.splits})
        return self._store(ticker, answer, "tail")

    def _store(self, ticker: str, answer: _Answer, origin: str) -> PriceHistory:
        closes = answer.closes
        meta = {
            "url": answer.url,
            "source": self.provider.name,
            "ticker": ticker,
            "first": f"{closes.index[0]:%Y-%m-%d}",
            "last": f"{closes.index[-1]:%Y-%m-%d}",
            "rows": len(closes),
            "issues": [issue.to_dict() for issue in answer.issues],
            "splits": dict(answer.splits),
        }
        entry = self.cache.put(self.namespace, ticker, closes_to_bytes(closes), meta)
        return PriceHistory(
            ticker,
            self.provider.name,
            closes,
            entry.meta["fetched_at"],
            origin,
            tuple(answer.issues),
            dict(answer.splits),
        )


@dataclass(frozen=True)
class _Answer:
    """A parsed provider answer: settled closes, the redacted URL, issues and split events."""

    closes: pd.Series
    url: str
    issues: list[PriceIssue]
    splits: dict[str, float]


def _found_in(entry: CacheEntry) -> tuple[list[PriceIssue], dict[str, float]]:
    """The issues and split events kept in an entry's metadata (tolerating older entries)."""
    raw_issues = entry.meta.get("issues")
    issues = [
        issue
        for issue in map(PriceIssue.from_dict, raw_issues if isinstance(raw_issues, list) else [])
        if issue is not None
    ]
    raw_splits = entry.meta.get("splits")
    splits: dict[str, float] = {}
    if isinstance(raw_splits, dict):
        for day, ratio in raw_splits.items():
            if isinstance(day, str) and isinstance(ratio, int | float):
                splits[day] = float(ratio)
    return issues, splits


__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_LATER_START_DAYS",
    "MIN_ROWS_FRACTION",
    "OVERLAP_DAYS",
    "PRICES_TTL_SECONDS",
    "RESCALE_TOLERANCE",
    "PriceHistory",
    "PriceStore",
    "closes_from_bytes",
    "closes_to_bytes",
    "max_relative_gap",
    "namespace_for",
    "settled",
]
