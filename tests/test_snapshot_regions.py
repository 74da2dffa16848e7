"""The bundled snapshot in every Ken French region, and the 13 international funds' prices.

Everything here runs offline: the factor files come from the package's snapshot (the cache is
an empty temporary folder and the library URL points at a closed port), and the reference
values are computed independently of factorxray's parser from the published CSV bytes (whose
sha256 is checked against the shared data's provenance) and from the daily adjusted closes
of ``tests/data/prices/etf-prices-intl`` (real files, see the PROVENANCE.md there).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import factorxray as fx
from factorxray import presets, snapshot
from factorxray.data.cache import Cache
from factorxray.errors import UsageError
from factorxray.factors import MODELS, REGIONS, load_factors, model_sources
from factorxray.returns import excess_returns, monthly_total_returns

INTL_DIR = Path(__file__).parent / "data" / "prices" / "etf-prices-intl"
INTERNATIONAL = (
    "VEA", "IEFA", "VGK", "EWJ", "VWO", "EEM", "IEMG",
    "ACWX", "EFAV", "IMTM", "IQLT", "IVLU", "SCZ",
)  # fmt: skip
OTHER_REGIONS = tuple(r for r in REGIONS if r not in ("us", "developed"))
MONTHLY_MODELS = ("capm", "ff3", "carhart", "ff5", "ff6")

#: The published regional files (from ../shared/data/kenfrench-regions/PROVENANCE.md):
#: (region, kind) -> (sha256 of the CSV bytes, vintage, first month, last month).
PUBLISHED = {
    ("developed_ex_us", "5"): ("ad8dd2ff047482765bf786705447e08f9a5a8dd751ffacf7927a7d446f688f8c", "202602", "1990-07", "2026-02"),
    ("developed_ex_us", "mom"): ("a57327d456de9bd58b4fc4a4573c9f2016f5ab1583dbd5ca0ee71574a567d622", "202510", "1990-11", "2025-10"),
    ("developed_ex_us", "3"): ("b03dcbe9df1dd4954b1ba4a7db06e49ac64eff58a654bad9692aa646829a0db7", "202006", "1990-07", "2020-06"),
    ("europe", "5"): ("cc0cacd04cc4865fde24f3915533541503b289a1d39d271a3fa9a9ef09bf5c9c", "202402", "1990-07", "2024-02"),
    ("europe", "mom"): ("8310dc143c6146b5daf73f912ec484181f7a16ea07db0b2003a80f5792c95aaf", "202006", "1990-11", "2020-06"),
    ("europe", "3"): ("77c67d74482c82da4497ef158020e4ee125ec6d5f0f4da39add002e732fb0f82", "202510", "1990-07", "2025-10"),
    ("japan", "5"): ("3dc03119277fa2f898114a92c7b7e5edab59cb8591ab240ba95bf773a2994a9c", "202512", "1990-07", "2025-12"),
    ("japan", "mom"): ("dc7725cf76f444ebd68b8ccd90f193405546a5be257c1be8e98b97bbd837132a", "202302", "1990-11", "2023-02"),
    ("japan", "3"): ("c9076386b192283e8ac706466847550349e4304ec73177e35250692800ed6013", "202503", "1990-07", "2025-03"),
    ("asia_pacific_ex_japan", "5"): ("ca4d804bf3384a1646ded4252973c966d9144f2f44cd34fcfea97a95e4f45e10", "202208", "1990-07", "2022-08"),
    ("asia_pacific_ex_japan", "mom"): ("d3a80a6320160a2d2afb3042646478cee414f11015cc006bd0e5679e72bd00e8", "202208", "1990-11", "2022-08"),
    ("asia_pacific_ex_japan", "3"): ("d7cd742e163c7e6cce0b0edbafba36fd02d96a554055df7052ee25fc850935e2", "202509", "1990-07", "2025-09"),
    ("north_america", "5"): ("1a33b2926ee6c347bc0bcad80fb676bc344a954376c34133ea0c0493b9aedfad", "202511", "1990-07", "2025-11"),
    ("north_america", "mom"): ("774ade2b7ee8eed4be5a4c14595e167fbc7326a3057eedb19b3e9ea59dbb467a", "202006", "1990-11", "2020-06"),
    ("north_america", "3"): ("72c009098de345e10639193f727220c33d55bdc3f3ec648741fc90e65054a95a", "202006", "1990-07", "2020-06"),
    ("emerging", "5"): ("f49cb50bcec5c12f9ec1a8639105e70d1949c48880e89f6d4716ce3c289f7ca3", "202603", "1989-07", "2026-03"),
    ("emerging", "mom"): ("4a11563ace144cd64aa12bafd1371bc61ebe81684f8bd38ea3d81ec8c03ccee2", "202510", "1990-01", "2025-10"),
}  # fmt: skip

#: March 2020 as printed in each published file (percent), copied from the raw CSV text.
MARCH_2020 = {
    ("developed_ex_us", "5"): {"Mkt-RF": -13.92, "SMB": -1.56, "HML": -7.35, "RMW": 0.73, "CMA": -1.27, "RF": 0.12},
    ("developed_ex_us", "mom"): {"WML": 7.21},
    ("developed_ex_us", "3"): {"Mkt-RF": -13.93, "SMB": -0.98, "HML": -7.13, "RF": 0.12},
    ("europe", "5"): {"Mkt-RF": -15.44, "SMB": -5.06, "HML": -11.30, "RMW": 1.72, "CMA": -3.04, "RF": 0.12},
    ("europe", "mom"): {"WML": 7.62},
    ("europe", "3"): {"Mkt-RF": -15.44, "SMB": -4.22, "HML": -11.30, "RF": 0.12},
    ("japan", "5"): {"Mkt-RF": -5.21, "SMB": 0.93, "HML": -3.52, "RMW": -1.67, "CMA": 1.08, "RF": 0.12},
    ("japan", "mom"): {"WML": 4.36},
    ("japan", "3"): {"Mkt-RF": -5.21, "SMB": 1.00, "HML": -3.52, "RF": 0.12},
    ("asia_pacific_ex_japan", "5"): {"Mkt-RF": -19.08, "SMB": -2.46, "HML": 1.03, "RMW": -1.12, "CMA": 1.89, "RF": 0.12},
    ("asia_pacific_ex_japan", "mom"): {"WML": -2.80},
    ("asia_pacific_ex_japan", "3"): {"Mkt-RF": -19.08, "SMB": -2.70, "HML": 1.03, "RF": 0.12},
    ("north_america", "5"): {"Mkt-RF": -14.09, "SMB": -9.81, "HML": -10.40, "RMW": 0.12, "CMA": -1.75, "RF": 0.12},
    ("north_america", "mom"): {"WML": 6.94},
    ("north_america", "3"): {"Mkt-RF": -14.09, "SMB": -8.08, "HML": -10.39, "RF": 0.12},
    ("emerging", "5"): {"Mkt-RF": -17.09, "SMB": -3.35, "HML": -6.89, "RMW": 1.94, "CMA": -1.50, "RF": 0.12},
    ("emerging", "mom"): {"WML": 6.25},
}  # fmt: skip


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt would hit a closed port (and fail the test)."""
    monkeypatch.setenv("FACTORXRAY_KENFRENCH_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("FACTORXRAY_YAHOO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FACTORXRAY_HTTP_RETRIES", "0")


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "empty-cache")


# ------------------------------------------------------------ independent readers


def _dataset(region: str, kind: str) -> str:
    """The dataset name factorxray asks for: 3-factor, 5-factor or momentum file."""
    if kind == "mom":
        return model_sources("carhart", region)[1].dataset
    return model_sources("ff3" if kind == "3" else "ff5", region)[0].dataset


def _member_bytes(dataset: str) -> tuple[str, bytes]:
    """The one member of the bundled zip: its name and bytes (read with zipfile only)."""
    path = snapshot.snapshot_dir() / "kenfrench" / f"{dataset}_CSV.zip"
    with zipfile.ZipFile(path) as archive:
        (info,) = archive.infolist()
        return info.filename, archive.read(info)


def _published(region: str, kind: str) -> pd.DataFrame:
    """The monthly block of a published file, read with the csv module: percent, -99.99 -> NaN."""
    _, data = _member_bytes(_dataset(region, kind))
    rows = list(csv.reader(io.StringIO(data.decode("ascii"))))
    start = next(i for i, row in enumerate(rows) if row and row[0].strip() == "")
    columns = [c.strip() for c in rows[start][1:]]
    keys, values = [], []
    for row in rows[start + 1 :]:
        if not row or not re.fullmatch(r"\d{6}", row[0].strip()):
            break
        keys.append(f"{row[0].strip()[:4]}-{row[0].strip()[4:]}")
        values.append([float(cell) for cell in row[1:]])
    frame = pd.DataFrame(values, index=pd.PeriodIndex(keys, freq="M"), columns=columns)
    return frame.mask(frame == -99.99)


def _expected_factors(model: str, region: str) -> pd.DataFrame:
    """A model's factors (decimals) from the published files, joined on their common months.

    Base file: 5 factors when the model has RMW/CMA, else 3 factors (Emerging has no
    3-factor file: its 5-factor file gives Mkt-RF, SMB, HML). Momentum is ``WML``.
    """
    factors = list(MODELS[model][0])
    base_kind = "5" if {"RMW", "CMA"} & set(factors) or region == "emerging" else "3"
    base = _published(region, base_kind)
    parts = [base[[f for f in factors if f != "MOM"] + ["RF"]]]
    if "MOM" in factors:
        parts.append(_published(region, "mom")[["WML"]].rename(columns={"WML": "MOM"}))
    joined = pd.concat(parts, axis=1, join="inner").dropna()
    return joined[[*factors, "RF"]] / 100.0


def _fixture_month_ends(ticker: str) -> list[tuple[str, str]]:
    """(date, close text) of each month's last row, partial last row (2026-08-03) dropped."""
    text = gzip.decompress((INTL_DIR / f"{ticker}.csv.gz").read_bytes()).decode("ascii")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[-1]["Date"] == "2026-08-03"  # the intraday row
    last: dict[str, tuple[str, str]] = {}
    for row in rows[:-1]:
        last[row["Date"][:7]] = (row["Date"], row["Close"])
    return list(last.values())


def _fixture_monthly_returns(ticker: str) -> pd.Series:
    """Month-end close over the previous month-end close, minus 1 (no previous: no return)."""
    ends = _fixture_month_ends(ticker)
    months = pd.PeriodIndex([date[:7] for date, _ in ends], freq="M")
    assert (np.diff(months.asi8) == 1).all()  # no month missing
    closes = np.array([float(close) for _, close in ends])
    return pd.Series(closes[1:] / closes[:-1] - 1.0, index=months[1:], name=ticker)


# ------------------------------------------------------------ the factor files


def test_every_monthly_model_of_every_region_is_in_the_snapshot() -> None:
    held = set(snapshot.datasets())
    for region in REGIONS:
        for model in MONTHLY_MODELS:
            for source in model_sources(model, region):
                assert source.dataset in held, (model, region, source.dataset)
    for model in ("xray7", "article7"):
        assert {s.dataset for s in model_sources(model, "us")} <= held
    # 7 US/developed files + 3 files in each of 5 regions + Emerging's 5-factor and momentum.
    assert len(held) == 7 + 3 * 5 + 2


@pytest.mark.parametrize(("region", "kind"), sorted(PUBLISHED))
def test_each_zip_holds_the_published_csv_unchanged(region: str, kind: str) -> None:
    dataset = _dataset(region, kind)
    member, data = _member_bytes(dataset)
    prefix = REGIONS[region][0]
    assert member == (f"{prefix}_MOM_Factor.csv" if kind == "mom" else f"{dataset}.csv")
    sha256, vintage, first, last = PUBLISHED[region, kind]
    assert hashlib.sha256(data).hexdigest() == sha256
    assert data.decode("ascii").startswith(f"This file was created using the {vintage} Bloomberg")
    frame = _published(region, kind)
    assert (str(frame.index[0]), str(frame.index[-1])) == (first, last)
    assert (np.diff(frame.index.asi8) == 1).all()
    march = MARCH_2020[region, kind]
    assert frame.loc["2020-03", list(march)].to_dict() == march
    provenance = (snapshot.snapshot_dir() / "PROVENANCE.md").read_text()
    assert sha256 in provenance and f"{dataset}_CSV.zip" in provenance
    with zipfile.ZipFile(snapshot.snapshot_dir() / "kenfrench" / f"{dataset}_CSV.zip") as z:
        assert z.infolist()[0].date_time == (2026, 1, 1, 0, 0, 0)  # deterministic


@pytest.mark.parametrize("model", ["ff3", "ff5", "ff6"])
@pytest.mark.parametrize("region", OTHER_REGIONS)
def test_load_factors_offline_gives_the_published_values(
    model: str, region: str, cache: Cache
) -> None:
    factors = load_factors(model, region, snapshot=True, cache=cache)
    expected = _expected_factors(model, region)
    assert list(factors.columns) == list(expected.columns)
    assert factors.index.equals(expected.index)
    np.testing.assert_array_equal(factors.to_numpy(), expected.to_numpy())
    vintages = {s.dataset: None for s in model_sources(model, region)}
    for kind in ("3", "5", "mom"):
        if (region, kind) in PUBLISHED and _dataset(region, kind) in vintages:
            vintages[_dataset(region, kind)] = PUBLISHED[region, kind][1]
    assert factors.attrs["vintages"] == vintages
    assert factors.attrs["region"] == region
    assert not list(cache.root.rglob("*_CSV.zip"))  # served from the package, nothing cached


def test_emerging_three_factors_come_from_its_five_factor_file(cache: Cache) -> None:
    ff3 = load_factors("ff3", "emerging", snapshot=True, cache=cache)
    ff5 = load_factors("ff5", "emerging", snapshot=True, cache=cache)
    assert ff3.attrs["vintages"] == {"Emerging_5_Factors": "202603"}
    # RMW and CMA are -99.99 until 1991-06 and 1992-06: FF3 keeps those months, FF5 does not.
    assert (str(ff3.index[0]), str(ff5.index[0])) == ("1989-07", "1992-07")
    assert ff3.loc["2020-03", "Mkt-RF"] == pytest.approx(-0.1709, abs=1e-15)


def test_capm_and_carhart_load_in_every_region(cache: Cache) -> None:
    for region in REGIONS:
        for model in ("capm", "carhart"):
            factors = load_factors(model, region, snapshot=True, cache=cache)
            assert list(factors.columns) == [*MODELS[model][0], "RF"], (model, region)
            assert len(factors) > 300, (model, region)


def test_vol_models_stay_us_only(cache: Cache) -> None:
    for region in OTHER_REGIONS:
        with pytest.raises(UsageError, match="exists only for the US"):
            load_factors("xray7", region, snapshot=True, cache=cache)


# ------------------------------------------------------------ the international prices


def test_snapshot_holds_both_price_sets() -> None:
    held = snapshot.tickers()
    assert set(INTERNATIONAL) <= set(held) and len(held) == 20 + 13
    assert held == sorted(held)
    assert [p.name for p in snapshot.prices_files()] == list(snapshot.PRICE_FILES)
    assert snapshot.prices_file() == snapshot.prices_files()[0]
    intl = snapshot.month_end_prices(list(INTERNATIONAL))
    assert list(intl.columns) == list(INTERNATIONAL)
    assert intl.index[-1] == pd.Timestamp("2026-07-31")
    assert (intl.iloc[-1].notna()).all()
    # US-only requests are unchanged: the US file ends 2026-06.
    us = snapshot.month_end_prices(["SPY", "MTUM"])
    assert us.index[-1] == pd.Timestamp("2026-06-30") and us.index[0] == pd.Timestamp("1993-01-29")
    mixed = snapshot.month_end_prices(["VEA", "SPY", "NOT-HELD"])
    assert list(mixed.columns) == ["VEA", "SPY"]
    assert np.isnan(mixed.loc["2026-07-31", "SPY"]) and mixed.loc["2026-07-31", "VEA"] > 0
    assert snapshot.month_end_prices(["NOT-HELD"]).empty


def test_price_source_label_names_each_funds_last_month() -> None:
    assert snapshot.price_source_label("SPY") == snapshot.PRICE_SOURCE_LABEL
    assert "to 2026-06" in snapshot.PRICE_SOURCE_LABEL
    for ticker in INTERNATIONAL:
        assert snapshot.price_source_label(ticker) == (
            "bundled snapshot (month-end adjusted closes to 2026-07)"
        )
    with pytest.raises(UsageError, match="'QQQ' is not in the bundled snapshot"):
        snapshot.price_source_label("QQQ")


def test_every_international_fund_has_consecutive_month_ends_to_2026_07() -> None:
    path = snapshot.snapshot_dir() / "prices" / "month_end_adjusted_closes_international.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["date", "ticker", "adj_close"]
    for ticker in INTERNATIONAL:
        dates = [r["date"] for r in rows if r["ticker"] == ticker]
        months = pd.PeriodIndex([d[:7] for d in dates], freq="M")
        assert (np.diff(months.asi8) == 1).all(), ticker
        assert dates[-1] == "2026-07-31", ticker


@pytest.mark.parametrize("ticker", ["VEA", "EWJ"])
def test_snapshot_closes_and_returns_equal_the_daily_fixture(ticker: str) -> None:
    path = snapshot.snapshot_dir() / "prices" / "month_end_adjusted_closes_international.csv"
    with path.open(newline="") as handle:
        bundled = [
            (r["date"], r["adj_close"]) for r in csv.DictReader(handle) if r["ticker"] == ticker
        ]
    assert bundled == _fixture_month_ends(ticker)  # same days, same text
    ours = monthly_total_returns(snapshot.month_end_prices([ticker]))[ticker].dropna()
    reference = _fixture_monthly_returns(ticker)
    assert ours.index.equals(reference.index)
    np.testing.assert_allclose(ours.to_numpy(), reference.to_numpy(), rtol=0, atol=1e-15)


def test_fixture_files_are_the_shared_copies() -> None:
    expected = {
        "VEA": "42e5cb7d1db4472a12e3fb3eb5bc5574f431b9dbcf985f747e1d7a96cfa992c6",
        "EWJ": "6ace6335ddb5b3928e4ac3f5971f548db943bfffc892b16d9ead87929a1d3723",
    }
    for ticker, sha256 in expected.items():
        data = gzip.decompress((INTL_DIR / f"{ticker}.csv.gz").read_bytes())
        assert hashlib.sha256(data).hexdigest() == sha256


# ------------------------------------------------------------ independent OLS


@pytest.mark.parametrize(
    ("ticker", "region", "min_r2"), [("VEA", "developed_ex_us", 0.95), ("EWJ", "japan", 0.85)]
)
def test_regression_on_the_regions_factors_matches_lstsq(
    ticker: str, region: str, min_r2: float, cache: Cache
) -> None:
    names = list(MODELS["ff6"][0])
    published = _expected_factors("ff6", region)
    fund = _fixture_monthly_returns(ticker)
    months = fund.index.intersection(published.index)
    y = (fund.loc[months] - published.loc[months, "RF"]).to_numpy()
    x = np.column_stack([np.ones(len(months)), published.loc[months, names].to_numpy()])
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    residuals = y - x @ beta
    r2 = 1 - residuals @ residuals / ((y - y.mean()) @ (y - y.mean()))

    factors = load_factors("ff6", region, snapshot=True, cache=cache)
    returns = monthly_total_returns(snapshot.month_end_prices([ticker]))
    res = fx.regress(excess_returns(returns, factors), factors, cov="nonrobust")
    np.testing.assert_allclose(
        res.params.loc[ticker, ["alpha", *names]].to_numpy(), beta, rtol=0, atol=1e-10
    )
    assert int(res.nobs[ticker]) == len(months)
    assert float(res.rsquared[ticker]) == pytest.approx(r2, abs=1e-10)
    assert r2 > min_r2  # the fund's own region explains it well


def test_international_preset_judges_each_fund_on_its_region() -> None:
    universe = presets.get("international-13")
    universe.validate()
    assert universe.tickers == list(INTERNATIONAL)
    regions = {fund.ticker: fund.region for fund in universe}
    assert regions["VGK"] == "europe" and regions["EWJ"] == "japan"
    assert {regions[t] for t in ("VWO", "EEM", "IEMG")} == {"emerging"}
    assert {regions[t] for t in ("VEA", "IEFA", "ACWX", "EFAV", "IMTM", "IQLT", "IVLU", "SCZ")} == {
        "developed_ex_us"
    }
    tilts = {fund.ticker: fund.tilts_text() for fund in universe}
    assert tilts["IMTM"] == "MOM>0" and tilts["IVLU"] == "HML>0" and tilts["IQLT"] == "RMW>0"
    assert tilts["SCZ"] == "SMB>0" and tilts["EFAV"] == "VOL>0; Mkt-RF<1"
    assert all(universe.fund(t).expects_no_tilt for t in INTERNATIONAL[:8])
    assert set(universe.tickers) <= set(snapshot.tickers())  # --offline has every fund
