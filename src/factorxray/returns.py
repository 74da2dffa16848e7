"""Fund returns: daily dividend-adjusted closes -> monthly total returns -> excess returns.

:func:`fetch_prices` gets daily adjusted closes for many tickers at once (concurrently,
through the cache); :func:`fetch_returns` turns them into monthly total returns with the
pure :func:`monthly_total_returns`; :func:`excess_returns` subtracts the risk-free rate.
Returns are decimals (0.01 is 1%) on a monthly ``PeriodIndex``.

Each result carries its provenance in ``.attrs`` (JSON-safe, string values)::

    attrs["sources"] = {"SPY": {"source": "yahoo", "first": "1993-01-29", "last": "2026-07-14",
                                "fetched_at": "2026-07-15T08:00:00+00:00", "origin": "cache"}}
    attrs["failed"]  = {"NOSUCH": "Yahoo: No data found, symbol may be delisted (HTTP 404 ...)"}
    attrs["warnings"] = {"JQUA": ["one-day spike on 2019-05-02: the price rose 52.0% and ..."]}

Every history is checked before use (:mod:`factorxray.data.prices.sanity`): conflicting
duplicate dates, unusable prices and split-like jumps fail the fund (its reason in
``attrs["failed"]``) unless ``allow_suspect_prices=True``; spikes and stale runs, and the
allowed findings, are one-line warnings in ``attrs["warnings"]`` (ticker -> lines).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from factorxray.data.cache import Cache
from factorxray.data.http import HttpClient
from factorxray.data.prices import SOURCES, FilePrices, PriceHistory, PriceStore, get_provider
from factorxray.data.prices.base import ISSUES_ATTR, SPLITS_ATTR, PriceIssue, side_by_side
from factorxray.data.prices.sanity import check_prices, market_moves
from factorxray.data.tickers import check_ticker
from factorxray.errors import (
    ALLOW_SUSPECT_PRICES,
    CACHE_FOLDER,
    PASS_PRICES_FILE,
    AllFailedError,
    FactorXrayError,
    InsufficientDataError,
    UsageError,
    quote,
)

#: ``on_ticker_done(ticker, reason)``: reason is None on success, else why it failed.
TickerCallback = Callable[[str, str | None], None]
DateLike = str | date | datetime | pd.Timestamp | pd.Period | None

#: A monthly risk-free rate above this is surely in percent, not decimals.
_RF_DECIMAL_LIMIT = 0.05
#: A month whose last close is more than this many calendar days before the month's last
#: NYSE trading day has a gap at its end: its last close is not a month-end close.
STALE_MONTH_END_DAYS = 7
#: Findings listed per fund in ``attrs["warnings"]`` (the rest are counted).
MAX_FINDINGS = 5
_PROVIDER_NAMES = {"yahoo": "Yahoo", "fmp": "FMP", "tiingo": "Tiingo", "file": "the file"}


# ----------------------------------------------------------------------------- the math


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_shift = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * weekday_shift) // 433
    month = (h + weekday_shift - 7 * m + 90) // 25
    day = (h + weekday_shift - 7 * m + 33 * month + 19) % 32
    return date(year, month, day)


def _is_month_end_holiday(day: date) -> bool:
    """NYSE holidays that can fall on a month's last weekday: Good Friday, Memorial Day."""
    memorial_day = day.month == 5 and day.weekday() == 0 and day.day > 24
    return memorial_day or day == _easter(day.year) - timedelta(days=2)


def last_trading_day(month: pd.Period) -> date:
    """The month's last NYSE trading day (weekends, Good Friday and Memorial Day skipped).

    Parameters
    ----------
    month : pandas.Period
        A monthly period.

    Returns
    -------
    datetime.date

    Examples
    --------
    >>> last_trading_day(pd.Period("2018-03", "M"))  # March 30, 2018 was Good Friday
    datetime.date(2018, 3, 29)
    >>> last_trading_day(pd.Period("2021-05", "M"))  # May 31, 2021 was Memorial Day
    datetime.date(2021, 5, 28)
    """
    return date.fromordinal(_last_trading_ordinal(month.year, month.month))


@functools.lru_cache(maxsize=4096)
def _last_trading_ordinal(year: int, month: int) -> int:
    """:func:`last_trading_day` of ``year``-``month`` as a date ordinal (plain datetime)."""
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    day = following - timedelta(days=1)
    while day.weekday() >= 5 or _is_month_end_holiday(day):
        day -= timedelta(days=1)
    return day.toordinal()


def is_complete_month(last_price_day: date | pd.Timestamp) -> bool:
    """True when a series ending on ``last_price_day`` holds that month's final close.

    Examples
    --------
    >>> is_complete_month(date(2026, 7, 14)), is_complete_month(date(2026, 6, 30))
    (False, True)
    """
    day = pd.Timestamp(last_price_day).date()
    return day >= last_trading_day(pd.Period(day, freq="M"))


_ORDINAL_1970 = date(1970, 1, 1).toordinal()


def _monthly_returns_frame(closes: pd.DataFrame) -> pd.DataFrame:
    """Every fund's monthly returns at once (see :func:`monthly_total_returns`).

    Vectorized over funds: one pass over the days finds each fund's last close of every
    month and its date, so 20 funds cost about what one did (a per-fund groupby took 10 ms a
    fund, a tenth of an offline ``analyze``).
    """
    days = closes.index
    month_ordinals = ((days.year - 1970) * 12 + days.month - 1).to_numpy(dtype=np.int64)
    no_months = pd.DataFrame(
        columns=closes.columns, index=pd.PeriodIndex([], freq="M"), dtype=np.float64
    )
    if len(days) == 0 or closes.shape[1] == 0:
        return no_months
    first, last = int(month_ordinals.min()), int(month_ordinals.max())
    months = last - first + 1
    values = closes.to_numpy(dtype=np.float64, copy=False)
    valid = ~np.isnan(values)
    # proleptic Gregorian ordinals (date.toordinal): days since 1970-01-01 plus 719163
    day_numbers = days.to_numpy(dtype="datetime64[D]").astype(np.int64) + _ORDINAL_1970
    # the last valid row of each (month, fund): rows are in date order, so the maximum row
    # number among a month's valid rows is its last close
    rows = np.where(valid, np.arange(len(days))[:, None], -1)
    slot = month_ordinals - first
    last_row = np.full((months, values.shape[1]), -1, dtype=np.int64)
    np.maximum.at(last_row, slot, rows)
    has_close = last_row >= 0
    taken = np.where(has_close, last_row, 0)
    month_end = np.where(has_close, np.take_along_axis(values, taken, axis=0), np.nan)
    last_day = np.where(has_close, day_numbers[taken], 0)
    # A close well before the month's last trading day is a gap, not a month end: treat the
    # month as missing (its return and the next month's both use that close).
    ordinals = np.arange(first, last + 1)
    expected = np.array(
        [_last_trading_ordinal(1970 + int(o) // 12, int(o) % 12 + 1) for o in ordinals],
        dtype=np.int64,
    )
    stale = has_close & (expected[:, None] - last_day > STALE_MONTH_END_DAYS)
    month_end[stale] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = np.full_like(month_end, np.nan)
        returns[1:] = month_end[1:] / month_end[:-1] - 1.0
    # each fund's own range: after its first month, up to its last complete month
    first_month = np.argmax(has_close, axis=0)
    final_month = months - 1 - np.argmax(has_close[::-1], axis=0)
    has_prices = has_close.any(axis=0)
    final_day = day_numbers[np.where(has_prices, last_row.max(axis=0), 0)]
    incomplete = final_day < expected[final_month]
    final_month = final_month - incomplete
    span = np.arange(months)[:, None]
    inside = (span > first_month) & (span <= final_month) & has_prices
    returns[~inside] = np.nan
    kept = inside.any(axis=1)
    if not kept.any():
        return no_months
    lo, hi = int(np.argmax(kept)), int(months - 1 - np.argmax(kept[::-1]))
    index = pd.PeriodIndex.from_ordinals(ordinals[lo : hi + 1], freq="M")
    return pd.DataFrame(returns[lo : hi + 1], index=index, columns=closes.columns)


def _price_frame(prices: pd.DataFrame | pd.Series) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Daily closes as a frame without its ``attrs`` (returned apart, to set once at the end:
    pandas deep-copies attrs at every step), checked to be on trading days."""
    frame = prices.to_frame() if isinstance(prices, pd.Series) else prices
    attrs = dict(frame.attrs)
    frame = frame.copy(deep=False)
    frame.attrs = {}
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise UsageError("prices need a DatetimeIndex of trading days (e.g. from fetch_prices)")
    return frame, attrs


def monthly_total_returns(prices: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Monthly total returns (decimals) from daily dividend-adjusted closes.

    For each fund (column), the return of month *m* is the last close of *m* over the last
    close of *m-1*, minus 1: the same as compounding its daily returns within *m*. Dropped:

    * the fund's **first month**: there is no previous month-end close to start from;
    * its **last month unless complete**: a month is complete when the series has a close
      on or after the month's last NYSE trading day (the last weekday, moved back a day
      when that is Good Friday or Memorial Day). This drops the still-running current
      month, and the last month of a history that stops mid-month (e.g. data ending
      2026-07-14 gives no July 2026).

    Gaps give NaN, never a return measured from a mid-month close:

    * a month with **no close at all** inside a history gives NaN for itself and the next
      month;
    * so does a month whose last close is **stale**: more than 7 calendar days before the
      month's last NYSE trading day (:func:`last_trading_day`), e.g. a provider missing
      the last two weeks of a month. Both that month's return and the next month's would
      use that close as a month end. (A month-end-only series, one close per month on its
      last trading day, is never stale.)

    Months before a fund's first return are NaN.

    Parameters
    ----------
    prices : DataFrame or Series
        Daily adjusted closes, one column per fund, on a ``DatetimeIndex``; NaN where a
        fund has no price (before its inception, holidays of its market).

    Returns
    -------
    DataFrame
        Monthly returns on a contiguous ``PeriodIndex`` (freq ``M``) named ``period``,
        the same columns in the same order. ``attrs`` are carried over.

    Raises
    ------
    UsageError
        The index is not a ``DatetimeIndex``.

    Examples
    --------
    >>> days = pd.to_datetime(["2024-01-31", "2024-02-15", "2024-02-29", "2024-03-28"])
    >>> prices = pd.DataFrame({"FUND": [100.0, 104.0, 102.0, 107.1]}, index=days)
    >>> returns = monthly_total_returns(prices)
    >>> [str(month) for month in returns.index], returns["FUND"].round(6).tolist()
    (['2024-02', '2024-03'], [0.02, 0.05])
    """
    frame, attrs = _price_frame(prices)
    result = _monthly_returns_frame(frame)
    result.index.name = "period"
    result.attrs = attrs
    return result


# ------------------------------------------------------------------- weekly and daily returns

#: The pandas periods of each frequency (see :mod:`factorxray.factors.frequency`).
_PERIOD_FREQ = {"monthly": "M", "weekly": "W-SUN", "daily": "D"}


def _is_friday_holiday(day: date) -> bool:
    """NYSE holidays that can fall on a Friday: Good Friday, New Year, Juneteenth (2022 on),
    Independence Day and Christmas (each also observed on the Friday before a Saturday;
    New Year's Day on a Saturday is not observed)."""
    # ``day`` is a Friday: July 3, December 24 and June 18 are then observed holidays
    fixed = {(1, 1), (7, 4), (7, 3), (12, 25), (12, 24)}
    if day.year >= 2022:
        fixed |= {(6, 19), (6, 18)}
    return (day.month, day.day) in fixed or day == _easter(day.year) - timedelta(days=2)


def last_trading_day_of_week(week: pd.Period) -> date:
    """The week's last NYSE trading day by rule: its Friday, or Thursday when that is a holiday.

    Used when no calendar of trading days is given (``calendar=`` of
    :func:`weekly_total_returns`); closures at short notice (9/11, national days of mourning)
    are not known to the rule, only to a calendar.

    Examples
    --------
    >>> last_trading_day_of_week(pd.Period("2020-04-06", "W-SUN"))  # Good Friday 2020-04-10
    datetime.date(2020, 4, 9)
    >>> last_trading_day_of_week(pd.Period("2024-06-03", "W-SUN"))
    datetime.date(2024, 6, 7)
    """
    friday = (week.start_time + pd.Timedelta(days=4)).date()
    return friday - timedelta(days=1) if _is_friday_holiday(friday) else friday


def _week_ends(weeks: pd.PeriodIndex, calendar: pd.DatetimeIndex | None) -> np.ndarray:
    """Ordinal of each week's last trading day: the calendar's date in it, else the rule."""
    known: dict[pd.Period, int] = {}
    if calendar is not None and len(calendar):
        days = pd.DatetimeIndex(calendar).normalize()
        for period, day in zip(days.to_period("W-SUN"), days, strict=True):
            known[period] = max(known.get(period, 0), day.toordinal())
    return np.fromiter(
        (known.get(week) or last_trading_day_of_week(week).toordinal() for week in weeks),
        dtype=np.int64,
        count=len(weeks),
    )


def _weekly_returns_of(closes: pd.Series, calendar: pd.DatetimeIndex | None) -> pd.Series:
    """One fund's weekly returns: the week's last close over the previous week's, minus 1."""
    closes = closes.dropna()
    if closes.empty:
        return pd.Series(dtype=np.float64, index=pd.PeriodIndex([], freq="W-SUN"))
    weeks = closes.index.to_period("W-SUN")
    week_end = closes.groupby(weeks).last()
    last_day = pd.Series(closes.index, index=closes.index).groupby(weeks).last()
    actual = np.fromiter((d.toordinal() for d in last_day), dtype=np.int64, count=len(last_day))
    expected = _week_ends(week_end.index, calendar)
    # a week whose last close comes before its last trading day is a gap, not a week end
    week_end[actual < expected] = np.nan
    full = pd.period_range(week_end.index[0], week_end.index[-1], freq="W-SUN")
    week_end = week_end.reindex(full)
    returns = (week_end / week_end.shift(1) - 1.0).iloc[1:]
    if actual[-1] < expected[-1]:  # the last week is still running (or cut short)
        returns = returns.iloc[:-1]
    return returns


def _daily_returns_of(closes: pd.Series, calendar: pd.DatetimeIndex | None) -> pd.Series:
    """One fund's close-to-close returns; NaN where it skips a calendar trading day."""
    closes = closes.dropna()
    returns = (closes / closes.shift(1) - 1.0).iloc[1:]
    if calendar is not None and len(calendar) and len(returns):
        days = pd.DatetimeIndex(calendar).normalize().unique().sort_values()
        when = closes.index.normalize()
        position = days.searchsorted(when)
        on_calendar = (position < len(days)) & (days[np.minimum(position, len(days) - 1)] == when)
        inside = (when >= days[0]) & (when <= days[-1])
        consecutive = on_calendar[1:] & on_calendar[:-1] & (np.diff(position) == 1)
        returns[inside[1:] & ~consecutive] = np.nan
    returns.index = returns.index.to_period("D")
    return returns


def _period_returns(
    prices: pd.DataFrame | pd.Series,
    frequency: str,
    calendar: pd.DatetimeIndex | None,
) -> pd.DataFrame:
    frame, attrs = _price_frame(prices)
    of = _weekly_returns_of if frequency == "weekly" else _daily_returns_of
    per_fund = {column: of(frame[column], calendar) for column in frame.columns}
    result = pd.DataFrame(per_fund, columns=list(frame.columns), dtype=np.float64)
    freq = _PERIOD_FREQ[frequency]
    if not len(result.index):
        result.index = pd.PeriodIndex([], freq=freq)
    elif frequency == "weekly":
        result = result.reindex(pd.period_range(result.index.min(), result.index.max(), freq=freq))
    else:
        result = result.sort_index()
    result.index.name = "period"
    result.attrs = attrs
    return result


def weekly_total_returns(
    prices: pd.DataFrame | pd.Series, calendar: pd.DatetimeIndex | None = None
) -> pd.DataFrame:
    """Weekly total returns (decimals) from daily dividend-adjusted closes.

    A week is a calendar week (Monday to Sunday, pandas ``W-SUN``); its return is its last
    close over the previous week's last close, minus 1, as Ken French dates his weekly
    factors (each row is the week's last trading day: the Friday, or the Thursday when the
    Friday is a holiday). Dropped, as for months: the fund's first week, and its last week
    when that holds no close on the week's last trading day. A week whose last close comes
    before its last trading day (a gap in the prices) gives NaN for itself and the next week;
    so does a week without any close.

    Parameters
    ----------
    prices : DataFrame or Series
        Daily adjusted closes, one column per fund, on a ``DatetimeIndex``.
    calendar : DatetimeIndex, optional
        The weeks' last trading days (e.g. the dates of Ken French's weekly file). Weeks it
        does not cover use the rule of :func:`last_trading_day_of_week`.

    Returns
    -------
    DataFrame
        A contiguous ``PeriodIndex`` (freq ``W-SUN``) named ``period``.

    Examples
    --------
    >>> days = pd.to_datetime(["2024-05-31", "2024-06-05", "2024-06-07", "2024-06-14"])
    >>> weekly_total_returns(pd.Series([100.0, 103.0, 102.0, 104.04], days, name="F"))["F"].round(6).tolist()
    [0.02, 0.02]
    """
    return _period_returns(prices, "weekly", calendar)


def daily_total_returns(
    prices: pd.DataFrame | pd.Series, calendar: pd.DatetimeIndex | None = None
) -> pd.DataFrame:
    """Daily total returns (decimals): each close over the fund's previous close, minus 1.

    The first day of each fund is dropped (no previous close). With a ``calendar`` of
    trading days (e.g. the dates of Ken French's daily file), a return whose previous close is
    not the previous calendar day (the fund's prices skip a trading day), or whose day is not
    a calendar day, is NaN rather than a two-day return matched to one day's factors; days
    outside the calendar's range are kept as they are. The last day is kept: a daily close
    cannot be told from an intraday price by its date.

    Returns
    -------
    DataFrame
        A ``PeriodIndex`` (freq ``D``) of the funds' trading days (the union), named ``period``.

    Examples
    --------
    >>> days = pd.to_datetime(["2024-06-03", "2024-06-04", "2024-06-06"])
    >>> calendar = pd.to_datetime(["2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06"])
    >>> daily_total_returns(pd.Series([100.0, 101.0, 99.0], days, name="F"), calendar)["F"].round(6).tolist()
    [0.01, nan]
    """
    return _period_returns(prices, "daily", calendar)


def total_returns(
    prices: pd.DataFrame | pd.Series,
    frequency: str = "monthly",
    calendar: pd.DatetimeIndex | None = None,
) -> pd.DataFrame:
    """Total returns at ``frequency`` (``monthly``, ``weekly``, ``daily``) from daily closes.

    :func:`monthly_total_returns`, :func:`weekly_total_returns` or
    :func:`daily_total_returns` (``calendar`` is ignored for months).
    """
    if frequency == "monthly":
        return monthly_total_returns(prices)
    if frequency not in _PERIOD_FREQ:
        raise UsageError(f"unknown frequency {frequency!r}; choose one of: monthly, weekly, daily")
    return _period_returns(prices, frequency, calendar)


def excess_returns(
    returns: pd.DataFrame | pd.Series, factors: pd.DataFrame
) -> pd.DataFrame | pd.Series:
    """Fund returns minus the risk-free rate, on the months both cover.

    Parameters
    ----------
    returns : DataFrame or Series
        Total returns in decimals (e.g. from :func:`fetch_returns`): monthly, or weekly
        (``PeriodIndex`` ``W-SUN``) or daily (``PeriodIndex`` ``D``) from
        :func:`total_returns`.
    factors : DataFrame
        Factor returns in decimals with an ``RF`` column (e.g. from ``load_factors``) at the
        same frequency. A ``DatetimeIndex`` is read as the returns' periods (months when the
        returns are not on weeks or days).

    Returns
    -------
    DataFrame or Series
        ``returns - RF`` on the intersection of the two monthly indexes (sorted), with
        ``returns``' attrs.

    Raises
    ------
    UsageError
        ``factors`` has no ``RF`` column, or RF looks like percent rather than decimals.
    InsufficientDataError
        The two share no month.

    Examples
    --------
    >>> months = pd.period_range("2024-01", periods=3, freq="M")
    >>> fund = pd.DataFrame({"FUND": [0.02, 0.01, -0.01]}, index=months)
    >>> factors = pd.DataFrame({"RF": [0.004, 0.004]}, index=months[1:])
    >>> excess_returns(fund, factors).round(6)
              FUND
    2024-02  0.006
    2024-03 -0.014
    """
    if "RF" not in factors.columns:
        raise UsageError(
            "the factors have no 'RF' column (the risk-free rate) to subtract; load a factor "
            f"set that includes it (columns given: {', '.join(map(str, factors.columns))})"
        )
    freq = _period_freq(returns.index)
    rf = factors["RF"].copy()
    rf.index = _as_periods(rf.index, freq, "factors")
    if rf.abs().max() > _RF_DECIMAL_LIMIT:
        raise UsageError("RF exceeds 5% a month: it looks like percent; divide the factors by 100")
    fund = returns.copy()
    fund.index = _as_periods(fund.index, freq, "returns")
    common = fund.index.intersection(rf.index).sort_values()
    if len(common) == 0:
        unit = {"M": "month", "W-SUN": "week", "D": "day"}.get(freq, "period")
        raise InsufficientDataError(
            f"the returns ({_span(fund.index)}) and the factors ({_span(rf.index)}) share no {unit}"
        )
    aligned_rf = rf.loc[common]
    if isinstance(fund, pd.Series):
        result = fund.loc[common] - aligned_rf
    else:
        result = fund.loc[common].sub(aligned_rf, axis=0)
    result.attrs = dict(returns.attrs)
    return result


def _period_freq(index: pd.Index) -> str:
    """The periods returns are matched on: weeks or days when the returns are on them, else months."""
    if isinstance(index, pd.PeriodIndex) and index.freqstr in ("W-SUN", "D"):
        return index.freqstr
    return "M"


def _as_periods(index: pd.Index, freq: str, what: str) -> pd.PeriodIndex:
    if isinstance(index, pd.PeriodIndex):
        if index.freqstr == freq:
            return index
        if freq == "M":
            return index.asfreq("M")
        return index.to_timestamp(how="end").normalize().to_period(freq)
    if isinstance(index, pd.DatetimeIndex):
        return index.to_period(freq)
    raise UsageError(f"the {what} need a PeriodIndex or a DatetimeIndex")


def _span(index: pd.Index) -> str:
    return f"{index.min()} to {index.max()}" if len(index) else "empty"


# ----------------------------------------------------------------------------- the I/O


def _parse_bound(value: DateLike, option: str, *, end: bool) -> pd.Timestamp | None:
    """A date bound from ``YYYY-MM`` (whole month), ``YYYY-MM-DD``, a date or a Period."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, pd.Period):
            period = value.asfreq("D", how="end" if end else "start")
            return pd.Timestamp(period.start_time).normalize()
        if isinstance(value, str):
            text = value.strip()
            if len(text) == 6 and text.isdigit():
                text = f"{text[:4]}-{text[4:]}"
            if len(text) == 7:
                month = pd.Period(text, freq="M")
                return pd.Timestamp((month.end_time if end else month.start_time).date())
            return pd.Timestamp(datetime.strptime(text, "%Y-%m-%d"))
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError):
        raise UsageError(
            f"{option} {quote(value)} is not a date; use YYYY-MM (e.g. 2015-01) or YYYY-MM-DD"
        ) from None


#: How the bounds are named in messages: the Python parameter and the CLI option.
_START, _END = "start/--start", "end/--end"


def _parse_range(start: DateLike, end: DateLike) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    first = _parse_bound(start, _START, end=False)
    last = _parse_bound(end, _END, end=True)
    if first is not None and last is not None and first > last:
        raise UsageError(f"{_START} {start} is after {_END} {end}")
    return first, last


def _normalise_tickers(tickers: str | Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """Valid symbols (upper-case, de-duplicated, in order) and the invalid ones with reasons."""
    raw = [tickers] if isinstance(tickers, str) else list(tickers)
    valid: list[str] = []
    invalid: dict[str, str] = {}
    for item in raw:
        try:
            symbol = check_ticker(item)
        except UsageError as exc:
            text = str(item)
            invalid[text if len(text) <= 40 else quote(text, 40)] = str(exc)
            continue
        if symbol not in valid:
            valid.append(symbol)
    return valid, invalid


class _CacheOnly:
    """Stands in for a provider in offline mode: no request is ever built, so no key needed."""

    secrets: tuple[str, ...] = ()

    def __init__(self, name: str) -> None:
        self.name = name

    def request(self, ticker: str, start: date, end: date) -> Any:
        raise UsageError("offline: no download allowed")

    def parse(self, ticker: str, content: bytes) -> pd.Series:
        raise UsageError("offline: nothing to parse")

    def describe_error(self, ticker: str, status: int, body: bytes) -> str | None:
        return None


def _download_histories(
    tickers: list[str],
    source: str,
    *,
    cache: Cache,
    offline: bool,
    refresh: bool,
    max_workers: int,
    base_url: str | None,
    on_ticker_done: TickerCallback | None,
) -> tuple[dict[str, PriceHistory], dict[str, str]]:
    provider = _CacheOnly(source) if offline else get_provider(source, base_url=base_url)
    histories: dict[str, PriceHistory] = {}
    failures: dict[str, str] = {}
    workers = max(1, min(int(max_workers), len(tickers)))
    with (
        HttpClient(secrets=provider.secrets, max_connections=max(16, workers)) as client,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prices") as pool,
    ):
        store = PriceStore(provider, client, cache)
        futures = {
            pool.submit(store.history, ticker, offline=offline, refresh=refresh): ticker
            for ticker in tickers
        }
        for future in as_completed(futures):
            ticker = futures[future]
            reason = None
            try:
                histories[ticker] = future.result()
            except Exception as exc:  # one ticker's failure, whatever it is, keeps the others
                reason = failures[ticker] = _failure_reason(exc, cache)
            if on_ticker_done is not None:
                on_ticker_done(ticker, reason)
    return histories, failures


def _failure_reason(exc: Exception, cache: Cache) -> str:
    """One line saying why a ticker failed, whatever was raised."""
    if isinstance(exc, FactorXrayError):
        reason = str(exc)
    elif isinstance(exc, OSError):
        path = exc.filename if exc.filename is not None else cache.root
        reason = (
            f"cannot use {path} ({exc.strerror or exc}) "
            f"(is the cache folder writable? {CACHE_FOLDER.python} or set FACTORXRAY_CACHE_DIR)"
        )
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return " ".join(reason.split())


def _read_file_histories(
    tickers: list[str], prices_file: str | os.PathLike[str], on_ticker_done: TickerCallback | None
) -> tuple[list[str], dict[str, PriceHistory], dict[str, str]]:
    prices = FilePrices(prices_file)
    failures: dict[str, str] = {}
    if not tickers:
        tickers, invalid = _normalise_tickers(prices.tickers())
        for ticker, reason in invalid.items():
            failures[ticker] = f"{reason} (in {prices.path.name})"
    read_at = datetime.now().astimezone().isoformat(timespec="seconds")
    histories: dict[str, PriceHistory] = {}
    for ticker in tickers:
        reason = None
        try:
            loaded = prices.load(ticker)
            if loaded.empty:
                raise InsufficientDataError(f"no prices in {prices.path.name}")
            issues = tuple(loaded.attrs.get(ISSUES_ATTR, ()))
            splits = dict(loaded.attrs.get(SPLITS_ATTR, {}))
            closes = loaded.copy()
            closes.attrs = {}
            histories[ticker] = PriceHistory(
                ticker, "file", closes, read_at, "file", issues, splits
            )
        except FactorXrayError as exc:
            reason = failures[ticker] = " ".join(str(exc).split())
        if on_ticker_done is not None:
            on_ticker_done(ticker, reason)
    return tickers, histories, failures


def _vet(
    histories: dict[str, PriceHistory],
    failures: dict[str, str],
    *,
    allow: bool,
    window: tuple[str, str],
) -> dict[str, list[str]]:
    """Check every history; fail the suspect ones (unless allowed); return the warnings.

    ``window`` (``YYYY-MM-DD`` bounds, inclusive) limits the findings to the days used.
    """
    market_of = market_moves({ticker: h.closes for ticker, h in histories.items()})
    warnings: dict[str, list[str]] = {}
    first, last = window
    for ticker in list(histories):
        history = histories[ticker]
        found = list(history.issues) + check_prices(
            history.closes,
            splits=history.splits,
            market=market_of(ticker),
            provider=_PROVIDER_NAMES.get(history.source, history.source),
        )
        found = sorted(
            {(i.day, i.kind, i.message): i for i in found if first <= i.day <= last}.values(),
            key=lambda issue: issue.day,
        )
        severe = [issue for issue in found if issue.severe]
        if severe and not allow:
            del histories[ticker]
            failures[ticker] = _suspect_reason(severe, len(found))
        elif found:
            warnings[ticker] = _finding_lines(found)
    return warnings


def _suspect_reason(severe: list[PriceIssue], total: int) -> str:
    more = f" (and {total - 1} more finding(s))" if total > 1 else ""
    return (
        f"suspect prices: {severe[0].message}{more}; check the source, or "
        f"{ALLOW_SUSPECT_PRICES.python} to use them anyway"
    )


#: What allowing a severe finding did, by kind.
_ALLOWED = {
    "conflict": "the last one used",
    "non-positive": "that row left out",
    "split": "used as is",
}


def _finding_lines(found: list[PriceIssue]) -> list[str]:
    lines = [
        issue.message
        + (f" ({_ALLOWED.get(issue.kind, 'used')}: suspect prices allowed)" if issue.severe else "")
        for issue in found[:MAX_FINDINGS]
    ]
    if len(found) > MAX_FINDINGS:
        lines.append(f"and {len(found) - MAX_FINDINGS} more finding(s) like these")
    return lines


def _load_histories(
    tickers: str | Iterable[str],
    source: str,
    *,
    prices_file: str | os.PathLike[str] | None,
    cache: Cache | None,
    offline: bool,
    refresh: bool,
    max_workers: int,
    on_ticker_done: TickerCallback | None,
    base_url: str | None,
) -> tuple[list[str], dict[str, PriceHistory], dict[str, str]]:
    """Every ticker's whole history, the requested order, and the failures."""
    if source not in SOURCES:
        raise UsageError(
            f"unknown price source {quote(source)}; choose one of {', '.join(SOURCES)}"
        )
    order, failures = _normalise_tickers(tickers)
    for ticker, reason in failures.items():
        if on_ticker_done is not None:
            on_ticker_done(ticker, reason)
    if source == "file":
        if prices_file is None:
            raise UsageError(f"the file source needs a prices file: {PASS_PRICES_FILE.python}")
        order, histories, failed = _read_file_histories(order, prices_file, on_ticker_done)
    else:
        if prices_file is not None:
            raise UsageError(f"a prices file is read with the file source, not {quote(source)}")
        if not order:
            raise UsageError("give at least one ticker, e.g. SPY")
        histories, failed = _download_histories(
            order,
            source,
            cache=cache if cache is not None else Cache(),
            offline=offline,
            refresh=refresh,
            max_workers=max_workers,
            base_url=base_url,
            on_ticker_done=on_ticker_done,
        )
    failures.update(failed)
    return order, histories, failures


def _all_failed(what: str, failures: dict[str, str]) -> AllFailedError:
    listed = "; ".join(f"{ticker}: {reason}" for ticker, reason in failures.items())
    return AllFailedError(f"no {what} for any ticker ({listed})", failures)


def fetch_prices(
    tickers: str | Iterable[str],
    source: str = "yahoo",
    start: DateLike = None,
    end: DateLike = None,
    *,
    prices_file: str | os.PathLike[str] | None = None,
    cache: Cache | None = None,
    offline: bool = False,
    refresh: bool = False,
    max_workers: int = 8,
    on_ticker_done: TickerCallback | None = None,
    base_url: str | None = None,
    allow_suspect_prices: bool = False,
) -> pd.DataFrame:
    """Daily dividend-adjusted closes of many tickers, fetched concurrently through the cache.

    Parameters
    ----------
    tickers : str or iterable of str
        Symbols (case-insensitive). With ``source="file"`` an empty list means every ticker
        in the file.
    source : {"yahoo", "fmp", "tiingo", "file"}
        Where the prices come from. ``fmp`` needs ``FMP_API_KEY``, ``tiingo``
        ``TIINGO_API_KEY``.
    start, end : str, date or Period, optional
        Keep only days in this range; ``YYYY-MM`` means the whole month. The cache always
        holds the whole history.
    prices_file : path, optional
        The CSV/Parquet file (or folder) read by ``source="file"``.
    cache : Cache, optional
        Default: the user cache folder. Histories are re-validated after one day (or the
        cache's TTL if shorter), fetching only the new tail.
    offline : bool
        Read the cache only (``NotCachedError`` per missing ticker).
    refresh : bool
        Update every history now even if the cached copy is fresh (still tail-only).
    max_workers : int
        Tickers downloaded at the same time (default 8) over one HTTP client.
    on_ticker_done : callable, optional
        Called in the calling thread as ``on_ticker_done(ticker, reason_or_None)`` after
        each ticker (for progress bars).
    base_url : str, optional
        The provider's address (default its ``FACTORXRAY_<SOURCE>_URL`` variable).
    allow_suspect_prices : bool
        Use histories the sanity checks find suspect (an unadjusted split, conflicting
        duplicate dates, non-positive prices) instead of failing them; each finding is
        then a warning (see :mod:`factorxray.data.prices.sanity`).

    Returns
    -------
    DataFrame
        One column per ticker that succeeded (in the order asked), a ``DatetimeIndex``
        named ``date`` (union of trading days, NaN where a fund has no price).
        ``attrs["sources"]``: ticker -> {source, first, last, fetched_at, origin};
        ``attrs["failed"]``: ticker -> reason (suspect prices included);
        ``attrs["warnings"]``: ticker -> list of one-line findings in the range kept.

    Raises
    ------
    UsageError
        Unknown source, bad dates, a missing API key (names the variable to set).
    AllFailedError
        Every ticker failed; ``.failures`` maps each to its reason.

    Examples
    --------
    >>> prices = fetch_prices(["SPY", "MTUM"], start="2020-01")  # doctest: +SKIP
    >>> prices.attrs["sources"]["SPY"]["source"]  # doctest: +SKIP
    'yahoo'
    """
    first, last = _parse_range(start, end)
    return _fetch_prices(
        tickers,
        source,
        first,
        last,
        window=(_day_text(first, "0000-00-00"), _day_text(last, "9999-99-99")),
        prices_file=prices_file,
        cache=cache,
        offline=offline,
        refresh=refresh,
        max_workers=max_workers,
        on_ticker_done=on_ticker_done,
        base_url=base_url,
        allow_suspect_prices=allow_suspect_prices,
    )


def _in_order(failures: dict[str, str], order: list[str]) -> dict[str, str]:
    """Failures in a stable order, whatever order the downloads finished in: tickers that
    are not symbols first (as given), then the others in the order asked."""
    position = {ticker: i for i, ticker in enumerate(order)}
    ranked = sorted(failures, key=lambda ticker: position.get(ticker, -1))
    return {ticker: failures[ticker] for ticker in ranked}


def _day_text(value: pd.Timestamp | None, default: str) -> str:
    return default if value is None else f"{value:%Y-%m-%d}"


def _fetch_prices(
    tickers: str | Iterable[str],
    source: str,
    first: pd.Timestamp | None,
    last: pd.Timestamp | None,
    *,
    window: tuple[str, str],
    prices_file: str | os.PathLike[str] | None,
    cache: Cache | None,
    offline: bool,
    refresh: bool,
    max_workers: int,
    on_ticker_done: TickerCallback | None,
    base_url: str | None,
    allow_suspect_prices: bool,
) -> pd.DataFrame:
    """:func:`fetch_prices` with the checked ``window`` given apart from the kept range."""
    order, histories, failures = _load_histories(
        tickers,
        source,
        prices_file=prices_file,
        cache=cache,
        offline=offline,
        refresh=refresh,
        max_workers=max_workers,
        on_ticker_done=on_ticker_done,
        base_url=base_url,
    )
    warnings = _vet(histories, failures, allow=allow_suspect_prices, window=window)
    failures = _in_order(failures, order)
    kept: dict[str, pd.Series] = {}
    for ticker in order:
        if ticker not in histories:
            continue
        closes = histories[ticker].closes.loc[first:last]
        if closes.empty:
            failures[ticker] = (
                f"no prices from {_day(first)} to {_day(last)} "
                f"(its history runs {histories[ticker].record()['first']} to "
                f"{histories[ticker].record()['last']})"
            )
            continue
        kept[ticker] = closes
    failures = _in_order(failures, order)
    if not kept:
        raise _all_failed("prices", failures)
    prices = side_by_side(kept)
    prices.attrs = {
        "sources": {ticker: histories[ticker].record() for ticker in kept},
        "failed": {ticker: failures[ticker] for ticker in failures},
        "warnings": {ticker: warnings[ticker] for ticker in kept if ticker in warnings},
    }
    return prices


def _day(value: pd.Timestamp | None) -> str:
    return "the start" if value is None else f"{value:%Y-%m-%d}"


def _parse_month(value: DateLike, option: str) -> pd.Period | None:
    bound = _parse_bound(value, option, end=False)
    return None if bound is None else pd.Period(bound, freq="M")


def fetch_returns(
    tickers: str | Iterable[str],
    source: str = "yahoo",
    start: DateLike = None,
    end: DateLike = None,
    *,
    prices_file: str | os.PathLike[str] | None = None,
    cache: Cache | None = None,
    offline: bool = False,
    refresh: bool = False,
    max_workers: int = 8,
    on_ticker_done: TickerCallback | None = None,
    base_url: str | None = None,
    allow_suspect_prices: bool = False,
    frequency: str = "monthly",
    calendar: pd.DatetimeIndex | None = None,
) -> pd.DataFrame:
    """Monthly total returns (decimals) of many funds, from daily dividend-adjusted closes.

    Fetches each fund's whole daily history (see :func:`fetch_prices`), compounds it into
    monthly returns with :func:`monthly_total_returns` (first month and an incomplete last
    month dropped), then keeps the months from ``start`` to ``end``.

    Parameters
    ----------
    tickers, source, prices_file, cache, offline, refresh, max_workers, on_ticker_done, base_url
        As in :func:`fetch_prices`.
    allow_suspect_prices : bool
        As in :func:`fetch_prices`: use suspect histories, their findings as warnings.
    start, end : str, date or Period, optional
        First and last month kept (``YYYY-MM``); the return of ``start`` still uses the
        previous month's last close. Weekly and daily: the first and last day
        (``YYYY-MM`` is the whole month); a week is kept when it lies wholly inside.
    frequency : {"monthly", "weekly", "daily"}
        Weekly and daily returns come from :func:`total_returns` (weeks ``W-SUN``, days
        ``D``); the sanity checks run on the daily prices whatever the frequency.
    calendar : DatetimeIndex, optional
        Weekly and daily: the factor file's dates (weeks' last trading days, trading days),
        so that a gap in a fund's prices gives NaN rather than a return over the wrong span.

    Returns
    -------
    DataFrame
        One column per fund that succeeded, a contiguous monthly ``PeriodIndex`` named
        ``period``, NaN before a fund's first return. ``attrs["sources"]`` adds
        ``first_month``/``last_month`` to each fund's record; ``attrs["failed"]`` also lists
        funds without a single complete monthly return (fewer than two month-end closes)
        and funds with suspect prices; ``attrs["warnings"]``: fund -> one-line findings of
        the price checks on the days behind the months kept.

    Raises
    ------
    UsageError
        Unknown source, bad months, a missing API key.
    AllFailedError
        No fund has a monthly return.

    Examples
    --------
    >>> returns = fetch_returns(["SPY", "MTUM"], start="2015-01")  # doctest: +SKIP
    >>> returns.loc["2020-03", "SPY"]  # doctest: +SKIP
    -0.1249...
    """
    if frequency != "monthly":
        return _fetch_period_returns(
            tickers,
            source,
            start,
            end,
            frequency=frequency,
            calendar=calendar,
            prices_file=prices_file,
            cache=cache,
            offline=offline,
            refresh=refresh,
            max_workers=max_workers,
            on_ticker_done=on_ticker_done,
            base_url=base_url,
            allow_suspect_prices=allow_suspect_prices,
        )
    first_month = _parse_month(start, _START)
    last_month = _parse_month(end, _END)
    if first_month is not None and last_month is not None and first_month > last_month:
        raise UsageError(f"{_START} {start} is after {_END} {end}")
    window = (  # the days whose moves the kept months' returns depend on
        "0000-00-00" if first_month is None else f"{first_month.start_time:%Y-%m-%d}",
        "9999-99-99" if last_month is None else f"{last_month.end_time:%Y-%m-%d}",
    )
    prices = _fetch_prices(
        tickers,
        source,
        None,
        None,
        window=window,
        prices_file=prices_file,
        cache=cache,
        offline=offline,
        refresh=refresh,
        max_workers=max_workers,
        on_ticker_done=on_ticker_done,
        base_url=base_url,
        allow_suspect_prices=allow_suspect_prices,
    )
    price_attrs, prices.attrs = prices.attrs, {}  # pandas deep-copies attrs at every step
    monthly = monthly_total_returns(prices).loc[first_month:last_month]
    failures = dict(price_attrs["failed"])
    sources = {}
    kept = []
    for ticker, (first, last) in _first_and_last(monthly).items():
        record = dict(price_attrs["sources"][ticker])
        if first is None:
            failures[ticker] = _no_return_reason(record, first_month, last_month)
            continue
        record.update(first_month=str(first), last_month=str(last))
        sources[ticker] = record
        kept.append(ticker)
    if not kept:
        raise _all_failed("monthly returns", failures)
    return _kept_returns(monthly, kept, price_attrs, sources, failures)


def _first_and_last(returns: pd.DataFrame) -> dict[str, tuple[Any, Any]]:
    """Each column's first and last period with a value ((None, None) when it has none)."""
    present = ~np.isnan(returns.to_numpy(dtype=np.float64))
    index = returns.index
    spans: dict[str, tuple[Any, Any]] = {}
    for column, ticker in enumerate(returns.columns):
        rows = np.flatnonzero(present[:, column])
        spans[ticker] = (index[rows[0]], index[rows[-1]]) if len(rows) else (None, None)
    return spans


def _kept_returns(
    returns: pd.DataFrame,
    kept: list[str],
    price_attrs: dict[str, Any],
    sources: dict[str, dict[str, Any]],
    failures: dict[str, str],
) -> pd.DataFrame:
    """The kept funds' returns from the first to the last period any of them has, with attrs
    ``sources``, ``failed`` and the kept funds' price ``warnings``."""
    result = returns[kept]
    valid = result.dropna(how="all").index
    result = result.loc[valid[0] : valid[-1]].copy()
    warnings = price_attrs["warnings"]
    result.attrs = {
        "sources": sources,
        "failed": failures,
        "warnings": {ticker: warnings[ticker] for ticker in kept if ticker in warnings},
    }
    return result


def _fetch_period_returns(
    tickers: str | Iterable[str],
    source: str,
    start: DateLike,
    end: DateLike,
    *,
    frequency: str,
    calendar: pd.DatetimeIndex | None,
    **options: Any,
) -> pd.DataFrame:
    """:func:`fetch_returns` at a weekly or daily frequency (same attrs, same failures)."""
    if frequency not in _PERIOD_FREQ:
        raise UsageError(f"unknown frequency {frequency!r}; choose one of: monthly, weekly, daily")
    first, last = _parse_range(start, end)
    window = (_day_text(first, "0000-00-00"), _day_text(last, "9999-99-99"))
    prices = _fetch_prices(tickers, source, None, None, window=window, **options)
    price_attrs, prices.attrs = prices.attrs, {}  # pandas deep-copies attrs at every step
    returns = total_returns(prices, frequency, calendar)
    if len(returns.index):
        keep = np.ones(len(returns.index), dtype=bool)
        if first is not None:
            keep &= returns.index.start_time >= first
        if last is not None:
            keep &= returns.index.end_time.normalize() <= last
        returns = returns.loc[keep]
    unit = "week" if frequency == "weekly" else "day"
    failures = dict(price_attrs["failed"])
    sources, kept = {}, []
    for ticker, (first, last) in _first_and_last(returns).items():
        record = dict(price_attrs["sources"][ticker])
        if first is None:
            span = f"prices from {record['first']} to {record['last']}"
            failures[ticker] = f"no complete {frequency} return in the range asked ({span})"
            continue
        record.update({f"first_{unit}": str(first), f"last_{unit}": str(last)})
        sources[ticker] = record
        kept.append(ticker)
    if not kept:
        raise _all_failed(f"{frequency} returns", failures)
    return _kept_returns(returns, kept, price_attrs, sources, failures)


def _no_return_reason(
    record: dict[str, str], first: pd.Period | None, last: pd.Period | None
) -> str:
    span = f"prices from {record['first']} to {record['last']}"
    if first is not None or last is not None:
        return f"no complete monthly return between {first or 'the start'} and {last or 'now'} ({span})"
    return (
        f"fewer than 2 complete months ({span}); a monthly return needs the previous "
        "month's last close and a complete month"
    )


__all__ = [
    "daily_total_returns",
    "excess_returns",
    "fetch_prices",
    "fetch_returns",
    "is_complete_month",
    "last_trading_day",
    "monthly_total_returns",
    "total_returns",
    "weekly_total_returns",
]
