"""Weekly and daily regressions (`analyze --frequency`), on real Ken French files and real closes.

The factor files are the real weekly (202101) and daily (202408) US 3-factor files of
tests/data (see their PROVENANCE.md), served by a loopback server; the prices are the real
adjusted closes of tests/data/prices, served like Yahoo. Expected numbers come from an
independent computation: the Ken French CSV read with pandas, fund returns taken as ratios of
closes on the file's own dates, and statsmodels OLS.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from typer.testing import CliRunner

import factorxray as fx
from factorxray.cli import app
from factorxray.errors import UsageError
from factorxray.returns import daily_total_returns, weekly_total_returns
from tests._kenfrench_server import KF_DIR, zip_routes
from tests._prices_server import PriceServer, fixture_closes
from tests._server import LoopbackServer

runner = CliRunner()
FREQ_DIR = Path(__file__).parent / "data" / "kenfrench-frequencies"
WEEKLY_ZIP = FREQ_DIR / "F-F_Research_Data_Factors_weekly_CSV.zip"
DAILY_ZIP = KF_DIR / "F-F_Research_Data_Factors_daily_CSV.zip"


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """Ken French (monthly, weekly, daily zips) and Yahoo loopback servers, set in the env."""
    kf = LoopbackServer({**zip_routes(), **zip_routes(FREQ_DIR)}).start()
    try:
        with PriceServer() as prices:
            monkeypatch.setenv("FACTORXRAY_KENFRENCH_URL", kf.url + "/")
            monkeypatch.setenv("FACTORXRAY_YAHOO_URL", prices.url)
            yield kf.url + "/", prices.url
    finally:
        kf.stop()


def _kenfrench_csv(path: Path) -> pd.DataFrame:
    """The first table of a Ken French zip, read independently (pandas, percent -> decimals)."""
    with zipfile.ZipFile(path) as archive:
        text = archive.read(archive.namelist()[0]).decode("latin-1")
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith(",Mkt-RF"))
    end = next(i for i in range(header + 1, len(lines)) if not lines[i].strip())
    table = pd.read_csv(io.StringIO("\n".join(lines[header:end])), index_col=0)
    table.index = pd.to_datetime(table.index.astype(str), format="%Y%m%d")
    table.columns = [c.strip() for c in table.columns]
    return table / 100.0


def _ratio_returns(closes: pd.Series, dates: pd.DatetimeIndex) -> pd.Series:
    """Close on each factor date over the close on the previous factor date, minus 1."""
    on_dates = closes.reindex(dates)
    return (on_dates / on_dates.shift(1) - 1.0).dropna()


def _statsmodels(
    excess: pd.Series, factors: pd.DataFrame
) -> sm.regression.linear_model.RegressionResults:
    data = pd.concat([excess.rename("y"), factors], axis=1, join="inner").dropna()
    lags = math.floor(4 * (len(data) / 100) ** (2 / 9))
    design = sm.add_constant(data[list(factors.columns)])
    return sm.OLS(data["y"], design).fit(cov_type="HAC", cov_kwds={"maxlags": lags})


def test_ken_french_dates_each_week_by_its_last_trading_day_as_we_do() -> None:
    weekly = _kenfrench_csv(WEEKLY_ZIP)
    spy = fixture_closes("SPY")
    last_day = pd.Series(spy.index, index=spy.index).groupby(spy.index.to_period("W-SUN")).last()
    kf_day = pd.Series(weekly.index, index=weekly.index.to_period("W-SUN"))
    common = last_day.index.intersection(kf_day.index)
    assert len(common) == 1462  # 1993-02 to 2021-01
    assert (last_day[common].to_numpy() == kf_day[common].to_numpy()).all()
    # Good Friday 2020 and the week of 9/11: the Thursday, the Monday
    assert pd.Timestamp("2020-04-09") in weekly.index
    assert pd.Timestamp("2001-09-10") in weekly.index
    # without the calendar, the rule knows Good Friday but not the closures at short notice
    by_rule = weekly_total_returns(spy)["SPY"]
    with_calendar = weekly_total_returns(spy, weekly.index)["SPY"]
    assert with_calendar.isna().sum() == 0
    assert [str(p) for p in by_rule[by_rule.isna()].index] == [
        "2001-09-10/2001-09-16",
        "2001-09-17/2001-09-23",
        "2004-06-07/2004-06-13",  # Friday 2004-06-11, national day of mourning
        "2004-06-14/2004-06-20",
    ]


def test_weekly_returns_equal_ratios_of_closes_on_the_files_dates() -> None:
    weekly = _kenfrench_csv(WEEKLY_ZIP)
    spy = fixture_closes("SPY")
    ours = weekly_total_returns(spy, weekly.index)["SPY"]
    expected = _ratio_returns(spy, weekly.index)
    expected.index = expected.index.to_period("W-SUN")
    common = ours.index.intersection(expected.index)
    assert len(common) == 1461
    np.testing.assert_allclose(ours[common], expected[common], rtol=0, atol=1e-15)
    # the last week of the prices (2026-07-13, a Tuesday) is still running: dropped
    assert ours.index[-1] == pd.Period("2026-07-06", "W-SUN")


def test_daily_returns_skip_a_missing_day_instead_of_spanning_it() -> None:
    daily = _kenfrench_csv(DAILY_ZIP)
    spy = fixture_closes("SPY").loc["2024-01":"2024-08"]
    gap = spy.drop(pd.Timestamp("2024-03-14"))
    ours = daily_total_returns(gap, daily.index)["SPY"]
    assert np.isnan(ours[pd.Period("2024-03-15", "D")])  # would span two days
    full = daily_total_returns(spy, daily.index)["SPY"]
    same = full.drop([pd.Period("2024-03-14", "D"), pd.Period("2024-03-15", "D")])
    pd.testing.assert_series_equal(ours.dropna(), same.iloc[0:].dropna(), check_freq=False)
    expected = spy.pct_change().dropna()
    np.testing.assert_allclose(full.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-15)


def test_spy_daily_on_the_daily_three_factors_equals_statsmodels(servers) -> None:
    analysis = fx.analyze(["SPY"], model="ff3", frequency="daily", models=None, region_fit=False)
    daily = _kenfrench_csv(DAILY_ZIP)
    spy = _ratio_returns(fixture_closes("SPY"), daily.index)
    reference = _statsmodels(spy - daily["RF"].reindex(spy.index), daily[["Mkt-RF", "SMB", "HML"]])
    res = analysis.results
    assert int(res.nobs["SPY"]) == int(reference.nobs) == 7953
    ours = res.params.loc["SPY"].to_numpy()
    np.testing.assert_allclose(ours, reference.params.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.bse.loc["SPY"], reference.bse.to_numpy(), rtol=1e-8)
    assert int(res.hac_lags["SPY"]) == 10  # floor(4 (7953/100)^(2/9)): longer than monthly's 5
    alpha = reference.params["const"]
    assert res.alpha_annualized.loc["SPY", "geometric"] == pytest.approx((1 + alpha) ** 252 - 1)
    assert analysis.meta["frequency"] == "daily"
    assert analysis.meta["periods_per_year"] == res.periods_per_year == 252
    assert analysis.meta["rolling_window"] == 252
    assert analysis.meta["min_periods"] == 756  # --min-months 36 as days
    assert str(res.start["SPY"]) == "1993-02-01" and str(res.end["SPY"]) == "2024-08-30"
    windows = analysis.rolling.params.loc["SPY"]
    assert len(windows) == 7953 - 252 + 1


def test_weekly_funds_on_the_weekly_three_factors_equal_statsmodels(servers) -> None:
    analysis = fx.analyze(["SPY", "VTV", "USMV"], model="ff3", frequency="weekly")
    weekly = _kenfrench_csv(WEEKLY_ZIP)
    res = analysis.results
    for fund in ("SPY", "VTV", "USMV"):
        returns = _ratio_returns(fixture_closes(fund), weekly.index)
        excess = returns - weekly["RF"].reindex(returns.index)
        reference = _statsmodels(excess, weekly[["Mkt-RF", "SMB", "HML"]])
        assert int(res.nobs[fund]) == int(reference.nobs)
        np.testing.assert_allclose(res.params.loc[fund], reference.params, rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.bse.loc[fund], reference.bse, rtol=1e-8)
    assert res.periods_per_year == 52
    assert analysis.meta["rolling_window"] == 156
    assert "of 156-week windows" in analysis.verdicts["USMV"].sentence
    # the ladder keeps the models that exist weekly and says why the others are skipped
    assert list(analysis.meta["ladder_skipped"]) == ["carhart", "ff5", "ff6", "xray7"]
    assert "F-F_Research_Data_Factors_weekly" in analysis.meta["ladder_skipped"]["ff5"]
    assert set(analysis.ladder["VTV"]["verdict_by_model"]) == {"capm", "ff3"}


def test_a_short_fund_is_listed_with_min_months_in_weeks(servers) -> None:
    analysis = fx.analyze(["SPY", "QGRO"], model="ff3", frequency="weekly", models=None)
    assert "QGRO" not in analysis.analyzed
    # the API's words; the command line prints them as --min-months (errors.MIN_MONTHS)
    assert "min_months=36 = 156 weeks" in analysis.failed["QGRO"]
    from factorxray.cli._common import cli_text

    assert "--min-months 36 = 156 weeks" in cli_text(analysis.failed["QGRO"])


@pytest.mark.parametrize(
    ("model", "region", "frequency", "message"),
    [
        (
            "xray7",
            "us",
            "weekly",
            r"^xray7 has no weekly data: .*\(F-F_Research_Data_Factors_weekly",
        ),
        (
            "ff5",
            "us",
            "weekly",
            r"ff5 has no weekly data: .*use --model ff3 or capm, or --frequency daily$",
        ),
        ("carhart", "us", "weekly", r"carhart has no weekly data"),
        ("ff3", "japan", "weekly", r"ff3 has no weekly data for region japan: .*use --region us"),
        (
            "xray7",
            "us",
            "daily",
            r"xray7 has no daily data: .*25_Portfolios_ME_VAR_5x5\) monthly only.*--model ff6",
        ),
        ("article7", "us", "daily", r"article7 has no daily data"),
    ],
)
def test_a_model_missing_at_a_frequency_is_one_line(model, region, frequency, message) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        fx.load_factors(model, region=region, frequency=frequency, offline=True)
    assert "\n" not in str(caught.value)
    # analyze says the same before fetching anything (no server is running)
    with pytest.raises(UsageError, match=message):
        fx.analyze(["SPY"], model=model, region=region, frequency=frequency)


def test_cli_weekly_end_to_end_says_the_frequency(servers, tmp_path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        ["analyze", "SPY", "USMV", "--model", "ff3", "--frequency", "weekly", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "weekly returns" in result.stdout
    assert "the model ladder skips carhart, ff5, ff6, xray7 (no weekly data" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    run = summary["run"]
    assert run["frequency"] == "weekly" and run["periods_per_year"] == 52
    assert run["rolling_window"] == 156 and run["min_periods"] == 156
    spy = next(entry for entry in summary["funds"] if entry["fund"] == "SPY")
    assert spy["nobs"] == 1461
    exposures = pd.read_csv(out / "exposures.csv")
    assert set(exposures["factor"]) >= {"Mkt-RF", "SMB", "HML"}
    html = (out / "index.html").read_text()
    assert "(weekly returns; the model ladder skips carhart, ff5, ff6, xray7" in html


def test_cli_rolling_window_and_missing_model(servers, tmp_path) -> None:
    out = tmp_path / "r"
    result = runner.invoke(
        app,
        [
            "analyze",
            "SPY",
            "--model",
            "ff3",
            "--frequency",
            "daily",
            "--rolling-window",
            "500",
            "--models",
            "capm,ff3",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["run"]["rolling_window"] == 500
    bad = runner.invoke(app, ["analyze", "SPY", "--frequency", "weekly", "--out", str(out)])
    assert bad.exit_code == 2
    assert "xray7 has no weekly data" in bad.stderr and bad.stderr.count("\n") == 1
