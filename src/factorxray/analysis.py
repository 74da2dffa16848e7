"""One analysis of a list of funds: the bundle the report and the CLI are built from.

:func:`build_analysis` is pure (no I/O): given factor returns, fund total returns and a
universe, it runs the static regressions, the rolling regressions, the label verdicts and
the return attribution, and keeps track of every fund that could not be analyzed and why.
:func:`factorxray.analyze` (in :mod:`factorxray.pipeline`) adds the downloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from factorxray.engine import regress, rolling_regress
from factorxray.errors import AllFailedError, CollinearityError, InsufficientDataError
from factorxray.results import ExposureResults, RollingExposureResults
from factorxray.universe import Universe
from factorxray.verdicts import Verdict, judge

DEFAULT_ROLLING_WINDOW = 36


@dataclass
class Analysis:
    """Everything one run produced, ready to print or to render.

    Attributes
    ----------
    universe : Universe
        The funds asked for, with names, categories and expected tilts.
    factors : DataFrame
        Factor returns in decimals (model columns then ``RF``), ``.attrs`` with vintages.
    returns : DataFrame
        Monthly total returns of the funds that were fetched (decimals).
    excess_returns : DataFrame
        ``returns`` minus RF, on the factor months.
    results : ExposureResults
        Static regressions of the analyzed funds.
    rolling : RollingExposureResults or None
        Rolling-window regressions (None when no fund has enough months for one window).
    verdicts : dict of str to Verdict
        Per analyzed fund.
    attribution : DataFrame
        Per analyzed fund: annualized mean excess return split into alpha and each factor's
        beta x annualized factor mean (columns ``alpha``, factors..., ``total``, ``fitted``).
    failed : dict of str to str
        Funds that were asked for but not analyzed (fetch failed, too few months...), with
        the reason. Never silently dropped.
    meta : dict
        Model, region, vintages, price source, covariance, thresholds, sample: for headers.
    """

    universe: Universe
    factors: pd.DataFrame
    returns: pd.DataFrame
    excess_returns: pd.DataFrame
    results: ExposureResults
    rolling: RollingExposureResults | None
    verdicts: dict[str, Verdict]
    attribution: pd.DataFrame
    failed: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def analyzed(self) -> list[str]:
        """Tickers analyzed, in universe order."""
        fitted = set(self.results.params.index)
        return [ticker for ticker in self.universe.tickers if ticker in fitted]


def return_attribution(
    results: ExposureResults, excess_returns: pd.DataFrame, factors: pd.DataFrame
) -> pd.DataFrame:
    """Split each fund's annualized mean excess return into alpha and factor contributions.

    Over each fund's own sample (``results.start`` to ``results.end``), the mean excess
    return equals alpha plus the sum of beta_k times the mean of factor k (an OLS identity
    when the sample is the regression's). Values are annualized arithmetically (x12 for
    monthly data) and in decimals.

    Returns
    -------
    DataFrame
        Index: funds; columns ``alpha``, one per factor, ``fitted`` (their sum) and ``total``
        (the mean excess return itself; equal to ``fitted`` up to rounding).
    """
    terms = list(results.params.columns)
    factor_names = [t for t in terms if t != "alpha"]
    periods = float(results.periods_per_year)
    rows = {}
    for fund in results.params.index:
        y = excess_returns[fund]
        sample = factors.loc[results.start[fund] : results.end[fund], factor_names]
        usable = sample.join(y.rename("__y__"), how="inner").dropna()
        means = usable.mean()
        beta = results.params.loc[fund]
        contributions = {"alpha": beta["alpha"] * periods}
        contributions.update({f: beta[f] * means[f] * periods for f in factor_names})
        contributions["fitted"] = float(np.sum(list(contributions.values())))
        contributions["total"] = means["__y__"] * periods
        rows[fund] = contributions
    return pd.DataFrame.from_dict(rows, orient="index")[["alpha", *factor_names, "fitted", "total"]]


def _none_analyzed(failures: dict[str, str]) -> str:
    detail = "; ".join(f"{ticker}: {reason}" for ticker, reason in failures.items())
    return f"no fund could be analyzed ({detail})" if detail else "no fund could be analyzed"


def build_analysis(
    universe: Universe,
    factors: pd.DataFrame,
    returns: pd.DataFrame,
    *,
    cov: str = "hac",
    hac_lags: int | None = None,
    min_months: int = 36,
    t_threshold: float = 2.0,
    rolling_window: int = DEFAULT_ROLLING_WINDOW,
    failed: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
) -> Analysis:
    """Regress, roll, judge and attribute: the math of one analysis (no I/O).

    Parameters
    ----------
    universe : Universe
        The funds asked for.
    factors : DataFrame
        From :func:`factorxray.load_factors` (decimals, with ``RF``).
    returns : DataFrame
        Monthly total returns (decimals), one column per fetched fund.
    cov, hac_lags, min_months
        Passed to :func:`factorxray.regress`.
    t_threshold : float
        |t| at or above which a beta counts as significant.
    rolling_window : int
        Months per rolling window.
    failed : dict, optional
        Funds that already failed upstream (e.g. download), with reasons.
    meta : dict, optional
        Extra header facts (price source...).

    Returns
    -------
    Analysis

    Raises
    ------
    AllFailedError
        When no fund at all can be analyzed (``failures`` maps each fund to its reason).
    """
    from factorxray.returns import excess_returns as to_excess

    failures = dict(failed or {})
    for ticker in universe.tickers:
        if ticker not in returns.columns and ticker not in failures:
            failures[ticker] = "no returns were fetched"
    present = [t for t in universe.tickers if t in returns.columns]
    if not present:
        raise AllFailedError(_none_analyzed(failures), failures)
    excess = to_excess(returns[present], factors)
    factor_names = [c for c in factors.columns if c != "RF"]
    try:
        results = regress(
            excess, factors[factor_names], cov=cov, hac_lags=hac_lags, min_obs=min_months
        )
    except InsufficientDataError as exc:
        failures.update(exc.skipped)
        raise AllFailedError(_none_analyzed(failures), failures) from None
    failures.update(results.skipped)
    analyzed = list(results.params.index)
    try:
        rolling = rolling_regress(
            excess[analyzed],
            factors[factor_names],
            window=rolling_window,
            cov=cov,
            hac_lags=hac_lags,
        )
    except (InsufficientDataError, CollinearityError) as exc:
        rolling = None
        rolling_note = f"no rolling {rolling_window}-month windows: {exc}"
    else:
        rolling_note = None
    verdicts = judge(results, universe, t_threshold=t_threshold)
    attribution = return_attribution(results, excess, factors)
    info = {
        "model": factors.attrs.get("model"),
        "region": factors.attrs.get("region"),
        "factors_vintage": factors.attrs.get("vintages", {}),
        "cov_type": results.cov_type,
        "min_months": min_months,
        "t_threshold": t_threshold,
        "rolling_window": rolling_window,
        "rolling_note": rolling_note,
        "factors_start": str(factors.index[0]),
        "factors_end": str(factors.index[-1]),
        **(meta or {}),
    }
    return Analysis(
        universe=universe,
        factors=factors,
        returns=returns,
        excess_returns=excess,
        results=results,
        rolling=rolling,
        verdicts=verdicts,
        attribution=attribution,
        failed={t: failures[t] for t in universe.tickers if t in failures and t not in analyzed},
        meta=info,
    )
