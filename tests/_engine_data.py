"""Real-data fixtures and statsmodels reference fits for the engine tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

ENGINE_DATA = Path(__file__).parent / "data" / "engine"
FACTORS = ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "MOM"]


def _read_monthly(name: str) -> pd.DataFrame:
    frame = pd.read_csv(ENGINE_DATA / name, index_col="period")
    frame.index = pd.PeriodIndex(frame.index, freq="M", name="period")
    return frame


def etf_excess() -> pd.DataFrame:
    """Monthly excess returns of the 20 real ETFs (ragged starts), decimals."""
    return _read_monthly("etf_monthly_excess.csv")


def us_factors() -> pd.DataFrame:
    """US FF5 + MOM + RF, monthly, decimals."""
    return _read_monthly("us_factors_monthly.csv")


def statsmodels_fit(y: pd.Series, x: pd.DataFrame, cov: str, lags: int | None = None):
    """statsmodels OLS with a constant on the rows where y and x are all observed."""
    data = pd.concat([y.rename("__y__"), x], axis=1, join="inner").dropna()
    exog = sm.add_constant(data[list(x.columns)].to_numpy(), has_constant="add")
    cov_type = {"nonrobust": "nonrobust", "hc1": "HC1", "hac": "HAC"}[cov.lower()]
    kwds = {"maxlags": int(lags)} if cov_type == "HAC" else None
    return sm.OLS(data["__y__"].to_numpy(), exog).fit(cov_type=cov_type, cov_kwds=kwds)


def ragged_panel(
    seed: int, n_time: int, n_factors: int, n_funds: int, gap_share: float = 0.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic monthly funds with random inception, closure and internal gaps."""
    rng = np.random.default_rng(seed)
    index = pd.period_range("1990-01", periods=n_time, freq="M")
    factors = rng.normal(0.004, 0.04, size=(n_time, n_factors))
    betas = rng.normal(0.5, 0.5, size=(n_factors, n_funds))
    noise = rng.standard_t(5, size=(n_time, n_funds)) * rng.uniform(0.005, 0.03, n_funds)
    returns = 0.001 + factors @ betas + noise
    starts = rng.integers(0, n_time // 2, n_funds)
    ends = rng.integers(n_time - n_time // 4, n_time + 1, n_funds)
    for j in range(n_funds):
        returns[: starts[j], j] = np.nan
        returns[ends[j] :, j] = np.nan
    returns[rng.random(returns.shape) < gap_share] = np.nan
    names = [f"F{k}" for k in range(n_factors)]
    return (
        pd.DataFrame(returns, index=index, columns=[f"fund{j}" for j in range(n_funds)]),
        pd.DataFrame(factors, index=index, columns=names).assign(RF=0.002),
    )
