"""Factor libraries beyond Ken French, on real files from loopback servers, and any mix of them.

q-factors (global-q.org), AQR's workbooks (BAB, QMJ, HML Devil, UMD, MKT, RF), Pastor-Stambaugh
liquidity, Ken French's short-term reversal, fund-defined spreads and the user's own file:
parsed values against the published ones (read independently of the package), the cache,
vintage stamps, offline use, faults, and mixed models against an independent OLS.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import factorxray as fx
from factorxray.data.cache import Cache
from factorxray.errors import DataSourceError, NotCachedError, ParseError, UsageError
from factorxray.factors import load_factors
from factorxray.factors.catalog import MIXED_MODELS, load_factor_set, resolve_factors
from factorxray.factors.libraries import aqr, liquidity, q
from factorxray.factors.libraries.fund_factors import fund_factor_returns, parse_fund_factor
from factorxray.factors.libraries.user import read_user_factors
from tests._kenfrench_server import OTHER_DIR, all_factor_server, library_env
from tests._server import Reply
from tests.test_factors import raw_monthly

DATA = Path(__file__).parent / "data"
BAB_FILE = OTHER_DIR / "Betting Against Beta Equity Factors Monthly.xlsx"
QMJ_FILE = OTHER_DIR / "Quality Minus Junk Factors Monthly.xlsx"
DEVIL_FILE = OTHER_DIR / "The Devil in HMLs Details Factors Monthly.xlsx"
ETF_PRICES = DATA / "prices" / "etf-prices"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    """A loopback server with every real library file; the clients' base URLs point at it."""
    started = all_factor_server()
    for name, value in library_env(started.url).items():
        monkeypatch.setenv(name, value)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


def raw_q() -> pd.DataFrame:
    """The q5 file read with the csv module, in percent, keyed by month."""
    with open(OTHER_DIR / "q5_factors_monthly_2023.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    index = pd.PeriodIndex([f"{r['year']}-{int(r['month']):02d}" for r in rows], freq="M")
    return pd.DataFrame(
        {k: [float(r[k]) for r in rows] for k in ("R_F", "R_MKT", "R_ME", "R_IA", "R_ROE", "R_EG")},
        index=index,
    )


def raw_aqr(path: Path, sheet: str, column: str = "USA") -> pd.Series:
    """One column of an AQR sheet via calamine's raw cells (header row located by hand)."""
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    header = next(i for i, row in enumerate(rows) if row and row[0] == "DATE")
    position = rows[header].index(column)
    out = {}
    for row in rows[header + 1 :]:
        if not row or row[0] in ("", None) or row[position] in ("", None):
            continue
        when = row[0]
        period = (
            pd.Period(f"{when[6:10]}-{when[0:2]}", "M")
            if isinstance(when, str)
            else pd.Period(when, "M")
        )
        out[period] = float(row[position])
    return pd.Series(out)


# ----------------------------------------------------------------------------- q-factors


def test_q_factors_parse_and_equal_the_published_percent(server, cache) -> None:
    data = q.read_q_factors("monthly", cache=cache)
    table = data.section()
    raw = raw_q()
    assert data.vintage == "2023" and data.name == "q5_factors_monthly_2023"
    assert list(table.columns) == ["RF", "Mkt-RF", "ME", "IA", "ROE", "EG"]
    assert table.index.equals(raw.index) and len(table) == 684
    np.testing.assert_array_equal(table["ROE"].to_numpy(), raw["R_ROE"].to_numpy())
    assert table.loc["1967-01", "Mkt-RF"] == 8.1852  # the first row, as published
    assert cache.get("qfactors", "q5_factors_monthly_2023.csv").meta["vintage"] == "2023"


def test_q_newest_year_is_found_by_asking_then_served_from_the_cache(server, cache) -> None:
    q.read_q_factors("monthly", cache=cache)
    asked = [r.path for r in server.requests]
    assert asked[-1] == "/q/q5_factors_monthly_2023.csv"
    assert asked[0].startswith("/q/q5_factors_monthly_20") and len(asked) >= 2  # newer: 404
    before = len(server.requests)
    q.read_q_factors("monthly", cache=cache)  # fresh in the cache: no request at all
    assert len(server.requests) == before
    offline = q.read_q_factors("monthly", cache=Cache(cache.root), offline=True)
    assert offline.vintage == "2023"


def test_q_models_load_q4_and_q5_in_decimals_with_q_rf(server, cache) -> None:
    q5 = load_factors("q5", cache=cache)
    raw = raw_q()
    assert list(q5.columns) == ["Mkt-RF", "ME", "IA", "ROE", "EG", "RF"]
    np.testing.assert_allclose(q5["EG"].to_numpy(), raw["R_EG"].to_numpy() / 100, rtol=0, atol=0)
    np.testing.assert_allclose(q5["RF"].to_numpy(), raw["R_F"].to_numpy() / 100, rtol=0, atol=0)
    assert q5.attrs["vintages"] == {"q5_factors_monthly_2023": "2023"}
    q4 = load_factors("q4", cache=cache, start="2000-01", end="2000-12")
    assert list(q4.columns) == ["Mkt-RF", "ME", "IA", "ROE", "RF"] and len(q4) == 12


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "q5", "region": "developed"}, "needs Mkt-RF, which exists only for: us"),
        ({"model": "ff6bq", "region": "emerging"}, "needs BAB, which exists only for: us"),
        ({"model": "q5", "vintage": "20x1"}, "is not YYYYMM"),
    ],
)
def test_models_without_the_region_say_so(kwargs, message, cache) -> None:
    with pytest.raises(UsageError, match=message):
        load_factors(**kwargs, cache=cache, offline=True)


def test_q_weekly_and_daily_have_their_own_files_and_no_year_is_a_usage_error(
    server, cache
) -> None:
    with pytest.raises(UsageError, match=r"no weekly q-factor file at .* HTTP 404"):
        q.read_q_factors("weekly", cache=cache)
    with pytest.raises(UsageError, match="has no 'quarterly' file"):
        q.read_q_factors("quarterly", cache=cache)
    assert [r.path for r in server.requests][-1].startswith("/q/q5_factors_weekly_")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>moved</html>", "has no column"),
        (
            b"year,month,R_F,R_MKT,R_ME,R_IA,R_ROE\n2023,1,0.3,1,2,3\n",
            "6 fields where the header has 7",
        ),
        (b"year,month,R_F,R_MKT,R_ME,R_IA,R_ROE\n2023,1,0.3,1,2,3,x\n", "'x' is not a number"),
        (
            b"year,month,R_F,R_MKT,R_ME,R_IA,R_ROE\n2023,1,0,1,2,3,4\n2023,1,0,1,2,3,4\n",
            "appears twice",
        ),
        (b"year,month,R_F,R_MKT,R_ME,R_IA,R_ROE\n2023,13,0,1,2,3,4\n", "invalid dates"),
    ],
)
def test_malformed_q_files_are_one_line_and_never_cached(
    loopback, cache, monkeypatch, body, message
) -> None:
    loopback.routes["/q/q5_factors_monthly_2026.csv"] = lambda r: Reply(200, body)
    monkeypatch.setenv("FACTORXRAY_QFACTORS_URL", loopback.url + "/q/")
    with pytest.raises(ParseError, match=message) as info:
        q.read_q_factors("monthly", vintage=2026, cache=cache)
    assert "\n" not in str(info.value)
    assert cache.get("qfactors", "q5_factors_monthly_2026.csv") is None


def test_a_bad_download_keeps_the_good_cached_copy(loopback, cache, monkeypatch) -> None:
    good = (OTHER_DIR / "q5_factors_monthly_2023.csv").read_bytes()
    answers = [Reply(200, good), Reply(200, b"year,month\n"), Reply(500, b"down")]
    loopback.routes["/q/q5_factors_monthly_2023.csv"] = lambda r: answers.pop(0)
    monkeypatch.setenv("FACTORXRAY_QFACTORS_URL", loopback.url + "/q/")
    monkeypatch.setenv("FACTORXRAY_HTTP_RETRIES", "0")
    q.read_q_factors("monthly", vintage="2023", cache=cache)
    with pytest.raises(ParseError):
        q.read_q_factors("monthly", vintage="2023", cache=cache, refresh=True)
    with pytest.raises(DataSourceError, match=r"a cached copy from .* is kept"):
        q.read_q_factors("monthly", vintage="2023", cache=cache, refresh=True)
    assert cache.get("qfactors", "q5_factors_monthly_2023.csv").data == good


def test_offline_without_the_file_is_one_line(cache) -> None:
    with pytest.raises(NotCachedError, match="no monthly q-factor file is in the cache"):
        q.read_q_factors("monthly", cache=cache, offline=True)
    with pytest.raises(NotCachedError, match="AQR workbook Betting-Against-Beta"):
        aqr.read_aqr("bab", cache=cache, offline=True)
    with pytest.raises(NotCachedError, match="Pastor-Stambaugh liquidity file"):
        liquidity.read_liquidity(cache=cache, offline=True)


# ----------------------------------------------------------------------------- liquidity


def test_liquidity_traded_factor_equals_the_published_column(server, cache) -> None:
    data = liquidity.read_liquidity(cache=cache)
    table = data.section()
    raw = {}
    for line in (OTHER_DIR / "liq_data_1962_2023.txt").read_text().splitlines():
        if line.startswith("%"):
            continue
        fields = line.split("\t")
        raw[fields[0]] = float(fields[3])
    assert data.vintage == "2023" and len(table) == len(raw) == 737
    assert table["LIQ"].isna().sum() == 65 == sum(v == -99 for v in raw.values())
    assert table["LIQ"].first_valid_index() == pd.Period("1968-01", "M")
    assert table.loc["2023-12", "LIQ"] == raw["202312"] == 0.03728561
    assert table.loc["1968-01", "LIQ"] == raw["196801"]


def test_liquidity_rejects_a_file_that_is_not_it() -> None:
    with pytest.raises(ParseError, match="neither a comment"):
        liquidity.parse_liquidity(b"<html>\n", "liq_data_1962_2024")
    with pytest.raises(ParseError, match="2 values where 3 are expected"):
        liquidity.parse_liquidity(b"196801\t0.1\t0.2\n", "liq_data_1962_2024")


# ----------------------------------------------------------------------------- AQR


@pytest.mark.parametrize(
    ("dataset", "path", "sheet", "vintage", "first", "last_usa"),
    [
        ("bab", BAB_FILE, "BAB Factors", "202102", "1930-12", -0.0197620004959),
        ("qmj", QMJ_FILE, "QMJ Factors", "202109", "1957-07", -0.0197435160891),  # Excel dates
        ("hml_devil", DEVIL_FILE, "HML Devil", "202306", "1926-07", 0.008752587221816942),
    ],
)
def test_aqr_workbooks_parse_by_structure_with_their_vintage(
    server, cache, dataset, path, sheet, vintage, first, last_usa
) -> None:
    data = aqr.read_aqr(dataset, cache=cache)
    main = data.section(sheet)
    assert next(iter(data.sections)) == sheet and data.vintage == vintage
    assert {"MKT", "SMB", "HML FF", "UMD", "RF"} <= set(data.sections)
    assert main["USA"].first_valid_index() == pd.Period(first, "M")
    assert main["USA"].iloc[-1] == last_usa
    raw = raw_aqr(path, sheet)
    pd.testing.assert_series_equal(
        main["USA"].dropna(), raw, check_names=False, check_index_type=False, check_freq=False
    )
    assert list(main.columns[-5:]) == [
        "Global",
        "Global Ex USA",
        "Europe",
        "North America",
        "Pacific",
    ]


def test_aqr_parsed_twin_serves_a_warm_load_without_parsing_again(
    server, cache, monkeypatch
) -> None:
    first = aqr.read_aqr("bab", cache=cache)
    twin = cache.get("aqr", "Betting-Against-Beta-Equity-Factors-Monthly.xlsx.parsed.parquet")
    assert (
        twin is not None
        and twin.meta["source_sha256"]
        == cache.get("aqr", "Betting-Against-Beta-Equity-Factors-Monthly.xlsx").meta["sha256"]
    )

    def refuse(*args, **kwargs):
        raise AssertionError("parsed the workbook again")

    monkeypatch.setattr(aqr, "parse_aqr_workbook", refuse)
    aqr._parse_cached.cache_clear()
    again = aqr.read_aqr("bab", cache=cache, sheets=("UMD",), countries=("USA", "JPN"))
    assert list(again.sections) == ["UMD"] and set(again.section("UMD").columns) == {"USA", "JPN"}
    pd.testing.assert_series_equal(
        again.section("UMD")["USA"], first.section("UMD")["USA"].dropna(), check_freq=False
    )


def test_aqr_regions_map_to_its_aggregates(server, cache) -> None:
    factors = load_factor_set("BAB,UMD", region="developed", cache=cache)
    raw = raw_aqr(BAB_FILE, "BAB Factors", "Global")
    assert factors.loc["2021-02", "BAB"] == raw.loc[pd.Period("2021-02", "M")] == 0.00632387864487
    assert factors.loc["2021-02", "UMD"] == -0.0650064439646  # the BAB workbook's UMD, Global
    assert factors.attrs["rf_source"] == "Betting-Against-Beta-Equity-Factors-Monthly"
    with pytest.raises(UsageError, match="not published for region emerging"):
        load_factor_set("BAB", region="emerging", cache=cache)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not a zip at all", "is not a readable xlsx file"),
        (b"PK\x03\x04garbage", "is not a readable xlsx file"),
    ],
)
def test_malformed_workbooks_are_one_line_and_not_cached(
    loopback, cache, monkeypatch, body, message
) -> None:
    loopback.routes["/aqr/Quality-Minus-Junk-Factors-Monthly.xlsx"] = lambda r: Reply(200, body)
    monkeypatch.setenv("FACTORXRAY_AQR_URL", loopback.url + "/aqr/")
    with pytest.raises(ParseError, match=message) as info:
        aqr.read_aqr("qmj", cache=cache)
    assert "\n" not in str(info.value)
    assert cache.get("aqr", "Quality-Minus-Junk-Factors-Monthly.xlsx") is None


def test_a_workbook_without_the_data_sets_sheet_is_refused() -> None:
    with pytest.raises(ParseError, match="has no sheet 'BAB Factors'"):
        aqr.parse_aqr_workbook(QMJ_FILE.read_bytes(), "qmj", "BAB Factors")


def test_aqr_404_is_a_usage_error_naming_the_variable(loopback, cache, monkeypatch) -> None:
    monkeypatch.setenv("FACTORXRAY_AQR_URL", loopback.url + "/aqr/")
    with pytest.raises(UsageError, match=r"not found .* set FACTORXRAY_AQR_URL"):
        aqr.read_aqr("bab", cache=cache)


# ----------------------------------------------------------------------------- mixes


def test_ff6bq_is_ff5_mom_bab_qmj_on_common_months(server, cache) -> None:
    factors = load_factors("ff6bq", cache=cache)
    five = raw_monthly("F-F_Research_Data_5_Factors_2x3")
    mom = raw_monthly("F-F_Momentum_Factor")
    bab = raw_aqr(BAB_FILE, "BAB Factors")
    qmj = raw_aqr(QMJ_FILE, "QMJ Factors")
    common = five.index.intersection(mom.index).intersection(bab.index).intersection(qmj.index)
    assert list(factors.columns) == [
        *MIXED_MODELS["ff6bq"][0:0],
        "Mkt-RF",
        "SMB",
        "HML",
        "RMW",
        "CMA",
        "MOM",
        "BAB",
        "QMJ",
        "RF",
    ]
    assert factors.index.equals(common) and factors.index[-1] == pd.Period("2021-02", "M")
    np.testing.assert_array_equal(
        factors["HML"].to_numpy(), five.loc[common, "HML"].to_numpy() / 100
    )
    np.testing.assert_array_equal(factors["RF"].to_numpy(), five.loc[common, "RF"].to_numpy() / 100)
    np.testing.assert_array_equal(factors["BAB"].to_numpy(), bab.loc[common].to_numpy())
    np.testing.assert_array_equal(factors["QMJ"].to_numpy(), qmj.loc[common].to_numpy())
    assert factors.attrs["vintages"] == {
        "F-F_Research_Data_5_Factors_2x3": "202511",
        "F-F_Momentum_Factor": "202511",
        "Betting-Against-Beta-Equity-Factors-Monthly": "202102",
        "Quality-Minus-Junk-Factors-Monthly": "202109",
    }
    assert factors.attrs["limited_by"]["end"] == ["Betting-Against-Beta-Equity-Factors-Monthly"]
    assert factors.attrs["factor_sources"]["QMJ"] == "Quality-Minus-Junk-Factors-Monthly"


def test_any_set_from_any_source_with_reversal_liquidity_and_qualified_names(server, cache) -> None:
    factors = load_factor_set("Mkt-RF, q:ROE, STREV, LIQ, hml-devil", cache=cache)
    assert list(factors.columns) == ["Mkt-RF", "ROE", "STREV", "LIQ", "HML_DEVIL", "RF"]
    month = pd.Period("2020-03", "M")
    strev = raw_monthly("F-F_ST_Reversal_Factor")
    assert factors.loc[month, "STREV"] == strev.loc[month, "ST_Rev"] / 100
    assert factors.loc[month, "ROE"] == raw_q().loc[month, "R_ROE"] / 100
    assert factors.loc[month, "HML_DEVIL"] == raw_aqr(DEVIL_FILE, "HML Devil").loc[month]
    assert factors.index[0] == pd.Period("1968-01", "M")  # LIQ starts last
    assert factors.index[-1] == pd.Period("2023-06", "M")  # HML Devil's vintage ends first
    assert factors.attrs["rf_source"] == "F-F_Research_Data_Factors"
    assert set(factors.attrs["libraries"].values()) == {"kenfrench", "q", "liquidity", "aqr"}


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ("Mkt-RF,QMJJ", r"unknown factor 'QMJJ'; did you mean QMJ\?"),
        ("Mkt-RF,SMB,smb", "factor SMB is listed twice"),
        ("Mkt-RF,q:Mkt-RF", r"two factors are named Mkt-RF \(kenfrench:Mkt-RF and q:Mkt-RF\)"),
        ("Mkt-RF,RF", "RF is added by itself"),
        ("aqr:ROE", "the aqr library has no factor 'ROE'"),
        ("nasa:BAB", "unknown factor library 'nasa'"),
        ("TERM=TLT", "is not NAME=LONG-SHORT"),
        ("", "no factors given"),
    ],
)
def test_bad_factor_lists_are_one_line_usage_errors(names, message) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_factors(names)


def test_unpublished_frequency_and_region_are_named(cache) -> None:
    with pytest.raises(UsageError, match="factor BAB is not published weekly"):
        load_factor_set("BAB", frequency="weekly", cache=cache, offline=True)
    with pytest.raises(UsageError, match=r"factor ME .* not published for region japan"):
        load_factor_set("ME", region="japan", cache=cache, offline=True)
    with pytest.raises(UsageError, match=r"factor STREV .* not published for region europe"):
        load_factor_set("HML,STREV", region="europe", cache=cache, offline=True)


def test_mixed_model_regressed_on_real_funds_matches_an_independent_ols(server, cache) -> None:
    factors = load_factor_set("Mkt-RF,SMB,HML,QMJ,BAB", cache=cache)
    returns = fx.fetch_returns(
        ["SPY", "USMV", "QUAL"], source="file", prices_file=ETF_PRICES, cache=cache
    )
    excess = fx.excess_returns(returns, factors)
    res = fx.regress(excess, factors, cov="nonrobust")
    names = ["Mkt-RF", "SMB", "HML", "QMJ", "BAB"]
    for fund in ("SPY", "USMV", "QUAL"):
        y = (returns[fund] - factors["RF"]).dropna()
        months = y.index.intersection(factors.index)
        X = np.column_stack([np.ones(len(months)), factors.loc[months, names].to_numpy()])
        beta, *_ = np.linalg.lstsq(X, y.loc[months].to_numpy(), rcond=None)
        got = res.params.loc[fund, ["alpha", *names]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, beta, rtol=0, atol=1e-10)
    assert res.params.loc["USMV", "BAB"] > 0  # a low-volatility fund loads on betting-against-beta


def test_offline_mix_after_a_warm_load_makes_no_request(server, cache) -> None:
    load_factors("ff6bq", cache=cache)
    before = len(server.requests)
    again = load_factors("ff6bq", cache=cache, offline=True)
    assert len(server.requests) == before and again.index[-1] == pd.Period("2021-02", "M")


# ----------------------------------------------------------------------------- your own factors


def test_user_factor_file_percent_csv_and_decimal_parquet(tmp_path, server, cache) -> None:
    csv_path = tmp_path / "mine.csv"
    csv_path.write_text("date,MYF,RF\n2020-01,1.5,0.1\n2020-02,-0.5,0.1\n2020-03,2.0,0.2\n")
    parsed = read_user_factors(csv_path, "percent")
    assert parsed.decimals()["MYF"].tolist() == [0.015, -0.005, 0.02]
    assert parsed.vintage.startswith("sha256:")
    frame = pd.DataFrame(
        {"date": ["2020-01-31", "2020-02-29", "2020-03-31"], "MYF": [0.015, -0.005, 0.02]}
    )
    parquet = tmp_path / "mine.parquet"
    frame.to_parquet(parquet)
    assert read_user_factors(parquet, "decimal").section()["MYF"].tolist() == [0.015, -0.005, 0.02]
    mixed = load_factor_set("Mkt-RF,MYF", factor_file=parquet, factor_units="decimal", cache=cache)
    assert list(mixed.columns) == ["Mkt-RF", "MYF", "RF"] and len(mixed) == 3
    assert mixed.attrs["rf_source"] == "F-F_Research_Data_Factors"
    own = load_factors(factor_file=csv_path, factor_units="percent", cache=cache)
    assert list(own.columns) == ["MYF", "RF"] and own.attrs["rf_source"] == "user:mine.csv"


@pytest.mark.parametrize(
    ("text", "units", "message"),
    [
        (
            "date,X\n2020-01,1\n2020-01,2\n",
            "percent",
            r"date 2020-01 appears twice \(rows 2 and 3\)",
        ),
        (
            "date,X\n2020-01-02,1\n2020-01-02,2\n2020-01-03,1\n",
            "percent",
            "date 2020-01-02 appears twice",
        ),
        ("date,X\n2020-01,1.5\n2020-02,3\n", "decimal", "are they percent"),
        ("date,X\n2020-01,1.5\n", None, "pass factor_units='percent' or factor_units='decimal'"),
        ("date,X\n2020-01,abc\n", "percent", "a value is not a number"),
        ("date,X\nlast year,1\n", "percent", "are not YYYY-MM"),
        ("date\n2020-01\n", "percent", "at least one factor column"),
    ],
)
def test_bad_user_files_are_one_line(tmp_path, text, units, message) -> None:
    path = tmp_path / "f.csv"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        read_user_factors(path, units)


def test_a_user_column_named_like_a_library_factor_must_be_qualified(tmp_path, cache) -> None:
    path = tmp_path / "f.csv"
    path.write_text("date,HML\n2020-01,1\n")
    with pytest.raises(UsageError, match="write user:HML or kenfrench:HML"):
        load_factor_set("HML", factor_file=path, factor_units="percent", cache=cache)


# ----------------------------------------------------------------------------- fund-defined


def test_fund_spread_is_long_minus_short_total_returns(cache) -> None:
    spread = fund_factor_returns(
        {"VALUE": ("VTV", "SPY")}, source="file", prices_file=ETF_PRICES, cache=cache
    )
    closes = {}
    for ticker in ("VTV", "SPY"):
        daily = pd.read_csv(ETF_PRICES / f"{ticker}.csv.gz", index_col=0, parse_dates=True)["Close"]
        month_end = daily.groupby(daily.index.to_period("M")).last()
        closes[ticker] = month_end.pct_change()
    month = pd.Period("2020-03", "M")
    assert spread.loc[month, "VALUE"] == pytest.approx(
        closes["VTV"][month] - closes["SPY"][month], abs=1e-12
    )
    assert spread.attrs["funds"] == {"VALUE": ("VTV", "SPY")}
    assert parse_fund_factor("TERM=tlt-bil") == ("TERM", "TLT", "BIL")


def test_fund_factors_in_a_mix_and_a_missing_fund(server, cache) -> None:
    factors = load_factor_set(
        "Mkt-RF,VALUE=VTV-SPY", cache=cache, price_source="file", prices_file=ETF_PRICES
    )
    assert list(factors.columns) == ["Mkt-RF", "VALUE", "RF"]
    assert factors.index[0] == pd.Period("2004-02", "M")  # VTV's first close is 2004-01-30
    with pytest.raises(
        DataSourceError, match=r"fund-defined factor\(s\) TERM: .*BIL: no file BIL.csv"
    ):
        load_factor_set("TERM", cache=cache, price_source="file", prices_file=ETF_PRICES)


def test_reversal_zip_fixture_is_the_real_202511_file() -> None:
    with zipfile.ZipFile(DATA / "kenfrench" / "F-F_ST_Reversal_Factor_CSV.zip") as archive:
        text = archive.read("F-F_ST_Reversal_Factor.csv").decode("ascii")
    assert text.startswith("This file was created using the 202511 CRSP database.")
    assert io.StringIO(text).read().count("\r\n") > 1000


# ----------------------------------------------------------------------------- fuzzing

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=400)
    | st.text(alphabet="0123456789,.-%\t\n year,month,R_F", max_size=300).map(str.encode)
)
def test_parsers_raise_only_parse_errors_on_any_bytes(data: bytes) -> None:
    for parse in (
        lambda: q.parse_q_csv(data, "q5_factors_monthly_2024"),
        lambda: liquidity.parse_liquidity(data, "liq_data_1962_2024"),
        lambda: aqr.parse_aqr_workbook(data, "bab", "BAB Factors"),
    ):
        try:
            parse()
        except ParseError as exc:
            assert "\n" not in str(exc)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=len(QMJ_FILE.read_bytes()) - 1))
def test_a_truncated_workbook_is_a_parse_error(cut: int) -> None:
    with pytest.raises(ParseError):
        aqr.parse_aqr_workbook(QMJ_FILE.read_bytes()[:cut], "qmj", "QMJ Factors")
