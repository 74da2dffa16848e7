"""Portfolios of funds: weights, the blend's monthly returns, and the exposures its holdings imply.

A :class:`Portfolio` is long-only weights over funds that sum to 1. Its return in month t is
``sum_i w_it * r_it`` with

- **monthly rebalancing** (the default): ``w_it = w_i`` every month, the weights as given;
- **buy and hold**: the weights as given at the start of the first common month, then left to
  drift with each fund's total return (distributions reinvested in the fund)::

      w_i,t+1 = w_it * (1 + r_it) / (1 + r_pt)

  so after a year in which SPY gained 20% and VLUE 5%, a 60/40 start is held as
  60*1.20 / (60*1.20 + 40*1.05) = 63/37. A month in which some fund has no return leaves the
  portfolio's return unknown (NaN) and the weights where they were.

Implied exposures: OLS is linear in y, so regressing ``sum_i w_i y_it`` on the factors gives
``sum_i w_i beta_i`` when every fund is regressed on the *same* months. :func:`implied_exposures`
restricts each fund to the portfolio's months and checks this: for a monthly-rebalanced
portfolio the gap between the portfolio's own regression and the weighted fund betas is zero
up to float error (about 1e-15). For buy and hold the implied exposures use the average
weights held over the regression's months and the gap is exactly the regression of the
*drift term* ``d_t = sum_i (w_it - wbar_i) y_it`` on the factors (see docs/portfolio.md for
its measured size: about 0.01 on the article's blends, documented tolerance 0.02).

Nothing here downloads or writes: it consumes returns, factor frames and results.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from factorxray.data.tickers import check_ticker
from factorxray.engine import regress
from factorxray.errors import InsufficientDataError, UsageError, quote
from factorxray.results import ExposureResults

__all__ = [
    "BUY_AND_HOLD",
    "BUY_AND_HOLD_TOLERANCE",
    "MONTHLY",
    "ImpliedExposures",
    "Portfolio",
    "PortfolioReturns",
    "implied_exposures",
    "portfolio_returns",
]

#: Rebalancing rules.
MONTHLY = "monthly"
BUY_AND_HOLD = "buy-and-hold"
_REBALANCE_ALIASES = {
    "monthly": MONTHLY,
    "rebalanced": MONTHLY,
    "buy-and-hold": BUY_AND_HOLD,
    "buy_and_hold": BUY_AND_HOLD,
    "buyandhold": BUY_AND_HOLD,
    "hold": BUY_AND_HOLD,
    "none": BUY_AND_HOLD,
}
#: How far weights may sum from 1 before they are refused (without ``normalize``).
SUM_TOLERANCE = 1e-6
#: The documented bound on |regressed - implied| for a buy-and-hold blend, per term (the
#: article's blends over 2013-2025 stay below 0.01; see docs/portfolio.md).
BUY_AND_HOLD_TOLERANCE = 0.02
#: Default name of the portfolio's return series (its "ticker" in an analysis).
DEFAULT_NAME = "PORTFOLIO"

_SPEC = re.compile(
    r"^\s*([^=:\s]+)\s*[=:]\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)\s*$"
)


class Portfolio:
    """Long-only weights over funds, summing to 1.

    Parameters
    ----------
    weights : mapping of fund -> weight, Series, or sequence of (fund, weight) pairs
        Decimals (0.6 for 60%). Tickers are upper-cased; the same fund twice is an error.
    normalize : bool
        Rescale the weights to sum to 1 instead of refusing weights that do not.
    rebalance : {"monthly", "buy-and-hold"}
        Back to the target weights every month (default), or held from the start and left to
        drift with the funds' returns (see the module docstring).
    name : str
        The name of the portfolio's return series where it stands beside funds (default
        ``PORTFOLIO``); must not be one of its funds.

    Raises
    ------
    UsageError
        No funds, a weight that is not a finite number, a negative or zero weight, a fund
        given twice, a bad ticker, weights that do not sum to 1 (within 1e-6) without
        ``normalize``, an unknown rebalancing rule.

    Examples
    --------
    >>> p = Portfolio({"SPY": 0.6, "VLUE": 0.2, "MTUM": 0.2})
    >>> p.funds, p.rebalance, p.label()
    (['SPY', 'VLUE', 'MTUM'], 'monthly', 'SPY 60% + VLUE 20% + MTUM 20%')
    >>> Portfolio({"SPY": 3, "VLUE": 1}, normalize=True).weights.to_dict()
    {'SPY': 0.75, 'VLUE': 0.25}
    >>> Portfolio({"SPY": 0.6, "VLUE": 0.3})
    Traceback (most recent call last):
    ...
    factorxray.errors.UsageError: the weights sum to 0.9, not 1; fix them or pass --normalize (normalize=True) to rescale them
    """

    def __init__(
        self,
        weights: Mapping[str, float] | pd.Series | Iterable[tuple[str, float]],
        *,
        normalize: bool = False,
        rebalance: str = MONTHLY,
        name: str = DEFAULT_NAME,
    ) -> None:
        pairs = _pairs(weights)
        if not pairs:
            raise UsageError("a portfolio needs at least one fund, e.g. SPY=0.6 VLUE=0.4")
        funds: list[str] = []
        values: list[float] = []
        for raw, value in pairs:
            ticker = check_ticker(raw)
            if ticker in funds:
                raise UsageError(
                    f"{ticker} is given twice; list each fund once with its total weight"
                )
            weight = _weight(value, ticker)
            funds.append(ticker)
            values.append(weight)
        total = math.fsum(values)
        if normalize:
            values = [v / total for v in values]
        elif abs(total - 1.0) > SUM_TOLERANCE:
            hint = ""
            if abs(total - 100.0) <= 100 * SUM_TOLERANCE:
                hint = " (percent? write SPY=60% or SPY=0.6)"
            raise UsageError(
                f"the weights sum to {total:.6g}, not 1{hint}; fix them or pass --normalize "
                "(normalize=True) to rescale them"
            )
        label = check_ticker(name) if name != DEFAULT_NAME else name
        if label in funds:
            raise UsageError(
                f"the portfolio's name {label} is also one of its funds; give it another name"
            )
        self._weights = pd.Series(values, index=pd.Index(funds, name="fund"), name="weight")
        self._weights.flags.allows_duplicate_labels = False
        self.rebalance = _rebalance(rebalance)
        self.name = label

    @classmethod
    def parse(
        cls,
        specs: Sequence[str] | str,
        *,
        normalize: bool = False,
        rebalance: str = MONTHLY,
        name: str = DEFAULT_NAME,
    ) -> Portfolio:
        """A portfolio from ``TICKER=WEIGHT`` items, as typed on the command line.

        Weights are decimals (``SPY=0.6``) or percent (``SPY=60%``); items may also be given
        in one string separated by spaces or commas.

        Examples
        --------
        >>> Portfolio.parse(["SPY=0.6", "VLUE=20%", "mtum=0.2"]).weights.round(6).to_dict()
        {'SPY': 0.6, 'VLUE': 0.2, 'MTUM': 0.2}
        >>> Portfolio.parse("SPY 0.6")
        Traceback (most recent call last):
        ...
        factorxray.errors.UsageError: 'SPY' is not TICKER=WEIGHT; write each fund as SPY=0.6 (or SPY=60%)
        """
        items = re.split(r"[\s,]+", specs.strip()) if isinstance(specs, str) else list(specs)
        pairs = []
        for item in items:
            if not str(item).strip():
                continue
            match = _SPEC.match(str(item))
            if match is None:
                raise UsageError(
                    f"{quote(str(item))} is not TICKER=WEIGHT; write each fund as SPY=0.6 "
                    "(or SPY=60%)"
                )
            value = float(match.group(2)) / (100.0 if match.group(3) else 1.0)
            pairs.append((match.group(1), value))
        return cls(pairs, normalize=normalize, rebalance=rebalance, name=name)

    @property
    def weights(self) -> pd.Series:
        """Fund -> weight (a copy), in the order given."""
        return self._weights.copy()

    @property
    def funds(self) -> list[str]:
        """The funds, in the order given."""
        return list(self._weights.index)

    def label(self, digits: int = 0) -> str:
        """``SPY 60% + VLUE 20% + MTUM 20%`` (weights in percent, ``digits`` decimals)."""
        return " + ".join(f"{fund} {weight:.{digits}%}" for fund, weight in self._weights.items())

    def describe(self) -> str:
        """The label with the rebalancing rule: ``SPY 60% + VLUE 40%, rebalanced monthly``."""
        rule = "rebalanced monthly" if self.rebalance == MONTHLY else "bought and held"
        return f"{self.label(1 if self._needs_decimals() else 0)}, {rule}"

    def _needs_decimals(self) -> bool:
        return any(abs(w * 100 - round(w * 100)) > 1e-9 for w in self._weights)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``name``, ``weights`` (fund -> weight), ``rebalance``."""
        return {
            "name": self.name,
            "weights": {str(k): float(v) for k, v in self._weights.items()},
            "rebalance": self.rebalance,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Portfolio):
            return NotImplemented
        return (
            self.name == other.name
            and self.rebalance == other.rebalance
            and self._weights.equals(other._weights)
        )

    __hash__ = None  # type: ignore[assignment]  (mutable-looking value object)

    def __repr__(self) -> str:
        return f"Portfolio({self.label(1)}, rebalance={self.rebalance!r}, name={self.name!r})"


def _pairs(weights: Any) -> list[tuple[Any, Any]]:
    if isinstance(weights, pd.Series):
        return list(weights.items())
    if isinstance(weights, Mapping):
        return list(weights.items())
    if isinstance(weights, str):
        raise UsageError("give weights as a mapping such as {'SPY': 0.6}, or use Portfolio.parse")
    try:
        pairs = [tuple(item) for item in weights]
    except TypeError:
        raise UsageError(
            f"weights must be a mapping fund -> weight, not {type(weights).__name__}"
        ) from None
    for pair in pairs:
        if len(pair) != 2:
            raise UsageError(f"{quote(pair)} is not a (fund, weight) pair")
    return pairs  # type: ignore[return-value]


def _weight(value: Any, ticker: str) -> float:
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"the weight of {ticker} ({quote(value)}) is not a number") from None
    if not math.isfinite(weight):
        raise UsageError(f"the weight of {ticker} is {weight}; give a finite number")
    if weight < 0:
        raise UsageError(
            f"negative weight {weight:g} on {ticker}: portfolios are long-only; "
            "give every fund a positive weight"
        )
    if weight == 0:
        raise UsageError(f"{ticker} has a zero weight; leave it out of the portfolio")
    return weight


def _rebalance(value: str) -> str:
    key = str(value).strip().lower().replace(" ", "-")
    if key not in _REBALANCE_ALIASES:
        raise UsageError(
            f"unknown rebalancing {value!r}; choose {MONTHLY!r} (default) or {BUY_AND_HOLD!r}"
        )
    return _REBALANCE_ALIASES[key]


# ------------------------------------------------------------------------------ returns


@dataclass(frozen=True)
class PortfolioReturns:
    """A portfolio's monthly returns over the months all its funds cover.

    Attributes
    ----------
    returns : Series
        The portfolio's total return per month (decimals), named after the portfolio, on the
        common window ``start`` .. ``end``; NaN in a month where some fund has no return.
    weights : DataFrame
        The weights held at the start of each month (months x funds): the target weights
        every month when rebalanced monthly, drifting weights for buy and hold.
    start, end : Period
        First and last month every fund has a return for.
    limited_by : dict
        ``{"start": [funds whose history starts last], "end": [funds whose history ends
        first]}``: the funds that set the window.
    missing : list of Period
        Months inside the window where some fund has no return (the portfolio's return is NaN).
    """

    returns: pd.Series
    weights: pd.DataFrame
    start: pd.Period
    end: pd.Period
    limited_by: dict[str, list[str]]
    missing: list[pd.Period] = field(default_factory=list)

    @property
    def nobs(self) -> int:
        """Months with a portfolio return."""
        return int(self.returns.notna().sum())

    def window_text(self) -> str:
        """``2013-05..2026-06 (start set by VLUE, MTUM; end by SPY, VLUE, MTUM)``."""
        starts = ", ".join(self.limited_by["start"])
        ends = ", ".join(self.limited_by["end"])
        return f"{self.start}..{self.end} (start set by {starts}; end by {ends})"


def portfolio_returns(portfolio: Portfolio, returns: pd.DataFrame) -> PortfolioReturns:
    """The portfolio's monthly returns over the months where all its funds have returns.

    Parameters
    ----------
    portfolio : Portfolio
    returns : DataFrame
        Monthly total returns (decimals), one column per fund (others are ignored).

    Returns
    -------
    PortfolioReturns

    Raises
    ------
    UsageError
        A fund of the portfolio has no column (or no return at all) in ``returns``, or the
        funds share no month.

    Examples
    --------
    >>> idx = pd.period_range("2020-01", periods=3, freq="M")
    >>> r = pd.DataFrame({"A": [0.10, 0.0, 0.01], "B": [0.0, 0.0, 0.01]}, index=idx)
    >>> held = portfolio_returns(Portfolio({"A": 0.5, "B": 0.5}, rebalance="buy-and-hold"), r)
    >>> held.weights.round(4).loc["2020-02"].to_dict()
    {'A': 0.5238, 'B': 0.4762}
    >>> held.returns.round(4).tolist()
    [0.05, 0.0, 0.01]
    """
    funds = portfolio.funds
    absent = [f for f in funds if f not in returns.columns]
    if absent:
        raise UsageError(f"no returns for {', '.join(absent)}; fetch them or leave them out")
    frame = returns[funds].astype(float).sort_index()
    empty = [f for f in funds if frame[f].notna().sum() == 0]
    if empty:
        raise UsageError(f"{', '.join(empty)} has no returns at all; leave it out")
    firsts = {f: frame[f].first_valid_index() for f in funds}
    lasts = {f: frame[f].last_valid_index() for f in funds}
    start, end = max(firsts.values()), min(lasts.values())
    limited_by = {
        "start": [f for f in funds if firsts[f] == start],
        "end": [f for f in funds if lasts[f] == end],
    }
    if start > end:
        late = ", ".join(limited_by["start"])
        early = ", ".join(limited_by["end"])
        raise UsageError(
            f"the funds share no month: {late} starts in {start}, after {early} ends in {end}"
        )
    window = frame.loc[start:end]
    values = window.to_numpy()
    known = np.isfinite(values).all(axis=1)
    missing = [p for p, ok in zip(window.index, known, strict=True) if not ok]
    target = portfolio.weights.to_numpy()
    if portfolio.rebalance == MONTHLY:
        held = np.broadcast_to(target, values.shape).copy()
    else:
        growth = np.where(known[:, None], 1.0 + values, 1.0)
        # wealth in each fund at the start of each month, from 1 unit of portfolio
        wealth = target * np.vstack([np.ones(len(funds)), np.cumprod(growth, axis=0)[:-1]])
        held = wealth / wealth.sum(axis=1, keepdims=True)
    port = np.where(known, np.einsum("ti,ti->t", held, np.nan_to_num(values)), np.nan)
    return PortfolioReturns(
        returns=pd.Series(port, index=window.index, name=portfolio.name),
        weights=pd.DataFrame(held, index=window.index, columns=pd.Index(funds, name="fund")),
        start=start,
        end=end,
        limited_by=limited_by,
        missing=missing,
    )


# ------------------------------------------------------------------------ implied exposures


@dataclass(frozen=True)
class ImpliedExposures:
    """A portfolio's regression beside the exposures its holdings imply, on the same months.

    Attributes
    ----------
    portfolio : Portfolio
    held : PortfolioReturns
    results : ExposureResults
        One batched regression of the portfolio (row ``portfolio.name``) and of each fund
        restricted to the portfolio's months (rows = funds): every row uses the same months.
    weights_used : Series
        The weights behind ``implied``: the target weights (monthly rebalancing) or the
        average weights held over the regression's months (buy and hold).
    """

    portfolio: Portfolio
    held: PortfolioReturns
    results: ExposureResults
    weights_used: pd.Series

    @property
    def name(self) -> str:
        """The portfolio's row in ``results``."""
        return self.portfolio.name

    @property
    def fund_betas(self) -> pd.DataFrame:
        """Each fund's alpha and betas on the portfolio's months (funds x terms)."""
        return self.results.params.loc[self.portfolio.funds]

    @property
    def regressed(self) -> pd.Series:
        """The portfolio's own regression: term -> coefficient (``alpha`` first)."""
        return self.results.params.loc[self.name].rename("regressed")

    @property
    def implied(self) -> pd.Series:
        """Weighted fund coefficients: ``weights_used @ fund_betas`` (term -> value)."""
        implied = self.weights_used.to_numpy() @ self.fund_betas.to_numpy()
        return pd.Series(implied, index=self.results.params.columns, name="implied")

    @property
    def gap(self) -> pd.Series:
        """``regressed - implied`` per term (zero up to float error when rebalanced monthly)."""
        return (self.regressed - self.implied).rename("gap")

    @property
    def start(self) -> pd.Period:
        """First month of the regression."""
        return self.results.start[self.name]

    @property
    def end(self) -> pd.Period:
        """Last month of the regression."""
        return self.results.end[self.name]

    @property
    def nobs(self) -> int:
        """Months in the regression."""
        return int(self.results.nobs[self.name])

    @property
    def tolerance(self) -> float:
        """The documented bound on ``|gap|``: float error (1e-12) or the buy-and-hold bound."""
        return 1e-12 if self.portfolio.rebalance == MONTHLY else BUY_AND_HOLD_TOLERANCE

    def to_frame(self) -> pd.DataFrame:
        """Term by term: the portfolio's regression and the implied exposures.

        Returns
        -------
        DataFrame
            Index ``term`` (``alpha`` then the factors); columns ``regressed``, ``se``,
            ``t``, ``p`` (the portfolio's own regression), ``implied`` and ``gap``.
        """
        res = self.results
        frame = pd.DataFrame(
            {
                "regressed": self.regressed,
                "se": res.bse.loc[self.name],
                "t": res.tvalues.loc[self.name],
                "p": res.pvalues.loc[self.name],
                "implied": self.implied,
                "gap": self.gap,
            }
        )
        frame.index.name = "term"
        return frame


def implied_exposures(
    portfolio: Portfolio,
    returns: pd.DataFrame,
    factors: pd.DataFrame,
    *,
    cov: str = "hac",
    hac_lags: int | None = None,
    min_obs: int = 36,
    held: PortfolioReturns | None = None,
) -> ImpliedExposures:
    """Regress the portfolio and its funds on the same months; weigh the funds' betas.

    Parameters
    ----------
    portfolio : Portfolio
    returns : DataFrame
        Monthly total returns of (at least) the portfolio's funds, decimals.
    factors : DataFrame
        Factor returns with an ``RF`` column (from :func:`factorxray.load_factors`).
    cov, hac_lags, min_obs
        As in :func:`factorxray.regress` (the covariance only affects standard errors).
    held : PortfolioReturns, optional
        The portfolio's returns if already computed (default: :func:`portfolio_returns`).

    Returns
    -------
    ImpliedExposures

    Raises
    ------
    UsageError
        As :func:`portfolio_returns`; factors without ``RF``.
    InsufficientDataError
        The portfolio has fewer than ``min_obs`` months with factor data (the message names
        the fund that limits its window).
    """
    held = held if held is not None else portfolio_returns(portfolio, returns)
    if "RF" not in factors.columns:
        raise UsageError("the factors have no 'RF' column to compute excess returns with")
    names = [c for c in factors.columns if c != "RF"]
    index = held.returns.index.intersection(factors.index)
    rf = factors["RF"].reindex(index)
    frame = factors[names].reindex(index)
    port = held.returns.reindex(index) - rf
    usable = port.notna() & frame.notna().all(axis=1)
    if int(usable.sum()) < min_obs:
        raise InsufficientDataError(
            f"the portfolio has {int(usable.sum())} months with factor data "
            f"({held.window_text()}); at least {min_obs} are needed (--min-months)"
        )
    funds = returns[portfolio.funds].reindex(index).sub(rf, axis=0).where(usable, np.nan)
    excess = pd.concat([port.where(usable).rename(portfolio.name), funds], axis=1)
    results = regress(excess, frame, cov=cov, hac_lags=hac_lags, min_obs=min_obs)
    if portfolio.rebalance == MONTHLY:
        used = portfolio.weights
    else:
        used = held.weights.reindex(index)[usable].mean(axis=0)
    return ImpliedExposures(portfolio, held, results, used.rename("weight"))
