"""The analyze console output at 80 columns (the width of a pipe): one line per fund."""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from factorxray.cli import app

runner = CliRunner()
BETA = re.compile(r"^[+-]\d\.\d\d\*?$")


@pytest.fixture
def narrow_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from factorxray.cli import _common

    monkeypatch.setattr(_common.out_console, "width", 80)


def _widest(output: str) -> int:
    """The widest line, but the report's path (a long temporary folder here)."""
    return max(len(line) for line in output.splitlines() if not line.startswith("report: "))


def _rows(output: str, first_header: str) -> dict[str, list[str]]:
    """The rows of the table whose header row starts with ``first_header``, by fund."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [first_header])
    rows = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0].rstrip("!")] = cells[1:]
    return rows


def test_exposure_table_fits_80_columns_one_line_per_fund(narrow_console, tmp_path) -> None:
    result = runner.invoke(
        app,
        [
            "analyze",
            "--preset",
            "smart-beta-20",
            "--offline",
            "--no-png",
            "--models",
            "none",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert _widest(result.stdout) <= 80
    rows = _rows(result.stdout, "fund")
    assert len(rows) == 20
    verdicts = {
        fund: " ".join(cells[: len(cells) - 7]) for fund, cells in rows.items()
    }  # 7 betas after the verdict words
    assert verdicts["VBR"] == "delivers" and verdicts["GSLC"] == "faint"
    assert verdicts["SPY"] == "neutral" and verdicts["HDV"] == "weak"
    for cells in rows.values():
        assert all(BETA.match(cell) for cell in cells[-7:]), cells
    # significance is marked without colour: SPY's SMB (t -17.5) starred, VOL (t -0.6) not
    assert rows["SPY"][-6] == "-0.15*" and rows["SPY"][-1] == "-0.01"
    facts = _rows(result.stdout.split("alpha, fit and sample", 1)[1], "fund")
    assert facts["SPY"][:2] == ["large/core", "-0.2%"]
    assert facts["SPY"][-1] == "1993-02..2025-11"
    assert "significant: |t| >= 2" in result.stdout


def test_mixed_regions_say_which_factors_judged_which_fund(narrow_console, tmp_path) -> None:
    result = runner.invoke(
        app,
        [
            "analyze",
            "--preset",
            "international-13",
            "--offline",
            "--no-png",
            "--models",
            "none",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ff6 japan: EWJ" in result.stdout
    assert "ff6 emerging: VWO EEM IEMG" in result.stdout
    assert "VGK: xray7 needs VOL" in result.stderr
    assert "its europe factors end 2020-06 (limited by Europe_Mom_Factor)" in result.stderr
    assert _widest(result.stdout) <= 80


def test_an_unadjusted_split_fails_the_fund_unless_allowed(narrow_console, tmp_path) -> None:
    """IJR's real 2:1 split of 2017-01-19 undone in a prices file: not analyzed (exit 3,
    one line), SPY still is; with --allow-suspect-prices it is analyzed with a warning."""
    from tests._prices_server import fixture_closes

    ijr = fixture_closes("IJR").copy()
    ijr[ijr.index < pd.Timestamp("2017-01-19")] *= 2.0
    frame = pd.DataFrame({"IJR": ijr, "SPY": fixture_closes("SPY")})
    frame.index.name = "date"
    prices = tmp_path / "prices.csv"
    frame.to_csv(prices)
    args = [
        "analyze",
        "IJR",
        "SPY",
        "--prices-file",
        str(prices),
        "--offline",
        "--no-png",
        "--models",
        "none",
    ]
    refused = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert refused.exit_code == 3, refused.output
    assert "not analyzed: IJR: suspect prices: split-like jump on 2017-01-19" in refused.stderr
    assert "SPY" in _rows(refused.stdout, "fund")
    allowed = runner.invoke(app, [*args, "--allow-suspect-prices", "--out", str(tmp_path / "b")])
    assert allowed.exit_code == 0, allowed.output
    assert "warning: IJR: split-like jump on 2017-01-19" in allowed.stderr
    assert "IJR!" in allowed.stdout  # the table marks the fund with a warning


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point (not CliRunner): what a user's shell sees."""
    return subprocess.run(
        [sys.executable, "-m", "factorxray", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["analyze", "--modle", "ff5"],
            "error: No such option: --modle (Possible options: --model",
        ),
        (["analyze", "SPY", "--hac-lags", "abc"], "error: Invalid value for '--hac-lags'"),
        (["nosuch"], "error: No such command 'nosuch'."),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], expected: str) -> None:
    result = _cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr
    assert "--help)" in lines[0] and "╭" not in result.stderr


def test_flags_show_no_value_in_help() -> None:
    result = _cli("analyze", "--help")
    assert result.returncode == 0
    assert "--offline" in result.stdout and "<bool>" not in result.stdout


def test_error_lines_escape_markup_and_control_characters(tmp_path) -> None:
    hostile = tmp_path / "[bold red]evil\x1b[2J.toml"
    hostile.write_text("[[fund]]\nticker = 1\n")
    result = _cli("analyze", "--universe", str(hostile), "--offline", "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "[bold red]evil" in result.stderr  # printed as written, not as markup
    assert "\x1b[2J" not in result.stderr
    # nor as an emoji code: rich would print :smile: as a face
    hostile = tmp_path / ":smile:.toml"
    hostile.write_text("[[fund]]\nticker = 1\n")
    result = _cli("analyze", "--universe", str(hostile), "--offline", "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and ":smile:.toml" in result.stderr


def test_library_warnings_reach_stderr_as_one_line(kf_server, tmp_path) -> None:
    """A corrupt cache entry is announced by the CLI (the library logs it; main() prints it)."""
    import os

    env = {**os.environ, "FACTORXRAY_KENFRENCH_URL": kf_server.url}
    cache = tmp_path / "cache"
    args = [sys.executable, "-m", "factorxray", "--cache-dir", str(cache), "factors", "show", "ff3"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert first.returncode == 0, first.stderr
    data = cache / "kenfrench" / "F-F_Research_Data_Factors_CSV.zip.data"
    data.write_bytes(data.read_bytes()[:-10] + b"0123456789")
    second = subprocess.run(
        [*args, "--offline"], capture_output=True, text=True, timeout=120, env=env
    )
    assert second.returncode == 0, second.stderr
    (line,) = [x for x in second.stderr.splitlines() if "corrupt cache entry" in x]
    assert line.startswith("warning: corrupt cache entry kenfrench/F-F_Research_Data_Factors")


@pytest.mark.parametrize(
    "args",
    [
        ["factors", "show", "ff5", "--region", "developed", "--offline", "--start", "2025-01"],
        ["factors", "corr", "xray7", "--offline"],
        ["factors", "dataset", "F-F_Momentum_Factor", "--offline"],
        ["returns", "SPY", "EWJ", "--offline", "--start", "2026-01", "--format", "csv"],
    ],
)
def test_offline_means_the_cache_else_the_snapshot_everywhere(args, tmp_path) -> None:
    """On a fresh machine (empty cache, no network) every --offline command answers."""
    result = _cli("--cache-dir", str(tmp_path / "fresh"), *args)
    assert result.returncode == 0, result.stderr
    if args[0] == "returns":
        rows = result.stdout.strip().splitlines()
        assert rows[0] == "period,SPY,EWJ" and rows[1].startswith("2026-01,0.0147")


def test_first_try_details(tmp_path) -> None:
    """Issue 12's details: option words in errors, plurals, no '-0.0%', no home folder in a
    report meant to be shared, an unknown cache namespace is an error."""
    from pathlib import Path

    from factorxray.report.charts import signed_percent

    out = tmp_path / "r"
    short = runner.invoke(
        app, ["analyze", "SPY", "NOPE", "--offline", "--start", "2024-01", "--out", str(out)]
    )
    assert short.exit_code == 1
    assert "(--min-months 36; lower it, or widen --start/--end)" in short.stderr
    assert "min_obs" not in short.stderr
    assert "none of the 2 funds could be analyzed" in short.stderr
    one = runner.invoke(
        app, ["analyze", "SPY", "NOPE", "--offline", "--models", "none", "--out", str(out)]
    )
    assert one.exit_code == 3, one.output
    page = (out / "index.html").read_text()
    summary = (out / "summary.json").read_text()
    home = str(Path.home())
    assert home not in page and home not in summary  # the cache path is written ~/...
    assert "factorxray report: xray7, 1 fund<" in page or "xray7, 1 fund" in page
    assert "1 funds" not in page
    assert signed_percent(-0.04, 1) == "0.0%" and signed_percent(-0.06, 1) == "-0.1%"
    assert "-0.0%" not in page and "+0.0%" not in page
    cleared = runner.invoke(app, ["cache", "clear", "nosuch"])
    assert cleared.exit_code == 2 and "no cache namespace 'nosuch'" in cleared.output
