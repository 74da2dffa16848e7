"""Factor models from the real Ken French files: columns, decimals, VOL, ranges, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factorxray.data.cache import Cache
from factorxray.engine.diagnostics import factor_correlations
from factorxray.errors import UsageError
from factorxray.factors import (
    MODELS,
    REGIONS,
    load_factors,
    model_sources,
    vol_factor,
)
from tests.test_kenfrench import KF_DIR, _raw_blocks, _raw_text


def raw_monthly(stem: str) -> pd.DataFrame:
    """The first block of a fixture file, read independently of the package, in percent."""
    text = _raw_text(KF_DIR / f"{stem}_CSV.zip")
    header = next(line for line in text.splitlines() if line.lstrip().startswith(","))
    columns = [c.strip() for c in header.split(",")[1:]]
    block = _raw_blocks(text)[0]
    index = pd.PeriodIndex([f"{k[:4]}-{k[4:]}" for k, _ in block], freq="M")
    return pd.DataFrame(
        [[float(c) for c in cells] for _, cells in block], index=index, columns=columns
    )


def raw_vol() -> pd.Series:
    """VOL from the raw text: (SMALL LoVAR + BIG LoVAR)/2 - (SMALL HiVAR + BIG HiVAR)/2, in percent."""
    vw = raw_monthly("25_Portfolios_ME_VAR_5x5")
    return (vw.iloc[:, 0] + vw.iloc[:, 20]) / 2 - (vw.iloc[:, 4] + vw.iloc[:, 24]) / 2


@pytest.fixture
def cache(tmp_path) -> Cache:
    return Cache(tmp_path / "cache")


def test_xray7_columns_values_and_vintages(kf_server, cache: Cache) -> None:
    factors = load_factors("xray7", base_url=kf_server.url, cache=cache)
    assert list(factors.columns) == ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "MOM", "VOL", "RF"]
    assert isinstance(factors.index, pd.PeriodIndex) and factors.index.freqstr == "M"
    five = raw_monthly("F-F_Research_Data_5_Factors_2x3")
    mom = raw_monthly("F-F_Momentum_Factor")
    common = five.index.intersection(mom.index).intersection(raw_vol().index)
    assert factors.index.equals(common)
    for column in ("Mkt-RF", "SMB", "HML", "RMW", "CMA", "RF"):
        np.testing.assert_array_equal(
            factors[column].to_numpy(), five.loc[common, column].to_numpy() / 100
        )
    np.testing.assert_array_equal(
        factors["MOM"].to_numpy(), mom.loc[common, "Mom"].to_numpy() / 100
    )
    np.testing.assert_allclose(
        factors["VOL"].to_numpy(), raw_vol().loc[common].to_numpy() / 100, rtol=0, atol=1e-12
    )
    assert factors.attrs["vintages"] == {
        "F-F_Research_Data_5_Factors_2x3": "202511",
        "F-F_Momentum_Factor": "202511",
        "25_Portfolios_ME_VAR_5x5": "202602",
    }
    assert factors.index[-1] == pd.Period("2025-11", "M")
    assert factors.attrs["limited_by"]["end"] == [
        "F-F_Momentum_Factor",
        "F-F_Research_Data_5_Factors_2x3",
    ]


def test_vol_formula_on_named_columns() -> None:
    frame = pd.DataFrame(
        {
            "SMALL LoVAR": [1.0, 2.0],
            "BIG LoVAR": [3.0, 0.0],
            "SMALL HiVAR": [5.0, -1.0],
            "BIG HiVAR": [-1.0, 1.0],
        }
    )
    assert vol_factor(frame).tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    ("model", "region", "stem", "columns"),
    [
        ("capm", "us", "F-F_Research_Data_Factors", ["Mkt-RF"]),
        ("ff3", "us", "F-F_Research_Data_Factors", ["Mkt-RF", "SMB", "HML"]),
        ("ff5", "us", "F-F_Research_Data_5_Factors_2x3", ["Mkt-RF", "SMB", "HML", "RMW", "CMA"]),
        ("ff3", "developed", "Developed_3_Factors", ["Mkt-RF", "SMB", "HML"]),
        ("ff5", "developed", "Developed_5_Factors", ["Mkt-RF", "SMB", "HML", "RMW", "CMA"]),
    ],
)
def test_single_file_models_equal_the_published_values(
    kf_server, cache, model, region, stem, columns
) -> None:
    factors = load_factors(model, region=region, base_url=kf_server.url, cache=cache)
    raw = raw_monthly(stem)
    assert list(factors.columns) == [*columns, "RF"]
    pd.testing.assert_frame_equal(
        factors, raw[[*columns, "RF"]] / 100, check_names=False, check_freq=False
    )


def test_carhart_and_ff6_developed_use_wml_and_intersect_ranges(kf_server, cache) -> None:
    factors = load_factors("ff6", region="developed", base_url=kf_server.url, cache=cache)
    wml = raw_monthly("Developed_Mom_Factor")
    five = raw_monthly("Developed_5_Factors")
    assert factors.index.equals(five.index.intersection(wml.index))
    assert factors.index[-1] == pd.Period("2022-07", "M")  # the momentum file's vintage ends first
    assert factors.attrs["limited_by"]["end"] == ["Developed_Mom_Factor"]
    np.testing.assert_array_equal(
        factors["MOM"].to_numpy(), wml.loc[factors.index, "WML"].to_numpy() / 100
    )


def test_article7_mixes_developed_ff5_with_us_mom_and_vol(kf_server, cache) -> None:
    factors = load_factors("article7", base_url=kf_server.url, cache=cache)
    assert factors.attrs["region"] == "developed+us"
    assert set(factors.attrs["vintages"]) == {
        "Developed_5_Factors",
        "F-F_Momentum_Factor",
        "25_Portfolios_ME_VAR_5x5",
    }
    developed = raw_monthly("Developed_5_Factors")
    month = pd.Period("2020-03", "M")
    assert factors.loc[month, "Mkt-RF"] == developed.loc[month, "Mkt-RF"] / 100
    assert factors.loc[month, "VOL"] == pytest.approx(raw_vol().loc[month] / 100, abs=1e-12)


def test_start_end_and_daily(kf_server, cache) -> None:
    window = load_factors(
        "ff3", start="2010-01", end="2010-12", base_url=kf_server.url, cache=cache
    )
    assert len(window) == 12 and window.index[0] == pd.Period("2010-01", "M")
    daily = load_factors(
        "ff3",
        frequency="daily",
        start="2020-03-01",
        end="2020-03-31",
        base_url=kf_server.url,
        cache=cache,
    )
    assert isinstance(daily.index, pd.DatetimeIndex) and len(daily) == 22
    assert daily.loc["2020-03-16", "Mkt-RF"] == pytest.approx(-0.1200)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"model": "ff7"},
            r"unknown model 'ff7'; choose one of: capm, ff3, carhart, ff5, ff6, xray7, article7, "
            r"q4, q5, ff6bq",
        ),
        (
            {"model": "ff5", "region": "mars"},
            r"unknown region 'mars'; choose one of: us, developed",
        ),
        ({"model": "xray7", "region": "europe"}, "VOL factor, which exists only for the US"),
        ({"model": "ff5", "frequency": "hourly"}, "unknown frequency 'hourly'"),
        ({"model": "ff5", "frequency": "weekly"}, "ff5 has no weekly data: .*_weekly"),
    ],
)
def test_bad_choices_are_one_line_usage_errors(kwargs, message) -> None:
    with pytest.raises(UsageError, match=message):
        load_factors(**kwargs, offline=True)


def test_every_model_and_region_maps_to_dataset_names() -> None:
    from factorxray.factors.catalog import MIXED_MODELS

    for model in MODELS:
        for region in REGIONS:
            if "VOL" in MODELS[model][0] and region != "us" and model != "article7":
                continue
            if model in MIXED_MODELS:
                # only the Ken French files; q4/q5 need none, and say where they do not exist
                try:
                    names = [s.dataset for s in model_sources(model, region)]
                except UsageError as exc:
                    assert "exists only for" in str(exc) and region != "us"
                    continue
                assert all(names) and (names or model in ("q4", "q5"))
                continue
            names = [s.dataset for s in model_sources(model, region)]
            assert names and all(name for name in names)
    assert [s.dataset for s in model_sources("carhart", "emerging")] == [
        "Emerging_5_Factors",
        "Emerging_MOM_Factor",
    ]


def test_correlations_exclude_rf(kf_server, cache) -> None:
    factors = load_factors("xray7", base_url=kf_server.url, cache=cache)
    corr = factor_correlations(factors)
    assert list(corr.columns) == ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "MOM", "VOL"]
    assert corr.loc["HML", "CMA"] == pytest.approx(
        np.corrcoef(factors["HML"], factors["CMA"])[0, 1]
    )
    assert corr.loc["Mkt-RF", "VOL"] < -0.5  # low volatility is defensive


def test_snapshot_serves_the_bundled_files_offline(cache) -> None:
    from factorxray import snapshot

    assert "25_Portfolios_ME_VAR_5x5" in snapshot.datasets()
    factors = load_factors("xray7", cache=cache, snapshot=True)
    assert factors.attrs["vintages"]["F-F_Research_Data_5_Factors_2x3"] == "202511"
    assert factors.index[-1] == pd.Period("2025-11", "M")
    raw = raw_monthly("F-F_Research_Data_5_Factors_2x3")
    assert factors.loc["2020-03", "HML"] == raw.loc["2020-03", "HML"] / 100
    with pytest.raises(Exception, match="or pass snapshot=True to use the bundled snapshot"):
        load_factors("xray7", cache=cache, offline=True)
    with pytest.raises(Exception, match="Japan_5_Factors_Daily is not in the cache"):
        load_factors("ff5", region="japan", frequency="daily", cache=cache, snapshot=True)
