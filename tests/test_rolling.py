"""Tests of the rolling-window engine against statsmodels RollingOLS and loops of OLS fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from scipy import stats
from statsmodels.regression.rolling import RollingOLS

from factorxray.engine import ols as ols_module
from factorxray.engine import regress, rolling_regress
from factorxray.engine import rolling as rolling_module
from factorxray.errors import CollinearityError, InsufficientDataError, UsageError
from tests._engine_data import FACTORS, etf_excess, ragged_panel, statsmodels_fit, us_factors

RTOL = 1e-8
ATOL = 1e-12


@pytest.fixture(scope="module")
def etfs() -> pd.DataFrame:
    return etf_excess()


@pytest.fixture(scope="module")
def factors() -> pd.DataFrame:
    return us_factors()


def common_frame(etfs, factors, fund):
    index = etfs.index.intersection(factors.index)
    return pd.concat([etfs[fund], factors[FACTORS]], axis=1).loc[index]


@pytest.mark.parametrize("min_obs", [None, 24])
def test_nonrobust_parity_with_rolling_ols_on_real_etfs(etfs, factors, min_obs):
    res = rolling_regress(etfs, factors, window=36, min_obs=min_obs)
    assert res.funds == list(etfs.columns)
    for fund in etfs.columns:
        data = common_frame(etfs, factors, fund)
        ref = RollingOLS(
            data[fund], sm.add_constant(data[FACTORS]), window=36, min_nobs=min_obs or 36
        ).fit()
        ref_params = ref.params.dropna()
        assert list(res.params.loc[fund].index) == list(ref_params.index)
        for ours, theirs in (
            (res.params, ref.params),
            (res.bse, ref.bse),
            (res.tvalues, ref.tvalues),
        ):
            assert_allclose(ours.loc[fund], theirs.dropna(), rtol=RTOL, atol=ATOL)
        assert_allclose(res.rsquared.loc[fund], ref.rsquared.dropna(), rtol=RTOL)
        assert_allclose(res.nobs.loc[fund], ref.nobs[ref.params.notna().all(axis=1)])


def loop_of_fits(etfs, factors, fund, cov, res, *, window, expanding=False, lags=None):
    """Compare every window of one fund with a statsmodels OLS fit of that window."""
    data = common_frame(etfs, factors, fund)
    periods = res.params.loc[fund].index
    for period in periods:
        end = data.index.get_loc(period)
        start = 0 if expanding else end - window + 1
        rows = data.iloc[start : end + 1].dropna()
        n_lags = lags if lags is not None else int(np.floor(4 * (len(rows) / 100) ** (2 / 9)))
        ref = statsmodels_fit(rows[fund], rows[FACTORS], cov, n_lags)
        key = (fund, period)
        assert_allclose(res.params.loc[key], ref.params, rtol=RTOL, atol=ATOL)
        assert_allclose(res.bse.loc[key], ref.bse, rtol=RTOL, atol=ATOL)
        assert_allclose(res.tvalues.loc[key], ref.tvalues, rtol=RTOL, atol=ATOL)
        assert_allclose(res.pvalues.loc[key], ref.pvalues, rtol=RTOL, atol=ATOL)
        assert_allclose(res.rsquared.loc[key], ref.rsquared, rtol=RTOL)
    return len(periods)


@pytest.mark.parametrize(("cov", "lags"), [("HC1", None), ("hac", None), ("hac", 2)])
def test_robust_windows_match_loop_of_fits(etfs, factors, cov, lags):
    funds = ["SPY", "QGRO", "HDV"]
    res = rolling_regress(etfs[funds], factors, window=36, cov=cov, hac_lags=lags)
    for fund in funds:
        assert loop_of_fits(etfs, factors, fund, cov, res, window=36, lags=lags) > 40


def test_windows_with_missing_rows_use_the_rest(etfs, factors):
    gappy = etfs[["VTV"]].copy()
    gappy.iloc[[200, 201, 230], 0] = np.nan
    gappy_factors = factors.copy()
    gappy_factors.loc[pd.Period("2015-03", "M"), "SMB"] = np.nan
    res = rolling_regress(gappy, gappy_factors, window=36, min_obs=30, cov="hac")
    assert loop_of_fits(gappy, gappy_factors, "VTV", "hac", res, window=36) > 200
    nonrobust = rolling_regress(gappy, gappy_factors, window=36, min_obs=30)
    data = common_frame(gappy, gappy_factors, "VTV")
    ref = RollingOLS(data["VTV"], sm.add_constant(data[FACTORS]), window=36, min_nobs=30).fit()
    assert_allclose(nonrobust.bse.loc["VTV"], ref.bse.dropna(), rtol=RTOL)


def test_random_gaps_with_hac_match_loop(monkeypatch):
    returns, factors = ragged_panel(7, 90, 2, 3, gap_share=0.15)
    monkeypatch.setattr(ols_module, "CHUNK_BYTES", 20_000)  # many small batches
    monkeypatch.setattr(rolling_module, "ROLLING_CHUNK_FACTOR", 1)
    res = rolling_regress(returns, factors, window=24, min_obs=12, cov="hac")
    for fund in res.funds:
        for period in res.params.loc[fund].index:
            end = returns.index.get_loc(period)
            rows = pd.concat([returns[fund], factors[["F0", "F1"]]], axis=1)
            rows = rows.iloc[end - 23 : end + 1].dropna()
            lags = int(np.floor(4 * (len(rows) / 100) ** (2 / 9)))
            ref = statsmodels_fit(rows[fund], rows[["F0", "F1"]], "hac", lags)
            assert_allclose(res.bse.loc[(fund, period)], ref.bse, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("cov", ["nonrobust", "hac"])
def test_downdated_windows_match_their_own_solves(monkeypatch, cov):
    # windows with missing rows downdate the complete window's inverse; with the downdate
    # switched off every such window solves its own X'X: the same numbers either way
    returns, factors = ragged_panel(8, 150, 3, 12, gap_share=0.08)
    downdated = rolling_regress(returns, factors, window=30, min_obs=18, cov=cov)
    monkeypatch.setattr(rolling_module, "MAX_DOWNDATE", -1)
    direct = rolling_regress(returns, factors, window=30, min_obs=18, cov=cov)
    pd.testing.assert_frame_equal(downdated.params, direct.params, rtol=1e-10, atol=1e-13)
    pd.testing.assert_frame_equal(downdated.bse, direct.bse, rtol=1e-10, atol=1e-13)


def test_expanding_windows_match_loop_of_fits(etfs, factors):
    res = rolling_regress(etfs[["QGRO"]], factors, window=36, expanding=True, cov="HC1")
    periods = res.params.loc["QGRO"].index
    assert periods[0] == pd.Period("2021-09", "M")
    assert res.nobs.loc["QGRO"].iloc[-1] == 86
    assert loop_of_fits(etfs, factors, "QGRO", "HC1", res, window=36, expanding=True) == 51
    last = regress(etfs["QGRO"], factors, cov="HC1")
    assert_allclose(res.params.loc[("QGRO", periods[-1])], last.params.loc["QGRO"], rtol=1e-10)


def test_plot_data_bands(etfs, factors):
    res = rolling_regress(etfs, factors, window=36)
    plot = res.plot_data("MTUM")
    assert plot.index.name == "period"
    assert list(plot.columns.get_level_values("term").unique()) == FACTORS
    assert list(plot["MOM"].columns) == ["estimate", "lower", "upper"]
    df_resid = res.nobs.loc["MTUM"] - 7
    half = stats.t.ppf(0.975, df_resid) * res.bse.loc["MTUM", "MOM"]
    assert_allclose(plot[("MOM", "upper")] - plot[("MOM", "estimate")], half)
    assert_allclose(plot[("MOM", "estimate")], res.params.loc["MTUM", "MOM"])
    with_alpha = res.plot_data("MTUM", level=0.9, include_alpha=True)
    assert with_alpha.columns[0] == ("alpha", "estimate")
    with pytest.raises(UsageError, match="no window estimates for fund 'NOPE'"):
        res.plot_data("NOPE")


def test_short_funds_are_skipped(etfs, factors):
    funds = etfs[["SPY", "QGRO"]].copy()
    funds["NEW"] = np.nan
    funds.iloc[-30:, 2] = np.linspace(-0.02, 0.03, 30)
    res = rolling_regress(funds, factors, window=36)
    assert res.funds == ["SPY", "QGRO"]
    assert res.skipped == {"NEW": "no window with at least 36 usable observations"}
    assert "RollingExposureResults: 2 funds" in repr(res)
    with pytest.raises(InsufficientDataError, match="no fund has a window with at least 36"):
        rolling_regress(funds[["NEW"]], factors, window=36)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 0}, "window must be a positive integer"),
        ({"window": 36, "min_obs": 40}, "min_obs=40 cannot exceed window=36"),
        ({"window": 36, "min_obs": 7}, "min_obs=7 is too small: need at least 8"),
        ({"cov": "hac", "hac_lags": -2}, "non-negative integer, not -2"),
        ({"cov": "white"}, "unknown cov 'white'"),
    ],
)
def test_bad_options(etfs, factors, kwargs, message):
    with pytest.raises(UsageError, match=message):
        rolling_regress(etfs, factors, **kwargs)


def test_collinear_factors(etfs, factors):
    with pytest.raises(CollinearityError, match="collinear factors: SMB, SMB2"):
        rolling_regress(etfs, factors.assign(SMB2=factors["SMB"] * 3))


def test_chunking_gives_identical_results(etfs, factors, monkeypatch):
    whole = rolling_regress(etfs, factors, cov="hac")
    monkeypatch.setattr(ols_module, "CHUNK_BYTES", 50_000)
    monkeypatch.setattr(rolling_module, "ROLLING_CHUNK_FACTOR", 1)
    chunked = rolling_regress(etfs, factors, cov="hac")
    pd.testing.assert_frame_equal(whole.params, chunked.params, rtol=1e-13)
    pd.testing.assert_frame_equal(whole.bse, chunked.bse, rtol=1e-13)


@pytest.mark.parametrize("cov", ["hac", "HC1"])
def test_robust_batches_of_any_size_give_the_same_bits(etfs, factors, monkeypatch, cov):
    gappy = etfs.copy()
    gappy.loc[gappy.index.isin(pd.period_range("2016-03", "2016-05", freq="M")), "QUAL"] = np.nan
    whole = rolling_regress(gappy, factors, window=36, min_obs=30, cov=cov)
    assert whole.bse.notna().all().all()
    monkeypatch.setattr(rolling_module, "ROBUST_BATCH_BYTES", 1)  # one pair per batch
    single = rolling_regress(gappy, factors, window=36, min_obs=30, cov=cov)
    pd.testing.assert_frame_equal(whole.bse, single.bse, check_exact=True)
    pd.testing.assert_series_equal(whole.rsquared, single.rsquared, check_exact=True)
    monkeypatch.setattr(rolling_module, "ROBUST_BATCH_BYTES", 2**40)  # every pair at once
    one = rolling_regress(gappy, factors, window=36, min_obs=30, cov=cov)
    pd.testing.assert_frame_equal(whole.bse, one.bse, check_exact=True)
