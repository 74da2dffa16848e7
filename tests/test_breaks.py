"""Tests of Andrews' sup-Wald style-drift test (``factorxray.engine.breaks``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose

from factorxray.engine import breaks
from factorxray.engine.breaks import (
    P_VALUE_FLOOR,
    SupWaldResult,
    drift_tests,
    drift_tests_by_cov,
    sup_wald,
    supwald_critical_value,
    supwald_pvalue,
)
from factorxray.errors import CollinearityError, InsufficientDataError, UsageError
from tests._engine_data import FACTORS, etf_excess, us_factors

RTOL = 1e-8

#: Critical values of the QLR (sup-F) statistic with 15% trimming, 10%, 5% and 1% levels, for
#: q = 1..10 restrictions: Stock and Watson, *Introduction to Econometrics* (Addison-Wesley,
#: 2003), table "Critical Values of the QLR Statistic with 15% Trimming", based on Andrews
#: (1993, corrected 2003). Transcribed from gretl's lib/src/compare.c (gretl-project/gretl,
#: QLR_critvals, "Taken from Stock and Watson ... based on Andrews"). The F form is Wald / q.
STOCK_WATSON_QLR_F_15 = {
    1: (7.12, 8.68, 12.16),
    2: (5.00, 5.86, 7.78),
    3: (4.09, 4.71, 6.02),
    4: (3.59, 4.09, 5.12),
    5: (3.26, 3.66, 4.53),
    6: (3.02, 3.37, 4.12),
    7: (2.84, 3.15, 3.82),
    8: (2.69, 2.98, 3.57),
    9: (2.58, 2.84, 3.38),
    10: (2.48, 2.71, 3.23),
}
LEVELS = (0.90, 0.95, 0.99)
#: Replications behind the bundled table (scripts/make_supwald_table.py default).
TABLE_REPS = 100_000
#: Replications assumed for the published table when judging its own simulation error.
PUBLISHED_REPS = 10_000


@pytest.fixture(scope="module")
def etfs() -> pd.DataFrame:
    return etf_excess()


@pytest.fixture(scope="module")
def factors() -> pd.DataFrame:
    return us_factors()


# ----------------------------------------------------------------------------- the null table


def _quantile_se(table, trim_row: int, p: int, level: float, reps: int) -> float:
    """Simulation standard error of a quantile: sqrt(a (1 - a) / R) / density."""
    levels = table.levels
    j = int(np.flatnonzero(np.isclose(levels, level))[0])
    column = table.grid_quantiles[trim_row, :, p - 1]
    density = (levels[j + 1] - levels[j - 1]) / (column[j + 1] - column[j - 1])
    return float(np.sqrt(level * (1 - level) / reps) / density)


@pytest.mark.parametrize("p", range(1, 11))
def test_simulated_critical_values_match_andrews_published_table(p):
    """The simulated 90/95/99% points for trim 0.15 match the published ones.

    Reference: Stock and Watson (2003), QLR critical values with 15% trimming (F form, times
    q for the Wald form), based on Andrews (1993) and its corrigendum (Andrews 2003,
    Econometrica 71(1) 395-397); transcription: gretl lib/src/compare.c. Published tables
    were simulated on a discrete grid like our raw ``grid_p*`` columns, so those are
    compared, within three combined simulation standard errors (ours from 100,000
    replications, the published ones assumed from 10,000) plus the table's rounding to
    0.01 F units. The grid-corrected values actually used for p-values must lie above
    them by the measured grid bias (between 0.3% and 3.5%).
    """
    table = breaks._quantile_table()
    row = int(np.flatnonzero(np.isclose(table.trims, 0.15))[0])
    for level, published_f in zip(LEVELS, STOCK_WATSON_QLR_F_15[p], strict=True):
        published = p * published_f
        j = int(np.flatnonzero(np.isclose(table.levels, level))[0])
        grid = table.grid_quantiles[row, j, p - 1]
        ours = _quantile_se(table, row, p, level, TABLE_REPS)
        theirs = _quantile_se(table, row, p, level, PUBLISHED_REPS)
        tolerance = 3 * np.hypot(ours, theirs) + 0.005 * p
        assert abs(grid - published) <= tolerance, (p, level, grid, published, tolerance)
        corrected = supwald_critical_value(level, p)
        assert 1.003 < corrected / grid < 1.035, (p, level, corrected, grid)


def test_table_is_monotone_in_level_tested_count_and_trim():
    table = breaks._quantile_table()
    for quantiles in (table.quantiles, table.grid_quantiles):
        assert (np.diff(quantiles, axis=1) >= 0).all()  # CDF levels
        assert (np.diff(quantiles[:, 10:, :], axis=2) > 0).all()  # more tested coefficients
        # a wider trim searches fewer splits: smaller sup (upper half, where noise is small)
        assert (np.diff(quantiles[:, 50:, :], axis=0) < 0).all()
    assert_allclose(table.trims, [0.05, 0.10, 0.15, 0.20, 0.25])
    assert table.levels[-1] == pytest.approx(1 - P_VALUE_FLOOR)


def test_p_value_inverts_critical_value_with_floor_and_edges():
    for p in (1, 2, 5, 10):
        for trim in (0.05, 0.15, 0.25):
            for level in (0.5, 0.9, 0.95, 0.99, 0.995):
                value = supwald_critical_value(level, p, trim)
                assert supwald_pvalue(value, p, trim) == pytest.approx(1 - level, abs=1e-9)
    assert supwald_pvalue(1e6, 3) == P_VALUE_FLOOR
    assert supwald_pvalue(0.0, 3) == 1.0
    assert np.isnan(supwald_pvalue(np.nan, 3))
    many = supwald_pvalue(np.array([0.0, 8.9, 1e3]), 1)
    assert many.shape == (3,) and many[0] == 1.0 and many[2] == P_VALUE_FLOOR
    # the chi-square would be far too liberal: its 5% point for p = 1 (3.84) is about 43% here
    assert 0.35 < supwald_pvalue(3.84, 1) < 0.5


# ----------------------------------------------------------------------------- parity, real data


def _own_rows(fund: pd.Series, factors: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    data = pd.concat([fund.rename("__y__"), factors[FACTORS]], axis=1, join="inner").dropna()
    return data["__y__"], data[FACTORS]


def _statsmodels_split(y: pd.Series, x: pd.DataFrame, tested: list[str], split: int, cov: str):
    """OLS of y on [1, x, 1{t >= split} z] and the Wald test of the interaction terms."""
    post = (np.arange(len(y)) >= split)[:, None]
    exog = np.column_stack([np.ones(len(y)), x.to_numpy(), x[tested].to_numpy() * post])
    fit = sm.OLS(y.to_numpy(), exog).fit(cov_type=cov)
    k = 1 + x.shape[1]
    restriction = np.zeros((len(tested), exog.shape[1]))
    restriction[np.arange(len(tested)), k + np.arange(len(tested))] = 1.0
    wald = fit.wald_test(restriction, use_f=False, scalar=True).statistic
    return float(wald), fit.params


@pytest.mark.parametrize("cov", ["HC0", "nonrobust"])
def test_wald_at_fixed_splits_matches_statsmodels_on_real_data(etfs, factors, cov):
    y, x = _own_rows(etfs["SPY"], factors)
    tested = ["Mkt-RF", "HML"]
    res = sup_wald(y, x, tested, cov=cov)
    assert res.nobs == len(y) == 394
    first = res.wald.index[0]
    assert first == y.index[int(np.floor(0.15 * len(y))) - 1]
    for split in (59, 120, 197, 250, len(y) - 59):
        ours = res.wald[y.index[split - 1]]
        reference, _ = _statsmodels_split(y, x, tested, split, cov)
        assert_allclose(ours, reference, rtol=RTOL)


def test_sup_and_argmax_match_a_brute_force_statsmodels_loop(etfs, factors):
    fund = etfs["MTUM"].copy()
    fund[pd.Period("2017-02", "M") : pd.Period("2017-04", "M")] = np.nan  # a gap inside
    y, x = _own_rows(fund, factors)
    tested = ["MOM", "HML"]
    res = sup_wald(fund, factors[FACTORS], tested)
    assert res.nobs == len(y) == 148
    edge = int(np.floor(0.15 * len(y)))
    splits = range(edge, len(y) - edge + 1)
    loop = [_statsmodels_split(y, x, tested, split, "HC0") for split in splits]
    walds = np.array([wald for wald, _ in loop])
    assert_allclose(res.wald.to_numpy(), walds, rtol=RTOL)
    best = int(np.argmax(walds))
    assert_allclose(res.stat, walds[best], rtol=RTOL)
    assert res.break_period == y.index[splits[best] - 1]
    assert res.break_index == splits[best] - 1
    params = loop[best][1]
    positions = [1 + FACTORS.index(name) for name in tested]
    assert_allclose(res.before.to_numpy(), params[positions], rtol=RTOL)
    assert_allclose(res.after.to_numpy(), params[positions] + params[-2:], rtol=RTOL)
    assert res.p_value == pytest.approx(supwald_pvalue(res.stat, 2))


# ----------------------------------------------------------------------------- behaviour


def _synthetic(seed: int, n: int, break_at: int | None, shift: float = 0.0):
    """Three factors; the HML beta (0.4) moves by ``shift`` after ``break_at`` observations."""
    rng = np.random.default_rng(seed)
    index = pd.period_range("1995-01", periods=n, freq="M", name="period")
    x = pd.DataFrame(rng.normal(0.005, 0.04, (n, 3)), index, ["Mkt-RF", "SMB", "HML"])
    hml = np.full(n, 0.4)
    if break_at is not None:
        hml[break_at:] += shift
    noise = rng.normal(0.0, 0.02, n)
    y = 0.001 + 1.0 * x["Mkt-RF"] + 0.2 * x["SMB"] + hml * x["HML"] + noise
    return y.rename("FUND"), x


def test_large_break_is_found_at_its_date():
    y, x = _synthetic(seed=11, n=300, break_at=180, shift=-0.6)
    res = sup_wald(y, x, ["HML", "SMB"])
    assert res.p_value < 0.01
    assert abs(res.break_index - 179) <= 3
    assert res.before["HML"] == pytest.approx(0.4, abs=0.1)
    assert res.after["HML"] == pytest.approx(-0.2, abs=0.1)
    assert res.after["SMB"] - res.before["SMB"] == pytest.approx(0.0, abs=0.15)
    assert "break after" in res.summary() and res.n_tested == 2


def test_no_break_gives_roughly_uniform_p_values():
    """200 independent series without a break (T = 300, HC0): p-values roughly uniform."""
    p_values = []
    for seed in range(200):
        y, x = _synthetic(seed, 300, None)
        p_values.append(sup_wald(y.to_numpy(), x.to_numpy(), [2]).p_value)
    p_values = np.array(p_values)
    assert 0.02 <= (p_values < 0.05).mean() <= 0.10
    assert 0.05 <= (p_values < 0.10).mean() <= 0.17
    assert 0.38 <= (p_values < 0.50).mean() <= 0.62


def test_numpy_inputs_and_positions_match_pandas_inputs():
    y, x = _synthetic(seed=3, n=150, break_at=90, shift=0.5)
    from_pandas = sup_wald(y, x, ["HML"], cov="nonrobust")
    from_numpy = sup_wald(y.to_numpy(), x.to_numpy(), [2], cov="NONROBUST")
    assert from_numpy.tested == ("x2",)
    assert_allclose(from_numpy.stat, from_pandas.stat, rtol=1e-12)
    assert from_numpy.break_period == from_pandas.break_index
    assert from_numpy.cov_type == from_pandas.cov_type == "nonrobust"
    assert_allclose(from_numpy.wald.to_numpy(), from_pandas.wald.to_numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- many funds


TESTED = {
    "VLUE": ["HML"],
    "MTUM": ["MOM"],
    "USMV": ["Mkt-RF", "RMW"],
    "QUAL": ["RMW", "CMA", "HML"],
    "SPY": ["Mkt-RF"],
}


def test_drift_tests_on_ragged_real_funds_equal_one_fund_at_a_time(etfs, factors):
    etfs = etfs.copy()
    gaps = etfs.index.isin(pd.period_range("2016-03", "2016-07", freq="M"))
    etfs.loc[gaps | (etfs.index == pd.Period("2019-11", "M")), "QUAL"] = np.nan  # inner gaps
    res = drift_tests(etfs, factors, TESTED)
    assert list(res.columns) == [
        "before",
        "after",
        "stat",
        "p_value",
        "break_period",
        "nobs",
        "n_tested",
    ]
    assert res.index.names == ["fund", "factor"]
    assert list(res.index.get_level_values("fund").unique()) == [
        fund for fund in etfs.columns if fund in TESTED
    ]
    for fund, names in TESTED.items():
        y, x = _own_rows(etfs[fund], factors)
        single = sup_wald(y, x, names)
        rows = res.loc[fund]
        assert list(rows.index) == names
        assert_allclose(rows["before"], single.before[names], rtol=1e-12)
        assert_allclose(rows["after"], single.after[names], rtol=1e-12)
        assert_allclose(rows["stat"], single.stat, rtol=1e-12)
        assert_allclose(rows["p_value"], single.p_value, rtol=1e-9)
        assert (rows["break_period"] == single.break_period).all()
        assert (rows["nobs"] == len(y)).all() and (rows["n_tested"] == len(names)).all()
    per_fund = res.groupby(level="fund", sort=False).first()
    assert per_fund.shape == (len(TESTED), 7)
    assert isinstance(res["break_period"].dtype, pd.PeriodDtype)
    skipped = res.attrs["skipped"]
    assert set(skipped) == set(etfs.columns) - set(TESTED)
    assert all(reason.startswith("no tested factor") for reason in skipped.values())
    assert res.attrs["trim"] == 0.15 and res.attrs["cov_type"] == "HC0"


def test_drift_tests_skip_funds_with_reasons_never_raising_for_one(etfs, factors):
    returns = etfs[["SPY", "VLUE", "QGRO"]].copy()
    returns["SHORT"] = etfs["SPY"].where(etfs.index >= pd.Period("2021-01", "M"))  # 59 months
    returns["UNLISTED"] = etfs["SPY"]
    tested = {
        "SPY": ["HML"],
        "VLUE": [],
        "QGRO": "RMW",  # a single name may be a string
        "SHORT": ["HML"],
        "GONE": ["HML"],
    }
    res = drift_tests(returns, factors, tested, min_obs=80)
    assert list(res.index) == [("SPY", "HML"), ("QGRO", "RMW")]
    assert res.loc[("QGRO", "RMW"), "nobs"] == 86
    skipped = res.attrs["skipped"]
    assert set(skipped) == {"VLUE", "UNLISTED", "SHORT", "GONE"}
    assert skipped["VLUE"].startswith("no tested factor")
    assert skipped["UNLISTED"].startswith("no tested factor")
    assert skipped["SHORT"].startswith("only 59 usable observations; the test needs at least 80")
    assert skipped["GONE"] == "not a column of excess_returns"


def test_drift_tests_by_cov_equal_one_call_per_cov(etfs, factors):
    returns = etfs.copy()
    returns["SHORT"] = etfs["SPY"].where(etfs.index >= pd.Period("2021-01", "M"))  # 59 months
    returns.loc[returns.index.isin(pd.period_range("2016-03", "2016-07", freq="M")), "QUAL"] = (
        np.nan
    )
    tested = {**TESTED, "SHORT": ["HML"], "GONE": ["SMB"]}
    tables = drift_tests_by_cov(returns, factors, tested, covs=("nonrobust", "hc0"))
    assert list(tables) == ["nonrobust", "HC0"]
    for cov, table in tables.items():
        alone = drift_tests(returns, factors, tested, cov=cov)
        pd.testing.assert_frame_equal(table, alone, check_exact=True)
        assert table.attrs == alone.attrs and table.attrs["cov_type"] == cov
        assert list(table.attrs["skipped"]) == list(alone.attrs["skipped"])
    assert len(tables["HC0"]) == sum(len(names) for names in TESTED.values())
    # the classical test breaks elsewhere for some funds: the covariances are not mixed up
    assert (tables["HC0"]["stat"] != tables["nonrobust"]["stat"]).all()


def test_drift_tests_by_cov_returns_the_error_of_a_cov_without_a_test(etfs, factors):
    tables = drift_tests_by_cov(etfs[["SPY", "QGRO"]], factors, {"QGRO": ["HML"]}, min_obs=100)
    for cov in ("HC0", "nonrobust"):
        error = tables[cov]
        assert isinstance(error, InsufficientDataError)
        assert str(error).startswith("no fund could be tested for drift: SPY: no tested factor")
        assert set(error.skipped) == {"SPY", "QGRO"}
    with pytest.raises(UsageError, match="each covariance once"):
        drift_tests_by_cov(etfs, factors, TESTED, covs=("HC0", "hc0"))
    with pytest.raises(UsageError, match="cov must be 'HC0' or 'nonrobust'"):
        drift_tests_by_cov(etfs, factors, TESTED, covs=("HC1",))


def test_a_factor_constant_in_one_funds_sample_skips_only_that_fund(etfs, factors):
    odd = factors.copy()
    odd.loc[odd.index >= pd.Period("2015-01", "M"), "CMA"] = 0.0  # constant after 2015
    returns = etfs[["SPY", "QGRO"]]  # QGRO starts in 2018: CMA is constant in its sample
    res = drift_tests(returns, odd, {"SPY": ["HML"], "QGRO": ["HML"]})
    assert list(res.index.get_level_values("fund")) == ["SPY"]
    assert "CMA" in res.attrs["skipped"]["QGRO"]


def test_singular_segments_are_left_out_of_the_sup():
    y, x = _synthetic(seed=5, n=200, break_at=None)
    x.loc[x.index[:40], "SMB"] = 0.0  # SMB only moves after 40 observations
    res = sup_wald(y, x, ["SMB"])
    assert np.isnan(res.wald.iloc[: 40 - 30 + 1]).all()  # splits 30..40 leave SMB at 0 before
    assert np.isfinite(res.wald.iloc[11:]).all()
    assert res.break_index >= 40


def test_nothing_to_test_raises_with_reasons(etfs, factors):
    with pytest.raises(InsufficientDataError, match="no fund could be tested") as info:
        drift_tests(etfs[["SPY", "QGRO"]], factors, {"SPY": [], "QGRO": ["HML"]}, min_obs=100)
    assert set(info.value.skipped) == {"SPY", "QGRO"}
    y, x = _synthetic(seed=1, n=33, break_at=None)  # 4 regressors: floor(0.15 n) > 4 needs 34
    with pytest.raises(
        InsufficientDataError, match="only 33 usable observations; the test needs at least 34"
    ):
        sup_wald(y, x, ["HML"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cov": "HAC"}, "cov must be 'HC0' or 'nonrobust'"),
        ({"cov": "HC1"}, "cov must be 'HC0' or 'nonrobust'"),
        ({"trim": 0.3}, "trim must be one of the tabulated values 0.05, 0.10, 0.15"),
        ({"trim": "0.15"}, "trim must be a number"),
        ({"min_obs": 0}, "min_obs must be a positive integer"),
        ({"tested": {"SPY": ["Value"]}}, "'Value', which is not a factor column"),
        ({"tested": {"SPY": ["HML", "HML"]}}, "listed twice"),
        ({"tested": {"SPY": ["RF"]}}, "'RF', which is not a factor column"),
        ({"tested": ["SPY"]}, "tested must map each fund"),
    ],
)
def test_bad_options_are_usage_errors(etfs, factors, kwargs, message):
    options = {"tested": {"SPY": ["HML"]}, **kwargs}
    tested = options.pop("tested")
    with pytest.raises(UsageError, match=message):
        drift_tests(etfs[["SPY"]], factors, tested, **options)


def test_single_fund_input_errors():
    y, x = _synthetic(seed=2, n=120, break_at=None)
    with pytest.raises(UsageError, match="both as pandas objects"):
        sup_wald(y, x.to_numpy(), ["HML"])
    with pytest.raises(UsageError, match="out of range"):
        sup_wald(y.to_numpy(), x.to_numpy(), [3])
    with pytest.raises(UsageError, match="as many rows"):
        sup_wald(y.to_numpy()[:-1], x.to_numpy(), [0])
    with pytest.raises(UsageError, match="covers 1 to 10 tested"):
        breaks.supwald_pvalue(10.0, 11)
    with pytest.raises(UsageError, match=r"level must be between 0 and 0\.999"):
        supwald_critical_value(0.9999, 1)
    collinear = x.assign(TWICE=2 * x["HML"])
    with pytest.raises(CollinearityError, match="HML, TWICE"):
        sup_wald(y, collinear, ["HML"])


def test_result_is_frozen_and_p_value_text_reads_the_floor():
    y, x = _synthetic(seed=11, n=300, break_at=150, shift=-1.5)
    res = sup_wald(y, x, ["HML"])
    assert isinstance(res, SupWaldResult)
    assert res.p_value == P_VALUE_FLOOR and res.p_value_text == "< 0.001"
    assert "p < 0.001" in res.summary()
    with pytest.raises(AttributeError):
        res.stat = 0.0  # type: ignore[misc]


def test_the_tables_fund_factor_index_is_the_one_from_arrays_builds():
    funds = ["VLUE", "VLUE", "MTUM", "QUAL", "QUAL", "QUAL", "SPY"]
    factors = ["HML", "SMB", "MOM", "RMW", "CMA", "HML", "Mkt-RF"]
    ours = breaks._fund_factor_index(funds, factors)
    theirs = pd.MultiIndex.from_arrays([funds, factors], names=["fund", "factor"])
    pd.testing.assert_index_equal(ours, theirs, exact=True)
    for mine, reference in zip(ours.codes, theirs.codes, strict=True):
        assert mine.dtype == reference.dtype and (mine == reference).all()
    assert [level.dtype for level in ours.levels] == [level.dtype for level in theirs.levels]
    assert list(ours.levels[0]) == ["MTUM", "QUAL", "SPY", "VLUE"]
