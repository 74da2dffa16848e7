"""factorxray: X-ray what a fund really holds in factor terms.

>>> import factorxray as fx
>>> factors = fx.load_factors("xray7", region="us")            # doctest: +SKIP
>>> returns = fx.fetch_returns(["SPY", "MTUM"])                # doctest: +SKIP
>>> res = fx.regress(fx.excess_returns(returns, factors), factors)  # doctest: +SKIP
>>> analysis = fx.analyze(preset="smart-beta-20", offline=True)     # doctest: +SKIP
>>> fx.write_report(analysis, "report/")                            # doctest: +SKIP

Heavy parts (the report, with plotly and matplotlib) are imported on first use.
"""

from __future__ import annotations

from factorxray._lazy import lazy_exports

__version__ = "0.1.0"

#: Public name -> module that defines it (imported lazily on first access).
_EXPORTS = {
    # factor data
    "load_factors": "factorxray.factors",
    "vol_factor": "factorxray.factors",
    "MODELS": "factorxray.factors",
    "REGIONS": "factorxray.factors",
    "read_dataset": "factorxray.data.kenfrench",
    "FrenchDataset": "factorxray.data.kenfrench",
    "Cache": "factorxray.data.cache",
    # fund returns
    "fetch_prices": "factorxray.returns",
    "fetch_returns": "factorxray.returns",
    "excess_returns": "factorxray.returns",
    "monthly_total_returns": "factorxray.returns",
    # engine and results
    "regress": "factorxray.engine",
    "rolling_regress": "factorxray.engine",
    "vif": "factorxray.engine",
    "factor_correlations": "factorxray.engine",
    "ExposureResults": "factorxray.results",
    "RollingExposureResults": "factorxray.results",
    # whole-market panels on Dask
    "regress_panel": "factorxray.scale",
    "PanelRun": "factorxray.scale",
    # universes and verdicts
    "Universe": "factorxray.universe",
    "Fund": "factorxray.universe",
    "Tilt": "factorxray.universe",
    "load_universe": "factorxray.universe",
    "universe_from_tickers": "factorxray.universe",
    "judge": "factorxray.judge.verdicts",
    "Verdict": "factorxray.judge.verdicts",
    "Rules": "factorxray.judge.verdicts",
    "verdict_table": "factorxray.judge.verdicts",
    "bh_qvalues": "factorxray.judge.robustness",
    # the whole job
    "Analysis": "factorxray.analysis",
    "build_analysis": "factorxray.analysis",
    "analyze": "factorxray.pipeline",
    "write_report": "factorxray.report",
    # portfolios, risk attribution and the blend finder
    "Portfolio": "factorxray.portfolio.holdings",
    "portfolio_returns": "factorxray.portfolio.holdings",
    "implied_exposures": "factorxray.portfolio.holdings",
    "variance_attribution": "factorxray.portfolio.risk",
    "performance": "factorxray.portfolio.risk",
    "tracking": "factorxray.portfolio.risk",
    "parse_target": "factorxray.portfolio.blend",
    "Blend": "factorxray.portfolio.blend",
    "PortfolioAnalysis": "factorxray.portfolio.xray",
    "analyze_portfolio": "factorxray.portfolio_pipeline",
    "find_blend": "factorxray.portfolio_pipeline",
    "write_portfolio_report": "factorxray.portfolio_pipeline",
    "write_blend_report": "factorxray.portfolio_pipeline",
    # errors
    "FactorXrayError": "factorxray.errors",
    "UsageError": "factorxray.errors",
    "DataSourceError": "factorxray.errors",
    "NotCachedError": "factorxray.errors",
    "UnknownTickerError": "factorxray.errors",
    "InsufficientDataError": "factorxray.errors",
    "CollinearityError": "factorxray.errors",
    "AllFailedError": "factorxray.errors",
}
_SUBMODULES = ("presets", "snapshot", "errors")

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _SUBMODULES, defined=["__version__"])
