"""`factorxray analyze` end to end: loopback Ken French + Yahoo servers, --prices-file, the snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import factorxray as fx
from factorxray.cli import app
from factorxray.data.cache import Cache
from tests._prices_server import PriceServer, all_fixture_closes

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from factorxray.cli import _common

    monkeypatch.setattr(_common.out_console, "width", 250)


@pytest.fixture
def price_server():
    with PriceServer() as server:
        yield server


def _prices_csv(tmp_path: Path, tickers: list[str]) -> Path:
    closes = all_fixture_closes()[tickers].dropna(how="all")
    path = tmp_path / "prices.csv"
    frame = closes.copy()
    frame.index = frame.index.strftime("%Y-%m-%d")
    frame.index.name = "date"
    frame.to_csv(path, float_format=lambda v: repr(float(v)))
    return path


def test_prices_file_exposures_equal_regress_on_the_same_data(kf_server, tmp_path) -> None:
    prices = _prices_csv(tmp_path, ["VTV", "MTUM"])
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        ["analyze", "VTV", "MTUM", "--prices-file", str(prices), "--out", str(out)],
        env={"FACTORXRAY_KENFRENCH_URL": kf_server.url},
    )
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'index.html'}" in result.stdout
    exposures = pd.read_csv(out / "exposures.csv")
    factors = fx.load_factors("xray7", base_url=kf_server.url, cache=Cache(tmp_path / "c2"))
    returns = fx.fetch_returns(
        ["VTV", "MTUM"], source="file", prices_file=prices, cache=Cache(tmp_path / "c3")
    )
    expected = fx.regress(
        fx.excess_returns(returns, factors), factors.drop(columns="RF"), cov="hac", min_obs=36
    )
    for _, row in exposures.iterrows():
        assert row["beta"] == pytest.approx(
            expected.params.loc[row["fund"], row["factor"]], abs=1e-10
        )
        assert row["se"] == pytest.approx(expected.bse.loc[row["fund"], row["factor"]], abs=1e-10)
    assert set(exposures["fund"]) == {"VTV", "MTUM"}
    summary = json.loads((out / "summary.json").read_text())
    funds = {entry["fund"]: entry for entry in _fund_entries(summary)}
    assert funds["VTV"]["nobs"] == int(expected.nobs["VTV"])
    assert funds["VTV"]["rsquared"] == pytest.approx(expected.rsquared["VTV"], abs=1e-12)
    assert funds["VTV"]["category"] == "value"  # labelled by the smart-beta-20 preset


def _fund_entries(summary: object) -> list[dict]:
    if isinstance(summary, dict):
        return summary.get("funds", [])
    return list(summary)


def test_yahoo_loopback_end_to_end_with_a_bad_ticker_exit_3(
    kf_server, price_server, tmp_path
) -> None:
    out = tmp_path / "r"
    result = runner.invoke(
        app,
        ["analyze", "USMV", "SPLV", "NOSUCH", "--model", "ff6", "--out", str(out), "--no-png"],
        env={"FACTORXRAY_KENFRENCH_URL": kf_server.url, "FACTORXRAY_YAHOO_URL": price_server.url},
    )
    assert result.exit_code == 3, result.output
    assert "not analyzed: NOSUCH" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    analyzed = {entry["fund"] for entry in _fund_entries(summary)}
    assert analyzed == {"USMV", "SPLV"}
    html = (out / "index.html").read_text()
    assert "NOSUCH" in html  # listed as not analyzed, never silently dropped


def test_fund_with_too_few_months_is_listed_and_the_rest_analyzed(kf_server, tmp_path) -> None:
    prices = _prices_csv(tmp_path, ["SPY", "QGRO"])
    out = tmp_path / "r"
    result = runner.invoke(
        app,
        [
            "analyze",
            "SPY",
            "QGRO",
            "--prices-file",
            str(prices),
            "--start",
            "2018-01",
            "--min-months",
            "90",
            "--out",
            str(out),
            "--no-png",
        ],
        env={"FACTORXRAY_KENFRENCH_URL": kf_server.url},
    )
    assert result.exit_code == 3, result.output
    assert "QGRO" in result.stderr and "90" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [entry["fund"] for entry in _fund_entries(summary)] == ["SPY"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "smart-beta-99"], "unknown preset"),
        (["--universe", "/nonexistent/funds.toml"], "funds.toml"),
        (["SPY", "--model", "ff9"], "unknown model 'ff9'"),
        (["SPY", "--cov", "robust"], "unknown covariance 'robust'"),
        ([], "name funds to analyze"),
    ],
)
def test_bad_input_is_one_clear_line(args, message, tmp_path) -> None:
    result = runner.invoke(app, ["analyze", *args, "--offline", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_universe_with_an_unknown_factor_and_bad_out_dirs(tmp_path) -> None:
    universe = tmp_path / "funds.csv"
    universe.write_text("ticker,name,category,region,tilts\nSPY,S&P 500,core,us,QMJ>0\n")
    result = runner.invoke(
        app, ["analyze", "--universe", str(universe), "--offline", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "unknown factor 'QMJ'" in result.stderr
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    result = runner.invoke(
        app, ["analyze", "--preset", "smart-beta-20", "--offline", "--out", str(a_file)]
    )
    assert result.exit_code == 2 and "is a file" in result.stderr
    if os.geteuid() != 0:  # root can write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = runner.invoke(
            app, ["analyze", "--preset", "smart-beta-20", "--offline", "--out", str(locked / "r")]
        )
        assert result.exit_code == 2 and "cannot write" in result.stderr


def test_presets_command_lists_categories() -> None:
    result = runner.invoke(app, ["presets"])
    assert result.exit_code == 0
    assert "smart-beta-20" in result.stdout and "USMV SPLV" in result.stdout


def test_offline_snapshot_main_job_in_a_real_process(tmp_path) -> None:
    """The README's main job on a machine with an empty cache and no network."""
    env = {
        **os.environ,
        "FACTORXRAY_CACHE_DIR": str(tmp_path / "empty-cache"),
        "FACTORXRAY_HTTP_RETRIES": "0",
        "FACTORXRAY_KENFRENCH_URL": "http://127.0.0.1:9/",
        "FACTORXRAY_YAHOO_URL": "http://127.0.0.1:9",
    }
    out = tmp_path / "report"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "factorxray",
            "analyze",
            "--preset",
            "smart-beta-20",
            "--offline",
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    entries = _fund_entries(summary)
    assert len(entries) == 20
    assert all("snapshot" in entry["price_source"] for entry in entries)
    by_fund = {entry["fund"]: entry for entry in entries}
    assert by_fund["USMV"]["verdict"] == "delivers"
    assert len(list((out / "png").glob("*.png"))) >= 20
    exposures = pd.read_csv(out / "exposures.csv")
    assert np.isfinite(exposures[["beta", "se", "t", "p"]].to_numpy()).all()


def test_offline_fund_missing_from_the_snapshot_is_listed_not_dropped(tmp_path) -> None:
    out = tmp_path / "r"
    result = runner.invoke(
        app, ["analyze", "SPY", "QQQ", "--offline", "--out", str(out), "--no-png"]
    )
    assert result.exit_code == 3, result.output
    assert "not analyzed: QQQ" in result.stderr and "not in the bundled snapshot" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [entry["fund"] for entry in _fund_entries(summary)] == ["SPY"]
    assert "not in the bundled snapshot" in summary["not_analyzed"]["QQQ"]
