"""Error messages in the words of who reads them, and files named for what they are not.

Issue 12 follow-ups, each at its cause:

- Offline advice: the Python API says ``pass snapshot=True`` (Ken French) or ``pass
  offline=True`` (``fx.analyze``, the other libraries); the command line prints ``add
  --offline`` only (``factorxray.errors.cli_wording`` in the CLI's printers).
- The other factor libraries (AQR, q-factors, liquidity) without a network say what is at
  hand offline: the kept copy, an older cached year, or nothing (the bundled snapshot holds
  Ken French files only).
- A factor file or a panel of random bytes is named "not a valid Parquet file" in one line
  with what is expected (was pyarrow's paragraph plus "run without --offline to download
  them", which is wrong for a local file).

"No network" is a closed loopback port (connection refused); the servers are real loopback
HTTP servers with the real library files; the Parquet files are written by pandas from the
package's bundled Ken French data and then damaged.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import factorxray as fx
from factorxray.data.cache import Cache
from factorxray.data.kenfrench import read_dataset
from factorxray.errors import (
    PASS_OFFLINE,
    PASS_SNAPSHOT,
    AllFailedError,
    InputFileError,
    UnreachableError,
    cli_wording,
)
from factorxray.factors.libraries import aqr, liquidity, q
from factorxray.factors.libraries.user import read_user_factors
from factorxray.scale.panel import open_panel
from tests._kenfrench_server import all_factor_server, library_env
from tests._prices_server import PriceServer

ROOT = Path(__file__).resolve().parents[1]
CLI_SNAPSHOT_ADVICE = "or add --offline to use the bundled snapshot"
NOT_AT_HAND = (
    "(it is not in the cache, nor in the bundled snapshot, which holds Ken French files only)"
)
#: Python's words that the command line must never print.
API_WORDS = ("snapshot=True", "offline=True")


@pytest.fixture
def closed_url() -> str:
    """A loopback address nothing listens on: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def libraries():
    """A loopback server with the real Ken French zips and q-factor, liquidity and AQR files."""
    server = all_factor_server()
    try:
        yield server
    finally:
        server.stop()


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "factorxray", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def _closed_env(closed_url: str, cache_dir: Path) -> dict[str, str]:
    """Every data source at the closed port, the cache at ``cache_dir``."""
    env = {name: closed_url for name in library_env(closed_url.rstrip("/"))}
    return {**env, "FACTORXRAY_YAHOO_URL": closed_url, "FACTORXRAY_CACHE_DIR": str(cache_dir)}


def _age(cache: Cache, namespace: str, key: str, days: int = 30) -> None:
    """Make a cached entry as old as a run ``days`` ago left it (stale: the CLI revalidates)."""
    entry = cache.get(namespace, key)
    assert entry is not None
    meta = {k: v for k, v in entry.meta.items() if k not in ("sha256", "size")}
    meta["fetched_at"] = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    cache.put(namespace, key, entry.data, meta)


# ------------------------------------------------------------- one wording per audience


def test_cli_wording_replaces_every_piece_of_python_advice() -> None:
    for advice in (PASS_SNAPSHOT, PASS_OFFLINE):
        said = cli_wording(f"cannot reach host; {advice.python} to use it")
        assert said == f"cannot reach host; {advice.cli} to use it"
        assert not any(word in said for word in API_WORDS)
    assert cli_wording("no advice here") == "no advice here"


def test_factors_show_without_network_says_offline_and_the_api_says_snapshot_true(
    tmp_path: Path, closed_url: str
) -> None:
    with pytest.raises(UnreachableError) as caught:
        fx.load_factors("ff5", base_url=closed_url, cache=Cache(tmp_path / "api"))
    api = str(caught.value)
    assert api.endswith(
        "check your network connection, or pass snapshot=True to use the bundled snapshot"
    )
    assert "--offline" not in api

    done = _cli(["factors", "show", "ff5"], _closed_env(closed_url, tmp_path / "cli"))
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(
        "error: dataset F-F_Research_Data_5_Factors_2x3: cannot reach 127.0.0.1:"
    )
    assert line.endswith(f"check your network connection, {CLI_SNAPSHOT_ADVICE}")
    assert not any(word in line for word in API_WORDS)
    # the advice is true: --offline gives the table from the bundled snapshot
    offline = _cli(
        ["factors", "show", "ff5", "--offline", "--format", "csv"],
        _closed_env(closed_url, tmp_path / "cli"),
    )
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout.splitlines()[0] == "period,Mkt-RF,SMB,HML,RMW,CMA,RF"


def test_a_kept_ken_french_copy_is_offered_in_each_audiences_words(
    kf_server, tmp_path: Path, closed_url: str
) -> None:
    cache = Cache(tmp_path / "cache")
    read_dataset("F-F_Research_Data_Factors", base=kf_server.url, cache=cache)
    _age(cache, "kenfrench", "F-F_Research_Data_Factors_CSV.zip")
    with pytest.raises(UnreachableError) as caught:
        read_dataset("F-F_Research_Data_Factors", base=closed_url, cache=cache)
    assert str(caught.value).endswith("is kept; pass snapshot=True to use it)")

    done = _cli(["factors", "show", "ff3"], _closed_env(closed_url, tmp_path / "cache"))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.endswith("is kept; add --offline to use it)"), line
    assert not any(word in line for word in API_WORDS)


def test_fx_analyze_without_a_factor_library_says_offline_true(
    tmp_path: Path, closed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTORXRAY_KENFRENCH_URL", closed_url)
    with PriceServer() as server:
        monkeypatch.setenv("FACTORXRAY_YAHOO_URL", server.url)
        with pytest.raises(AllFailedError) as caught:
            fx.analyze(["SPY"], cache=Cache(tmp_path / "c"), models=None, region_fit=False)
    reason = caught.value.failures["SPY"]
    assert reason.startswith(
        "no xray7 factors for region us: dataset F-F_Research_Data_5_Factors_2x3"
    )
    assert reason.endswith(
        "or pass offline=True to use the bundled snapshot"
    )  # fx.analyze's keyword
    assert "snapshot=True" not in reason and "--offline" not in reason
    analysis = fx.analyze(
        ["SPY"], offline=True, cache=Cache(tmp_path / "c"), models=None, region_fit=False
    )
    assert not analysis.failed and "SPY" in analysis.results.params.index


# ------------------------------------------------------ the other libraries, no network


def test_library_files_not_at_hand_say_the_snapshot_cannot_help(
    tmp_path: Path, closed_url: str
) -> None:
    cache = Cache(tmp_path / "c")
    readers = {
        "AQR workbook Quality-Minus-Junk-Factors-Monthly": lambda: aqr.read_aqr(
            "qmj", base=closed_url, cache=cache
        ),
        "monthly q-factor file q5_factors_monthly_": lambda: q.read_q_factors(
            "monthly", base=closed_url, cache=cache
        ),
        "Pastor-Stambaugh liquidity file liq_data_1962_": lambda: liquidity.read_liquidity(
            base=closed_url, cache=cache
        ),
    }
    for what, read in readers.items():
        started = time.perf_counter()
        with pytest.raises(UnreachableError) as caught:
            read()
        assert time.perf_counter() - started < 1.0  # not retried
        message = str(caught.value)
        assert message.startswith(what) and "connection refused" in message
        assert message.endswith(f"check your network connection {NOT_AT_HAND}"), message

    done = _cli(["factors", "show", "--factors", "QMJ"], _closed_env(closed_url, tmp_path / "cli"))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: AQR workbook Quality-Minus-Junk-Factors-Monthly: cannot reach")
    assert line.endswith(NOT_AT_HAND)


def test_a_kept_aqr_copy_is_offered_and_offline_reads_it(
    libraries, tmp_path: Path, closed_url: str
) -> None:
    cache = Cache(tmp_path / "c")
    base = libraries.url + "/aqr/"
    fresh = aqr.read_aqr("bab", base=base, cache=cache)
    _age(cache, aqr.CACHE_NAMESPACE, "Betting-Against-Beta-Equity-Factors-Monthly.xlsx")
    with pytest.raises(UnreachableError) as caught:
        aqr.read_aqr("bab", base=closed_url, cache=cache)
    message = str(caught.value)
    assert "connection refused" in message
    assert message.endswith("is kept; pass offline=True to use it)")
    assert "bundled snapshot" not in message  # one piece of advice, the one that works
    kept = aqr.read_aqr("bab", cache=cache, offline=True)
    assert kept.vintage == fresh.vintage
    pd.testing.assert_frame_equal(kept.section("BAB Factors"), fresh.section("BAB Factors"))


def test_an_older_cached_year_is_offered_when_the_newest_cannot_be_asked_for(
    libraries, tmp_path: Path, closed_url: str
) -> None:
    cache = Cache(tmp_path / "c")
    published = q.read_q_factors("monthly", base=libraries.url + "/q/", cache=cache)
    assert published.vintage == "2023"  # the newer years answer 404 on the server
    _age(cache, q.CACHE_NAMESPACE, "q5_factors_monthly_2023.csv")
    with pytest.raises(UnreachableError) as caught:
        q.read_q_factors("monthly", base=closed_url, cache=cache)
    message = str(caught.value)
    this_year = datetime.now(UTC).year
    assert message.startswith(
        f"monthly q-factor file q5_factors_monthly_{this_year}.csv: cannot reach"
    )
    assert (
        ", or pass offline=True to use the cached q5_factors_monthly_2023.csv (fetched " in message
    )
    assert q.read_q_factors("monthly", cache=cache, offline=True).vintage == "2023"

    env = _closed_env(closed_url, tmp_path / "c")
    done = _cli(["factors", "show", "--factors", "ME,IA", "--format", "csv"], env)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "or add --offline to use the cached q5_factors_monthly_2023.csv (fetched " in line
    assert not any(word in line for word in API_WORDS)
    offline = _cli(["factors", "show", "--factors", "ME,IA", "--format", "csv", "--offline"], env)
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout.splitlines()[0] == "period,ME,IA,RF"


# ------------------------------------------------------------ files that are not Parquet


def _real_parquet(path: Path) -> bytes:
    """A real factor file: the bundled US 3-factor returns (percent), written by pandas."""
    frame = fx.load_factors("ff3", snapshot=True) * 100.0
    table = frame.reset_index()
    table["period"] = table["period"].astype(str)
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_factor_files_that_are_not_parquet_are_named_so(tmp_path: Path) -> None:
    good = _real_parquet(tmp_path / "ff3.parquet")
    assert list(read_user_factors(tmp_path / "ff3.parquet", "percent").section().columns) == [
        "Mkt-RF",
        "SMB",
        "HML",
        "RF",
    ]
    random_bytes = os.urandom(4096)
    cases = {
        "random.parquet": (random_bytes, "it does not start with the Parquet marker PAR1"),
        "cut.parquet": (
            good[: len(good) // 2],
            "it does not end with the Parquet marker PAR1: cut short?",
        ),
        "marked.csv": (
            b"PAR1" + random_bytes + b"PAR1",
            None,
        ),  # a Parquet marker wins over a suffix
    }
    for name, (data, reason) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputFileError) as caught:
            read_user_factors(tmp_path / name, "percent")
        message = str(caught.value)
        assert message.startswith(f"factor file {name} is not a valid Parquet file ("), message
        if reason is not None:
            assert f"({reason}); expected a CSV or Parquet file with a date column" in message
        assert "\n" not in message and len(message) < 300 and "magic bytes" not in message
    (tmp_path / "random.csv").write_bytes(random_bytes)
    with pytest.raises(
        InputFileError,
        match=r"^factor file random\.csv is not a CSV text file \(it holds binary data\); expected",
    ):
        read_user_factors(tmp_path / "random.csv", "percent")
    (tmp_path / "utf16.csv").write_bytes("date,MYF\n2020-01,1\n".encode("utf-16"))
    with pytest.raises(
        InputFileError, match=r"^factor file utf16\.csv is UTF-16 text; save it as UTF-8 CSV$"
    ):
        read_user_factors(tmp_path / "utf16.csv", "percent")


def test_analyze_offline_with_a_random_factor_file_is_one_line_without_download_advice(
    tmp_path: Path,
) -> None:
    (tmp_path / "random.parquet").write_bytes(os.urandom(4096))
    done = _cli(
        [
            "analyze",
            "SPY",
            "--offline",
            "--factor-file",
            str(tmp_path / "random.parquet"),
            "--factor-units",
            "percent",
            "--out",
            str(tmp_path / "report"),
        ],
        {"FACTORXRAY_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert done.returncode == 2, done.stderr  # a bad input, as a bad option
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(
        "error: factor file random.parquet is not a valid Parquet file (it does not start"
    )
    assert "download" not in line and "--offline" not in line and "region" not in line
    assert not (tmp_path / "report").exists()


# --------------------------------------------------------------------- panels


def test_a_panel_that_is_not_parquet_is_one_line_naming_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-01-31", "2020-02-29", "2020-03-31"]),
            "id": ["A", "A", "A"],
            "return": [0.01, -0.02, 0.03],
        }
    ).to_parquet(good, index=False)
    assert open_panel(good).rows == 3
    expected = "; expected Parquet (a file or a folder of files) or CSV text, long: one row per date and series, e.g. date,id,return"
    (tmp_path / "random.parquet").write_bytes(os.urandom(4096))
    with pytest.raises(InputFileError) as caught:
        open_panel(tmp_path / "random.parquet")
    assert str(caught.value) == (
        "panel 'random.parquet' is not a valid Parquet file (it does not start with the Parquet "
        f"marker PAR1){expected}"
    )
    folder = tmp_path / "panel" / "year=2020"
    folder.mkdir(parents=True)
    (folder / "a.parquet").write_bytes(good.read_bytes())
    (folder / "b.parquet").write_bytes(good.read_bytes()[:300])
    (folder / "_SUCCESS").write_bytes(b"")  # ignored, as pyarrow ignores it
    with pytest.raises(InputFileError) as caught:
        open_panel(tmp_path / "panel")
    assert str(caught.value) == (
        "panel 'panel': file 'year=2020/b.parquet' is not a valid Parquet file (it does not "
        f"end with the Parquet marker PAR1: cut short?){expected}"
    )
    (tmp_path / "random.csv").write_bytes(os.urandom(4096))
    with pytest.raises(
        InputFileError,
        match=r"^panel 'random\.csv' is not a CSV text file \(it holds binary data\)",
    ):
        open_panel(tmp_path / "random.csv")

    done = _cli(["panel", str(tmp_path / "random.parquet"), "--out", str(tmp_path / "betas")], {})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: panel 'random.parquet' is not a valid Parquet file (it does not start with the "
        f"Parquet marker PAR1){expected}"
    ]


# ----------------------------------------------------------------------- docs


def test_docs_factors_name_only_options_the_commands_accept() -> None:
    """docs/factors.md advised ``--snapshot``, which ``factors dataset`` does not have."""
    import re

    import typer

    from factorxray.cli import app

    options: set[str] = set()

    def collect(command) -> None:
        for param in getattr(command, "params", []):
            options.update(o for o in getattr(param, "opts", []) if o.startswith("--"))
        for sub in getattr(command, "commands", {}).values():
            collect(sub)

    collect(typer.main.get_command(app))
    text = (ROOT / "docs" / "factors.md").read_text()
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
    assert named and named <= options, named - options
    assert "--snapshot" not in text  # an alias kept for old scripts, not advice
