"""Verdicts a person can act on, on real data (the bundled snapshot of real files).

Size as well as significance (SPY, GSLC), each fund on its own region's factors (checked
against an independent least-squares fit on the region's published factors), the region-fit
warning, the model ladder (HDV, JQUA, LRGF), CAPM on multi-factor funds, time robustness and
Benjamini-Hochberg q-values against statsmodels.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import factorxray as fx
from factorxray.cli import app
from factorxray.data.cache import Cache
from factorxray.judge.robustness import better_region, bh_qvalues
from factorxray.judge.verdicts import Rules
from factorxray.universe import Fund, Universe

runner = CliRunner()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Cache:
    return Cache(tmp_path_factory.mktemp("robustness-cache"))


@pytest.fixture(scope="module")
def smart_beta(cache: Cache) -> fx.Analysis:
    return fx.analyze(preset="smart-beta-20", offline=True, cache=cache)


# ------------------------------------------------------------------------------ materiality


def test_spy_is_plain_under_the_size_rule_and_tilted_without_it(smart_beta, cache) -> None:
    spy = smart_beta.verdicts["SPY"]
    assert spy.status == "neutral"
    faint = {factor: beta for factor, beta, _ in spy.faint}
    # HML 0.02 with t 2.9: significant, far too small to act on
    assert set(faint) >= {"HML", "CMA", "MOM"}
    assert all(abs(beta) < 0.10 for beta in faint.values())
    assert smart_beta.results.tvalues.loc["SPY", "HML"] >= 2
    assert not spy.unintended
    # the large-cap lean is what a large/core label implies
    assert [f for f, _, _ in spy.implied] == ["SMB"]
    # without the size rule, the same numbers make SPY "tilted"
    plain = fx.analyze(["SPY"], offline=True, cache=cache, min_beta=0.0, models=None)
    assert plain.verdicts["SPY"].status == "tilted"
    assert {f for f, _, _ in plain.verdicts["SPY"].unintended} >= {"HML", "CMA", "MOM"}


def test_gslc_premia_are_faint_not_four_delivered(smart_beta, cache) -> None:
    gslc = smart_beta.verdicts["GSLC"]
    (check,) = gslc.checks
    assert check.status == "faint" and gslc.status == "faint"
    assert check.factors == ()  # no material premium is counted
    params = smart_beta.results.params.loc["GSLC"]
    tvalues = smart_beta.results.tvalues.loc["GSLC"]
    significant_positive = [
        f for f in ("SMB", "HML", "RMW", "CMA", "MOM", "VOL") if params[f] > 0 and tvalues[f] >= 2
    ]
    assert len(significant_positive) >= 2
    assert all(params[f] < 0.10 for f in significant_positive)
    assert not gslc.unintended  # faint loadings are never unintended tilts
    old_rule = fx.analyze(["GSLC"], offline=True, cache=cache, min_beta=0.0, models=None)
    assert old_rule.verdicts["GSLC"].status == "delivers"


def test_one_definition_of_significance_with_fdr(smart_beta, cache) -> None:
    strict = fx.analyze(preset="smart-beta-20", offline=True, cache=cache, fdr=0.01, models=None)
    q = strict.qvalues
    for fund, verdict in strict.verdicts.items():
        for factor, _, t in verdict.unintended + verdict.faint:
            assert abs(t) >= 2 and q.loc[fund, factor] <= 0.01
    assert strict.meta["fdr"] == 0.01
    assert "q <= 0.01" in strict.meta["rules"]


def test_rules_reject_bad_values() -> None:
    with pytest.raises(fx.UsageError, match="--min-beta"):
        Rules(min_beta=-0.1)
    with pytest.raises(fx.UsageError, match="--fdr"):
        Rules(fdr=1.5)


# ---------------------------------------------------------------------------------- regions


def _independent_betas(
    analysis: fx.Analysis, fund: str, region: str, model: str, cache: Cache
) -> np.ndarray:
    """Least squares with numpy on the region's published factors and the fund's returns."""
    factors = fx.load_factors(model, region, snapshot=True, cache=cache)
    start, end = analysis.results.start[fund], analysis.results.end[fund]
    y = (analysis.returns[fund] - factors["RF"]).loc[start:end]
    x = factors.drop(columns="RF").loc[start:end]
    frame = pd.concat([y.rename("y"), x], axis=1).dropna()
    design = np.column_stack([np.ones(len(frame)), frame[x.columns].to_numpy()])
    return np.linalg.lstsq(design, frame["y"].to_numpy(), rcond=None)[0]


def test_mixed_regions_each_fund_on_its_own_factors(tmp_path) -> None:
    universe = Universe(
        "mixed",
        [
            Fund("SPY", category="large/core", region="us"),
            Fund("EWJ", category="large/core", region="japan"),
            Fund("VWO", category="large/core", region="emerging"),
            Fund("IVLU", category="value", region="developed_ex_us"),
            Fund("MTUM", category="momentum"),  # no region: the run's --region (us)
        ],
    )
    analysis = fx.analyze(universe=universe, offline=True, cache=Cache(tmp_path))
    assert analysis.failed == {}
    used = {f: (i["region"], i["model"]) for f, i in analysis.fund_factors.items()}
    assert used == {
        "SPY": ("us", "xray7"),
        "EWJ": ("japan", "ff6"),
        "VWO": ("emerging", "ff6"),
        "IVLU": ("developed_ex_us", "ff6"),
        "MTUM": ("us", "xray7"),
    }
    assert "VOL, which exists for the US only" in analysis.fund_factors["EWJ"]["note"]
    assert any("judged on ff6" in w for w in analysis.warnings["EWJ"])
    assert math.isnan(analysis.results.params.loc["EWJ", "VOL"])
    for fund, (region, model) in used.items():
        ours = analysis.results.params.loc[fund].dropna().to_numpy()
        theirs = _independent_betas(analysis, fund, region, model, Cache(tmp_path))
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
    assert analysis.verdicts["IVLU"].status == "delivers"
    assert analysis.region_fit["EWJ"]["japan"] > analysis.region_fit["EWJ"]["us"] + 0.3
    assert analysis.better_region["EWJ"] is None


def test_bare_international_ticker_gets_the_better_region_warning(tmp_path) -> None:
    analysis = fx.analyze(["VEA"], offline=True, cache=Cache(tmp_path), models=None)
    assert analysis.fund_factors["VEA"]["region"] == "us"
    fit = analysis.region_fit["VEA"]
    assert analysis.better_region["VEA"] == "developed_ex_us"
    assert fit["developed_ex_us"] - fit["us"] >= 0.05
    (warning,) = analysis.warnings["VEA"]
    assert warning.startswith("VEA: developed_ex_us factors fit better than us (R² ")
    assert warning.endswith("give it its region.")
    # R² of the fit check equals a plain ff5 regression on the same months
    ff5 = fx.load_factors("ff5", "developed_ex_us", snapshot=True, cache=Cache(tmp_path))
    start, end = analysis.results.start["VEA"], analysis.results.end["VEA"]
    # the fund's excess return is the one of its main regression (the US T-bill as RF)
    excess = analysis.excess_returns[["VEA"]].loc[start:end]
    direct = fx.regress(excess, ff5.drop(columns="RF"), cov="nonrobust", min_obs=36)
    assert fit["developed_ex_us"] == pytest.approx(direct.rsquared["VEA"], abs=1e-12)


def test_better_region_rule() -> None:
    assert better_region({"us": 0.78, "developed_ex_us": 0.94}, "us") == "developed_ex_us"
    assert better_region({"us": 0.90, "developed": 0.949}, "us") is None
    assert better_region({"us": 0.90, "developed": 0.95}, "us") == "developed"
    assert better_region({}, "us") is None


def test_unknown_region_fails_that_fund_only(tmp_path) -> None:
    universe = Universe(
        "u", [Fund("SPY", category="large/core"), Fund("VTV", category="value", region="mars")]
    )
    analysis = fx.analyze(universe=universe, offline=True, cache=Cache(tmp_path), models=None)
    assert analysis.analyzed == ["SPY"]
    assert analysis.failed["VTV"].startswith("unknown region 'mars'; give one of: us, developed")


def test_cli_mixed_regions_exit_3_for_an_unknown_region(tmp_path) -> None:
    path = tmp_path / "funds.csv"
    path.write_text(
        "ticker,category,region\nSPY,large/core,us\nEWJ,large/core,japan\nVTV,value,mars\n"
    )
    result = runner.invoke(
        app,
        ["analyze", "--universe", str(path), "--offline", "--no-png", "--out", str(tmp_path / "r")],
    )
    assert result.exit_code == 3, result.output
    assert "VTV: unknown region 'mars'" in result.stderr
    assert "EWJ: xray7 needs VOL, which exists for the US only" in result.stderr  # one fund


# ----------------------------------------------------------------------------- model ladder


def test_hdv_jqua_lrgf_across_models(smart_beta) -> None:
    ladder = smart_beta.ladder
    hdv = ladder["HDV"]["verdict_by_model"]
    assert hdv["xray7"] == "weak" and hdv["ff5"] == "delivers" and hdv["ff3"] == "delivers"
    assert hdv["capm"] == "not tested"
    value = ladder["HDV"]["tilts"]["HML>0"]
    assert value["depends_on_model"] and value["delivers_in"] == 4 and value["tested_in"] == 5
    assert value["beta_by_model"]["ff3"] > value["beta_by_model"]["xray7"] + 0.2
    sentence = smart_beta.verdicts["HDV"].sentence
    assert (
        "HML delivers in 4 of 5 models that test it (weak under xray7, which adds VOL)" in sentence
    )
    jqua = ladder["JQUA"]["tilts"]["RMW>0"]
    assert jqua["by_model"]["xray7"] != "delivers" and jqua["by_model"]["ff5"] == "delivers"
    assert jqua["by_model"]["ff3"] == "not tested"  # no RMW in FF3: never weak or absent
    lrgf = ladder["LRGF"]["verdict_by_model"]
    assert lrgf["capm"] == "not tested"
    # the ladder regressions run on each fund's main sample
    ff5 = smart_beta.ladder_results["ff5"]
    assert (ff5.nobs == smart_beta.results.nobs.reindex(ff5.nobs.index)).all()


def test_capm_cannot_test_a_multi_factor_or_core_label(cache) -> None:
    analysis = fx.analyze(
        ["GSLC", "LRGF", "VFMF", "SPY", "VTV"],
        offline=True,
        cache=cache,
        model="capm",
        models=None,
    )
    for fund in ("GSLC", "LRGF", "VFMF"):
        assert analysis.verdicts[fund].status == "not tested"
        assert "fewer than 2 style factors" in analysis.verdicts[fund].sentence
    assert analysis.verdicts["SPY"].status == "not tested"
    assert analysis.verdicts["VTV"].checks[0].status == "not tested"


# ------------------------------------------------------------------------------------- time


def test_share_of_windows_and_last_window_from_the_rolling_fit(smart_beta) -> None:
    check = smart_beta.verdicts["MTUM"].checks[0]
    rolling = smart_beta.rolling
    beta = rolling.params.xs("MTUM", level=0)["MOM"]
    t = rolling.tvalues.xs("MTUM", level=0)["MOM"]
    delivered = (beta >= 0.10) & (t >= 2)
    assert check.robustness["windows"] == len(beta)
    assert check.robustness["share_of_windows"] == pytest.approx(delivered.mean())
    assert check.robustness["last_window_beta"] == pytest.approx(beta.iloc[-1])
    assert 0 <= check.robustness["drift_p"] <= 1
    assert "of 36-month windows" in smart_beta.verdicts["MTUM"].sentence
    drift = smart_beta.drift.loc[("MTUM", "MOM")]
    assert check.robustness["drift_p"] == drift["p_value"]
    # drift is called only when the robust and the classical test both reject
    assert drift["p_value"] == max(drift["p_hc0"], drift["p_classical"])
    qgro = smart_beta.drift.loc[("QGRO", "RMW")]  # 86 months: HC0 alone would call drift
    assert qgro["p_hc0"] < 0.05 <= qgro["p_classical"]
    assert "no style drift" in smart_beta.verdicts["QGRO"].sentence
    assert check.robustness["drift_break"] == str(drift["break_period"])


# ------------------------------------------------------------------------- multiple testing


def test_bh_qvalues_equal_statsmodels(smart_beta) -> None:
    from statsmodels.stats.multitest import multipletests

    pvalues = smart_beta.results.pvalues.drop(columns="alpha")
    ours = bh_qvalues(smart_beta.results.pvalues)
    flat = pvalues.to_numpy().ravel()
    finite = np.isfinite(flat)
    expected = np.full(flat.shape, np.nan)
    expected[finite] = multipletests(flat[finite], method="fdr_bh")[1]
    np.testing.assert_allclose(ours.to_numpy().ravel(), expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(smart_beta.qvalues.to_numpy(), ours.to_numpy(), rtol=1e-12)


def test_bh_qvalues_leave_nan_out_of_the_family() -> None:
    p = pd.DataFrame({"alpha": [0.1, 0.2], "HML": [0.01, np.nan], "VOL": [0.04, 0.03]})
    q = bh_qvalues(p)
    assert np.isnan(q.loc[1, "HML"])
    from statsmodels.stats.multitest import multipletests

    np.testing.assert_allclose(
        q.to_numpy()[np.isfinite(q.to_numpy())],
        multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1],
    )


def test_any_factor_set_and_a_pinned_vintage(tmp_path) -> None:
    analysis = fx.analyze(
        ["VTV", "SPY"], offline=True, cache=Cache(tmp_path), factors="Mkt-RF,SMB,HML,MOM"
    )
    assert analysis.meta["model"] == "custom"
    assert list(analysis.results.params.columns) == ["alpha", "Mkt-RF", "SMB", "HML", "MOM"]
    assert analysis.verdicts["VTV"].checks[0].status == "delivers"
    carhart = fx.analyze(["VTV"], offline=True, cache=Cache(tmp_path), model="carhart", models=None)
    np.testing.assert_allclose(
        analysis.results.params.loc["VTV"], carhart.results.params.loc["VTV"], atol=1e-12
    )
    with pytest.raises(fx.AllFailedError, match=r"vintage 201001 of dataset .* is not at hand"):
        fx.analyze(["VTV"], offline=True, cache=Cache(tmp_path), vintage="201001", models=None)


def test_report_names_each_factors_source(tmp_path) -> None:
    from factorxray.report import write_report

    analysis = fx.analyze(
        ["VTV"], offline=True, cache=Cache(tmp_path), factors="Mkt-RF,SMB,HML,MOM", models=None
    )
    out = write_report(analysis, tmp_path / "r", png=False).parent
    run = json.loads((out / "summary.json").read_text())["run"]
    assert run["factor_sources"]["MOM"] == "F-F_Momentum_Factor"
    assert run["rf_source"] == "F-F_Research_Data_Factors"
    page = (out / "index.html").read_text().replace("<wbr>", "")  # the header's wrap marks
    assert "MOM: F-F_Momentum_Factor (kenfrench, 202511)" in page


def test_factor_months_missing_inside_a_sample_are_announced(smart_beta) -> None:
    """A hole in the factor data (three months of HML gone) is left out and said so."""
    from factorxray.analysis import build_analysis

    factors = smart_beta.factors.copy()
    factors.loc["2010-03":"2010-05", "HML"] = np.nan
    funds = smart_beta.universe.subset(["VTV", "QGRO"])  # QGRO starts 2018: not concerned
    holed = build_analysis(funds, factors, smart_beta.returns[["VTV", "QGRO"]], drift=False)
    (line,) = holed.warnings["VTV"]
    assert line == (
        "VTV: 3 months inside its sample have no factor data (2010-03, 2010-04, 2010-05) "
        "and are left out of the regression"
    )
    assert "QGRO" not in holed.warnings
    assert int(holed.results.nobs["VTV"]) == int(smart_beta.results.nobs["VTV"]) - 3
    assert not any("no factor data" in w for ws in smart_beta.warnings.values() for w in ws)


def _attribution_reference(results, excess, factors) -> pd.DataFrame:
    """The attribution as first written, in pandas: labels, ``insert`` and ``sum(axis=1)``."""
    from factorxray.analysis import _sample_mask

    terms = list(results.params.columns)
    names = [t for t in terms if t != "alpha"]
    funds = list(results.params.index)
    x = factors[names].reindex(excess.index).to_numpy(dtype=float)
    y = excess[funds].to_numpy(dtype=float)
    usable = _sample_mask(excess.index, results, funds) & np.isfinite(y)
    usable &= np.isfinite(x).all(axis=1)[:, None]
    count = usable.sum(axis=0)
    factor_means = (np.where(usable, 1.0, 0.0).T @ np.nan_to_num(x)) / count[:, None]
    fund_means = np.where(usable, y, 0.0).sum(axis=0) / count
    beta = results.params.loc[funds, names].to_numpy(dtype=float)
    table = pd.DataFrame(beta * factor_means * 12.0, index=funds, columns=names)
    table.insert(0, "alpha", results.params.loc[funds, "alpha"].to_numpy() * 12.0)
    table["fitted"] = table.sum(axis=1)
    table["total"] = fund_means * 12.0
    return table


def test_return_attribution_equals_the_pandas_formulation_to_the_bit(smart_beta) -> None:
    """Funds of two models side by side (VOL missing for some, as outside the US)."""
    from factorxray.analysis import return_attribution
    from factorxray.engine import regress
    from factorxray.results import combine_results

    factors, excess = smart_beta.factors, smart_beta.excess_returns
    ff6 = [c for c in factors.columns if c not in ("VOL", "RF")]
    parts = [
        regress(excess[["SPY", "VTV", "QGRO"]], factors),
        regress(excess[["MTUM", "USMV", "QUAL"]], factors[ff6]),
    ]
    results = combine_results(parts, ["MTUM", "SPY", "USMV", "VTV", "QUAL", "QGRO"])
    assert results.params["VOL"].isna().sum() == 3
    ours = return_attribution(results, excess, factors)
    pd.testing.assert_frame_equal(
        ours, _attribution_reference(results, excess, factors), check_exact=True
    )
    np.testing.assert_allclose(ours["fitted"], ours["total"], rtol=1e-12)
    assert list(ours.columns) == ["alpha", *ff6, "VOL", "fitted", "total"]
    # frames built from row-major arrays (pandas hands out their values row-major), a
    # shorter factor history: the same bits as pandas' reindex and label picks
    rowwise = {
        name: pd.DataFrame(np.ascontiguousarray(f.to_numpy()), index=f.index, columns=f.columns)
        for name, f in (("excess", excess), ("factors", factors.iloc[24:][[*ff6, "VOL"]]))
    }
    pd.testing.assert_frame_equal(
        return_attribution(results, rowwise["excess"], rowwise["factors"]),
        _attribution_reference(results, rowwise["excess"], rowwise["factors"]),
        check_exact=True,
    )
    for fund in ("SPY", "QGRO"):  # one fund: the means' matrix products depend on the layout
        alone = regress(excess[[fund]], factors)
        pd.testing.assert_frame_equal(
            return_attribution(alone, excess[[fund]], factors),
            _attribution_reference(alone, excess[[fund]], factors),
            check_exact=True,
        )


def test_ladder_and_region_fit_equal_their_own_regressions(smart_beta) -> None:
    """The ladder's main model and the region fit's US model reuse fits of the same data:
    to the bit what their own regressions on each fund's main months give."""
    from factorxray.analysis import _within_samples
    from factorxray.engine import regress

    sample = _within_samples(smart_beta.excess_returns, smart_beta.results)
    factors = smart_beta.factors.drop(columns="RF")
    own = regress(sample, factors, cov="hac", min_obs=2)
    xray7 = smart_beta.ladder_results["xray7"]
    for table in ("params", "bse", "pvalues"):
        pd.testing.assert_frame_equal(getattr(xray7, table), getattr(own, table), check_exact=True)
    ff5 = regress(sample, factors[["Mkt-RF", "SMB", "HML", "RMW", "CMA"]], cov="nonrobust")
    us = pd.Series({fund: fits["us"] for fund, fits in smart_beta.region_fit.items()})
    np.testing.assert_array_equal(us[ff5.rsquared.index].to_numpy(), ff5.rsquared.to_numpy())
    np.testing.assert_array_equal(
        smart_beta.ladder_results["ff5"].rsquared.to_numpy(), ff5.rsquared.to_numpy()
    )
