"""``rolling_betas.csv``: the rolling betas of a report, long, equal to the engine's.

Real data: the snapshot run mixing regions of ``tests/test_report.py`` (US funds on xray7,
VEA and EFAV on developed ex-US ff6, EWJ on Japan ff6), so a fund's rows hold its own
model's factors only (no VOL for EWJ).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factorxray.analysis import Analysis
from factorxray.report import exports, write_report
from tests.test_report import build_mixed_analysis


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    return build_mixed_analysis(tmp_path_factory.mktemp("rolling-csv-cache"))


@pytest.fixture(scope="module")
def table(mixed: Analysis, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("rolling-csv-report")
    write_report(mixed, out, png=False)
    return pd.read_csv(
        out / exports.ROLLING_CSV, dtype={"fund": str, "window_end": str, "factor": str}
    )


def test_columns_and_one_row_per_window_and_own_term(table: pd.DataFrame, mixed: Analysis) -> None:
    rolling = mixed.rolling
    assert list(table.columns) == ["fund", "window_end", "factor", "beta", "se", "t", "nobs"]
    assert not table.duplicated(["fund", "window_end", "factor"]).any()
    for fund, rows in table.groupby("fund"):
        own = ["alpha", *exports.fund_terms(mixed, fund)]
        assert set(rows["factor"]) == set(own), fund
        windows = rolling.params.loc[fund].index.astype(str)
        assert sorted(set(rows["window_end"])) == sorted(windows), fund
        assert len(rows) == len(windows) * len(own), fund
    assert set(table["fund"]) == set(rolling.funds)
    assert "VOL" not in set(table.loc[table["fund"] == "EWJ", "factor"])
    assert "VOL" in set(table.loc[table["fund"] == "USMV", "factor"])


def test_values_equal_the_rolling_results_bit_for_bit(table: pd.DataFrame, mixed: Analysis) -> None:
    rolling = mixed.rolling
    keys = pd.MultiIndex.from_arrays([table["fund"], pd.PeriodIndex(table["window_end"], freq="M")])
    for column, frame in (("beta", rolling.params), ("se", rolling.bse), ("t", rolling.tvalues)):
        rows = frame.index.get_indexer(keys)
        cols = frame.columns.get_indexer(table["factor"])
        assert (rows >= 0).all() and (cols >= 0).all()
        expected = frame.to_numpy(float)[rows, cols]
        np.testing.assert_array_equal(table[column].to_numpy(float), expected, err_msg=column)
    nobs = rolling.nobs.to_numpy()[rolling.params.index.get_indexer(keys)]
    np.testing.assert_array_equal(table["nobs"].to_numpy(), nobs)
    # decimals as the engine gives them: HDV's last HML beta is the summary's last window beta
    last = table[(table["fund"] == "HDV") & (table["factor"] == "HML")].iloc[-1]
    hml = next(c for c in mixed.verdicts["HDV"].checks if c.tilt.factor == "HML")
    assert last["beta"] == pytest.approx(hml.robustness["last_window_beta"], abs=1e-12)
    assert last["window_end"] == hml.robustness["last_window_end"]


def test_no_rolling_windows_gives_the_header_only(tmp_path: Path, mixed: Analysis) -> None:
    import dataclasses

    bare = dataclasses.replace(mixed, rolling=None)
    path = exports.write_rolling_csv(bare, tmp_path / exports.ROLLING_CSV)
    assert path.read_text() == ",".join(exports.ROLLING_COLUMNS) + "\n"


def test_names_with_commas_and_quotes_read_back(tmp_path: Path, mixed: Analysis) -> None:
    """A fund named with a comma, a quote or a line break is quoted, and reads back whole."""
    import dataclasses

    from factorxray.engine import rolling_regress
    from tests.test_report import load_engine_data

    excess, factors = load_engine_data()
    names = {"SPY": 'S&P, "500"', "MTUM": "MTUM\nmomentum"}
    returns = excess[list(names)].rename(columns=names)
    rolling = rolling_regress(returns, factors[["Mkt-RF", "SMB", "HML"]], window=36)
    bare = dataclasses.replace(mixed, rolling=rolling, fund_factors={})
    path = exports.write_rolling_csv(bare, tmp_path / exports.ROLLING_CSV)
    text = path.read_text()
    assert text.startswith(",".join(exports.ROLLING_COLUMNS) + "\n")
    assert '"S&P, ""500""","' in text
    table = pd.read_csv(path, dtype={"fund": str, "window_end": str, "factor": str})
    assert set(table["fund"]) == set(names.values())
    expected = exports.rolling_frame(bare)
    assert len(table) == len(expected) == len(rolling.params) * 4
    np.testing.assert_array_equal(table["fund"], expected["fund"])
    np.testing.assert_array_equal(table["window_end"], expected["window_end"])
    for column in ("beta", "se", "t", "nobs"):
        np.testing.assert_array_equal(table[column], expected[column], err_msg=column)
    # the engine's numbers, bit for bit: SPY's last market beta
    last = table[(table["fund"] == names["SPY"]) & (table["factor"] == "Mkt-RF")].iloc[-1]
    assert last["beta"] == rolling.params.loc[(names["SPY"], rolling.params.index[-1][1]), "Mkt-RF"]
