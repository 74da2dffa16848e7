"""A portfolio X-rayed like a fund: the analysis of its funds with its return series beside them.

:func:`build_portfolio_analysis` is pure (no I/O). It adds the portfolio's monthly return
series to the funds' returns as one more "fund" and runs
:func:`factorxray.analysis.build_analysis` on the lot, so the report, its charts and exports
treat the portfolio like any fund. Beside that it keeps what only a portfolio has: the
exposures its holdings imply (:func:`~factorxray.portfolio.holdings.implied_exposures`), the
variance attribution of every fund and of the portfolio, the performance figures and the
tracking error against a benchmark. :func:`factorxray.analyze_portfolio` adds the downloads.

For the report, every table is a DataFrame from one method: :meth:`PortfolioAnalysis.exposures_frame`
(implied vs regressed), :meth:`~PortfolioAnalysis.risk_frame` (variance shares, long),
:meth:`~PortfolioAnalysis.performance_frame` and :meth:`~PortfolioAnalysis.weights_frame`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from factorxray.analysis import Analysis, build_analysis
from factorxray.errors import UsageError
from factorxray.portfolio.holdings import (
    MONTHLY,
    ImpliedExposures,
    Portfolio,
    implied_exposures,
    portfolio_returns,
)
from factorxray.portfolio.risk import (
    TOTAL,
    performance,
    tracking,
    variance_attribution,
    variance_shares,
)
from factorxray.universe import Fund, Universe

__all__ = ["PORTFOLIO_CATEGORY", "PortfolioAnalysis", "build_portfolio_analysis", "jsonable"]

#: The category the portfolio's row carries in the analysis (unlabelled: nothing to judge).
PORTFOLIO_CATEGORY = "portfolio"


@dataclass
class PortfolioAnalysis:
    """A portfolio beside its funds: the analysis, implied exposures, risk and performance.

    Attributes
    ----------
    analysis : Analysis
        The funds and the portfolio (row ``portfolio.name``, category ``portfolio``): the
        report, exports and charts work on it as on any analysis.
    portfolio : Portfolio
    region : str
        The factors the portfolio (and its implied exposures) are computed on.
    exposures : ImpliedExposures
        The portfolio's regression beside its funds' weighted betas on the same months.
    risk : DataFrame
        Annualized variance contributions (:func:`~factorxray.portfolio.risk.variance_attribution`)
        of every analyzed fund and of the portfolio.
    performance : DataFrame
        Annualized return, volatility, Sharpe ratio, maximum drawdown per fund and portfolio.
    tracking : DataFrame or None
        Tracking error and information ratio against ``benchmark`` (None without one).
    benchmark : str or None
    """

    analysis: Analysis
    portfolio: Portfolio
    region: str
    exposures: ImpliedExposures
    risk: pd.DataFrame
    performance: pd.DataFrame
    tracking: pd.DataFrame | None = None
    benchmark: str | None = None

    @property
    def name(self) -> str:
        """The portfolio's row in the analysis."""
        return self.portfolio.name

    @property
    def risk_shares(self) -> pd.DataFrame:
        """Variance shares (rows sum to 1): funds and portfolio x factors, idiosyncratic."""
        return variance_shares(self.risk).drop(columns=TOTAL)

    def weights_frame(self) -> pd.DataFrame:
        """Per fund: ``name``, ``category``, ``weight`` (target) and ``weight_used``.

        ``weight_used`` is what the implied exposures weigh: the target weights, or the
        average weights held for buy and hold.
        """
        rows = []
        for fund, weight in self.portfolio.weights.items():
            info = self.analysis.universe.get(fund)
            rows.append(
                {
                    "fund": fund,
                    "name": info.name if info else fund,
                    "category": info.category if info else "",
                    "weight": float(weight),
                    "weight_used": float(self.exposures.weights_used[fund]),
                }
            )
        return pd.DataFrame(rows).set_index("fund")

    def exposures_frame(self) -> pd.DataFrame:
        """Implied vs regressed exposures of the portfolio, term by term.

        Returns
        -------
        DataFrame
            Index ``term``; columns ``regressed``, ``se``, ``t``, ``p``, ``implied``,
            ``gap`` (see :meth:`ImpliedExposures.to_frame`).
        """
        return self.exposures.to_frame()

    def fund_betas_frame(self) -> pd.DataFrame:
        """Each fund's betas on the portfolio's months (funds x terms), weights in a column."""
        table = self.exposures.fund_betas.copy()
        table.insert(0, "weight", self.exposures.weights_used)
        return table

    def risk_frame(self) -> pd.DataFrame:
        """Variance attribution in long form, for a table or a stacked bar chart.

        Returns
        -------
        DataFrame
            Columns ``fund``, ``component`` (a factor or ``idiosyncratic``),
            ``variance`` (annualized), ``share`` (of the fund's total variance) and
            ``volatility`` (``sqrt(total variance)``, the same on every row of a fund).
            Factors a fund's model lacks are left out.
        """
        shares = self.risk_shares
        rows = []
        for fund in self.risk.index:
            total = float(self.risk.loc[fund, TOTAL])
            for component in shares.columns:
                value = self.risk.loc[fund, component]
                if not np.isfinite(value):
                    continue
                rows.append(
                    {
                        "fund": fund,
                        "component": component,
                        "variance": float(value),
                        "share": float(shares.loc[fund, component]),
                        "volatility": math.sqrt(total) if total > 0 else np.nan,
                    }
                )
        return pd.DataFrame(rows, columns=["fund", "component", "variance", "share", "volatility"])

    def performance_frame(self) -> pd.DataFrame:
        """Performance per fund and portfolio, with tracking error and IR when benchmarked."""
        table = self.performance.copy()
        if self.tracking is not None:
            table = table.join(
                self.tracking[["active_return", "tracking_error", "information_ratio"]]
            )
        return table

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts about the portfolio (the keys ``summary.json`` adds).

        ``weights``, ``start``, ``end``, ``nobs`` and ``exposures`` (term -> beta, se, t,
        p) of the portfolio's own regression, as for a fund; then ``implied_exposures``,
        ``gap`` and ``gap_tolerance``, the return window and the funds that limit it,
        ``risk`` (the portfolio's variance attribution), ``performance``, ``tracking``.
        """
        ex = self.exposures
        frame = ex.to_frame()
        results = self.analysis.results
        name = self.name
        held = ex.held
        shares = self.risk_shares.loc[name]
        return jsonable(
            {
                "portfolio": name,
                "label": self.portfolio.describe(),
                "weights": self.portfolio.to_dict()["weights"],
                "rebalance": self.portfolio.rebalance,
                "weights_used": ex.weights_used.to_dict(),
                "region": self.region,
                "model": self.analysis.fund_factors.get(name, {}).get("model"),
                "start": ex.start,
                "end": ex.end,
                "nobs": ex.nobs,
                "rsquared": results.rsquared.get(name),
                "exposures": {
                    term: {"beta": row["regressed"], "se": row["se"], "t": row["t"], "p": row["p"]}
                    for term, row in frame.iterrows()
                },
                "implied_exposures": frame["implied"].to_dict(),
                "gap": frame["gap"].to_dict(),
                "gap_tolerance": ex.tolerance,
                "returns_window": {
                    "start": held.start,
                    "end": held.end,
                    "limited_by": held.limited_by,
                    "missing_months": [str(p) for p in held.missing],
                },
                "risk": {
                    "variance_annual": self.risk.loc[name].to_dict(),
                    "shares": shares.to_dict(),
                    "volatility_annual": math.sqrt(max(float(self.risk.loc[name, TOTAL]), 0.0)),
                },
                "risk_shares_by_fund": {
                    str(f): row.dropna().to_dict() for f, row in self.risk_shares.iterrows()
                },
                "performance": {
                    str(f): row.to_dict() for f, row in self.performance_frame().iterrows()
                },
                "benchmark": self.benchmark,
            }
        )


def jsonable(value: Any) -> Any:
    """Periods and numpy scalars to plain types, NaN/inf to None, recursively."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.Period):
        return str(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is None or isinstance(value, str):
        return value
    if value is pd.NaT:
        return None
    return str(value)


def build_portfolio_analysis(
    portfolio: Portfolio,
    universe: Universe,
    factors: Mapping[str, pd.DataFrame],
    returns: pd.DataFrame,
    *,
    fund_regions: Mapping[str, str],
    region: str,
    benchmark: str | None = None,
    cov: str = "hac",
    hac_lags: int | None = None,
    min_months: int = 36,
    meta: Mapping[str, Any] | None = None,
    **build_options: Any,
) -> PortfolioAnalysis:
    """The analysis of the funds plus the portfolio, with implied exposures and risk (no I/O).

    Parameters
    ----------
    portfolio : Portfolio
    universe : Universe
        The funds (labels) to analyze beside the portfolio (its funds, maybe a benchmark).
    factors : mapping region -> DataFrame
        Factor returns (with ``RF``) of every region used; ``factors[region]`` is the
        portfolio's.
    returns : DataFrame
        Monthly total returns of the funds (decimals).
    fund_regions : mapping fund -> region
        Each fund's factors (the portfolio's are ``region``).
    region : str
        The region whose factors the portfolio is regressed on.
    benchmark : str, optional
        A column of ``returns``: tracking error and information ratio against it.
    cov, hac_lags, min_months
        As :func:`factorxray.regress`.
    meta : mapping, optional
        Header facts for the analysis (price source...); ``portfolio`` is added.
    **build_options
        Passed to :func:`factorxray.analysis.build_analysis` (rules, ladder, drift...).

    Returns
    -------
    PortfolioAnalysis

    Raises
    ------
    UsageError
        No factors for ``region``; the portfolio's name is also a fund's; no returns for
        the benchmark.
    InsufficientDataError
        The portfolio has fewer than ``min_months`` months with factor data.
    """
    if region not in factors:
        raise UsageError(f"no factors for the portfolio's region {region!r}")
    if portfolio.name in universe:
        raise UsageError(
            f"the portfolio's name {portfolio.name} is also a fund's; give the portfolio "
            "another name"
        )
    if benchmark is not None and benchmark not in returns.columns:
        raise UsageError(f"no returns for the benchmark {benchmark}")
    frame = factors[region]
    held = portfolio_returns(portfolio, returns)
    exposures = implied_exposures(
        portfolio, returns, frame, cov=cov, hac_lags=hac_lags, min_obs=min_months, held=held
    )
    all_returns = returns.copy()
    all_returns[portfolio.name] = held.returns.reindex(all_returns.index)
    funds = [
        *universe.funds,
        Fund(portfolio.name, name=portfolio.describe(), category=PORTFOLIO_CATEGORY),
    ]
    extended = Universe(universe.name, funds, universe.description)
    info = dict(meta or {})
    sources = dict(info.get("price_sources") or {})
    rule = "rebalanced monthly" if portfolio.rebalance == MONTHLY else "bought and held"
    sources[portfolio.name] = f"weighted from its funds' total returns ({rule})"
    info["price_sources"] = sources
    info["portfolio"] = jsonable(
        {
            **portfolio.to_dict(),
            "label": portfolio.describe(),
            "region": region,
            "benchmark": benchmark,
            "returns_window": {"start": held.start, "end": held.end},
            "limited_by": held.limited_by,
        }
    )
    analysis = build_analysis(
        extended,
        dict(factors),
        all_returns,
        fund_regions={**fund_regions, portfolio.name: region},
        cov=cov,
        hac_lags=hac_lags,
        min_months=min_months,
        meta=info,
        **build_options,
    )
    analyzed = analysis.analyzed
    risk = variance_attribution(
        analysis.results,
        analysis.excess_returns,
        {fund: analysis.factors_for(fund) for fund in analyzed},
    )
    perf = performance(all_returns[analyzed], frame["RF"])
    track = None
    if benchmark is not None:
        track = tracking(all_returns[analyzed], returns[benchmark].rename(benchmark))
    return PortfolioAnalysis(
        analysis=analysis,
        portfolio=portfolio,
        region=region,
        exposures=exposures,
        risk=risk.loc[analyzed],
        performance=perf,
        tracking=track,
        benchmark=benchmark,
    )
