"""Tests of the batched static OLS engine and the factor diagnostics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from statsmodels.stats.outliers_influence import variance_inflation_factor

from factorxray.engine import HAC, Bartlett, factor_correlations, regress, vif
from factorxray.engine import ols as ols_module
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


def assert_matches_statsmodels(res, returns, factors, names, cov):
    for fund in res.funds:
        lags = res.hac_lags[fund] if cov.lower() == "hac" else None
        ref = statsmodels_fit(returns[fund], factors[names], cov, lags)
        assert res.nobs[fund] == ref.nobs
        assert_allclose(res.params.loc[fund], ref.params, rtol=RTOL, atol=ATOL)
        assert_allclose(res.bse.loc[fund], ref.bse, rtol=RTOL, atol=ATOL)
        assert_allclose(res.tvalues.loc[fund], ref.tvalues, rtol=RTOL, atol=ATOL)
        assert_allclose(res.pvalues.loc[fund], ref.pvalues, rtol=RTOL, atol=ATOL)
        assert_allclose(res.rsquared[fund], ref.rsquared, rtol=RTOL, atol=ATOL)
        assert_allclose(res.rsquared_adj[fund], ref.rsquared_adj, rtol=RTOL, atol=ATOL)
        assert_allclose(res.cov_params(fund), ref.cov_params(), rtol=RTOL, atol=1e-15)


# ----------------------------------------------------------------------------- parity, real data


@pytest.mark.parametrize(
    ("cov", "hac_lags"),
    [("nonrobust", None), ("HC1", None), ("hac", None), ("HAC", 7), ("hac", 0)],
)
def test_parity_with_statsmodels_on_real_etfs(etfs, factors, cov, hac_lags):
    res = regress(etfs, factors, cov=cov, hac_lags=hac_lags)
    assert res.funds == list(etfs.columns)
    assert res.skipped == {}
    assert_matches_statsmodels(res, etfs, factors, FACTORS, cov)


def test_default_hac_lags_follow_newey_west_rule_per_fund(etfs, factors):
    res = regress(etfs, factors)
    expected = np.floor(4 * (res.nobs / 100) ** (2 / 9)).astype(int)
    assert (res.hac_lags == expected).all()
    assert res.nobs["SPY"] == 394 and res.hac_lags["SPY"] == 5
    assert res.nobs["QGRO"] == 86 and res.hac_lags["QGRO"] == 3
    assert res.cov_type == "HAC" and not res.use_t


def test_ragged_sample_bounds_are_each_funds_own(etfs, factors):
    res = regress(etfs, factors, cov="nonrobust")
    assert res.start["SPY"] == pd.Period("1993-02", "M")
    assert res.start["QGRO"] == pd.Period("2018-10", "M")
    assert (res.end == pd.Period("2025-11", "M")).all()
    assert res.nobs["QGRO"] == etfs["QGRO"].notna().sum()


def test_subset_of_factors_in_given_order(etfs, factors):
    names = ["HML", "Mkt-RF", "SMB"]
    res = regress(etfs, factors, cov="HC1", factors_used=names)
    assert list(res.params.columns) == ["alpha", *names]
    assert res.factors == names
    assert_matches_statsmodels(res, etfs, factors, names, "HC1")


def test_rf_is_ignored_unless_listed(etfs, factors):
    res = regress(etfs[["SPY"]], factors)
    assert "RF" not in res.params.columns
    with_rf = regress(etfs[["SPY"]], factors, factors_used=[*FACTORS, "RF"], cov="nonrobust")
    assert list(with_rf.params.columns) == ["alpha", *FACTORS, "RF"]
    assert_matches_statsmodels(with_rf, etfs, factors, [*FACTORS, "RF"], "nonrobust")


def test_single_fund_series(etfs, factors):
    named = regress(etfs["SPY"], factors, cov="nonrobust")
    assert named.funds == ["SPY"]
    assert_matches_statsmodels(named, etfs, factors, FACTORS, "nonrobust")
    unnamed = regress(etfs["SPY"].rename(None), factors, cov="nonrobust")
    assert unnamed.funds == ["fund"]
    assert_allclose(unnamed.params.loc["fund"], named.params.loc["SPY"])


def test_chunking_gives_identical_results(etfs, factors, monkeypatch):
    whole = regress(etfs, factors)
    monkeypatch.setattr(ols_module, "CHUNK_BYTES", 1)
    monkeypatch.setattr(ols_module, "MIN_CHUNK_FUNDS", 1)  # one fund per chunk, own rows only
    chunked = regress(etfs, factors)
    pd.testing.assert_frame_equal(whole.params, chunked.params, rtol=1e-13)
    pd.testing.assert_frame_equal(whole.bse, chunked.bse, rtol=1e-13)


def test_worker_threads_give_identical_results(monkeypatch):
    returns, factors = ragged_panel(11, 160, 3, 40, gap_share=0.05)
    monkeypatch.setattr(ols_module, "CHUNK_BYTES", 1)
    monkeypatch.setattr(ols_module, "MIN_CHUNK_FUNDS", 3)
    serial = regress(returns, factors, min_obs=20)
    monkeypatch.setattr(ols_module, "PARALLEL_CELLS", 0)
    monkeypatch.setattr(ols_module, "engine_workers", lambda: 3)
    threaded = regress(returns, factors, min_obs=20)
    pd.testing.assert_frame_equal(serial.params, threaded.params, rtol=0, atol=0)
    pd.testing.assert_frame_equal(serial.bse, threaded.bse, rtol=0, atol=0)


def test_blas_threads_are_limited_inside_and_restored_after(etfs, factors):
    from threadpoolctl import threadpool_info

    def blas_threads_now():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads_now()
    if not before:
        pytest.skip("no BLAS library that threadpoolctl can control")
    with ols_module.blas_threads(), ols_module.blas_threads():  # nested: one limit
        assert blas_threads_now() == [ols_module.BLAS_THREADS] * len(before)
    assert blas_threads_now() == before
    regress(etfs, factors)
    assert blas_threads_now() == before


def test_nullable_float_input(etfs, factors):
    res = regress(etfs.astype("Float64"), factors.astype("Float64"), cov="HC1")
    ref = regress(etfs, factors, cov="HC1")
    pd.testing.assert_frame_equal(res.bse, ref.bse)


def test_estimator_instance_is_accepted(etfs, factors):
    res = regress(etfs, factors, cov=HAC(lags=3, kernel=Bartlett()))
    ref = regress(etfs, factors, cov="hac", hac_lags=3)
    pd.testing.assert_frame_equal(res.bse, ref.bse)


def test_hac_small_sample_correction_matches_statsmodels(etfs, factors):
    res = regress(etfs[["SPY"]], factors, cov=HAC(lags=4, use_correction=True))
    data = pd.concat([etfs["SPY"], factors[FACTORS]], axis=1).dropna()
    ref = sm.OLS(data["SPY"], sm.add_constant(data[FACTORS])).fit(
        cov_type="HAC", cov_kwds={"maxlags": 4, "use_correction": True}
    )
    assert_allclose(res.bse.loc["SPY"], ref.bse, rtol=RTOL)


def test_bartlett_weights_match_statsmodels():
    from statsmodels.stats.sandwich_covariance import weights_bartlett

    assert_allclose(Bartlett().weights(6), weights_bartlett(6))


# ----------------------------------------------------------------------------- gaps, random data


def test_internal_gaps_use_consecutive_usable_observations(etfs, factors):
    gappy = etfs[["SPY", "IJR"]].copy()
    gappy.iloc[50:53, 0] = np.nan
    gappy.iloc[[100, 140, 141, 300], 1] = np.nan
    factors_gappy = factors.copy()
    factors_gappy.loc[pd.Period("2005-06", "M"), "HML"] = np.nan
    for cov, lags in (("hac", None), ("hac", 6)):
        res = regress(gappy, factors_gappy, cov=cov, hac_lags=lags)
        assert_matches_statsmodels(res, gappy, factors_gappy, FACTORS, cov)


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_time=st.integers(30, 160),
    n_factors=st.integers(1, 5),
    n_funds=st.integers(1, 6),
    gap_share=st.sampled_from([0.0, 0.05, 0.25]),
    cov=st.sampled_from(["nonrobust", "HC1", "hac"]),
    lags=st.one_of(st.none(), st.integers(0, 8)),
)
def test_parity_on_random_ragged_panels(seed, n_time, n_factors, n_funds, gap_share, cov, lags):
    returns, factors = ragged_panel(seed, n_time, n_factors, n_funds, gap_share)
    names = [c for c in factors.columns if c != "RF"]
    min_obs = n_factors + 6
    try:
        res = regress(
            returns, factors, cov=cov, hac_lags=lags if cov == "hac" else None, min_obs=min_obs
        )
    except InsufficientDataError:
        assert (returns.notna().sum() < min_obs).all()
        return
    assert_matches_statsmodels(res, returns, factors, names, cov)
    counts = returns.notna().sum()
    assert set(res.skipped) == set(counts[counts < min_obs].index)


# ----------------------------------------------------------------------------- skipped funds


def test_short_and_empty_funds_are_skipped(etfs, factors):
    funds = etfs[["SPY", "QGRO"]].copy()
    funds["SHORT"] = np.nan
    funds.iloc[-20:, 2] = 0.01 * np.arange(20) - 0.05
    funds["EMPTY"] = np.nan
    res = regress(funds, factors, min_obs=36)
    assert res.funds == ["SPY", "QGRO"]
    assert set(res.skipped) == {"SHORT", "EMPTY"}
    assert "only 20 usable observations" in res.skipped["SHORT"]
    assert "no usable observations" in res.skipped["EMPTY"]
    assert "Skipped SHORT" in res.summary()


def test_all_funds_skipped_raises(etfs, factors):
    with pytest.raises(InsufficientDataError, match=r"no fund has enough data.*QGRO"):
        regress(etfs[["QGRO"]], factors, min_obs=100)


def test_too_few_obs_for_parameters_is_skipped(factors):
    y = pd.Series(np.sin(np.arange(8.0)) / 50, index=factors.index[:8], name="TINY")
    assert regress(y, factors, min_obs=1, cov="nonrobust").df_resid["TINY"] == 1
    with pytest.raises(InsufficientDataError, match="only 7 usable observations, fewer than 8"):
        regress(y.iloc[:7], factors, min_obs=1)


def test_fund_with_singular_own_sample_is_skipped(etfs, factors):
    custom = factors[["Mkt-RF", "HML"]].copy()
    custom["EARLY"] = np.where(custom.index < pd.Period("2010-01", "M"), factors["SMB"], 0.0)
    res = regress(etfs[["SPY", "QGRO"]], custom, cov="nonrobust")
    assert res.funds == ["SPY"]
    assert "collinear factors in its sample: EARLY" in res.skipped["QGRO"]


# ----------------------------------------------------------------------------- bad input


def test_collinear_factors_raise_naming_them(etfs, factors):
    bad = factors.assign(HML2=2 * factors["HML"])
    with pytest.raises(CollinearityError, match=r"collinear factors: HML, HML2"):
        regress(etfs, bad)


def test_constant_factor_is_collinear_with_alpha(etfs, factors):
    bad = factors.assign(CONST=0.01)
    with pytest.raises(CollinearityError, match=r"alpha \(constant\), CONST"):
        regress(etfs, bad)


def test_linear_combination_names_all_members(etfs, factors):
    bad = factors.assign(COMBO=factors["SMB"] - 0.5 * factors["RMW"])
    with pytest.raises(CollinearityError, match=r"SMB, RMW, COMBO"):
        regress(etfs, bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cov": "hc3"}, r"unknown cov 'hc3'"),
        ({"cov": 3}, r"cov must be"),
        ({"hac_lags": -1}, r"non-negative integer, not -1"),
        ({"hac_lags": 2.5}, r"hac_lags \(--hac-lags\) must be a non-negative integer, not 2.5"),
        ({"cov": "nonrobust", "hac_lags": 3}, r"hac_lags \(--hac-lags\) only applies to cov='hac'"),
        ({"min_obs": 0}, r"min_obs must be a positive integer"),
        ({"factors_used": ["Mkt-RF", "QMJ"]}, r"unknown factor columns: QMJ"),
        ({"factors_used": "Mkt-RF"}, r"list of column names"),
        ({"factors_used": ["RF"], "rf_column": "XX"}, None),
    ],
)
def test_bad_options(etfs, factors, kwargs, message):
    if message is None:
        assert regress(etfs, factors, **kwargs).factors == ["RF"]
        return
    with pytest.raises(UsageError, match=message):
        regress(etfs, factors, **kwargs)


def test_non_numeric_columns(etfs, factors):
    with pytest.raises(UsageError, match="returns has non-numeric columns: NAME"):
        regress(etfs.assign(NAME="x"), factors)
    with pytest.raises(UsageError, match="factors has non-numeric columns: FLAG"):
        regress(etfs, factors.assign(FLAG=True))


def test_wrong_types(etfs, factors):
    with pytest.raises(UsageError, match="returns must be a pandas DataFrame or Series"):
        regress(etfs.to_numpy(), factors)
    with pytest.raises(UsageError, match="factors must be a pandas DataFrame"):
        regress(etfs, factors["Mkt-RF"])
    with pytest.raises(UsageError, match="returns has no columns"):
        regress(etfs.iloc[:, :0], factors)


def test_mismatched_and_disjoint_indexes(etfs, factors):
    daily = etfs.copy()
    daily.index = daily.index.to_timestamp()
    with pytest.raises(UsageError, match=r"different index kinds \(DatetimeIndex vs PeriodIndex"):
        regress(daily, factors)
    quarterly = factors.copy()
    quarterly.index = pd.period_range("1990Q1", periods=len(factors), freq="Q")
    with pytest.raises(UsageError, match="different index kinds"):
        regress(etfs, quarterly)
    late = etfs.copy()
    late.index = late.index + 1000
    with pytest.raises(UsageError, match="no dates in common"):
        regress(late, factors)


def test_duplicates_and_infinities(etfs, factors):
    with pytest.raises(UsageError, match="returns index has duplicate labels"):
        regress(pd.concat([etfs.iloc[:5], etfs.iloc[:5]]), factors)
    doubled = pd.concat([etfs["SPY"], etfs["SPY"]], axis=1)
    with pytest.raises(UsageError, match="duplicate fund columns: SPY"):
        regress(doubled, factors)
    broken = etfs.copy()
    broken.iloc[200, 3] = np.inf
    with pytest.raises(UsageError, match="returns contains infinite values"):
        regress(broken, factors)


def test_errors_are_one_line(etfs, factors):
    with pytest.raises(UsageError) as info:
        regress(etfs, factors, factors_used=["NOPE"])
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------- other indexes


def test_daily_datetime_index_and_integer_index():
    rng = np.random.default_rng(3)
    index = pd.bdate_range("2020-01-01", periods=300)
    factors = pd.DataFrame(rng.normal(0, 0.01, (300, 2)), index=index, columns=["A", "B"])
    fund = pd.Series(0.5 * factors["A"] + rng.normal(0, 0.005, 300), index=index, name="D")
    res = regress(fund, factors, cov="hac")
    assert res.periods_per_year == 252
    assert res.hac_lags["D"] == 5
    assert_matches_statsmodels(res, fund.to_frame(), factors, ["A", "B"], "hac")
    numbered = regress(fund.reset_index(drop=True), factors.reset_index(drop=True))
    assert numbered.periods_per_year is None
    assert_allclose(numbered.params, res.params)


# ----------------------------------------------------------------------------- diagnostics


def test_vif_matches_statsmodels_on_real_factors(factors):
    result = vif(factors)
    exog = sm.add_constant(factors[FACTORS]).to_numpy()
    expected = [variance_inflation_factor(exog, k) for k in range(1, exog.shape[1])]
    assert list(result.index) == FACTORS
    assert_allclose(result, expected, rtol=1e-10)


def test_vif_drops_nan_rows_and_flags_exact_collinearity(factors):
    with_gaps = factors.copy()
    with_gaps.iloc[:30, 2] = np.nan
    assert_allclose(vif(with_gaps), vif(factors.iloc[30:]), rtol=1e-12)
    collinear = factors.assign(SUM=factors["SMB"] + factors["HML"])
    result = vif(collinear)
    assert np.isinf(result[["SMB", "HML", "SUM"]]).all()
    assert np.isfinite(result[["Mkt-RF", "RMW"]]).all()


def test_factor_correlations(factors):
    result = factor_correlations(factors)
    assert list(result.columns) == FACTORS
    assert_allclose(result, factors[FACTORS].corr(), rtol=1e-12)
    assert_allclose(np.diag(result), 1.0)


def test_diagnostics_bad_input(factors):
    with pytest.raises(UsageError, match="only the RF column"):
        vif(factors[["RF"]])
    with pytest.raises(UsageError, match="non-numeric columns: NAME"):
        factor_correlations(factors.assign(NAME="x"))
    with pytest.raises(InsufficientDataError, match="only 3 complete factor rows"):
        vif(factors.iloc[:3])
    with pytest.raises(UsageError, match="must be a pandas DataFrame"):
        vif(factors.to_numpy())
