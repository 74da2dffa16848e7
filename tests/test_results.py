"""Tests of the result objects: tables, annualization, intervals, exports and summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from factorxray.engine import regress
from factorxray.errors import UsageError
from tests._engine_data import FACTORS, etf_excess, statsmodels_fit, us_factors


@pytest.fixture(scope="module")
def etfs() -> pd.DataFrame:
    return etf_excess()


@pytest.fixture(scope="module")
def factors() -> pd.DataFrame:
    return us_factors()


@pytest.fixture(scope="module")
def hac(etfs, factors):
    return regress(etfs, factors)


@pytest.fixture(scope="module")
def nonrobust(etfs, factors):
    return regress(etfs, factors, cov="nonrobust")


def test_tables_are_funds_by_terms(hac, etfs):
    for table in (hac.params, hac.bse, hac.tvalues, hac.pvalues):
        assert list(table.index) == list(etfs.columns)
        assert table.index.name == "fund"
        assert list(table.columns) == ["alpha", *FACTORS]
    for series in (hac.rsquared, hac.rsquared_adj, hac.nobs, hac.resid_std, hac.start, hac.end):
        assert list(series.index) == list(etfs.columns)
    assert hac.factors == FACTORS
    assert hac.nobs.dtype == np.int64


def test_properties_are_read_only_and_copies(hac):
    with pytest.raises(AttributeError):
        hac.params = None
    table = hac.params
    table.iloc[0, 0] = 99.0
    assert hac.params.iloc[0, 0] != 99.0
    hac.skipped["X"] = "y"
    assert hac.skipped == {}


def test_resid_std_matches_statsmodels(nonrobust, etfs, factors):
    ref = statsmodels_fit(etfs["VTV"], factors[FACTORS], "nonrobust")
    assert_allclose(nonrobust.resid_std["VTV"], np.sqrt(ref.scale), rtol=1e-10)
    assert nonrobust.df_resid["VTV"] == ref.df_resid


def test_hac_lags_series(hac, nonrobust):
    assert hac.hac_lags.dtype == "Int64"
    assert hac.hac_lags["SPY"] == 5
    assert nonrobust.hac_lags.isna().all()
    assert nonrobust.hac_lags.dtype == "Int64"


def test_alpha_annualized_monthly(hac):
    alpha = hac.params["alpha"]
    annual = hac.alpha_annualized
    assert hac.periods_per_year == 12
    assert list(annual.columns) == ["arithmetic", "geometric"]
    assert_allclose(annual["arithmetic"], 12 * alpha)
    assert_allclose(annual["geometric"], (1 + alpha) ** 12 - 1)


@pytest.mark.parametrize(
    ("index", "per_year"),
    [
        (pd.bdate_range("2000-01-03", periods=80), 252),
        (pd.period_range("2000-01-03", periods=80, freq="D"), 252),
        (pd.date_range("2000-01-03", periods=80, freq="D"), 252),
        (pd.date_range("2000-01-02", periods=80, freq="W"), 52),
        (pd.date_range("2000-01-31", periods=80, freq="ME"), 12),
        (pd.period_range("1950", periods=80, freq="Y"), 1),
        (pd.period_range("1950Q1", periods=80, freq="Q"), 4),
        (pd.DatetimeIndex(pd.date_range("2000-01-31", periods=81, freq="ME").delete(40)), 12),
    ],
)
def test_periods_per_year_from_index(index, per_year):
    rng = np.random.default_rng(0)
    factors = pd.DataFrame({"MKT": rng.normal(0, 0.04, len(index))}, index=index)
    fund = (factors["MKT"] + rng.normal(0, 0.01, len(index))).rename("F")
    res = regress(fund, factors)
    assert res.periods_per_year == per_year
    assert_allclose(res.alpha_annualized["arithmetic"], per_year * res.params["alpha"])


def test_alpha_annualized_needs_a_frequency():
    rng = np.random.default_rng(0)
    factors = pd.DataFrame({"MKT": rng.normal(0, 0.04, 50)})
    res = regress(factors["MKT"] * 2 + rng.normal(0, 0.01, 50), factors)
    with pytest.raises(UsageError, match="cannot annualize alpha"):
        _ = res.alpha_annualized


@pytest.mark.parametrize("cov", ["nonrobust", "HC1", "hac"])
def test_conf_int_matches_statsmodels(etfs, factors, cov):
    res = regress(etfs[["SPY", "QGRO"]], factors, cov=cov)
    interval = res.conf_int(alpha=0.1)
    assert list(interval.columns[:2]) == [("alpha", "lower"), ("alpha", "upper")]
    assert interval.columns.names == ["term", "bound"]
    for fund in ("SPY", "QGRO"):
        lags = res.hac_lags[fund] if cov == "hac" else None
        ref = statsmodels_fit(etfs[fund], factors[FACTORS], cov, lags).conf_int(alpha=0.1)
        ours = interval.loc[fund].unstack("bound").loc[res.params.columns, ["lower", "upper"]]
        assert_allclose(ours, ref, rtol=1e-8)
    with pytest.raises(UsageError, match="alpha must be between 0 and 1"):
        res.conf_int(alpha=5)


def test_to_frame_is_long(hac):
    long = hac.to_frame()
    assert list(long.columns) == ["fund", "term", "estimate", "se", "t", "p"]
    assert len(long) == 20 * 7
    row = long[(long["fund"] == "MTUM") & (long["term"] == "MOM")].iloc[0]
    assert row["estimate"] == hac.params.loc["MTUM", "MOM"]
    assert row["se"] == hac.bse.loc["MTUM", "MOM"]
    assert row["t"] == hac.tvalues.loc["MTUM", "MOM"]
    assert row["p"] == hac.pvalues.loc["MTUM", "MOM"]


def test_cov_params_accessor(hac, etfs, factors):
    matrix = hac.cov_params("QUAL")
    assert list(matrix.index) == ["alpha", *FACTORS]
    assert_allclose(np.sqrt(np.diag(matrix)), hac.bse.loc["QUAL"])
    with pytest.raises(UsageError, match="unknown fund 'NOPE'"):
        hac.cov_params("NOPE")


def test_summary_text(hac):
    text = hac.summary()
    lines = text.splitlines()
    assert lines[0] == "Factor exposures (HAC standard errors)"
    spy = next(line for line in lines if line.startswith("SPY "))
    beta, t = hac.params.loc["SPY", "Mkt-RF"], hac.tvalues.loc["SPY", "Mkt-RF"]
    assert f"{beta:.4f}*** ({t:.2f})" in spy
    assert "HAC: Newey-West (Bartlett kernel), lags 3-5" in text
    assert "N: 86-394 observations per fund, from 1993-02 to 2025-11" in text
    assert "normal p-values" in text


def test_summary_of_nonrobust_mentions_t(nonrobust):
    text = nonrobust.summary()
    assert "Student t p-values" in text
    assert "HAC:" not in text


def test_html_repr(hac):
    page = hac._repr_html_()
    assert page.startswith("<table>")
    assert "<th>Mkt-RF</th>" in page and "<th>SPY</th>" in page
    assert "lags 3-5" in page
    assert "ExposureResults: 20 funds, 6 factors" in repr(hac)


def test_single_fund_results_work_the_same(etfs, factors):
    res = regress(etfs["MTUM"], factors)
    assert res.params.shape == (1, 7)
    assert res.to_frame()["fund"].unique().tolist() == ["MTUM"]
    assert "MTUM" in res.summary()


def test_normal_p_values_without_scipy_equal_scipy_ndtr() -> None:
    """The math.erfc path (small tables) and scipy's ndtr (large ones) give the same numbers."""
    from scipy import special

    from factorxray.results import ERFC_LIMIT, normal_lower_tail

    small = np.concatenate([np.linspace(-30.0, 30.0, 6001), [np.nan, np.inf, -np.inf]])
    large = np.random.default_rng(7).standard_t(3, size=ERFC_LIMIT + 1) * 4.0
    for values in (small, large):
        ours, scipys = normal_lower_tail(values), special.ndtr(values)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(scipys))
        lower = values <= 0  # the tail p-values use: equal in relative terms
        np.testing.assert_allclose(ours[lower], scipys[lower], rtol=1e-13, atol=0.0)
        np.testing.assert_allclose(ours, scipys, rtol=0.0, atol=2.3e-16)  # one rounding near 1
