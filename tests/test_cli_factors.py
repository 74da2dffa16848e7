"""`factorxray factors ...` and `factorxray cache ...`, through the CLI runner and a real process."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factorxray.cli import app
from tests._kenfrench_server import zip_routes
from tests._server import LoopbackServer, Reply
from tests.test_factors import raw_monthly, raw_vol

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as on a wide terminal, so long section titles are not wrapped."""
    from factorxray.cli import _common

    monkeypatch.setattr(_common.out_console, "width", 250)


def run(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def _published_strings(stem: str, column: str) -> dict[str, str]:
    """period -> the published text of a column, straight from the raw file."""
    from tests.test_kenfrench import KF_DIR, _raw_blocks, _raw_text

    text = _raw_text(KF_DIR / f"{stem}_CSV.zip")
    header = next(line for line in text.splitlines() if line.lstrip().startswith(","))
    position = [c.strip() for c in header.split(",")[1:]].index(column)
    return {f"{k[:4]}-{k[4:]}": cells[position] for k, cells in _raw_blocks(text)[0]}


@pytest.mark.parametrize(
    ("model", "region", "stems"),
    [
        (
            "ff3",
            "us",
            {
                "Mkt-RF": "F-F_Research_Data_Factors",
                "SMB": "F-F_Research_Data_Factors",
                "HML": "F-F_Research_Data_Factors",
                "RF": "F-F_Research_Data_Factors",
            },
        ),
        (
            "ff5",
            "us",
            dict.fromkeys(
                ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "RF"], "F-F_Research_Data_5_Factors_2x3"
            ),
        ),
        (
            "ff6",
            "us",
            {
                **dict.fromkeys(
                    ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "RF"], "F-F_Research_Data_5_Factors_2x3"
                ),
                "Mom": "F-F_Momentum_Factor",
            },
        ),
        (
            "xray7",
            "us",
            {
                **dict.fromkeys(
                    ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "RF"], "F-F_Research_Data_5_Factors_2x3"
                ),
                "Mom": "F-F_Momentum_Factor",
            },
        ),
        (
            "ff5",
            "developed",
            dict.fromkeys(["Mkt-RF", "SMB", "HML", "RMW", "CMA", "RF"], "Developed_5_Factors"),
        ),
    ],
)
def test_show_csv_prints_exactly_the_published_values_over_100(
    kf_server, model, region, stems
) -> None:
    result = run(
        "factors",
        "show",
        model,
        "--region",
        region,
        "--format",
        "csv",
        env={"FACTORXRAY_KENFRENCH_URL": kf_server.url},
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    header = result.stdout.splitlines()[0].split(",")
    assert header[0] == "period" and header[-1] == "RF"
    published = {column: _published_strings(stem, column) for column, stem in stems.items()}
    months = set.intersection(*(set(p) for p in published.values()))
    if model == "xray7":
        months &= {str(p) for p in raw_vol().index}
    assert [row["period"] for row in rows] == sorted(months)
    for row in rows:
        for column, values in published.items():
            ours = "MOM" if column == "Mom" else column
            assert Decimal(row[ours]) == Decimal(values[row["period"]]) / 100, (
                row["period"],
                column,
            )
    if model == "xray7":
        vol = raw_vol()
        for row in rows:
            assert abs(float(row["VOL"]) - vol.loc[row["period"]] / 100) <= 1e-12


def test_show_table_has_percent_vintage_and_range(kf_server) -> None:
    result = run(
        "factors",
        "show",
        "ff3",
        "--start",
        "2024-01",
        "--end",
        "2024-03",
        env={"FACTORXRAY_KENFRENCH_URL": kf_server.url},
    )
    assert result.exit_code == 0, result.output
    raw = raw_monthly("F-F_Research_Data_Factors")
    assert f"{raw.loc['2024-01', 'Mkt-RF']:.2f}" in result.stdout
    assert "vintages: F-F_Research_Data_Factors 202511" in result.stdout
    assert "range: 2024-01 to 2024-03 (3 rows" in result.stdout


def test_list_dataset_and_corr(kf_server) -> None:
    listing = run("factors", "list")
    assert (
        listing.exit_code == 0
        and "xray7" in listing.stdout
        and "asia_pacific_ex_japan" in listing.stdout
    )
    sections = run(
        "factors",
        "dataset",
        "25_Portfolios_ME_VAR_5x5",
        env={"FACTORXRAY_KENFRENCH_URL": kf_server.url},
    )
    assert sections.exit_code == 0, sections.output
    assert (
        "Average Equal Weighted Returns -- Annual" in sections.stdout
        and "202602" in sections.stdout
    )
    one = run(
        "factors",
        "dataset",
        "F-F_Momentum_Factor",
        "--section",
        "Annual",
        env={"FACTORXRAY_KENFRENCH_URL": kf_server.url},
    )
    assert one.exit_code == 0 and one.stdout.splitlines()[0] == "year,Mom"
    corr = run("factors", "corr", "xray7", env={"FACTORXRAY_KENFRENCH_URL": kf_server.url})
    assert corr.exit_code == 0, corr.output
    assert "VIF" in corr.stdout and "VOL" in corr.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["factors", "show", "ff9"], "unknown model 'ff9'; choose one of: capm"),
        (["factors", "show", "ff5", "--region", "atlantis"], "unknown region 'atlantis'"),
        (["factors", "show", "xray7", "--region", "japan"], "only for the US"),
        (["factors", "show", "ff5", "--start", "Jan 2020x"], "--start 'Jan 2020x' is not a month"),
        (["factors", "dataset", "No_Such_Dataset"], "dataset No_Such_Dataset not found"),
    ],
)
def test_bad_input_is_one_line_exit_2(kf_server, args, message) -> None:
    result = run(*args, env={"FACTORXRAY_KENFRENCH_URL": kf_server.url})
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def _fault_routes() -> dict:
    good = (
        Path(__file__).parent / "data" / "kenfrench" / "F-F_Momentum_Factor_CSV.zip"
    ).read_bytes()
    garbage = io.BytesIO()
    with zipfile.ZipFile(garbage, "w") as archive:
        archive.writestr("F-F_Momentum_Factor.csv", "<html>we moved</html>\n\n,Mom\n202001, n/a\n")
    notcsv = io.BytesIO()
    with zipfile.ZipFile(notcsv, "w") as archive:
        archive.writestr("readme.exe", b"MZ")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("F-F_Momentum_Factor.csv", b"0" * (65 * 1024 * 1024))
    faults = {
        "/corrupt/F-F_Momentum_Factor_CSV.zip": lambda r: Reply(200, good[:-300] + b"\x00" * 300),
        "/truncated/F-F_Momentum_Factor_CSV.zip": lambda r: Reply(
            200, good, truncate_to=len(good) // 2
        ),
        "/garbage/F-F_Momentum_Factor_CSV.zip": lambda r: Reply(200, garbage.getvalue()),
        "/notcsv/F-F_Momentum_Factor_CSV.zip": lambda r: Reply(200, notcsv.getvalue()),
        "/bomb/F-F_Momentum_Factor_CSV.zip": lambda r: Reply(200, bomb.getvalue()),
        "/busy/F-F_Momentum_Factor_CSV.zip": lambda r: Reply(503, b"busy", {"Retry-After": "0"}),
        "/limited/F-F_Momentum_Factor_CSV.zip": lambda r: Reply(
            429, b"slow down", {"Retry-After": "0"}
        ),
        "/slow/F-F_Momentum_Factor_CSV.zip": lambda r: Reply(200, good, sleep=3),
        "/missing/F-F_Momentum_Factor_CSV.zip": lambda r: Reply(404, b"nope"),
    }
    healthy = {}
    for path in faults:
        healthy.update(zip_routes(prefix=path.rsplit("/", 1)[0] + "/"))
    return {**healthy, **faults}


@pytest.mark.parametrize(
    ("fault", "message", "code"),
    [
        ("corrupt", "archive is corrupt|not a valid zip", 1),
        ("truncated", "connection dropped mid-response", 1),
        ("garbage", "is not a number", 1),
        ("notcsv", r"no CSV file \(found: readme.exe\)", 1),
        ("bomb", "over the 67108864-byte limit", 1),
        ("busy", r"HTTP 503 server error \(retry later\)", 1),
        ("limited", r"HTTP 429 Too Many Requests", 1),
        ("slow", "timed out", 1),
        ("missing", "not found", 2),
    ],
)
def test_server_faults_are_one_line_and_keep_the_good_cached_copy(
    kf_server, tmp_path, fault, message, code
) -> None:
    cache_dir = tmp_path / "faultcache"
    primed = run(
        "--cache-dir",
        str(cache_dir),
        "factors",
        "show",
        "ff6",
        "--format",
        "csv",
        env={"FACTORXRAY_KENFRENCH_URL": kf_server.url},
    )
    assert primed.exit_code == 0
    entry = cache_dir / "kenfrench" / "F-F_Momentum_Factor_CSV.zip.data"
    good_bytes = entry.read_bytes()
    with LoopbackServer(_fault_routes()) as faults:
        result = run(
            "--cache-dir",
            str(cache_dir),
            "factors",
            "show",
            "ff6",
            "--refresh",
            env={
                "FACTORXRAY_KENFRENCH_URL": f"{faults.url}/{fault}/",
                "FACTORXRAY_HTTP_TIMEOUT": "0.5",
                "FACTORXRAY_HTTP_RETRIES": "1",
            },
        )
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "F-F_Momentum_Factor" in lines[0]
    if fault != "missing":
        assert f"{faults.url}/{fault}/F-F_Momentum_Factor_CSV.zip" in lines[0]
    import re

    assert re.search(message, lines[0])
    assert entry.read_bytes() == good_bytes  # the last good copy survives
    assert not [p for p in entry.parent.iterdir() if p.name.endswith(".tmp")]


def test_debug_shows_the_traceback(kf_server) -> None:
    result = run("--debug", "factors", "show", "ff9")
    assert result.exit_code != 0 and result.exception is not None


def test_real_process_live_then_cached_then_offline(tmp_path) -> None:
    """The done-when: a real `factorxray` process, a loopback server, then the server stopped."""
    env = {
        **os.environ,
        "FACTORXRAY_CACHE_DIR": str(tmp_path / "proc-cache"),
        "FACTORXRAY_HTTP_RETRIES": "0",
    }
    command = [sys.executable, "-m", "factorxray", "factors", "show", "xray7", "--format", "csv"]
    with LoopbackServer(zip_routes()) as server:
        live = subprocess.run(
            command,
            env={**env, "FACTORXRAY_KENFRENCH_URL": server.url},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert live.returncode == 0, live.stderr
    cached = subprocess.run(
        command,
        env={**env, "FACTORXRAY_KENFRENCH_URL": server.url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cached.returncode == 0, cached.stderr
    assert cached.stdout == live.stdout
    # --offline on an empty cache: the bundled snapshot answers the monthly model ...
    snapshot = subprocess.run(
        [*command, "--offline"],
        env={**env, "FACTORXRAY_CACHE_DIR": str(tmp_path / "empty")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert snapshot.returncode == 0, snapshot.stderr
    assert snapshot.stdout.splitlines()[0] == live.stdout.splitlines()[0]
    # ... but it holds no daily files: one line saying so (ff5: xray7 has no daily data at all)
    empty = subprocess.run(
        [*command[:-3], "ff5", "--format", "csv", "--frequency", "daily", "--offline"],
        env={**env, "FACTORXRAY_CACHE_DIR": str(tmp_path / "empty")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert empty.returncode == 1
    assert (
        empty.stderr.count("\n") == 1
        and "not in the cache" in empty.stderr
        and "Traceback" not in empty.stderr
    )


def test_cache_info_and_clear(kf_server, tmp_path) -> None:
    cache_dir = tmp_path / "c"
    run(
        "--cache-dir",
        str(cache_dir),
        "factors",
        "show",
        "ff3",
        env={"FACTORXRAY_KENFRENCH_URL": kf_server.url},
    )
    info = run("--cache-dir", str(cache_dir), "cache", "info")
    assert (
        info.exit_code == 0
        and "F-F_Research_Data_Factors_CSV.zip" in info.stdout
        and "202511" in info.stdout
    )
    cleared = run("--cache-dir", str(cache_dir), "cache", "clear")
    # the zip and its parsed form (kenfrench-parsed), each a data and a metadata file
    assert cleared.exit_code == 0 and "removed 4 file(s)" in cleared.stderr


def test_daily_show_takes_months_or_days(kf_server) -> None:
    env = {"FACTORXRAY_KENFRENCH_URL": kf_server.url}
    by_month = run(
        "factors",
        "show",
        "ff3",
        "--frequency",
        "daily",
        "--start",
        "2020-03",
        "--end",
        "2020-03",
        "--format",
        "csv",
        env=env,
    )
    assert by_month.exit_code == 0, by_month.output
    days = [line.split(",")[0] for line in by_month.stdout.splitlines()[1:]]
    assert days[0] == "2020-03-02" and days[-1] == "2020-03-31" and len(days) == 22
    by_day = run(
        "factors",
        "show",
        "ff3",
        "--frequency",
        "daily",
        "--start",
        "2020-03-16",
        "--end",
        "2020-03-16",
        "--format",
        "csv",
        env=env,
    )
    assert by_day.exit_code == 0 and by_day.stdout.splitlines()[1].startswith("2020-03-16,-0.12,")


def test_ambiguous_or_missing_section_is_a_usage_error(kf_server) -> None:
    env = {"FACTORXRAY_KENFRENCH_URL": kf_server.url}
    ambiguous = run(
        "factors", "dataset", "25_Portfolios_ME_VAR_5x5", "--section", "Monthly", env=env
    )
    assert ambiguous.exit_code == 2 and "is ambiguous" in ambiguous.stderr
    missing = run("factors", "dataset", "F-F_Momentum_Factor", "--section", "99", env=env)
    assert missing.exit_code == 2 and "no section #99" in missing.stderr


# ----------------------------------------------------------------------------- other libraries


@pytest.fixture
def libraries_env(tmp_path):
    """Environment pointing every factor library at a loopback server of real files."""
    from tests._kenfrench_server import all_factor_server, library_env

    server = all_factor_server()
    try:
        yield {**library_env(server.url), "FACTORXRAY_CACHE_DIR": str(tmp_path / "c")}
    finally:
        server.stop()


def test_show_any_mix_as_csv_in_decimals_with_vintages(libraries_env) -> None:
    result = run(
        "factors",
        "show",
        "--factors",
        "Mkt-RF,SMB,HML,QMJ,BAB",
        "--start",
        "2021-01",
        "--format",
        "csv",
        env=libraries_env,
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "period,Mkt-RF,SMB,HML,QMJ,BAB,RF"
    assert lines[-1].startswith("2021-02,0.0281,0.0202,0.072,0.002725") and len(lines) == 3
    table = run("factors", "show", "q5", "--start", "2023-12", env=libraries_env)
    assert table.exit_code == 0 and "vintages: q5_factors_monthly_2023 2023" in table.stdout
    row = next(line for line in table.stdout.splitlines() if "2023-12" in line)
    assert "4.85" in row and "5.42" in row and "-4.26" in row


def test_show_a_user_factor_file_in_percent(libraries_env, tmp_path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("date,MYF\n2020-01,1.5\n2020-02,-0.5\n")
    result = run(
        "factors",
        "show",
        "--factors",
        "Mkt-RF,MYF",
        "--factor-file",
        str(path),
        "--factor-units",
        "percent",
        "--format",
        "csv",
        env=libraries_env,
    )
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == ["2020-01", "2020-02"]
    assert [r[2] for r in rows] == ["0.015", "-0.005"]
    no_units = run("factors", "show", "--factor-file", str(path), env=libraries_env)
    assert no_units.exit_code == 2 and "--factor-units percent" in no_units.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["factors", "show"], "give a model"),
        (["factors", "show", "ff5", "--factors", "BAB"], "not both"),
        (["factors", "show", "--factors", "Mkt-RF,QMJJ"], "did you mean QMJ"),
        (["factors", "show", "q5", "--region", "japan"], "exists only for: us"),
        (["factors", "show", "--factors", "BAB", "--frequency", "weekly"], "not published weekly"),
    ],
)
def test_mix_errors_are_one_line_exit_2(libraries_env, args, message) -> None:
    result = run(*args, env=libraries_env)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_list_names_every_source_factor_and_vintage_at_hand(libraries_env) -> None:
    run("factors", "show", "ff6bq", "--start", "2021-01", env=libraries_env)
    result = run("factors", "list", env=libraries_env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        "q5 ",
        "ff6bq",
        "FACTORXRAY_QFACTORS_URL",
        "FACTORXRAY_AQR_URL",
        "FACTORXRAY_LIQUIDITY_URL",
        "global-q.org",
        "HML_DEVIL",
        "STREV",
        "LIQ",
        "TERM",
        "Vintages at hand",
        "Betting-Against-Beta-Equity-Factors-Monthly │ 202102",
        "Quality-Minus-Junk-Factors-Monthly          │ 202109",
    ):
        assert text in out, text
