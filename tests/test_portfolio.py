"""Portfolios on real data (the bundled snapshot): returns, implied exposures, risk, performance.

The article's core-plus-tilt blends (SPY+VLUE, RSP+MTUM+USMV): a monthly-rebalanced blend's
regression equals the weighted regressions of its funds on the same months (OLS is linear in
y), buy and hold stays within the documented tolerance, variance shares add up to 1, and the
performance figures match a direct pandas computation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import factorxray as fx
from factorxray.data.cache import Cache
from factorxray.errors import InsufficientDataError, UsageError
from factorxray.portfolio import (
    BUY_AND_HOLD,
    Portfolio,
    drawdowns,
    implied_exposures,
    performance,
    portfolio_returns,
    tracking,
    variance_attribution,
    variance_shares,
)
from factorxray.portfolio.holdings import BUY_AND_HOLD_TOLERANCE

FUNDS = ["SPY", "VLUE", "RSP", "MTUM", "USMV"]
BLENDS = {
    "SPY+VLUE": {"SPY": 0.6, "VLUE": 0.4},
    "RSP+MTUM+USMV": {"RSP": 0.5, "MTUM": 0.25, "USMV": 0.25},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> fx.Analysis:
    """The five funds from the bundled snapshot (xray7, US), regressed by fx.analyze."""
    cache = Cache(tmp_path_factory.mktemp("cache"))
    return fx.analyze(FUNDS, offline=True, cache=cache, models=None, region_fit=False, drift=False)


def _lstsq(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones(len(x)), x])
    return np.linalg.lstsq(design, y, rcond=None)[0]


# ------------------------------------------------------------------------------ weights


def test_weights_are_validated() -> None:
    with pytest.raises(UsageError, match=r"sum to 0\.9, not 1.*--normalize"):
        Portfolio({"SPY": 0.6, "VLUE": 0.3})
    with pytest.raises(UsageError, match=r"negative weight -0\.2 on VLUE"):
        Portfolio({"SPY": 1.2, "VLUE": -0.2})
    with pytest.raises(UsageError, match="SPY is given twice"):
        Portfolio([("SPY", 0.5), ("spy", 0.5)])
    with pytest.raises(UsageError, match="zero weight"):
        Portfolio({"SPY": 1.0, "VLUE": 0.0})
    with pytest.raises(UsageError, match="percent"):
        Portfolio({"SPY": 60, "VLUE": 40})
    with pytest.raises(UsageError, match="not TICKER=WEIGHT"):
        Portfolio.parse(["SPY0.6", "VLUE=0.4"])
    with pytest.raises(UsageError, match="at least one fund"):
        Portfolio.parse([])
    with pytest.raises(UsageError, match="unknown rebalancing"):
        Portfolio({"SPY": 1.0}, rebalance="weekly")
    assert Portfolio({"SPY": 0.6, "VLUE": 0.4 + 5e-7}).weights["VLUE"] == 0.4 + 5e-7
    normalized = Portfolio({"SPY": 3, "VLUE": 1}, normalize=True)
    assert normalized.weights.to_dict() == {"SPY": 0.75, "VLUE": 0.25}
    parsed = Portfolio.parse("spy=60% vlue=0.2,MTUM=20%")
    assert parsed.funds == ["SPY", "VLUE", "MTUM"]
    np.testing.assert_allclose(parsed.weights.to_numpy(), [0.6, 0.2, 0.2], atol=1e-15)


# ------------------------------------------------------------------------------ returns


@pytest.mark.parametrize("blend", list(BLENDS))
def test_returns_over_the_common_window_with_the_limiting_fund(data, blend) -> None:
    weights = BLENDS[blend]
    held = portfolio_returns(Portfolio(weights), data.returns)
    limiting = {"SPY+VLUE": ["VLUE"], "RSP+MTUM+USMV": ["MTUM"]}[blend]
    assert held.limited_by["start"] == limiting  # VLUE and MTUM started in April 2013
    assert held.start == pd.Period("2013-05", "M")
    assert held.end == pd.Period("2026-06", "M")  # the snapshot's closes end in June 2026
    assert held.missing == []
    by_hand = sum(w * data.returns[f] for f, w in weights.items()).loc[held.start : held.end]
    np.testing.assert_allclose(held.returns.to_numpy(), by_hand.to_numpy(), rtol=0, atol=1e-15)


def test_buy_and_hold_weights_drift_with_the_funds_returns(data) -> None:
    held = portfolio_returns(
        Portfolio({"SPY": 0.6, "VLUE": 0.4}, rebalance=BUY_AND_HOLD), data.returns
    )
    r = data.returns[["SPY", "VLUE"]].loc[held.start : held.end]
    w = np.array([0.6, 0.4])
    for month, row in r.iterrows():  # the rule of the docstring, one month at a time
        np.testing.assert_allclose(held.weights.loc[month].to_numpy(), w, atol=1e-13)
        port = float(w @ row.to_numpy())
        assert held.returns[month] == pytest.approx(port, abs=1e-14)
        w = w * (1 + row.to_numpy()) / (1 + port)
    # wealth view: 0.6 and 0.4 invested in 2013-05, never traded
    growth = (1 + r).prod()
    final = np.array([0.6, 0.4]) * growth.to_numpy()
    np.testing.assert_allclose(w, final / final.sum(), atol=1e-12)
    assert (1 + held.returns).prod() == pytest.approx(final.sum(), rel=1e-12)


# -------------------------------------------------------------------- implied exposures


@pytest.mark.parametrize("blend", list(BLENDS))
def test_monthly_rebalanced_implied_equals_regressed(data, blend) -> None:
    weights = BLENDS[blend]
    ex = implied_exposures(Portfolio(weights), data.returns, data.factors)
    assert (ex.start, ex.end, ex.nobs) == (
        pd.Period("2013-05", "M"),
        pd.Period("2025-11", "M"),
        151,
    )
    assert ex.gap.abs().max() < 1e-12
    assert ex.tolerance == 1e-12
    # independently: lstsq on the common months, the blend and each fund
    names = [c for c in data.factors.columns if c != "RF"]
    months = pd.period_range(ex.start, ex.end, freq="M")
    x = data.factors.loc[months, names].to_numpy()
    excess = data.returns.loc[months, list(weights)].sub(data.factors.loc[months, "RF"], axis=0)
    fund_params = np.column_stack([_lstsq(excess[f].to_numpy(), x) for f in weights])
    blend_params = _lstsq(excess.to_numpy() @ np.array(list(weights.values())), x)
    np.testing.assert_allclose(ex.regressed.to_numpy(), blend_params, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        ex.implied.to_numpy(), fund_params @ np.array(list(weights.values())), rtol=0, atol=1e-12
    )
    # the funds were restricted to the portfolio's months, not their own longer histories
    assert set(ex.results.start[list(weights)]) == {ex.start}


def test_real_exposures_of_the_article_blends(data) -> None:
    spy_vlue = implied_exposures(Portfolio(BLENDS["SPY+VLUE"]), data.returns, data.factors)
    # 40% of a value fund: a value tilt (VLUE's HML 0.35 x 0.4), market beta about 1
    assert spy_vlue.regressed["HML"] == pytest.approx(0.1435, abs=5e-4)
    assert spy_vlue.regressed["Mkt-RF"] == pytest.approx(0.9875, abs=5e-4)
    assert spy_vlue.results.tvalues.loc["PORTFOLIO", "HML"] > 4
    rsp_mtum_usmv = implied_exposures(
        Portfolio(BLENDS["RSP+MTUM+USMV"]), data.returns, data.factors
    )
    assert rsp_mtum_usmv.regressed["VOL"] == pytest.approx(0.0968, abs=5e-4)
    assert rsp_mtum_usmv.regressed["MOM"] == pytest.approx(0.0651, abs=5e-4)


@pytest.mark.parametrize("blend", list(BLENDS))
def test_buy_and_hold_within_the_documented_tolerance(data, blend) -> None:
    port = Portfolio(BLENDS[blend], rebalance=BUY_AND_HOLD)
    ex = implied_exposures(port, data.returns, data.factors)
    assert ex.tolerance == BUY_AND_HOLD_TOLERANCE == 0.02
    assert 1e-4 < ex.gap.abs().max() < BUY_AND_HOLD_TOLERANCE  # not zero, but small
    # the gap is exactly the regression of the drift term sum_i (w_it - wbar_i) y_it
    months = pd.period_range(ex.start, ex.end, freq="M")
    names = [c for c in data.factors.columns if c != "RF"]
    excess = data.returns.loc[months, port.funds].sub(data.factors.loc[months, "RF"], axis=0)
    held = ex.held.weights.loc[months]
    wbar = held.mean()
    np.testing.assert_allclose(ex.weights_used.to_numpy(), wbar.to_numpy(), atol=1e-15)
    drift = ((held - wbar) * excess).sum(axis=1).to_numpy()
    gap = _lstsq(drift, data.factors.loc[months, names].to_numpy())
    np.testing.assert_allclose(ex.gap.to_numpy(), gap, rtol=0, atol=1e-12)


def test_too_short_a_window_names_the_limiting_fund(data) -> None:
    short = data.returns.copy()
    short.loc[: pd.Period("2023-06", "M"), "VLUE"] = np.nan
    with pytest.raises(InsufficientDataError, match="start set by VLUE"):
        implied_exposures(Portfolio(BLENDS["SPY+VLUE"]), short, data.factors)


# -------------------------------------------------------------------------------- risk


def test_variance_shares_sum_to_one_and_total_is_the_variance(data) -> None:
    risk = variance_attribution(data.results, data.excess_returns, data.factors)
    shares = variance_shares(risk)
    names = [c for c in data.factors.columns if c != "RF"]
    np.testing.assert_allclose(shares[[*names, "idiosyncratic"]].sum(axis=1), 1.0, atol=1e-12)
    for fund in data.analyzed:
        params = data.results.params.loc[fund]
        rows = pd.period_range(data.results.start[fund], data.results.end[fund], freq="M")
        y = data.excess_returns.loc[rows, fund].to_numpy()
        x = data.factors.loc[rows, names].to_numpy()
        fitted = params["alpha"] + x @ params[names].to_numpy()
        resid = y - fitted
        total = np.var(fitted + resid, ddof=1) * 12
        assert risk.loc[fund, "total"] == pytest.approx(total, rel=1e-12)
        beta = params[names].to_numpy()
        systematic = beta @ np.cov(x, rowvar=False) @ beta * 12
        assert risk.loc[fund, names].sum() == pytest.approx(systematic, rel=1e-12)
        assert risk.loc[fund, "idiosyncratic"] == pytest.approx(np.var(resid, ddof=1) * 12)
    # real facts: the market is most of SPY's variance, USMV's VOL beta hedges some of it
    assert shares.loc["SPY", "Mkt-RF"] > 0.95
    assert shares.loc["SPY", "idiosyncratic"] < 0.02
    assert shares.loc["USMV", "VOL"] < -0.03
    assert shares.loc["USMV", "idiosyncratic"] > shares.loc["SPY", "idiosyncratic"]


@pytest.mark.parametrize("blend", list(BLENDS))
def test_portfolio_variance_shares_sum_to_one(data, blend) -> None:
    ex = implied_exposures(Portfolio(BLENDS[blend]), data.returns, data.factors)
    excess = (ex.held.returns - data.factors["RF"]).dropna().rename("PORTFOLIO").to_frame()
    results = fx.regress(excess, data.factors.drop(columns="RF"))
    risk = variance_attribution(results, excess, data.factors)
    shares = variance_shares(risk).drop(columns="total")
    assert shares.sum(axis=1).iloc[0] == pytest.approx(1.0, abs=1e-12)
    assert risk.loc["PORTFOLIO", "total"] == pytest.approx(
        excess.loc[ex.start : ex.end, "PORTFOLIO"].var() * 12, rel=1e-12
    )


# ------------------------------------------------------------------------- performance


def test_performance_against_a_direct_pandas_computation(data) -> None:
    held = portfolio_returns(Portfolio(BLENDS["SPY+VLUE"]), data.returns)
    table = performance(pd.concat([held.returns, data.returns["SPY"]], axis=1), data.factors["RF"])
    for fund, series in (("PORTFOLIO", held.returns), ("SPY", data.returns["SPY"])):
        rf = data.factors["RF"]
        r = series[series.index.isin(rf.index)].dropna().sort_index()
        excess = r - rf.reindex(r.index)
        wealth = (1 + r).cumprod()
        peak = wealth.cummax().clip(lower=1.0)
        row = table.loc[fund]
        assert row["months"] == len(r)
        assert row["annual_return"] == pytest.approx(
            wealth.iloc[-1] ** (12 / len(r)) - 1, rel=1e-12
        )
        assert row["annual_volatility"] == pytest.approx(r.std() * 12**0.5, rel=1e-12)
        assert row["sharpe"] == pytest.approx(excess.mean() / excess.std() * 12**0.5, rel=1e-12)
        assert row["max_drawdown"] == pytest.approx((wealth / peak - 1).min(), rel=1e-12)
    # real numbers: SPY's monthly total-return drawdown of the financial crisis
    assert table.loc["SPY", "max_drawdown"] == pytest.approx(-0.508, abs=1e-3)
    assert table.loc["SPY", "max_drawdown_trough"] == pd.Period("2009-02", "M")
    assert table.loc["SPY", "start"] == pd.Period("1993-02", "M")
    assert table.loc["PORTFOLIO", "sharpe"] == pytest.approx(0.785, abs=1e-3)
    assert drawdowns(pd.Series([-0.1, 0.05])).iloc[0] == pytest.approx(-0.1)


def test_tracking_error_and_information_ratio(data) -> None:
    held = portfolio_returns(Portfolio(BLENDS["SPY+VLUE"]), data.returns)
    both = pd.concat([held.returns, data.returns["SPY"]], axis=1)
    table = tracking(both, data.returns["SPY"])
    active = (held.returns - data.returns["SPY"]).dropna()
    assert table.loc["PORTFOLIO", "tracking_error"] == pytest.approx(active.std() * 12**0.5)
    assert table.loc["PORTFOLIO", "information_ratio"] == pytest.approx(
        active.mean() * 12 / (active.std() * 12**0.5)
    )
    assert table.loc["SPY", "tracking_error"] == 0
    assert np.isnan(table.loc["SPY", "information_ratio"])
    # 40% away from SPY in a value fund: a few percent of tracking error a year
    assert 0.02 < table.loc["PORTFOLIO", "tracking_error"] < 0.05


# ---------------------------------------------------------------------------- pipeline


def test_analyze_portfolio_adds_the_portfolio_as_a_fund(tmp_path) -> None:
    result = fx.analyze_portfolio(
        ["RSP=0.5", "MTUM=0.25", "USMV=0.25"],
        benchmark="SPY",
        offline=True,
        cache=Cache(tmp_path),
        models=["capm", "ff3"],
        region_fit=False,
    )
    analysis = result.analysis
    assert analysis.analyzed == ["RSP", "MTUM", "USMV", "SPY", "PORTFOLIO"]
    assert analysis.universe.fund("PORTFOLIO").category == "portfolio"
    # the report's regression of the portfolio is the one beside the implied exposures
    np.testing.assert_allclose(
        analysis.results.params.loc["PORTFOLIO"].to_numpy(),
        result.exposures.regressed.to_numpy(),
        rtol=0,
        atol=1e-12,
    )
    assert result.exposures_frame()["gap"].abs().max() < 1e-12
    assert "PORTFOLIO" in analysis.ladder  # judged under the model ladder like a fund
    assert list(result.risk.index) == analysis.analyzed
    np.testing.assert_allclose(result.risk_shares.sum(axis=1), 1.0, atol=1e-12)
    assert result.tracking is not None and result.tracking.loc["SPY", "tracking_error"] == 0
    summary = result.summary()
    assert summary["weights"] == {"RSP": 0.5, "MTUM": 0.25, "USMV": 0.25}
    assert (summary["start"], summary["end"], summary["nobs"]) == ("2013-05", "2025-11", 151)
    assert set(summary["exposures"]["VOL"]) == {"beta", "se", "t", "p"}
    assert summary["returns_window"]["limited_by"]["start"] == ["MTUM"]


def test_analyze_portfolio_refuses_a_fund_that_does_not_load(tmp_path) -> None:
    with pytest.raises(UsageError, match=r"ZZZZ carries 0\.4 of the portfolio but could not"):
        fx.analyze_portfolio(
            {"SPY": 0.6, "ZZZZ": 0.4}, offline=True, cache=Cache(tmp_path), models=None
        )
