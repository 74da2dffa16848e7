"""Portfolios of funds, their risk, and the blend finder (math only: no downloads, no files).

- :mod:`~factorxray.portfolio.holdings`: :class:`Portfolio` (weights, rebalancing), its
  monthly returns and the exposures its holdings imply;
- :mod:`~factorxray.portfolio.risk`: variance attribution (Euler), performance figures,
  tracking error;
- :mod:`~factorxray.portfolio.blend`: the blend finder (targets, solver, out-of-sample check);
- :mod:`~factorxray.portfolio.xray`: a portfolio X-rayed beside its funds.

:func:`factorxray.analyze_portfolio` and :func:`factorxray.find_blend` (in
:mod:`factorxray.pipeline`) add the downloads. Methods: docs/portfolio.md.
"""

from __future__ import annotations

from factorxray.portfolio.blend import (
    Blend,
    Constraint,
    OutOfSample,
    Target,
    find_blend,
    parse_target,
    solve_blend,
)
from factorxray.portfolio.holdings import (
    BUY_AND_HOLD,
    MONTHLY,
    ImpliedExposures,
    Portfolio,
    PortfolioReturns,
    implied_exposures,
    portfolio_returns,
)
from factorxray.portfolio.risk import (
    drawdowns,
    performance,
    tracking,
    variance_attribution,
    variance_shares,
)
from factorxray.portfolio.xray import PortfolioAnalysis, build_portfolio_analysis

__all__ = [
    "BUY_AND_HOLD",
    "MONTHLY",
    "Blend",
    "Constraint",
    "ImpliedExposures",
    "OutOfSample",
    "Portfolio",
    "PortfolioAnalysis",
    "PortfolioReturns",
    "Target",
    "build_portfolio_analysis",
    "drawdowns",
    "find_blend",
    "implied_exposures",
    "parse_target",
    "performance",
    "portfolio_returns",
    "solve_blend",
    "tracking",
    "variance_attribution",
    "variance_shares",
]
