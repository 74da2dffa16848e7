"""The user's own prices: a CSV or Parquet file (or a folder of them), no network.

Layouts read (column names are matched case-insensitively):

* **wide**: ``date`` then one column per ticker of dividend-adjusted closes.
* **long**: ``date,ticker,adj_close`` (``symbol`` is accepted for ``ticker``).
* **single-ticker provider downloads**, the ticker being the file name (``SPY.csv``;
  an EODHD-style ``_US`` suffix is dropped), or given inside the file:

  - Yahoo CSV download ``Date,Open,High,Low,Close,Adj Close,Volume`` (uses ``Adj Close``);
  - ``Date,...,AdjClose,...`` and EODHD ``Date,...,Adjusted_close,Volume``;
  - Alpha Vantage ``timestamp,...,adjusted_close,...`` (newest first is fine);
  - yfinance ``Ticker.history()`` ``Date,Open,High,Low,Close,Volume,Dividends,Stock Splits,...``
    (its ``Close`` is dividend-adjusted; a ``ticker`` column makes it a long file);
  - yfinance ``download()`` with the three-row header ``Price,Close,...`` / ``Ticker,SPY,...``
    / ``Date,,,`` (auto-adjusted ``Close``);
  - ``Date,Close`` or ``Date,Adj Close``: exactly one price column, taken as adjusted.

A raw ``Close`` next to an adjusted one is ignored. Files may be gzip-compressed. A folder
is read as one file per ticker (``SPY.csv``, ``SPY.csv.gz``, ``SPY.parquet``).
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from pathlib import Path

import pandas as pd

from factorxray.data.prices.base import SPLITS_ATTR, clean_closes, split_events
from factorxray.data.prices.base import _short as _short_error
from factorxray.errors import ParseError, UnknownTickerError, UsageError, quote

#: Files bigger than this (after decompression) are refused.
MAX_FILE_BYTES = 512 * 1024 * 1024
_DATE_NAMES = ("date", "timestamp", "datetime", "day")
_TICKER_NAMES = ("ticker", "symbol")
_ADJ_NAMES = ("adj_close", "adj close", "adjclose", "adjusted_close", "adjusted close")
_PRICE_FIELDS = frozenset(
    {
        "open",
        "high",
        "low",
        "close",
        "volume",
        "dividends",
        "stock splits",
        "capital gains",
        "dividend_amount",
        "split_coefficient",
        "adj_close",
        "adj close",
        "adjclose",
        "adjusted_close",
        "adjusted close",
        "adjopen",
        "adjhigh",
        "adjlow",
        "change",
    }
)
_SUFFIXES = (".csv.gz", ".csv", ".parquet", ".pq", ".txt")
#: Columns holding split events (yfinance ``Stock Splits``, Alpha Vantage ``split_coefficient``).
_SPLIT_NAMES = ("stock splits", "split_coefficient")


def ticker_from_filename(name: str) -> str:
    """The ticker a single-ticker file is named after.

    Parameters
    ----------
    name : str
        The file name (a path is fine).

    Returns
    -------
    str
        The upper-case stem, without ``.csv``/``.csv.gz``/``.parquet`` and an EODHD ``_US``.

    Examples
    --------
    >>> ticker_from_filename("data/VTV_US.csv.gz")
    'VTV'
    """
    stem = Path(name).name
    for suffix in _SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.upper()
    for exchange in ("_US", ".US"):
        if stem.endswith(exchange) and len(stem) > len(exchange):
            stem = stem[: -len(exchange)]
    return stem


def _decompress(content: bytes, name: str) -> bytes:
    if content[:2] != b"\x1f\x8b":
        return content
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(content)) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ParseError(f"{name}: corrupt gzip file ({_short_error(exc)})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ParseError(f"{name}: expands past {MAX_FILE_BYTES} bytes; refusing to read it")
    return data


#: What a prices file should be, for the errors of a file that is neither.
_EXPECTED = (
    "expected Parquet (pandas to_parquet) or CSV text with a date column and adjusted "
    "closes, e.g. date,SPY,MTUM"
)
#: Control characters that never occur in CSV text (tab, newlines, form feed and the DOS
#: end-of-file mark excepted).
_BINARY_BYTES = bytes([*range(0, 9), 11, *range(14, 26), *range(27, 32), 127])


def _read_table(content: bytes, name: str) -> tuple[pd.DataFrame, str | None]:
    """The file as a frame of text/number columns, and a ticker named in a yfinance header."""
    if content[:4] == b"PAR1":
        try:
            frame = pd.read_parquet(io.BytesIO(content))
        except Exception as exc:  # pyarrow raises several unrelated types
            raise ParseError(
                f"{name}: not a valid Parquet file ({_short_error(exc, 80)}); {_EXPECTED}"
            ) from None
        if isinstance(frame.index, pd.DatetimeIndex):
            frame = frame.reset_index()
        return frame, None
    if name.lower().endswith((".parquet", ".pq")):
        raise ParseError(
            f"{name}: not a valid Parquet file (it does not start with the Parquet marker "
            f"PAR1); {_EXPECTED}"
        )
    if content[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ParseError(f"{name}: UTF-16 text; save it as UTF-8 CSV ({_EXPECTED})")
    if _looks_binary(content[:65536]):
        raise ParseError(f"{name}: not a CSV text file (it holds binary data); {_EXPECTED}")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n", 3)
    named_ticker = None
    if len(lines) >= 3 and lines[0].startswith("Price,") and lines[1].startswith("Ticker,"):
        named_ticker = lines[1].split(",")[1].strip() or None
        text = lines[0].replace("Price,", "Date,", 1) + "\n" + (lines[3] if len(lines) > 3 else "")
    if not text.strip():
        raise ParseError(f"{name}: the file is empty")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ParseError(f"{name}: malformed CSV ({_short_error(exc)})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, named_ticker


def _looks_binary(sample: bytes) -> bool:
    """True for data that is not text: a NUL byte, or over 1% control characters.

    Random bytes hold about 11% control characters; a CSV file, in any 8-bit encoding, none.
    """
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _BINARY_BYTES))
    return controls > max(1, len(sample) // 100)


def _find(columns: dict[str, str], names: tuple[str, ...]) -> str | None:
    for candidate in names:
        if candidate in columns:
            return columns[candidate]
    return None


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_unique(frame: pd.DataFrame, keys: list[str], name: str) -> None:
    duplicated = frame.duplicated(subset=keys, keep=False)
    if duplicated.any():
        first = frame.loc[duplicated, keys].iloc[0].tolist()
        raise ParseError(f"{name}: repeated row for {', '.join(quote(str(k), 30) for k in first)}")


def parse_prices_file(content: bytes, name: str, *, strict: bool = True) -> dict[str, pd.Series]:
    """Every ticker's adjusted closes in a prices file.

    Parameters
    ----------
    content : bytes
        The file's bytes (CSV, gzip-compressed CSV or Parquet).
    name : str
        The file name: it names the ticker of a single-ticker file, and error messages.
    strict : bool
        Refuse any repeated row, and conflicting or non-positive prices (default). Without
        it, identical repeats are dropped and conflicting or unusable prices are left in
        each series' ``attrs["price_issues"]`` (see
        :func:`~factorxray.data.prices.base.clean_closes`); a ``Stock Splits`` or
        ``split_coefficient`` column gives ``attrs["splits"]``.

    Returns
    -------
    dict of str to pandas.Series
        Upper-case ticker -> closes on a ``DatetimeIndex`` (see
        :func:`~factorxray.data.prices.base.clean_closes`).

    Raises
    ------
    ParseError
        Malformed CSV/Parquet, no date column, an unknown layout, bad values.

    Examples
    --------
    >>> wide = b"date,SPY,MTUM\\n2024-01-31,100,50\\n2024-02-29,110,\\n"
    >>> {t: s.tolist() for t, s in parse_prices_file(wide, "mine.csv").items()}
    {'SPY': [100.0, 110.0], 'MTUM': [50.0]}
    """
    frame, named_ticker = _read_table(_decompress(content, name), name)
    columns = {c.lower(): c for c in frame.columns}
    date_col = _find(columns, _DATE_NAMES)
    if date_col is None:
        raise ParseError(
            f"{name}: no date column; the first column must be 'date' (YYYY-MM-DD), "
            "e.g. date,SPY,MTUM or date,ticker,adj_close"
        )
    ticker_col = _find(columns, _TICKER_NAMES)
    value_col = _value_column(columns, name, auto_adjusted=named_ticker is not None)
    if ticker_col is not None and value_col is not None:
        return _read_long(frame, date_col, ticker_col, value_col, name, strict=strict)
    if value_col is not None:
        ticker = (named_ticker or ticker_from_filename(name)).upper()
        if strict:
            _check_unique(frame, [date_col], name)
        closes = clean_closes(frame[date_col], frame[value_col], what=f"{name}", strict=strict)
        split_col = _find(columns, _SPLIT_NAMES)
        if not strict and split_col is not None:
            closes.attrs[SPLITS_ATTR] = split_events(frame[date_col], frame[split_col])
        return {ticker: closes}
    return _read_wide(frame, date_col, name, strict=strict)


def _value_column(columns: dict[str, str], name: str, *, auto_adjusted: bool) -> str | None:
    """The adjusted-close column of a long or single-ticker layout, None for a wide file.

    ``auto_adjusted`` marks a yfinance ``download()`` file, whose ``Close`` is adjusted.
    """
    adjusted = _find(columns, _ADJ_NAMES)
    if adjusted is not None:
        return adjusted
    fields = set(columns) - set(_DATE_NAMES) - set(_TICKER_NAMES)
    if "close" not in fields:
        return None
    if auto_adjusted or {"dividends", "stock splits"} <= fields or fields == {"close"}:
        return columns["close"]
    if fields & _PRICE_FIELDS == fields:
        raise ParseError(
            f"{name}: has a Close column but no adjusted close (Adj Close, adjClose, "
            "adjusted_close); a raw close misses dividends, so export adjusted closes"
        )
    return None


def _read_long(
    frame: pd.DataFrame,
    date_col: str,
    ticker_col: str,
    value_col: str,
    name: str,
    *,
    strict: bool,
) -> dict[str, pd.Series]:
    tickers = frame[ticker_col].astype(str).str.strip().str.upper()
    frame = frame.assign(**{ticker_col: tickers})
    if strict:
        _check_unique(frame, [ticker_col, date_col], name)
    return {
        str(ticker): clean_closes(
            rows[date_col], rows[value_col], what=f"{name} ({_short(ticker)})", strict=strict
        )
        for ticker, rows in frame.groupby(ticker_col, sort=False)
    }


def _read_wide(
    frame: pd.DataFrame, date_col: str, name: str, *, strict: bool
) -> dict[str, pd.Series]:
    tickers = [c for c in frame.columns if c != date_col and not c.lower().startswith("unnamed")]
    if not tickers:
        raise ParseError(f"{name}: no ticker columns after {quote(date_col)}")
    if strict:
        _check_unique(frame, [date_col], name)
    result: dict[str, pd.Series] = {}
    for column in tickers:
        ticker = column.strip().upper()
        if ticker in result:
            raise ParseError(f"{name}: ticker {quote(ticker)} appears in two columns")
        result[ticker] = clean_closes(
            frame[date_col], frame[column], what=f"{name} ({_short(ticker)})", strict=strict
        )
    return result


class FilePrices:
    """Adjusted closes read from a local file, or from a folder of per-ticker files.

    Parameters
    ----------
    path : path
        A CSV/Parquet file (wide, long or a single-ticker download), or a folder holding
        ``TICKER.csv`` / ``TICKER.csv.gz`` / ``TICKER.parquet`` files.

    Raises
    ------
    UsageError
        The path does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mine.csv"
    >>> _ = path.write_text("date,ticker,adj_close\\n2024-01-31,SPY,100\\n2024-02-29,SPY,110\\n")
    >>> FilePrices(path).load("SPY").tolist()
    [100.0, 110.0]
    """

    name = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise UsageError(f"prices file {self.path} does not exist")
        self._parsed: dict[str, pd.Series] | None = None

    def load(self, ticker: str) -> pd.Series:
        """``ticker``'s closes; raises :class:`UnknownTickerError` when the file lacks it."""
        if self.path.is_dir():
            return self._load_from_folder(ticker)
        if self._parsed is None:
            self._parsed = parse_prices_file(_read_bytes(self.path), self.path.name, strict=False)
        if ticker not in self._parsed:
            held = ", ".join(sorted(self._parsed)[:12])
            raise UnknownTickerError(
                f"not in {self.path.name} (it holds {held}; a single-ticker file is named "
                "after its ticker, e.g. SPY.csv)"
            )
        return self._parsed[ticker]

    def tickers(self) -> list[str]:
        """The tickers the file (or folder) holds."""
        if self.path.is_dir():
            return sorted({ticker_from_filename(p.name) for p in self._folder_files()})
        if self._parsed is None:
            self._parsed = parse_prices_file(_read_bytes(self.path), self.path.name, strict=False)
        return list(self._parsed)

    def _folder_files(self) -> list[Path]:
        return [
            p
            for p in sorted(self.path.iterdir())
            if p.is_file() and p.name.lower().endswith(_SUFFIXES)
        ]

    def _load_from_folder(self, ticker: str) -> pd.Series:
        for candidate in self._folder_files():
            if ticker_from_filename(candidate.name) == ticker:
                parsed = parse_prices_file(_read_bytes(candidate), candidate.name, strict=False)
                if ticker in parsed:
                    return parsed[ticker]
                if len(parsed) == 1:
                    return next(iter(parsed.values()))
        raise UnknownTickerError(f"no file {ticker}.csv (or .csv.gz, .parquet) in {self.path}")


def _read_bytes(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ParseError(f"{path.name}: larger than {MAX_FILE_BYTES} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read prices file {path}: {exc.strerror}") from None


__all__ = ["FilePrices", "parse_prices_file", "ticker_from_filename"]
