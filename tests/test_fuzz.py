"""Hypothesis fuzzing of every parser: only factorxray's own errors may come out.

Each parser gets real inputs (the fixture files, real provider answers built from fixture
closes) mutated at random (characters inserted, deleted, replaced, lines dropped or
repeated, bytes flipped, cut short), and inputs made up from scratch. Whatever it is given,
a parser returns a result or raises a :class:`~factorxray.errors.FactorXrayError` subclass
(one line): never a ``KeyError``, ``ValueError``, ``RecursionError``... from deep inside.

The parsers: the Ken French CSV text and zip archive, the Yahoo, FMP and Tiingo answers,
every layout of a prices file (CSV wide/long/single-ticker, the yfinance three-row header,
gzip, Parquet), the cache's own price CSV, fund lists in TOML, YAML and CSV; plus the
price sanity checks and the HTTP body decoder on arbitrary input.

Examples per test: 60 by default (CI); set ``FACTORXRAY_FUZZ_EXAMPLES`` for a longer run,
e.g. ``FACTORXRAY_FUZZ_EXAMPLES=5000 uv run pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factorxray.data.http import _BodyDecoder
from factorxray.data.kenfrench import parse_french_csv, parse_french_zip
from factorxray.data.prices import get_provider, parse_prices_file
from factorxray.data.prices.file import FilePrices
from factorxray.data.prices.sanity import check_prices
from factorxray.data.prices.store import closes_from_bytes, closes_to_bytes
from factorxray.data.tickers import check_ticker
from factorxray.errors import FactorXrayError, ParseError, UsageError
from factorxray.universe import parse_universe
from tests._kenfrench_server import KF_DIR
from tests._prices_server import PRICES_DIR, fixture_closes

EXAMPLES = int(os.environ.get("FACTORXRAY_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ------------------------------------------------------------------------ inputs


@cache
def _kenfrench_texts() -> tuple[str, ...]:
    texts = []
    for name in ("F-F_Momentum_Factor", "Developed_Mom_Factor", "F-F_Research_Data_Factors"):
        with zipfile.ZipFile(KF_DIR / f"{name}_CSV.zip") as archive:
            text = archive.read(archive.namelist()[0]).decode("ascii")
        lines = text.splitlines()
        texts.append("\n".join(lines[:60] + lines[-40:]))  # keep the examples small
    return tuple(texts)


@cache
def _small_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("F-F_Momentum_Factor.csv", _kenfrench_texts()[0])
    return buffer.getvalue()


def _closes(ticker: str = "SPY", rows: int = 40) -> pd.Series:
    return fixture_closes(ticker).iloc[-rows:]


@cache
def _provider_answers() -> dict[str, bytes]:
    closes = _closes()
    days = [f"{day:%Y-%m-%d}" for day in closes.index]
    values = closes.tolist()
    stamps = (closes.index.as_unit("s").asi8 + 48600).tolist()
    yahoo = {
        "chart": {
            "result": [
                {
                    "meta": {"gmtoffset": -14400, "symbol": "SPY"},
                    "timestamp": stamps,
                    "events": {
                        "splits": {
                            str(stamps[5]): {"date": stamps[5], "numerator": 2, "denominator": 1}
                        }
                    },
                    "indicators": {
                        "quote": [{"close": values}],
                        "adjclose": [{"adjclose": values}],
                    },
                }
            ],
            "error": None,
        }
    }
    fmp = [{"symbol": "SPY", "date": d, "adjClose": v} for d, v in zip(days, values, strict=True)]
    tiingo = [
        {"date": f"{d}T00:00:00.000Z", "adjClose": v, "splitFactor": 1.0}
        for d, v in zip(days, values, strict=True)
    ]
    return {
        "yahoo": json.dumps(yahoo).encode(),
        "fmp": json.dumps(fmp[::-1]).encode(),
        "tiingo": json.dumps(tiingo).encode(),
    }


@cache
def _price_files() -> tuple[tuple[str, bytes], ...]:
    closes = _closes(rows=25)
    wide = pd.DataFrame({"SPY": closes, "MTUM": _closes("MTUM", 25)})
    wide.index.name = "date"
    long = wide.stack().rename("adj_close").reset_index().rename(columns={"level_1": "ticker"})
    parquet = io.BytesIO()
    wide.to_parquet(parquet)
    real = []
    for path in sorted((PRICES_DIR / "formats").rglob("*.csv*")):
        content = path.read_bytes()
        if path.name.endswith(".gz"):
            content = gzip.decompress(content)
        real.append((path.name.removesuffix(".gz"), b"\n".join(content.splitlines()[:30])))
    return (
        ("wide.csv", wide.to_csv().encode()),
        ("long.csv", long.to_csv(index=False).encode()),
        ("wide.parquet", parquet.getvalue()),
        ("wide.csv.gz", gzip.compress(wide.to_csv().encode())),
        *real,
    )


UNIVERSES = {
    "toml": (
        'name = "mine"\n\n[[fund]]\nticker = "VTV"\nname = "Vanguard Value"\ncategory = "value"\n'
        'region = "us"\ntilts = ["HML>0"]\n\n[[fund]]\nticker = "USMV"\ncategory = "low vol"\n'
    ),
    "yaml": (
        "name: mine\nfunds:\n  - ticker: VTV\n    category: value\n    tilts: [HML>0, SMB<0]\n"
        "  - &q {ticker: QUAL, category: quality, description: 'x: y'}\n"
        "  - {ticker: ON, region: us, tilts: 'RMW>0; multi>=2'}\n"
    ),
    "csv": (
        "ticker,name,category,region,tilts,description\nVTV,Vanguard Value,value,us,HML>0,\n"
        'VBR,"Small, value",small-cap,us,SMB>0;HML>0,"a ""quoted"" word"\n'
    ),
}

_JUNK = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            ",",
            "\n",
            "\r",
            '"',
            "'",
            "-99.99",
            "-999",
            "1e308",
            "nan",
            "inf",
            "&a",
            "*a",
            "[",
            "{",
            "]]",
            "\x00",
            "\ufeff",
            "---",
            ": ",
            "=",
            "#",
            "\t",
            "2024-13-45",
            "19260",
            "  ,",
        ]
    ),
)


@st.composite
def mutated_text(draw: st.DrawFn, bases: tuple[str, ...]) -> str:
    """A real text with a few random edits."""
    text = draw(st.sampled_from(bases))
    for _ in range(draw(st.integers(1, 6))):
        lines = text.split("\n")
        kind = draw(st.sampled_from(["insert", "delete", "replace", "dropline", "dupline", "cut"]))
        at = draw(st.integers(0, max(len(text), 1)))
        if kind == "insert":
            text = text[:at] + draw(_JUNK) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif kind == "replace":
            text = text[:at] + draw(_JUNK) + text[at + 1 :]
        elif kind == "dropline" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            text = "\n".join(lines[:i] + lines[i + 1 :])
        elif kind == "dupline" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            text = "\n".join(lines[: i + 1] + lines[i:])
        else:
            text = text[:at]
    return text


@st.composite
def mutated_bytes(draw: st.DrawFn, bases: tuple[bytes, ...]) -> bytes:
    """Real bytes with a few random overwrites, insertions or a cut."""
    data = draw(st.sampled_from(bases))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data), 1)))
        junk = draw(st.binary(min_size=1, max_size=8))
        kind = draw(st.sampled_from(["overwrite", "insert", "cut"]))
        if kind == "overwrite":
            data = data[:at] + junk + data[at + len(junk) :]
        elif kind == "insert":
            data = data[:at] + junk + data[at:]
        else:
            data = data[:at]
    return data


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _only_our_errors(call, *args, **kwargs):
    """Run ``call``; a FactorXrayError is fine (its message is one line), anything else fails."""
    try:
        return call(*args, **kwargs)
    except FactorXrayError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 2000, message[:300]
        return None


# ------------------------------------------------------------------------ Ken French


@FUZZ
@given(mutated_text(_kenfrench_texts()))
def test_kenfrench_csv(text: str) -> None:
    dataset = _only_our_errors(parse_french_csv, text, "fuzz")
    if dataset is not None:
        for frame in dataset.sections.values():
            assert frame.index.is_unique and frame.index.is_monotonic_increasing
            assert frame.dtypes.eq(np.float64).all()


@FUZZ
@given(st.text(max_size=300))
def test_kenfrench_csv_from_scratch(text: str) -> None:
    _only_our_errors(parse_french_csv, text, "fuzz")


@FUZZ
@given(mutated_bytes((_small_zip(),)))
def test_kenfrench_zip(data: bytes) -> None:
    _only_our_errors(parse_french_zip, data, "fuzz")


# ------------------------------------------------------------------------ providers


@FUZZ
@given(st.sampled_from(["yahoo", "fmp", "tiingo"]), st.data())
def test_provider_answers(source: str, data: st.DataObject) -> None:
    provider = get_provider(source, base_url="http://127.0.0.1:9", api_key="k")
    body = data.draw(
        st.one_of(
            mutated_bytes((_provider_answers()[source],)),
            JSON.map(lambda value: json.dumps(value).encode()),
            st.binary(max_size=60),
        )
    )
    closes = _only_our_errors(provider.parse, "SPY", body)
    if closes is not None:
        assert isinstance(closes.index, pd.DatetimeIndex) and closes.index.is_unique
        assert bool(np.all(np.isfinite(closes.to_numpy()) & (closes.to_numpy() > 0)))


@FUZZ
@given(st.sampled_from(["yahoo", "fmp", "tiingo"]), st.data())
def test_provider_answers_with_edited_json(source: str, data: st.DataObject) -> None:
    """The real answer's structure with one value anywhere replaced by arbitrary JSON."""
    payload = json.loads(_provider_answers()[source])
    path: list = []
    node = payload
    while isinstance(node, dict | list) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        path.append(key)
        node = node[key]
    if path:
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = data.draw(JSON)
    else:
        payload = data.draw(JSON)
    provider = get_provider(source, base_url="http://127.0.0.1:9", api_key="k")
    _only_our_errors(provider.parse, "SPY", json.dumps(payload).encode())


# ------------------------------------------------------------------------ price files


@FUZZ
@given(st.data())
def test_prices_files(data: st.DataObject) -> None:
    name, content = data.draw(st.sampled_from(_price_files()))
    if name.endswith(".parquet") or name.endswith(".gz"):
        content = data.draw(mutated_bytes((content,)))
    else:
        content = data.draw(mutated_text((content.decode("utf-8", "replace"),))).encode()
    strict = data.draw(st.booleans())
    parsed = _only_our_errors(parse_prices_file, content, name, strict=strict)
    for series in (parsed or {}).values():
        assert isinstance(series.index, pd.DatetimeIndex) and series.index.is_unique
        assert bool(np.all(series.to_numpy() > 0))


@FUZZ
@given(st.binary(max_size=200), st.sampled_from(["x.csv", "SPY.csv", "x.parquet", "x.csv.gz"]))
def test_prices_files_from_scratch(content: bytes, name: str) -> None:
    _only_our_errors(parse_prices_file, content, name, strict=False)


@FUZZ
@given(data=st.data())
def test_prices_file_reader_and_folder(tmp_path_factory, data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("prices")
    _name, content = data.draw(st.sampled_from(_price_files()[:2]))
    content = data.draw(mutated_text((content.decode(),))).encode()
    (folder / "SPY.csv").write_bytes(content)
    for path in (folder, folder / "SPY.csv"):
        prices = _only_our_errors(FilePrices, path)
        if prices is not None:
            _only_our_errors(prices.tickers)
            _only_our_errors(prices.load, "SPY")


@FUZZ
@given(mutated_text(("date,adj_close\n2024-01-02,1.5\n2024-01-03,1.25\n2024-01-04,1.75\n",)))
def test_cached_price_csv(text: str) -> None:
    _only_our_errors(closes_from_bytes, text.encode(), "cached SPY")


@FUZZ
@given(mutated_bytes((closes_to_bytes(_closes("SPY", 30)),)))
def test_cached_price_array(data: bytes) -> None:
    closes = _only_our_errors(closes_from_bytes, data, "cached SPY")
    if closes is not None:  # what is read is a usable history
        values = closes.to_numpy()
        assert closes.index.is_unique and closes.index.is_monotonic_increasing
        assert np.isfinite(values).all() and (values > 0).all()


# ------------------------------------------------------------------------ universes


@FUZZ
@given(st.sampled_from(sorted(UNIVERSES)), st.data())
def test_universe_files(fmt: str, data: st.DataObject) -> None:
    text = data.draw(st.one_of(mutated_text((UNIVERSES[fmt],)), st.text(max_size=200)))
    universe = _only_our_errors(parse_universe, text, fmt, source="fuzz")
    if universe is not None:
        assert len(set(universe.tickers)) == len(universe.tickers)
        for ticker in universe.tickers:
            assert check_ticker(ticker) == ticker


@cache
def _preset_csv_rows() -> tuple[tuple[str, ...], ...]:
    """The smart-beta-20 fund list as CSV cells, with no quote or comma inside any cell."""
    from factorxray import presets

    rows = [("ticker", "name", "category", "tilts")]
    for fund in presets.get("smart-beta-20"):
        cells = (fund.ticker, fund.name, fund.category, fund.tilts_text().replace(" ", ""))
        rows.append(tuple(cell.replace(",", " ").replace('"', "") for cell in cells))
    return tuple(rows)


@FUZZ
@given(st.data())
def test_an_unclosed_quote_in_a_fund_list_names_its_line(data: st.DataObject) -> None:
    """A quote opened at the start of any cell and never closed is named by its line.

    Blank lines are scattered in first, so the line number must count every line of the
    file, not the rows read. (It used to read as one fund whose name swallowed the rest.)
    """
    rows = [",".join(row) for row in _preset_csv_rows()]
    row = data.draw(st.integers(1, len(rows) - 1), label="row")
    cell = data.draw(st.integers(0, 3), label="cell")
    cells = rows[row].split(",")
    cells[cell] = '"' + cells[cell]
    rows[row] = ",".join(cells)
    blanks = data.draw(st.lists(st.integers(0, len(rows)), max_size=5), label="blank lines at")
    lines = list(rows)
    for at in sorted(blanks, reverse=True):
        lines.insert(at, "")
    line = lines.index(rows[row]) + 1
    with pytest.raises(UsageError) as caught:
        parse_universe("\n".join(lines) + "\n", "csv", source="fuzz")
    assert str(caught.value) == (
        f"fuzz line {line}: unclosed quote (the quoted field runs to the end of the file); "
        "close the quote or remove it"
    )


@FUZZ
@given(
    st.binary(max_size=4000),
    st.sampled_from(["SPY.parquet", "prices.pq", "x.PARQUET"]),
    st.booleans(),
)
def test_random_bytes_as_parquet_are_named_not_parquet(
    content: bytes, name: str, marked: bool
) -> None:
    """Random bytes named Parquet (with or without the PAR1 marker) say so, never "no date"."""
    content = b"PAR1" + content if marked else content
    with pytest.raises(ParseError) as caught:
        parse_prices_file(content, name)
    message = str(caught.value)
    if content[:2] == b"\x1f\x8b":  # a gzip header: read as a compressed file first
        assert message.startswith(f"{name}: corrupt gzip file ("), message
        return
    assert message.startswith(f"{name}: not a valid Parquet file ("), message
    assert "expected Parquet" in message and "\n" not in message and len(message) < 400


# ------------------------------------------------------------------------ the rest


@FUZZ
@given(
    st.lists(
        st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False),
        min_size=0,
        max_size=80,
    ),
    st.dictionaries(
        st.dates().map(lambda day: f"{day:%Y-%m-%d}"),
        st.floats(allow_nan=True, allow_infinity=True),
        max_size=3,
    ),
)
def test_price_checks_never_raise(values: list[float], splits: dict[str, float]) -> None:
    closes = pd.Series(values, index=pd.bdate_range("2020-01-01", periods=len(values)), dtype=float)
    for issue in check_prices(closes, splits=splits):
        assert "\n" not in issue.message and issue.day[:2] in ("19", "20")


@FUZZ
@given(st.text(max_size=30) | st.integers() | st.none())
def test_ticker_rule(value: object) -> None:
    ticker = _only_our_errors(check_ticker, value)
    if ticker is not None:
        assert check_ticker(ticker) == ticker and ticker.isascii()


@FUZZ
@given(
    st.sampled_from(["gzip", "deflate", "", "identity", "x-gzip", "gzip, deflate"]),
    st.one_of(
        st.binary(max_size=200),
        mutated_bytes((gzip.compress(b"date,value\n" * 50),)),
    ),
)
def test_http_body_decoder(encoding: str, body: bytes) -> None:
    def decode() -> bytes:
        decoder = _BodyDecoder(encoding, "fuzz")
        pieces = [piece for chunk in (body[:7], body[7:]) for piece in decoder.feed(chunk)]
        return b"".join([*pieces, *decoder.flush()])

    _only_our_errors(decode)


@pytest.mark.parametrize("fmt", sorted(UNIVERSES))
def test_the_seeds_themselves_parse(fmt: str) -> None:
    """The inputs the mutations start from are valid, so the fuzzing starts near real files."""
    assert parse_universe(UNIVERSES[fmt], fmt, source="seed").tickers
    for name, content in _price_files():
        assert parse_prices_file(content, name)
    for source, body in _provider_answers().items():
        assert len(get_provider(source, base_url="http://x", api_key="k").parse("SPY", body)) == 40


def test_every_test_named_in_docs_reliability_exists() -> None:
    """docs/reliability.md is the index of the fault suite: each test it names is real."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "reliability.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(test_\w+\.py)::(\w+)`", doc))
    assert len(named) > 50
    for filename, test in sorted(named):
        source = (root / "tests" / filename).read_text(encoding="utf-8")
        assert re.search(rf"^def {test}\(", source, re.MULTILINE), f"{filename}::{test}"
