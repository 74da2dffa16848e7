"""What every factor library client shares: the parsed-file type, base URLs, the download.

A client has the seams of :mod:`factorxray.data.kenfrench`: ``_download`` fetches bytes
through the one :class:`~factorxray.data.http.HttpClient` and the
:class:`~factorxray.data.cache.Cache` (atomic, sha256-checked, ETag), a pure ``parse_*``
function turns bytes into a :class:`FactorFile`, and the vintage is stored in the cache
metadata. A download is validated (parsed) before it is stored, so a bad answer never
replaces a good cached copy; offline, only the cache is used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from factorxray.data.cache import Cache, CacheEntry, cached_get
from factorxray.data.http import HttpClient, ProgressCallback
from factorxray.errors import (
    DOWNLOAD_ONCE,
    PASS_OFFLINE,
    PASS_REFRESH,
    PIN_YEAR,
    DataSourceError,
    HttpStatusError,
    NotCachedError,
    ParseError,
    UnreachableError,
    UsageError,
    with_message,
)


@dataclass(frozen=True)
class FactorFile:
    """One parsed file of a factor library.

    Attributes
    ----------
    library : str
        ``"q"``, ``"aqr"``, ``"liquidity"``.
    name : str
        The file's name at the publisher (without extension).
    vintage : str or None
        The publisher's vintage: the year in the file name (q-factors, liquidity) or the
        last month of the data, ``YYYYMM`` (AQR, which rebuilds its history every month).
    frequency : str
        ``"monthly"``, ``"weekly"`` or ``"daily"``.
    sections : dict of str to DataFrame
        Each table of the file (one for CSV files, one per data sheet for AQR workbooks),
        values as published (``units``), missing values NaN; a monthly ``PeriodIndex`` or
        a ``DatetimeIndex``.
    units : str
        ``"percent"`` or ``"decimal"``: the units of ``sections``.
    url : str or None
        Where it came from.
    """

    library: str
    name: str
    vintage: str | None
    frequency: str
    sections: dict[str, pd.DataFrame] = field(repr=False)
    units: str
    url: str | None = None

    def section(self, title: str | None = None) -> pd.DataFrame:
        """A table by title (the first when ``title`` is None)."""
        if title is None:
            return next(iter(self.sections.values()))
        try:
            return self.sections[title]
        except KeyError:
            raise ParseError(
                f"{self.name} has no table {title!r}; it has: {', '.join(self.sections)}"
            ) from None

    def decimals(self, title: str | None = None) -> pd.DataFrame:
        """A table in decimals (percent divided by 100)."""
        frame = self.section(title)
        return frame / 100.0 if self.units == "percent" else frame

    def with_url(self, url: str | None) -> FactorFile:
        """A copy that names where it came from."""
        return FactorFile(
            self.library, self.name, self.vintage, self.frequency, self.sections, self.units, url
        )


def resolve_base_url(explicit: str | None, env: str, default: str) -> str:
    """The base URL: argument, else the environment variable ``env``, else ``default``."""
    url = explicit or os.environ.get(env) or default
    return url if url.endswith("/") else url + "/"


def is_not_found(exc: BaseException) -> bool:
    """Whether a download failed with HTTP 404 (or 410)."""
    return isinstance(exc, HttpStatusError) and exc.status_code in (404, 410)


def download(
    *,
    cache: Cache,
    client: HttpClient | None,
    namespace: str,
    key: str,
    url: str,
    what: str,
    validate: Callable[[bytes], dict[str, Any]],
    refresh: bool = False,
    offline: bool = False,
    on_progress: ProgressCallback | None = None,
    fallback: CacheEntry | None = None,
) -> CacheEntry:
    """Bytes behind ``url`` through the cache (see :func:`factorxray.data.cache.cached_get`).

    ``validate`` parses fresh bytes (raising :class:`ParseError` if they are not what we
    expect) and returns metadata to store with them (at least ``vintage``). Without a
    network, the error says how to go on (:func:`offline_advice`); ``fallback`` is another
    cached file that ``offline=True`` would use (an older year's).
    """
    own_client = client is None
    http = client if client is not None else HttpClient()
    try:
        return cached_get(
            cache,
            http,
            namespace=namespace,
            key=key,
            url=url,
            what=what,
            validate=validate,
            refresh=refresh,
            offline=offline,
            on_progress=on_progress,
            offline_hint=PASS_OFFLINE.python,
        )
    except UnreachableError as exc:
        raise offline_advice(exc, fallback) from None
    finally:
        if own_client:
            http.close()


def offline_advice(exc: UnreachableError, fallback: CacheEntry | None) -> UnreachableError:
    """``exc`` (no network) saying whether anything is at hand offline, and how to use it.

    The bundled snapshot holds Ken French files only, so a library file is at hand only in
    the cache: the copy of this file (the cache's error already says it is kept), another
    cached file ``offline=True`` reads (``fallback``), or nothing.
    """
    if getattr(exc, "kept_copy", None) is not None:
        return exc
    if fallback is not None:
        fetched = fallback.meta.get("fetched_at", "?")
        return with_message(
            exc,
            f"{exc}, or {PASS_OFFLINE.python} to use the cached {fallback.key} (fetched {fetched})",
        )
    return with_message(
        exc,
        f"{exc} (it is not in the cache, nor in the bundled snapshot, which holds Ken "
        "French files only)",
    )


def to_month_index(years: list[int], months: list[int]) -> pd.PeriodIndex:
    """A monthly ``PeriodIndex`` from year and month numbers (checked)."""
    if any(not 1 <= m <= 12 for m in months):
        raise ValueError("month out of range")
    ordinals = [(y - 1970) * 12 + m - 1 for y, m in zip(years, months, strict=True)]
    return pd.PeriodIndex.from_ordinals(ordinals, freq="M").rename("period")


#: How many vintage years back from this year the newest yearly file is looked for.
YEARS_BACK = 4
#: The oldest vintage year looked for in the cache.
OLDEST_YEAR = 2015
_YEAR = re.compile(r"^\d{4}$")


def read_yearly(
    *,
    what: str,
    namespace: str,
    root: str,
    env: str,
    file_for_year: Callable[[int], str],
    parse: Callable[[bytes, str], FactorFile],
    library: str,
    vintage: str | int | None,
    cache: Cache | None,
    client: HttpClient | None,
    refresh: bool,
    offline: bool,
    on_progress: ProgressCallback | None,
    now: datetime | None = None,
) -> FactorFile:
    """A file published once a year under a name holding the year (the newest, or ``vintage``).

    Without ``vintage``: a fresh cached file of the newest year at hand is used as it is;
    otherwise this year's file is asked for, then last year's, ... back to the newest year
    in the cache (a 404 moves on, anything else is an error). Offline: the newest cached.
    Every year's file is its own cache entry, so the cache keeps every vintage it saw.
    """
    if vintage is not None and not _YEAR.match(str(vintage).strip()):
        raise UsageError(f"{what}: vintage {vintage!r} is not a year; use e.g. 2024")
    cache = cache if cache is not None else Cache()
    this_year = (now or datetime.now(UTC)).year
    if vintage is not None:
        years = [int(str(vintage).strip())]
        search = years
    else:
        years = list(range(this_year, this_year - YEARS_BACK, -1))
        search = list(range(this_year, OLDEST_YEAR - 1, -1))
    # a pinned year online goes to the server through the cache (cached_get)
    cached = (
        _newest_cached(cache, namespace, file_for_year, search)
        if offline or vintage is None
        else None
    )
    if offline:
        if cached is None:
            pinned = f" of vintage {vintage}" if vintage is not None else ""
            raise NotCachedError(
                f"no {what}{pinned} is in the cache ({cache.root}); {DOWNLOAD_ONCE.python} it"
            )
        return _parsed_entry(cached[1], parse)
    fallback = None  # what offline=True would read when the network is gone
    if vintage is None and cached is not None:
        year, entry = cached
        if not refresh:
            if entry.is_fresh(cache.ttl_seconds):
                return _parsed_entry(entry, parse)
            years = [y for y in years if y > year] + [year]
        fallback = entry
    tried = []
    for year in years:
        name = file_for_year(year)
        tried.append(name)
        try:
            return _fetch_named(
                name,
                root + name,
                what,
                namespace,
                parse,
                library,
                cache,
                client,
                refresh,
                on_progress,
                fallback,
            )
        except DataSourceError as exc:
            if is_not_found(exc):
                continue
            raise
    raise UsageError(
        f"no {what} at {root} ({', '.join(tried)}: HTTP 404); pin a year that is published "
        f"({PIN_YEAR.python}), or set {env}"
    )


def _newest_cached(
    cache: Cache, namespace: str, file_for_year: Callable[[int], str], years: list[int]
) -> tuple[int, CacheEntry] | None:
    """The first of ``years`` (newest first) whose file is in the cache, and its entry."""
    for year in years:
        entry = cache.get(namespace, file_for_year(year))
        if entry is not None:
            return year, entry
    return None


def _fetch_named(
    name: str,
    url: str,
    what: str,
    namespace: str,
    parse: Callable[[bytes, str], FactorFile],
    library: str,
    cache: Cache,
    client: HttpClient | None,
    refresh: bool,
    on_progress: ProgressCallback | None,
    fallback: CacheEntry | None = None,
) -> FactorFile:
    parsed: dict[str, FactorFile] = {}
    stem = name.rsplit(".", 1)[0]

    def validate(data: bytes) -> dict[str, str | None]:
        try:
            result = parse(data, stem)
        except ParseError as exc:
            raise ParseError(f"{exc} (from {url})") from None
        parsed["fresh"] = result
        return {"vintage": result.vintage, "dataset": stem, "library": library}

    entry = download(
        cache=cache,
        client=client,
        namespace=namespace,
        key=name,
        url=url,
        what=f"{what} {name}",
        validate=validate,
        refresh=refresh,
        on_progress=on_progress,
        fallback=fallback,
    )
    result = parsed.get("fresh") or _parsed_entry(entry, parse)
    return result.with_url(url)


def _parsed_entry(entry: CacheEntry, parse: Callable[[bytes, str], FactorFile]) -> FactorFile:
    try:
        result = parse(entry.data, entry.key.rsplit(".", 1)[0])
    except ParseError as exc:
        raise ParseError(
            f"{exc} (cached copy in {entry.namespace}/{entry.key}; {PASS_REFRESH.python})"
        ) from None
    return result.with_url(entry.meta.get("url"))
