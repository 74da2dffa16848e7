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
- Every other piece of advice is a pair too (``factorxray.errors.Advice``): prices
  (``pass offline=True`` / ``add --offline``, was ``--offline (offline=True in Python)`` for
  both), "not in the cache" (``call once with offline=False (the default) to download it`` /
  ``run once without --offline ...``), factor units, a cached file that no longer parses
  (``pass refresh=True`` / ``run with --refresh``), the prices file, suspect prices, the cache
  folder, a key-less price source; ``factorxray returns`` prints its ``failed:`` lines in
  CLI words.

"No network" is a closed loopback port (connection refused); the servers are real loopback
HTTP servers with the real library files; the Parquet files are written by pandas from the
package's bundled Ken French data and then damaged.
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import factorxray as fx
from factorxray import errors
from factorxray.data.cache import Cache
from factorxray.data.kenfrench import read_dataset
from factorxray.errors import (
    PASS_OFFLINE,
    PASS_SNAPSHOT,
    AllFailedError,
    InputFileError,
    NotCachedError,
    ParseError,
    UnreachableError,
    UsageError,
    cli_wording,
)
from factorxray.factors.libraries import aqr, liquidity, q
from factorxray.factors.libraries.user import read_user_factors
from factorxray.scale.panel import open_panel
from tests._kenfrench_server import all_factor_server, library_env
from tests._prices_server import PriceServer, fixture_closes

ROOT = Path(__file__).resolve().parents[1]
CLI_SNAPSHOT_ADVICE = "or add --offline to use the bundled snapshot"
NOT_AT_HAND = (
    "(it is not in the cache, nor in the bundled snapshot, which holds Ken French files only)"
)
#: Python's words that the command line must never print.
API_WORDS = ("snapshot=True", "offline=True")
#: ... and more of them, from every piece of advice (keywords, ``Cache(...)``).
API_KEYWORDS = re.compile(r"\b[a-z_]+=(True|False|'|F\b|YEAR\b|\s|$)|Cache\(|in Python\)")
#: The command line's words, which a message of the Python API must never hold.
CLI_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
runner = CliRunner()


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


# ------------------------------------------------- every other piece of advice, per audience


def _cli_options() -> set[str]:
    """Every ``--option`` the command line accepts (any command)."""
    import typer

    from factorxray.cli import app

    options: set[str] = set()

    def collect(command) -> None:
        for param in getattr(command, "params", []):
            options.update(o for o in getattr(param, "opts", []) if o.startswith("--"))
        for sub in getattr(command, "commands", {}).values():
            collect(sub)

    collect(typer.main.get_command(app))
    return options


def _stderr_lines(args: list[str]) -> tuple[int, list[str]]:
    """Run the CLI in-process; its exit code and stderr lines."""
    from factorxray.cli import app

    result = runner.invoke(app, args)
    return result.exit_code, result.stderr.strip().splitlines()


def _api_words_only(message: str) -> None:
    assert not CLI_FLAG.search(message), message
    assert "in Python)" not in message


def _cli_words_only(line: str) -> None:
    assert not API_KEYWORDS.search(line), line


def test_every_advice_pair_is_put_whole_in_cli_words_naming_real_options() -> None:
    pairs = [value for value in vars(errors).values() if isinstance(value, errors.Advice)]
    assert len(pairs) >= 10 and set(pairs) == set(errors._ADVICE)
    options = _cli_options()
    for advice in pairs:
        said = cli_wording(f"something failed; {advice.python} (then again)")
        assert said == f"something failed; {advice.cli} (then again)", advice
        assert advice.python != advice.cli, advice
        _cli_words_only(said)
        _api_words_only(advice.python)
        named = set(CLI_FLAG.findall(advice.cli))
        assert named and named <= options, advice  # the advice names options that exist
    # a wording that holds another is replaced whole, not piece by piece
    both = errors.FACTOR_UNITS.python
    assert errors.FACTOR_UNITS_PERCENT.python in both
    assert cli_wording(both) == errors.FACTOR_UNITS.cli


def test_prices_without_network_say_offline_in_each_audiences_words(
    tmp_path: Path, closed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was ``or work offline: --offline (offline=True in Python)`` for both readers."""
    cache = Cache(tmp_path / "c")
    with pytest.raises(AllFailedError) as caught:
        fx.fetch_returns(["SPY"], base_url=closed_url, cache=cache)
    reason = caught.value.failures["SPY"]
    assert "connection refused" in reason
    assert reason.endswith("check your network connection, or pass offline=True to work offline")
    _api_words_only(reason)

    monkeypatch.setenv("FACTORXRAY_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("FACTORXRAY_YAHOO_URL", closed_url)
    code, lines = _stderr_lines(["returns", "SPY", "--format", "csv"])
    assert code == 1
    (line,) = lines
    assert line.startswith("failed: SPY: yahoo prices for SPY: cannot reach 127.0.0.1:")
    assert line.endswith("check your network connection, or add --offline to work offline")
    _cli_words_only(line)

    # a kept (stale) copy: each reader is told how to use it
    with PriceServer() as server:
        fx.fetch_returns(["SPY"], base_url=server.url, cache=cache)
    _age(cache, "prices-yahoo", "SPY", days=3)
    with pytest.raises(AllFailedError) as caught:
        fx.fetch_returns(["SPY"], base_url=closed_url, cache=cache)
    reason = caught.value.failures["SPY"]
    assert reason.endswith("is kept; pass offline=True to use it)")
    _api_words_only(reason)
    code, lines = _stderr_lines(["returns", "SPY", "--format", "csv"])
    assert code == 1 and lines[-1].endswith("is kept; add --offline to use it)"), lines
    _cli_words_only(lines[-1])
    code, _ = _stderr_lines(["returns", "SPY", "--format", "csv", "--offline"])
    assert code == 0  # the advice is true


def test_not_in_the_cache_says_how_to_download_in_each_audiences_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was ``run once without --offline to download it`` for Python callers too."""
    empty = Cache(tmp_path / "empty")
    with pytest.raises(NotCachedError) as caught:
        read_dataset("F-F_Momentum_Factor", cache=empty, offline=True)
    assert str(caught.value).startswith("dataset F-F_Momentum_Factor is not in the cache (")
    assert "; call once with offline=False (the default) to download it" in str(caught.value)
    _api_words_only(str(caught.value))
    with pytest.raises(NotCachedError) as caught:
        q.read_q_factors("monthly", cache=empty, offline=True)
    assert str(caught.value) == (
        f"no monthly q-factor file is in the cache ({empty.root}); call once with "
        "offline=False (the default) to download it"
    )
    with pytest.raises(AllFailedError) as caught:
        fx.fetch_returns(["SPY"], cache=empty, offline=True)
    reason = caught.value.failures["SPY"]
    assert reason == (
        f"no cached yahoo prices for SPY in {empty.root}; call once with offline=False "
        "(the default) to download them"
    )

    monkeypatch.setenv("FACTORXRAY_CACHE_DIR", str(empty.root))
    code, lines = _stderr_lines(["factors", "show", "--factors", "ME,IA", "--offline"])
    assert (code, lines) == (
        1,
        [
            f"error: no monthly q-factor file is in the cache ({empty.root}); run once without "
            "--offline to download it"
        ],
    )
    code, lines = _stderr_lines(["returns", "ZZZZ", "--offline"])  # not in the snapshot either
    assert code == 1
    (line,) = lines
    assert line.startswith(
        f"failed: ZZZZ: no cached yahoo prices for ZZZZ in {empty.root}; run once without "
        "--offline to download them"
    )
    _cli_words_only(line)


def _real_percent_csv(path: Path) -> Path:
    """The bundled US 3-factor returns as a user's CSV, in percent (the factors renamed)."""
    frame = fx.load_factors("ff3", snapshot=True) * 100.0
    frame = frame.rename(columns={"Mkt-RF": "MyMkt", "SMB": "MySMB", "HML": "MyHML"})
    frame.index = frame.index.astype(str)
    frame.to_csv(path, index_label="date")
    return path


def test_factor_units_are_asked_for_in_each_audiences_words(tmp_path: Path) -> None:
    """Was ``--factor-units percent or --factor-units decimal (factor_units=...)`` for both."""
    csv = _real_percent_csv(tmp_path / "ff3.csv")
    with pytest.raises(InputFileError) as caught:
        fx.load_factors(factor_file=csv, cache=Cache(tmp_path / "c"))
    assert str(caught.value) == (
        "say the units of the factor file ff3.csv: pass factor_units='percent' or "
        "factor_units='decimal'"
    )
    with pytest.raises(InputFileError) as caught:
        fx.load_factors(factor_file=csv, factor_units="decimal", cache=Cache(tmp_path / "c"))
    assert str(caught.value).endswith("are they percent? pass factor_units='percent'")
    _api_words_only(str(caught.value))
    following = fx.load_factors(factor_file=csv, factor_units="percent", cache=Cache(tmp_path))
    assert list(following.columns) == ["MyMkt", "MySMB", "MyHML", "RF"]

    code, lines = _stderr_lines(["factors", "show", "--factor-file", str(csv)])
    assert (code, lines) == (
        2,
        [
            "error: say the units of the factor file ff3.csv: add --factor-units percent or "
            "--factor-units decimal"
        ],
    )
    code, lines = _stderr_lines(
        ["factors", "show", "--factor-file", str(csv), "--factor-units", "decimal"]
    )
    assert code == 2 and lines[0].endswith("are they percent? add --factor-units percent")
    _cli_words_only(lines[0])
    code, _ = _stderr_lines(
        ["factors", "show", "--factor-file", str(csv), "--factor-units", "percent"]
    )
    assert code == 0


def test_a_cached_file_that_no_longer_parses_says_refresh_in_each_audiences_words(
    kf_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was ``run with --refresh`` for Python callers too. The real zip, cut short in the cache."""
    cache = Cache(tmp_path / "c")
    good = read_dataset("F-F_Research_Data_Factors", base=kf_server.url, cache=cache)
    key = "F-F_Research_Data_Factors_CSV.zip"
    entry = cache.get("kenfrench", key)
    assert entry is not None
    meta = {k: v for k, v in entry.meta.items() if k not in ("sha256", "size")}
    cache.put("kenfrench", key, entry.data[: len(entry.data) // 2], meta)
    with pytest.raises(ParseError) as caught:
        read_dataset("F-F_Research_Data_Factors", cache=cache, offline=True)
    assert str(caught.value).endswith(
        f"(cached copy in kenfrench/{key}; pass refresh=True to download it again)"
    )
    _api_words_only(str(caught.value))

    monkeypatch.setenv("FACTORXRAY_CACHE_DIR", str(cache.root))
    monkeypatch.setenv("FACTORXRAY_KENFRENCH_URL", kf_server.url)
    code, lines = _stderr_lines(["factors", "show", "ff3", "--offline"])
    assert code == 1 and len(lines) == 1
    assert lines[0].endswith(
        f"(cached copy in kenfrench/{key}; run with --refresh to download it again)"
    )
    _cli_words_only(lines[0])
    code, _ = _stderr_lines(["factors", "show", "ff3", "--refresh"])
    assert code == 0  # the advice is true
    again = read_dataset("F-F_Research_Data_Factors", cache=cache, offline=True)
    assert again.vintage == good.vintage


def test_returns_prints_its_failed_lines_in_cli_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``failed:`` lines of ``factorxray returns`` went out as the library wrote them.

    IJR's real 2:1 split of 2017-01-19 undone on the server; a cache folder under a file.
    """
    closes = fixture_closes("IJR").copy()
    closes[closes.index < "2017-01-19"] *= 2
    with PriceServer() as server:
        server.closes["IJR"] = closes
        returns = fx.fetch_returns(["IJR", "SPY"], base_url=server.url, cache=Cache(tmp_path / "c"))
        reason = returns.attrs["failed"]["IJR"]
        assert reason.startswith("suspect prices: split-like jump on 2017-01-19")
        assert reason.endswith(
            "check the source, or pass allow_suspect_prices=True to use them anyway"
        )
        _api_words_only(reason)
        monkeypatch.setenv("FACTORXRAY_YAHOO_URL", server.url)
        monkeypatch.setenv("FACTORXRAY_CACHE_DIR", str(tmp_path / "c"))
        code, lines = _stderr_lines(["returns", "IJR", "SPY", "--format", "csv"])
        assert code == 3
        (line,) = lines
        assert line.startswith("failed: IJR: suspect prices: split-like jump on 2017-01-19")
        assert line.endswith("check the source, or add --allow-suspect-prices to use them anyway")
        _cli_words_only(line)

        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        with pytest.raises(AllFailedError) as caught:
            fx.fetch_returns(["SPY"], base_url=server.url, cache=Cache(blocker / "cache"))
        reason = caught.value.failures["SPY"]
        assert reason.startswith(f"cannot write to the cache folder {blocker / 'cache'} (")
        assert reason.endswith(
            "choose another: pass cache=Cache(FOLDER) or set FACTORXRAY_CACHE_DIR"
        )
        code, lines = _stderr_lines(["--cache-dir", str(blocker / "cache"), "returns", "SPY"])
        assert code == 1
        (line,) = lines
        assert line.startswith(f"failed: SPY: cannot write to the cache folder {blocker / 'cache'}")
        assert line.endswith("choose another: use --cache-dir FOLDER or set FACTORXRAY_CACHE_DIR")


def test_price_source_options_are_named_in_each_audiences_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file source without a file, a keyed source without its key (no request is made)."""
    cache = Cache(tmp_path / "c")
    with pytest.raises(
        UsageError, match=r"^the file source needs a prices file: pass prices_file=F$"
    ):
        fx.fetch_returns(["SPY"], "file", cache=cache)
    with pytest.raises(UsageError) as caught:
        fx.fetch_returns(["SPY"], "fmp", cache=cache)
    assert str(caught.value).endswith(
        "or pass source='yahoo', or pass offline=True to read only the cache"
    )
    _api_words_only(str(caught.value))
    with pytest.raises(UsageError, match=r"^prices file .*missing\.csv does not exist$"):
        fx.analyze(["SPY"], source="file", prices_file=tmp_path / "missing.csv", cache=cache)

    assert _stderr_lines(["returns", "SPY", "--source", "file"]) == (
        2,
        ["error: the file source needs a prices file: add --prices-file F"],
    )
    code, lines = _stderr_lines(["returns", "SPY", "--source", "fmp"])
    assert code == 2 and lines[0].endswith(
        "or use --source yahoo, or add --offline to read only the cache"
    )
    _cli_words_only(lines[0])


def test_too_short_a_sample_names_the_option_in_each_audiences_words(tmp_path: Path) -> None:
    """fx.analyze said ``(--min-months 36; lower it, or widen --start/--end)``: CLI words."""
    with pytest.raises(AllFailedError) as caught:
        fx.analyze(["SPY"], offline=True, start="2023-06", models=None, region_fit=False)
    reason = caught.value.failures["SPY"]
    assert reason.endswith("(min_months=36; lower it, or widen start/end)"), reason
    _api_words_only(reason)
    with pytest.raises(UsageError, match=r"^min_months=1 is too small; use at least 2"):
        fx.analyze(["SPY"], offline=True, min_months=1)
    with pytest.raises(UsageError, match=r"^t_threshold=0 must be positive"):
        fx.analyze(["SPY"], offline=True, t_threshold=0)

    args = ["analyze", "SPY", "--offline", "--models", "none", "--out", str(tmp_path / "r")]
    code, lines = _stderr_lines([*args, "--start", "2023-06"])
    assert code == 1
    (line,) = [x for x in lines if x.startswith("not analyzed: SPY: ")]
    assert line.endswith("(--min-months 36; lower it, or widen --start/--end)"), line
    _cli_words_only(line)
    code, lines = _stderr_lines([*args, "--min-months", "1"])
    assert code == 2 and lines == [
        "error: --min-months 1 is too small; use at least 2 (36 is the default)"
    ]


#: Advice in CLI words (or in both) that library messages used to give; each is now a pair.
_OLD_CLI_ADVICE = (
    "in Python)",
    "without --offline",
    "with --refresh",
    "--factor-units",
    "--prices-file F",
    "--allow-suspect-prices",
    "--source yahoo",
    "--cache-dir",
    "without --vintage",
    "with --vintage",
)


def _message_strings(path: Path) -> list[tuple[int, str]]:
    """Every string literal of a module (f-string pieces too), docstrings left out."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_library_messages_give_no_command_line_advice_of_the_fixed_kinds() -> None:
    """The library speaks Python: all but cli/, errors.py (the pairs) and report/ (its own
    wording of --force, left to its owner)."""
    package = ROOT / "src" / "factorxray"
    found = [
        f"{path.relative_to(package)}:{line}: {text!r}"
        for path in sorted(package.rglob("*.py"))
        if path.relative_to(package).parts[0] not in ("cli", "report", "errors.py")
        for line, text in _message_strings(path)
        if any(old in text for old in _OLD_CLI_ADVICE)
    ]
    assert not found, found


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
