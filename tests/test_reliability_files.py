"""Files that are not what they claim: each error names the file and what was expected.

Issue 12: an unclosed CSV quote in a fund list was reported as ``bad ticker
'VTV,Vanguard\\nSPY,oops'`` (or, quoted later in a row, silently dropped every fund after
it); random bytes given as a Parquet prices file gave "no date column"; a folder given as
``--universe`` gave "unknown format '(no suffix)'".
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from factorxray.data.prices.file import FilePrices, parse_prices_file
from factorxray.errors import ParseError, UsageError
from factorxray.universe import load_universe
from tests._prices_server import fixture_closes

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = "expected Parquet (pandas to_parquet) or CSV text with a date column"


def _random_bytes(size: int, seed: int = 20260501) -> bytes:
    return random.Random(seed).randbytes(size)


def _real_parquet() -> bytes:
    frame = pd.DataFrame({"SPY": fixture_closes("SPY").iloc[:60]})
    frame.index.name = "date"
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["prices.parquet", "SPY.pq"])
@pytest.mark.parametrize(
    "content",
    [
        pytest.param(_random_bytes(4096), id="random"),
        pytest.param(_random_bytes(12, seed=3), id="short"),
        pytest.param(b"date,SPY\n2024-01-31,100\n", id="csv-text"),
    ],
)
def test_bytes_that_are_not_parquet_are_named_so(name: str, content: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        parse_prices_file(content, name)
    assert str(caught.value) == (
        f"{name}: not a valid Parquet file (it does not start with the Parquet marker PAR1); "
        f"{EXPECTED} and adjusted closes, e.g. date,SPY,MTUM"
    )


def test_a_damaged_parquet_file_is_named_so() -> None:
    real = _real_parquet()
    assert list(parse_prices_file(real, "prices.parquet")) == ["SPY"]  # the real one reads
    for damaged in (real[:4] + _random_bytes(len(real) - 4), real[: len(real) // 2]):
        with pytest.raises(ParseError, match=r"^prices\.parquet: not a valid Parquet file \("):
            parse_prices_file(damaged, "prices.parquet")


def test_random_bytes_named_csv_are_not_a_csv_text_file() -> None:
    with pytest.raises(ParseError) as caught:
        parse_prices_file(_random_bytes(4096), "SPY.csv")
    assert str(caught.value).startswith(
        f"SPY.csv: not a CSV text file (it holds binary data); {EXPECTED}"
    )
    utf16 = "date,SPY\n2024-01-31,100\n".encode("utf-16")
    with pytest.raises(ParseError, match=r"^SPY\.csv: UTF-16 text; save it as UTF-8 CSV"):
        parse_prices_file(utf16, "SPY.csv")
    latin1 = "Date,Adj Close,Note\n2024-01-31,100,Soci\xe9t\xe9\n2024-02-29,101,g\xe9n\xe9rale\n"
    assert list(parse_prices_file(latin1.encode("cp1252"), "SPY.csv")) == ["SPY"]  # 8-bit text


def test_random_parquet_through_the_file_source_and_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "prices.parquet"
    path.write_bytes(_random_bytes(4096))
    with pytest.raises(ParseError, match=r"^prices\.parquet: not a valid Parquet file"):
        FilePrices(path).load("SPY")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "SPY.parquet").write_bytes(_random_bytes(4096))
    with pytest.raises(ParseError, match=r"^SPY\.parquet: not a valid Parquet file"):
        FilePrices(folder).load("SPY")


def _cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "factorxray", *args],
        env={**os.environ, "FACTORXRAY_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_the_cli_names_each_bad_file(tmp_path: Path) -> None:
    prices = tmp_path / "prices.parquet"
    prices.write_bytes(_random_bytes(4096))
    done = _cli(
        ["returns", "SPY", "--source", "file", "--prices-file", str(prices), "--offline"],
        tmp_path,
    )
    assert done.returncode == 1
    assert "prices.parquet: not a valid Parquet file" in done.stderr
    assert "no date column" not in done.stderr

    funds = tmp_path / "universe.csv"
    funds.write_text('ticker,name\n"VTV,Vanguard\nSPY,oops\n', encoding="utf-8")
    done = _cli(
        ["analyze", "--universe", str(funds), "--offline", "--out", str(tmp_path / "r")], tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: {funds} line 2: unclosed quote (the quoted field runs to the end of the "
        "file); close the quote or remove it"
    )

    folder = tmp_path / "funds"
    folder.mkdir()
    done = _cli(
        ["analyze", "--universe", str(folder), "--offline", "--out", str(tmp_path / "r")], tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: universe file {folder} is a folder; give a fund list file (.toml, .yaml/.yml "
        "or .csv), e.g. --universe funds.csv"
    )


def test_a_quote_closed_later_never_swallows_funds_silently(tmp_path: Path) -> None:
    """Quoted late in a row, the open quote used to take in every later row as a name."""
    path = tmp_path / "funds.csv"
    path.write_text(
        'ticker,name\nVTV,"Vanguard Value\nSPY,SPDR\nMTUM,"iShares Momentum"\n', encoding="utf-8"
    )
    with pytest.raises(UsageError, match=r"funds\.csv line 4: text after a closing quote"):
        load_universe(path)
