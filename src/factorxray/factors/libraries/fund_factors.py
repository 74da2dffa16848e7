"""Factors defined from fund returns, for bond and balanced funds: TERM, CREDIT, your own.

A fund-defined factor is the monthly total return of one fund minus another's (both from
dividend-adjusted closes through :func:`factorxray.returns.fetch_returns`, so any price
source works: Yahoo, FMP, Tiingo or your own file). Defaults:

* ``TERM = TLT - BIL``: long-term Treasuries (iShares 20+ Year Treasury Bond ETF) minus
  T-bills (SPDR Bloomberg 1-3 Month T-Bill ETF): the term premium. ``IEF`` or ``VGLT`` for
  the long leg and ``SHV`` or ``SGOV`` for the short leg are close substitutes.
* ``CREDIT = LQD - IEF``: investment-grade corporate bonds (iShares iBoxx $ Investment Grade
  Corporate Bond ETF) minus Treasuries of similar duration (iShares 7-10 Year Treasury Bond
  ETF): the default premium. ``VCIT - VGIT`` is the Vanguard pair; ``HYG - IEF`` a
  high-yield credit factor.

Any other spread is written ``NAME=LONG-SHORT`` (``TIPS=TIP-IEF``). A spread exists only
from the month both funds have a return (BIL starts 2007-06, LQD 2002-08).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import pandas as pd

from factorxray.data.cache import Cache
from factorxray.errors import AllFailedError, DataSourceError, UsageError, quote

#: Default fund-defined factors: name -> (long fund, short fund, what it measures).
FUND_FACTORS: dict[str, tuple[str, str, str]] = {
    "TERM": ("TLT", "BIL", "term premium: long-term Treasuries (TLT) minus T-bills (BIL)"),
    "CREDIT": (
        "LQD",
        "IEF",
        "credit premium: investment-grade corporates (LQD) minus 7-10 year Treasuries (IEF)",
    ),
}
_SPEC = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*([A-Za-z0-9.^]+)\s*-\s*([A-Za-z0-9.^]+)\s*$")


def parse_fund_factor(text: str) -> tuple[str, str, str]:
    """``"TERM=TLT-BIL"`` -> ``("TERM", "TLT", "BIL")`` (tickers upper-cased).

    Examples
    --------
    >>> parse_fund_factor("tips=tip-ief")
    ('tips', 'TIP', 'IEF')
    """
    match = _SPEC.match(text)
    if not match:
        raise UsageError(
            f"fund factor {quote(text)} is not NAME=LONG-SHORT (e.g. TERM=TLT-BIL); tickers "
            "holding a '-' can be given in Python as fund_factors={'NAME': ('LONG', 'SHORT')}"
        )
    name, long_leg, short_leg = match.groups()
    if long_leg.upper() == short_leg.upper():
        raise UsageError(f"fund factor {name}: the two funds are the same ({long_leg.upper()})")
    return name, long_leg.upper(), short_leg.upper()


def fund_factor_returns(
    specs: Mapping[str, tuple[str, str]],
    *,
    source: str = "yahoo",
    prices_file: str | os.PathLike[str] | None = None,
    cache: Cache | None = None,
    offline: bool = False,
    refresh: bool = False,
    base_url: str | None = None,
) -> pd.DataFrame:
    """Monthly long-minus-short total returns of pairs of funds, in decimals.

    Parameters
    ----------
    specs : mapping of str to (str, str)
        Factor name -> (long fund, short fund), e.g. ``{"TERM": ("TLT", "BIL")}``.
    source, prices_file, cache, offline, refresh, base_url
        As in :func:`factorxray.returns.fetch_returns`.

    Returns
    -------
    DataFrame
        One column per factor, a monthly ``PeriodIndex``; NaN where a leg has no return.
        ``attrs["funds"]``: factor -> (long, short); ``attrs["last_month"]``: the last month
        with every spread; ``attrs["price_sources"]``: fund -> its price record.

    Raises
    ------
    UsageError
        No spreads asked for, bad tickers.
    DataSourceError
        A fund's prices could not be had (the message names the factor and the fund).

    Examples
    --------
    >>> fund_factor_returns({"TERM": ("TLT", "BIL")})  # doctest: +SKIP
    """
    from factorxray.returns import fetch_returns

    if not specs:
        raise UsageError("no fund-defined factor was asked for")
    tickers = sorted({leg for legs in specs.values() for leg in legs})
    try:
        returns = fetch_returns(
            tickers,
            source=source,
            prices_file=prices_file,
            cache=cache,
            offline=offline,
            refresh=refresh,
            base_url=base_url,
        )
    except AllFailedError as exc:
        first = next(iter(exc.failures.items()), None)
        why = f"{first[0]}: {first[1]}" if first else str(exc)
        raise DataSourceError(
            f"fund-defined factor(s) {', '.join(specs)}: no fund's prices could be had ({why})"
        ) from None
    failed = returns.attrs.get("failed", {})
    columns = {}
    for name, (long_leg, short_leg) in specs.items():
        for leg in (long_leg, short_leg):
            if leg not in returns.columns:
                reason = failed.get(leg, "no monthly return")
                raise DataSourceError(
                    f"fund-defined factor {name} = {long_leg} - {short_leg}: {leg} failed ({reason})"
                )
        columns[name] = returns[long_leg] - returns[short_leg]
    frame = pd.DataFrame(columns)
    complete = frame.dropna(how="any")
    if complete.empty:
        raise DataSourceError(
            f"fund-defined factor(s) {', '.join(specs)}: the funds share no month of returns"
        )
    frame.attrs = {
        "funds": {name: tuple(legs) for name, legs in specs.items()},
        "last_month": str(complete.index[-1]),
        "price_sources": returns.attrs.get("sources", {}),
    }
    return frame
