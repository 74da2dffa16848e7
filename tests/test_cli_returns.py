"""`factorxray returns`, through the CLI runner and as a real process, against a loopback server."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from factorxray.cli import app
from tests._prices_server import FMP_KEY, PriceServer, all_fixture_closes, fixture_closes
from tests._server import Reply

runner = CliRunner()


@pytest.fixture(scope="module")
def shared_server():
    with PriceServer() as server:
        yield server


@pytest.fixture
def prices_server(shared_server, monkeypatch):
    monkeypatch.setenv("FACTORXRAY_YAHOO_URL", shared_server.url)
    monkeypatch.setenv("FACTORXRAY_FMP_URL", shared_server.url)
    return shared_server.reset()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as on a wide terminal, so columns are not squeezed."""
    from factorxray.cli import _common

    monkeypatch.setattr(_common.out_console, "width", 250)


def run(*args: str):
    return runner.invoke(app, list(args))


def compounded(ticker: str) -> dict[str, float]:
    """period -> monthly return, compounding the fixture's daily adjusted closes (independent)."""
    closes = fixture_closes(ticker)
    daily = closes.pct_change().iloc[1:]
    monthly = (1 + daily).groupby(daily.index.to_period("M")).prod() - 1
    first_month = closes.index[0].to_period("M")
    monthly = monthly[(monthly.index > first_month) & (monthly.index < pd.Period("2026-07", "M"))]
    return {str(p): float(v) for p, v in monthly.items()}


def parse_csv(text: str) -> tuple[list[str], dict[str, dict[str, float]]]:
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    columns: dict[str, dict[str, float]] = {name: {} for name in header[1:]}
    for row in rows[1:]:
        for name, cell in zip(header[1:], row[1:], strict=True):
            if cell:
                columns[name][row[0]] = float(cell)
    return header, columns


def assert_matches_compounding(columns: dict[str, dict[str, float]], ticker: str) -> None:
    expected = compounded(ticker)
    assert columns[ticker].keys() == expected.keys()
    got = np.array([columns[ticker][p] for p in expected])
    np.testing.assert_allclose(got, list(expected.values()), rtol=0, atol=1e-10)


def test_csv_two_funds_and_an_unknown_one(prices_server) -> None:
    result = run("returns", "SPY", "MTUM", "NOSUCH", "--format", "csv")
    assert result.exit_code == 3, result.stderr
    header, columns = parse_csv(result.stdout)
    assert header == ["period", "SPY", "MTUM"]
    assert_matches_compounding(columns, "SPY")
    assert_matches_compounding(columns, "MTUM")
    failed_lines = [line for line in result.stderr.splitlines() if "NOSUCH" in line]
    assert len(failed_lines) == 1 and "No data found" in failed_lines[0]
    assert "SPY" not in result.stderr


def test_file_source_prints_the_same_numbers(prices_server, tmp_path) -> None:
    wide = all_fixture_closes()[["SPY", "MTUM"]]
    wide.index.name = "date"
    path = tmp_path / "prices.csv"
    wide.to_csv(path)
    from_file = run(
        "returns", "SPY", "MTUM", "--source", "file", "--prices-file", str(path), "--format", "csv"
    )
    from_yahoo = run("returns", "SPY", "MTUM", "--format", "csv")
    assert from_file.exit_code == from_yahoo.exit_code == 0, from_file.stderr + from_yahoo.stderr
    _, file_columns = parse_csv(from_file.stdout)
    _, yahoo_columns = parse_csv(from_yahoo.stdout)
    for ticker in ("SPY", "MTUM"):
        assert file_columns[ticker].keys() == yahoo_columns[ticker].keys()
        np.testing.assert_allclose(
            list(file_columns[ticker].values()),
            list(yahoo_columns[ticker].values()),
            rtol=0,
            atol=1e-10,
        )
        assert_matches_compounding(file_columns, ticker)


def test_prices_file_alone_means_the_file_source(tmp_path) -> None:
    wide = all_fixture_closes()[["QUAL"]]
    wide.index.name = "date"
    wide.to_csv(tmp_path / "q.csv")
    result = run("returns", "QUAL", "--prices-file", str(tmp_path / "q.csv"), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert_matches_compounding(parse_csv(result.stdout)[1], "QUAL")


def test_csv_is_exact_and_start_end_trim(prices_server) -> None:
    result = run(
        "returns", "QGRO", "SPY", "--start", "2018-06", "--end", "2019-03", "--format", "csv"
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "period,QGRO,SPY"
    assert lines[1].startswith("2018-06,,")  # QGRO starts 2018-09: empty before its first return
    assert lines[-1].startswith("2019-03,")
    spy_june = float(lines[1].split(",")[2])
    assert (
        spy_june == compounded("SPY")["2018-06"]
        or abs(spy_june - compounded("SPY")["2018-06"]) < 1e-15
    )


def test_table_in_percent(prices_server) -> None:
    result = run("returns", "SPY", "--start", "2020-03", "--end", "2020-04")
    assert result.exit_code == 0, result.stderr
    assert "2020-03" in result.stdout and "-12.49" in result.stdout and "12.70" in result.stdout
    assert "%" in result.stdout


def test_all_failing_exits_1_with_one_line_each(prices_server) -> None:
    result = run("returns", "NOSUCH", "NOPE", "--format", "csv")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and {"NOSUCH", "NOPE"} == {line.split(": ")[1] for line in lines}


def test_faults_each_get_one_line_and_the_rest_print(prices_server, monkeypatch) -> None:
    monkeypatch.setenv("FACTORXRAY_HTTP_RETRIES", "1")
    prices_server.broken["VTV"] = Reply(500, b"boom")
    prices_server.broken["VBR"] = Reply(200, b"{not json")
    prices_server.broken["HDV"] = Reply(403, b"{}")
    result = run("returns", "SPY", "VTV", "VBR", "HDV", "--format", "csv")
    assert result.exit_code == 3
    assert parse_csv(result.stdout)[0] == ["period", "SPY"]
    reasons = {line.split(": ")[1]: line for line in result.stderr.strip().splitlines()}
    assert set(reasons) == {"VTV", "VBR", "HDV"}
    assert (
        "HTTP 500" in reasons["VTV"]
        and "malformed JSON" in reasons["VBR"]
        and "403" in reasons["HDV"]
    )


def test_bad_options_exit_2(prices_server) -> None:
    assert run("returns", "SPY", "--start", "2020-13").exit_code == 2
    assert run("returns", "SPY", "--source", "bloomberg").exit_code == 2
    assert run("returns", "SPY", "--format", "xml").exit_code == 2
    assert run("returns").exit_code == 2
    assert prices_server.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2020-13"], "--start '2020-13' is not a month; use YYYY-MM"),
        (["--end", "soon"], "--end 'soon' is not a month; use YYYY-MM"),
        (["--start", "2021-01", "--end", "2020-01"], "--start 2021-01 is after --end 2020-01"),
    ],
)
def test_bad_months_name_the_option(prices_server, args, message) -> None:
    result = run("returns", "SPY", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {message}") and len(result.stderr.splitlines()) == 1
    assert prices_server.requests == []


def test_prices_file_without_tickers_reads_every_ticker(tmp_path) -> None:
    wide = all_fixture_closes()[["SPY", "QUAL", "MTUM"]]
    wide.index.name = "date"
    wide.to_csv(tmp_path / "mine.csv")
    result = run("returns", "--prices-file", str(tmp_path / "mine.csv"), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    header, columns = parse_csv(result.stdout)
    assert header == ["period", "SPY", "QUAL", "MTUM"]  # the file's order
    for ticker in ("SPY", "QUAL", "MTUM"):
        assert_matches_compounding(columns, ticker)


def test_csv_cells_are_exact_reprs_and_empty_for_nan(tmp_path) -> None:
    from factorxray.returns import monthly_total_returns

    wide = all_fixture_closes()[["SPY", "QGRO"]].loc[:"2019-12-31"]
    wide.index.name = "date"
    wide.to_csv(tmp_path / "p.csv")
    result = run(
        "returns", "SPY", "QGRO", "--prices-file", str(tmp_path / "p.csv"), "--format", "csv"
    )
    assert result.exit_code == 0, result.stderr
    expected = monthly_total_returns(pd.read_csv(tmp_path / "p.csv", index_col=0, parse_dates=True))
    lines = [
        ",".join([f"{period:%Y-%m}", *("" if np.isnan(v) else repr(v) for v in row)])
        for period, row in zip(expected.index, expected.to_numpy().tolist(), strict=True)
    ]
    assert result.stdout == "\n".join(["period,SPY,QGRO", *lines]) + "\n"


def test_unwritable_cache_dir_is_one_line_per_ticker(prices_server, tmp_path, monkeypatch) -> None:
    regular_file = tmp_path / "a-file"
    regular_file.write_text("x")
    monkeypatch.setenv("FACTORXRAY_CACHE_DIR", str(regular_file / "cache"))
    result = run("returns", "SPY", "MTUM", "--format", "csv")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert {line.split(": ")[1] for line in lines} == {"SPY", "MTUM"}
    assert all(str(regular_file) in line and "--cache-dir" in line for line in lines)
    assert "Traceback" not in result.stderr


def test_an_unexpected_error_fails_only_its_ticker(prices_server, monkeypatch) -> None:
    from factorxray.data.prices import PriceStore

    real_history = PriceStore.history

    def history(self, ticker, **kwargs):
        if ticker == "MTUM":
            raise PermissionError(13, "Permission denied", "/somewhere/prices-yahoo/MTUM.data")
        return real_history(self, ticker, **kwargs)

    monkeypatch.setattr(PriceStore, "history", history)
    result = run("returns", "SPY", "MTUM", "--format", "csv")
    assert result.exit_code == 3, result.stderr
    assert parse_csv(result.stdout)[0] == ["period", "SPY"]
    assert result.stderr.strip() == (
        "failed: MTUM: cannot use /somewhere/prices-yahoo/MTUM.data (Permission denied) "
        "(is the cache folder writable? use --cache-dir FOLDER or set FACTORXRAY_CACHE_DIR)"
    )


def test_missing_key_names_the_variable(prices_server) -> None:
    result = run("returns", "SPY", "--source", "fmp")
    assert result.exit_code == 2
    assert "FMP_API_KEY" in result.stderr


def test_keys_never_printed_or_cached(prices_server, monkeypatch, isolated_cache) -> None:
    monkeypatch.setenv("FMP_API_KEY", FMP_KEY)
    prices_server.broken["MTUM"] = Reply(401, b'{"Error Message": "Invalid API KEY."}')
    result = run("returns", "SPY", "MTUM", "NOSUCH", "--source", "fmp", "--format", "csv")
    assert result.exit_code == 3
    assert "MTUM" in result.stderr and "401" in result.stderr
    assert FMP_KEY not in result.stdout + result.stderr
    stored = b"".join(p.read_bytes() for p in Path(isolated_cache).rglob("*") if p.is_file())
    assert stored and FMP_KEY.encode() not in stored


def test_offline_and_refresh(prices_server) -> None:
    assert run("returns", "SPY", "--format", "csv").exit_code == 0
    count = len(prices_server.requests)
    offline = run("returns", "SPY", "MTUM", "ZZZZ", "--offline", "--format", "csv")
    assert len(prices_server.requests) == count
    # MTUM is not cached but in the bundled snapshot (--offline means the same as in analyze)
    assert offline.stdout.splitlines()[0] == "period,SPY,MTUM"
    assert offline.exit_code == 3 and "ZZZZ" in offline.stderr and "--offline" in offline.stderr
    assert "MTUM" not in offline.stderr
    assert run("returns", "SPY", "--refresh", "--format", "csv").exit_code == 0
    assert len(prices_server.requests) == count + 1
    assert int(prices_server.requests[-1].query["period1"]) > 0  # the tail only


def test_help_has_an_example() -> None:
    result = run("returns", "--help")
    assert result.exit_code == 0
    assert "Example: factorxray returns" in result.stdout and "--prices-file" in result.stdout


def _subprocess(
    args: list[str], env_extra: dict[str, str], cache_dir: Path
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FMP_API_KEY", "TIINGO_API_KEY")}
    env.update(FACTORXRAY_CACHE_DIR=str(cache_dir), FACTORXRAY_HTTP_BACKOFF="0.01", **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "factorxray", "returns", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_real_process_against_loopback(shared_server, isolated_cache, tmp_path) -> None:
    shared_server.reset()
    done = _subprocess(
        ["SPY", "MTUM", "NOSUCH", "--format", "csv"],
        {"FACTORXRAY_YAHOO_URL": shared_server.url},
        isolated_cache,
    )
    assert done.returncode == 3, done.stderr
    header, columns = parse_csv(done.stdout)
    assert header == ["period", "SPY", "MTUM"]
    assert_matches_compounding(columns, "SPY")
    assert_matches_compounding(columns, "MTUM")
    assert "NOSUCH" in done.stderr and "SPY" not in done.stderr

    wide = all_fixture_closes()[["SPY", "MTUM"]]
    wide.index.name = "date"
    wide.to_csv(tmp_path / "prices.csv")
    from_file = _subprocess(
        [
            "SPY",
            "MTUM",
            "--source",
            "file",
            "--prices-file",
            str(tmp_path / "prices.csv"),
            "--format",
            "csv",
        ],
        {},
        isolated_cache,
    )
    assert from_file.returncode == 0, from_file.stderr
    assert parse_csv(from_file.stdout)[1].keys() == columns.keys()
    for ticker in ("SPY", "MTUM"):
        np.testing.assert_allclose(
            list(parse_csv(from_file.stdout)[1][ticker].values()),
            list(columns[ticker].values()),
            rtol=0,
            atol=1e-10,
        )


def test_suspect_prices_fail_the_fund_unless_allowed(prices_server) -> None:
    """IJR's real 2:1 split of 2017-01-19 undone: the fund fails (exit 3) with the date and
    the size; --allow-suspect-prices prints it with a warning line instead (exit 0)."""
    closes = fixture_closes("IJR").copy()
    closes[closes.index < "2017-01-19"] *= 2
    prices_server.closes["IJR"] = closes
    refused = run("returns", "IJR", "SPY", "--start", "2016-01", "--format", "csv")
    assert refused.exit_code == 3, refused.stderr
    (line,) = refused.stderr.splitlines()
    assert line.startswith("failed: IJR: suspect prices: split-like jump on 2017-01-19")
    assert "--allow-suspect-prices" in line
    header, _ = parse_csv(refused.stdout)
    assert header == ["period", "SPY"]
    allowed = run(
        "returns", "IJR", "SPY", "--start", "2016-01", "--format", "csv", "--allow-suspect-prices"
    )
    assert allowed.exit_code == 0, allowed.stderr
    (warning,) = allowed.stderr.splitlines()
    assert warning.startswith("warning: IJR: split-like jump on 2017-01-19: the price fell")
    assert warning.endswith("(used as is: suspect prices allowed)")
    header, columns = parse_csv(allowed.stdout)
    assert header == ["period", "IJR", "SPY"] and columns["IJR"]["2017-01"] < -0.45
