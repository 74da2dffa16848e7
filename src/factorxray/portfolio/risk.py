"""Risk attribution and the performance figures investors expect beside betas.

Variance attribution. Over a fund's regression sample (the months where the fund and every
factor are observed, between its first and last month), with ``y`` its excess return, ``X``
the factors, ``b`` the betas and ``e`` the OLS residuals::

    var(y) = var(X b) + var(e)              (OLS with an intercept: X'e = 0, mean(e) = 0)
           = b' S b + var(e)                (S: the factors' sample covariance)
           = sum_k b_k (S b)_k + var(e)     (Euler: each factor's contribution)

All variances use the same denominator (T - 1), so the contributions add up to the variance
of the fund's excess return exactly (to float error), and the shares to 1. A factor's Euler
contribution is negative when it hedges the others (e.g. a low-volatility fund's VOL beta
against its market beta). The idiosyncratic part is the residuals' variance with T - 1, not
the regression's ``ssr / (T - K - 1)``: the unbiased estimate would not add up.

Everything is annualized by ``periods_per_year`` (12 for months): variances times 12,
volatilities times sqrt(12).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from factorxray.errors import UsageError
from factorxray.results import ExposureResults

__all__ = [
    "IDIOSYNCRATIC",
    "TOTAL",
    "drawdowns",
    "performance",
    "tracking",
    "variance_attribution",
    "variance_shares",
]

IDIOSYNCRATIC = "idiosyncratic"
TOTAL = "total"


def variance_attribution(
    results: ExposureResults,
    excess_returns: pd.DataFrame,
    factors: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    annualize: bool = True,
) -> pd.DataFrame:
    """Each factor's Euler contribution to the variance of each fund's excess return.

    Parameters
    ----------
    results : ExposureResults
        The regressions (their ``alpha`` and betas, first and last months).
    excess_returns : DataFrame
        The funds' excess returns the regressions were run on (one column per fund).
    factors : DataFrame or mapping fund -> DataFrame
        The factor returns each fund was regressed on (one frame for all, or per fund when
        funds were regressed on different regions' factors). ``RF`` is ignored.
    annualize : bool
        Multiply by ``results.periods_per_year`` (12 for monthly data).

    Returns
    -------
    DataFrame
        Index: funds; columns: one per factor (NaN where the fund's model lacks it),
        ``idiosyncratic`` and ``total`` (their sum, equal to the sample variance of the
        fund's excess return over its regression months).

    Examples
    --------
    >>> import factorxray as fx  # doctest: +SKIP
    >>> a = fx.analyze(["SPY", "USMV"], offline=True)  # doctest: +SKIP
    >>> variance_shares(variance_attribution(a.results, a.excess_returns, a.factors))  # doctest: +SKIP
    """
    terms = list(results.params.columns)
    factor_names = [t for t in terms if t != "alpha"]
    scale = float(results.periods_per_year or 1.0) if annualize else 1.0
    rows = {}
    for fund in results.funds:
        frame = factors.get(fund) if isinstance(factors, Mapping) else factors
        if frame is None:
            raise UsageError(f"no factor returns given for {fund}")
        params = results.params.loc[fund]
        names = [f for f in factor_names if np.isfinite(params[f]) and f in frame.columns]
        y, x = _sample(excess_returns[fund], frame[names], results, fund)
        beta = params[names].to_numpy(dtype=float)
        resid = y - params["alpha"] - x @ beta
        sigma = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
        contributions = beta * (sigma @ beta)
        row = dict.fromkeys(factor_names, np.nan)
        row.update(zip(names, contributions * scale, strict=True))
        row[IDIOSYNCRATIC] = float(np.var(resid, ddof=1)) * scale
        row[TOTAL] = float(np.nansum([row[k] for k in (*names, IDIOSYNCRATIC)]))
        rows[fund] = row
    table = pd.DataFrame.from_dict(rows, orient="index")[[*factor_names, IDIOSYNCRATIC, TOTAL]]
    table.index.name = "fund"
    return table


def variance_shares(attribution: pd.DataFrame) -> pd.DataFrame:
    """Contributions as shares of the total variance (each row sums to 1; ``total`` is 1).

    Parameters
    ----------
    attribution : DataFrame
        From :func:`variance_attribution`.

    Returns
    -------
    DataFrame
        Same shape; factor shares can be negative (a hedge) and so can exceed 1 elsewhere.
    """
    return attribution.div(attribution[TOTAL], axis=0)


def _sample(
    excess: pd.Series, frame: pd.DataFrame, results: ExposureResults, fund: str
) -> tuple[np.ndarray, np.ndarray]:
    """The fund's regression rows: y and X where both are observed, from start to end."""
    start, end = results.start[fund], results.end[fund]
    y = excess.loc[start:end]
    x = frame.reindex(y.index)
    usable = y.notna() & x.notna().all(axis=1)
    return y[usable].to_numpy(dtype=float), x[usable].to_numpy(dtype=float)


# --------------------------------------------------------------------------- performance


def drawdowns(returns: pd.Series) -> pd.Series:
    """Drawdown after each month: wealth over its running peak, minus 1 (0 at a new high).

    Wealth starts at 1 before the first month, so a first month's loss is a drawdown.
    Months without a return (NaN) are skipped.
    """
    r = returns.dropna().astype(float).sort_index()
    wealth = (1.0 + r).cumprod()
    peak = np.maximum(wealth.cummax(), 1.0)
    return (wealth / peak - 1.0).rename(returns.name)


def performance(
    returns: pd.DataFrame | pd.Series,
    rf: pd.Series,
    *,
    periods_per_year: int = 12,
) -> pd.DataFrame:
    """Annualized return, volatility, Sharpe ratio and maximum drawdown per fund.

    Each fund over its own months where both its return and the risk-free rate are known
    (so every figure of a row shares one sample: ``start``, ``end``, ``months``).

    Parameters
    ----------
    returns : DataFrame or Series
        Monthly total returns (decimals), one column per fund.
    rf : Series
        The risk-free rate per month (decimals), e.g. ``factors["RF"]``.
    periods_per_year : int
        12 for monthly data.

    Returns
    -------
    DataFrame
        Index: funds; columns ``start``, ``end``, ``months``, ``annual_return`` (geometric:
        ``prod(1 + r) ** (12 / T) - 1``), ``annual_volatility`` (``std(r) * sqrt(12)``, T - 1),
        ``sharpe`` (``12 * mean(r - RF) / (sqrt(12) * std(r - RF))``), ``max_drawdown``
        (most negative of :func:`drawdowns`, e.g. -0.34) and ``max_drawdown_trough`` (its
        month).
    """
    frame = (returns.to_frame() if isinstance(returns, pd.Series) else returns).sort_index()
    rows = {}
    for fund in frame.columns:
        r = frame[fund].astype(float)
        rate = rf.reindex(r.index)
        usable = r.notna() & rate.notna()
        r, rate = r[usable], rate[usable]
        months = len(r)
        row: dict[str, object] = {
            "start": r.index[0] if months else None,
            "end": r.index[-1] if months else None,
            "months": months,
        }
        if months >= 2:
            excess = r - rate
            dd = drawdowns(r)
            row.update(
                annual_return=float(np.prod(1.0 + r.to_numpy()) ** (periods_per_year / months))
                - 1.0,
                annual_volatility=float(r.std(ddof=1)) * np.sqrt(periods_per_year),
                sharpe=float(excess.mean() / excess.std(ddof=1)) * np.sqrt(periods_per_year),
                max_drawdown=float(dd.min()),
                max_drawdown_trough=dd.idxmin(),
            )
        rows[fund] = row
    columns = [
        "start",
        "end",
        "months",
        "annual_return",
        "annual_volatility",
        "sharpe",
        "max_drawdown",
        "max_drawdown_trough",
    ]
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)
    table.index.name = "fund"
    return table


def tracking(
    returns: pd.DataFrame | pd.Series,
    benchmark: pd.Series,
    *,
    periods_per_year: int = 12,
) -> pd.DataFrame:
    """Tracking error and information ratio of each fund against a benchmark.

    On the months both the fund and the benchmark have returns, the active return is
    ``r - r_benchmark``; the tracking error is its standard deviation (T - 1) times
    ``sqrt(12)`` and the information ratio its annualized mean (times 12) over the tracking
    error.

    Parameters
    ----------
    returns : DataFrame or Series
        Monthly total returns, one column per fund.
    benchmark : Series
        The benchmark's monthly total returns (named after it).

    Returns
    -------
    DataFrame
        Index: funds; columns ``benchmark``, ``start``, ``end``, ``months``,
        ``active_return``, ``tracking_error``, ``information_ratio`` (NaN for the benchmark
        itself, whose tracking error is 0).
    """
    frame = (returns.to_frame() if isinstance(returns, pd.Series) else returns).sort_index()
    rows = {}
    for fund in frame.columns:
        active = (frame[fund] - benchmark.reindex(frame.index)).dropna()
        months = len(active)
        te = float(active.std(ddof=1)) * np.sqrt(periods_per_year) if months >= 2 else np.nan
        mean = float(active.mean()) * periods_per_year if months else np.nan
        rows[fund] = {
            "benchmark": benchmark.name,
            "start": active.index[0] if months else None,
            "end": active.index[-1] if months else None,
            "months": months,
            "active_return": mean,
            "tracking_error": te,
            "information_ratio": mean / te if te > 1e-12 else np.nan,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "fund"
    return table
