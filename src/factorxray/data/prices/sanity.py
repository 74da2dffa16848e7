"""Price sanity checks: what in a daily history is likely wrong, with its date and size.

A fund's monthly return is only as good as its closes. Four kinds of bad data pass every
parser and still change a verdict; these checks find them, for every source:

* **conflicting duplicates** and **unusable prices** (zero, negative, infinite) are found
  while parsing (:func:`~factorxray.data.prices.base.clean_closes`);
* **split-like jumps** (:func:`check_prices`): a daily move of a common split ratio that
  stays, i.e. a split the "adjusted" close was not adjusted for;
* **one-day spikes**: a move of 40% or more (up, or its inverse down, -28.6%) that comes
  back at least halfway within a week (a bad quote);
* **stale prices**: one price unchanged for 30 trading days or more (a frozen feed, or a
  fund nobody trades).

The split rule. Day *t* is split-like when its close over the previous close, *r*, is
within 5% of the price ratio of a common split, forward (2:1, 3:1, 4:1, 5:1, 10:1, 3:2,
*r* near 1/2, 1/3, 1/4, 1/5, 1/10, 2/3) or reverse (1:2, 1:3, 1:4, 1:5, 1:10, 2:3, *r* near
2, 3, 4, 5, 10, 3/2), and the move

* **reverses nothing**: over the next week (7 calendar days, 5 trading days) the price does
  not come back even halfway (in log terms) to where it was (else it is a spike), and
* **is not matched by the market**: when the other funds fetched with it tell what the
  market did that day (at least 3 of them), their median move is not at least half as
  large in the same direction.

Diversified funds never move that much in a day on their own: the largest daily moves of
the 20 ETFs of the test fixtures (1993-2026) are -13% and +14.5%. Where the provider lists
its split events (Yahoo ``events=split``, Tiingo ``splitFactor``, yfinance ``Stock Splits``),
a listed split whose day shows the unadjusted move (closer to the split ratio than to no
move at all) is reported as an unadjusted split, whatever its ratio.

Unadjusted splits, split-like jumps, conflicting duplicates and unusable prices are
*severe*: the fund is not used unless the user allows suspect prices. Spikes and stale runs
are warnings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from fractions import Fraction

import numpy as np
import pandas as pd

from factorxray.data.prices.base import PriceIssue, side_by_side

#: Common splits as (new shares, old shares); the price moves by old/new.
SPLIT_RATIOS: tuple[tuple[int, int], ...] = (
    (2, 1),
    (3, 1),
    (4, 1),
    (5, 1),
    (10, 1),
    (3, 2),
    (1, 2),
    (1, 3),
    (1, 4),
    (1, 5),
    (1, 10),
    (2, 3),
)
#: A day's close over the previous one within this (relative) of a split's price ratio.
SPLIT_TOLERANCE = 0.05
#: Moves this large (either way) are looked at: below the smallest split move above.
JUMP_FACTOR = 1.4
#: A jump that comes back at least halfway within this many calendar days (5 trading
#: days; a month-end-only series has no later close that close) is a spike.
REVERSAL_CALENDAR_DAYS = 7
#: The market matches a jump when it moved at least this share of it (log), same way.
MARKET_SHARE = 0.5
#: Peers needed for a market move.
MIN_PEERS = 3
#: This many trading days (rows) or more at one unchanged price is a stale run.
STALE_RUN_DAYS = 30
#: How far after a listed split day to look for its first trading day.
EVENT_WINDOW_DAYS = 5

#: ``market(day)``: the market's daily log move on ``day``, or None when unknown.
MarketMove = Callable[[pd.Timestamp], "float | None"]


def check_prices(
    closes: pd.Series,
    *,
    splits: Mapping[str, float] | None = None,
    market: MarketMove | None = None,
    provider: str = "the provider",
) -> list[PriceIssue]:
    """Split-like jumps, unadjusted listed splits, spikes and stale runs in a daily history.

    Parameters
    ----------
    closes : pandas.Series
        Adjusted closes on a sorted, unique ``DatetimeIndex`` (positive, finite).
    splits : mapping of str to float, optional
        The provider's split events, ``{"YYYY-MM-DD": new shares per old share}``.
    market : callable, optional
        ``market(day)`` -> the market's daily log move that day (None when unknown).
    provider : str
        The source's name, for messages.

    Returns
    -------
    list of PriceIssue
        In date order; see the module docstring for the rules.

    Examples
    --------
    >>> days = pd.bdate_range("2024-01-01", periods=12)
    >>> prices = pd.Series([100.0, 101, 100, 102, 51, 51.5, 51, 52, 51.5, 52, 51, 52], days)
    >>> [issue.message for issue in check_prices(prices)]  # doctest: +NORMALIZE_WHITESPACE
    ['split-like jump on 2024-01-05: the price fell 50.0% (as a 2:1 split would move it) and
      stayed there; the history looks unadjusted for a split']
    """
    values = closes.to_numpy(dtype=np.float64)
    days = pd.DatetimeIndex(closes.index)
    issues: list[PriceIssue] = []
    if len(values) < 2 or not np.all(np.isfinite(values) & (values > 0)):
        return issues + _stale_runs(values, days)
    log_moves = np.diff(np.log(values))
    explained: set[int] = set()
    for day_text, ratio in sorted((splits or {}).items()):
        found = _listed_split(day_text, ratio, log_moves, days, provider)
        if found is not None:
            position, issue = found
            explained.add(position)
            if issue is not None:
                issues.append(issue)
    threshold = math.log(JUMP_FACTOR)
    for position in np.flatnonzero(np.abs(log_moves) >= threshold):
        if position in explained:
            continue
        issue = _jump(int(position), values, log_moves, days, market)
        if issue is not None:
            issues.append(issue)
    issues.extend(_stale_runs(values, days))
    issues.sort(key=lambda issue: issue.day)
    return issues


def _describe(move: float) -> str:
    change = math.expm1(move)
    return f"{'rose' if change > 0 else 'fell'} {abs(change):.1%}"


def _ratio_text(ratio: float) -> str:
    fraction = Fraction(ratio).limit_denominator(100)
    return f"{fraction.numerator}:{fraction.denominator}"


def _listed_split(
    day_text: str,
    ratio: float,
    log_moves: np.ndarray,
    days: pd.DatetimeIndex,
    provider: str,
) -> tuple[int, PriceIssue | None] | None:
    """The move on a listed split's first trading day: an issue when it shows the split.

    Returns None when the history has no trading day near the event, else the position
    of that day's move and the issue (None when the history is adjusted for it).
    """
    try:
        day = pd.Timestamp(day_text)
    except ValueError:
        return None
    if not (math.isfinite(ratio) and ratio > 0) or abs(math.log(ratio)) < 1e-9:
        return None
    position = int(days.searchsorted(day))  # first trading day on or after the event
    if position == 0 or position >= len(days) or (days[position] - day).days > EVENT_WINDOW_DAYS:
        return None
    move = float(log_moves[position - 1])
    expected = -math.log(ratio)
    if abs(move - expected) >= abs(move):
        return position - 1, None  # closer to no move than to the split's move: adjusted
    traded = days[position]
    return position - 1, PriceIssue(
        "split",
        f"{traded:%Y-%m-%d}",
        f"unadjusted {_ratio_text(ratio)} split on {traded:%Y-%m-%d}: the price "
        f"{_describe(move)} where {provider} lists that split; the history is not "
        "adjusted for it",
        severe=True,
    )


def _jump(
    position: int,
    values: np.ndarray,
    log_moves: np.ndarray,
    days: pd.DatetimeIndex,
    market: MarketMove | None,
) -> PriceIssue | None:
    """A split-like jump or a spike at ``days[position + 1]``, or None."""
    move = float(log_moves[position])
    day = days[position + 1]
    if market is not None:
        peers = market(day)
        if peers is not None and peers * move > 0 and abs(peers) >= MARKET_SHARE * abs(move):
            return None
    before = values[position]
    horizon = day + pd.Timedelta(days=REVERSAL_CALENDAR_DAYS)
    stop = int(days.searchsorted(horizon, side="right"))
    later = values[position + 2 : max(position + 2, stop)]
    back = np.abs(np.log(later / before)) <= (1 - MARKET_SHARE) * abs(move)
    if back.any():
        returned = days[position + 2 + int(np.argmax(back))]
        return PriceIssue(
            "spike",
            f"{day:%Y-%m-%d}",
            f"one-day spike on {day:%Y-%m-%d}: the price {_describe(move)} and came back by "
            f"{returned:%Y-%m-%d} (a bad quote?)",
            severe=False,
        )
    ratio = math.exp(move)
    for new, old in SPLIT_RATIOS:
        if abs(ratio / (old / new) - 1.0) <= SPLIT_TOLERANCE:
            return PriceIssue(
                "split",
                f"{day:%Y-%m-%d}",
                f"split-like jump on {day:%Y-%m-%d}: the price {_describe(move)} (as a "
                f"{new}:{old} split would move it) and stayed there; the history looks "
                "unadjusted for a split",
                severe=True,
            )
    return None


def _stale_runs(values: np.ndarray, days: pd.DatetimeIndex) -> list[PriceIssue]:
    """One warning per run of :data:`STALE_RUN_DAYS` or more equal consecutive prices."""
    if len(values) < STALE_RUN_DAYS:
        return []
    changes = np.flatnonzero(np.diff(values) != 0) + 1
    starts = np.concatenate(([0], changes))
    ends = np.concatenate((changes, [len(values)]))
    long_runs = np.flatnonzero(ends - starts >= STALE_RUN_DAYS)
    return [
        _stale_issue(values[start], days[start], days[end - 1], end - start)
        for start, end in zip(starts[long_runs], ends[long_runs], strict=True)
    ]


def _stale_issue(value: float, first: pd.Timestamp, last: pd.Timestamp, length: int) -> PriceIssue:
    return PriceIssue(
        "stale",
        f"{first:%Y-%m-%d}",
        f"stale prices: unchanged at {value:.6g} for {length} trading days from "
        f"{first:%Y-%m-%d} to {last:%Y-%m-%d} (a frozen feed, or no trades); its monthly "
        "returns there are zero",
        severe=False,
    )


def market_moves(closes: Mapping[str, pd.Series]) -> Callable[[str], MarketMove | None]:
    """For each ticker, ``market(day)``: the median daily log move of the *other* funds.

    Each fund's move is from its own previous close. Returns a factory: ``factory(ticker)``
    gives that fund's market function, or None when fewer than :data:`MIN_PEERS` other
    funds are given.
    """
    if len(closes) <= MIN_PEERS:
        return lambda ticker: None
    moves = side_by_side(
        {ticker: np.log(series.astype(np.float64)).diff() for ticker, series in closes.items()}
    )
    days = moves.index
    values = moves.to_numpy()
    columns = {ticker: i for i, ticker in enumerate(moves.columns)}

    def factory(ticker: str) -> MarketMove | None:
        others = np.ones(values.shape[1], dtype=bool)
        if ticker in columns:
            others[columns[ticker]] = False
        if others.sum() < MIN_PEERS:
            return None

        def market(day: pd.Timestamp) -> float | None:
            # asked only on a candidate jump's day: the other funds' moves that day
            at = days.searchsorted(day)
            if at == len(days) or days[at] != day:
                return None
            row = values[at, others]
            row = row[~np.isnan(row)]
            return float(np.median(row)) if len(row) >= MIN_PEERS else None

        return market

    return factory


__all__ = [
    "JUMP_FACTOR",
    "MARKET_SHARE",
    "REVERSAL_CALENDAR_DAYS",
    "SPLIT_RATIOS",
    "SPLIT_TOLERANCE",
    "STALE_RUN_DAYS",
    "check_prices",
    "market_moves",
]
