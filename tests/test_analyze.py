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


def _fund_entries(summary: dict) -> list[dict]:
    return summary["funds"]


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
        (["SPY", "--cov", "robust"], "unknown cov 'robust' (--cov)"),
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
    under_a_file = a_file / "report"  # unwritable even for root: its parent is a file
    result = runner.invoke(
        app, ["analyze", "--preset", "smart-beta-20", "--offline", "--out", str(under_a_file)]
    )
    assert result.exit_code == 2 and "is a file, not a folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


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
            "--png",
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


def test_every_fund_failing_is_exit_1_with_one_line_each(tmp_path) -> None:
    out = tmp_path / "none"
    result = runner.invoke(app, ["analyze", "NOSUCH1", "NOSUCH2", "--offline", "--out", str(out)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert [line.split(":")[1].strip() for line in lines[:2]] == ["NOSUCH1", "NOSUCH2"]
    assert lines[-1].startswith("error: none of the 2 funds could be analyzed")
    assert not out.exists()  # nothing half-made


def test_options_are_checked_before_any_download(tmp_path) -> None:
    """No server is reachable here: each bad option must be named before anything is fetched."""
    env = {"FACTORXRAY_KENFRENCH_URL": "http://127.0.0.1:9/", "FACTORXRAY_HTTP_RETRIES": "0"}
    cases = [
        (["SPY", "--hac-lags", "-1"], "--hac-lags"),
        (["SPY", "--min-months", "0"], "--min-months 0 is too small"),
        (["SPY", "--t-threshold", "0"], "--t-threshold 0.0 must be positive"),
        (
            ["SPY", "--source", "file", "--prices-file", str(tmp_path / "missing.csv")],
            "does not exist",
        ),
        (["SPY", "--source", "bloomberg"], "unknown price source 'bloomberg'"),
        (["SPY", "--start", "2020-13"], "--start '2020-13' is not a month"),
        (
            ["SPY", "--start", "2020-01", "--end", "2019-01"],
            "--start 2020-01 is after --end 2019-01",
        ),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["analyze", *args, "--out", str(tmp_path / "o")], env=env)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_unwritable_cache_is_one_line(kf_server, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = runner.invoke(
        app,
        ["--cache-dir", str(blocker / "cache"), "factors", "show", "ff3"],
        env={"FACTORXRAY_KENFRENCH_URL": kf_server.url},
    )
    assert result.exit_code == 1, result.output
    assert "cannot write to the cache folder" in result.stderr and "--cache-dir" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_presets_show_each_funds_own_tilts() -> None:
    result = runner.invoke(app, ["presets"])
    rows = [
        line for line in result.stdout.splitlines() if "large/core" in line or "SPY RSP" in line
    ]
    assert any("USMC" in row and "SMB<0" in row for row in rows)
    assert any("SPY RSP" in row and "none" in row for row in rows)
