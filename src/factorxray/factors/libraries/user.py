"""Your own factor returns from a CSV or Parquet file, as a source of named factors.

The file holds a date column (the first column, or one named ``date``, ``period`` or
``month``) and one column per factor; an ``RF`` column, if present, is the risk-free rate.
Dates may be ``YYYY-MM``, ``YYYYMM``, ``YYYY-MM-DD`` or ``YYYYMMDD``: one row per month makes
a monthly series (month-end or any day of the month), several rows in a month a daily one.
The units are **stated by you** (``percent`` or ``decimal``), never guessed; a "decimal"
file whose values reach past 100% a period is refused as probably percent.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from factorxray._files import PARQUET_MARKER, looks_binary, parquet_problem, short_reason
from factorxray.errors import FACTOR_UNITS, FACTOR_UNITS_PERCENT, InputFileError, quote
from factorxray.factors.libraries._base import FactorFile

UNITS = ("percent", "decimal")
_DATE_NAMES = ("date", "period", "month", "yyyymm", "dates")
#: Largest file accepted.
MAX_FILE_BYTES = 256 * 1024 * 1024


def read_user_factors(path: str | os.PathLike[str], units: str | None) -> FactorFile:
    """Read a factor file of your own.

    Parameters
    ----------
    path : path
        A ``.csv`` (optionally ``.gz``) or ``.parquet`` file.
    units : {"percent", "decimal"}
        The units of its values (required: a file does not say).

    Returns
    -------
    FactorFile
        ``library="user"``, one table ``"factors"`` in the stated units, the vintage the
        first 12 hex digits of the file's sha256 (``sha256:...``), so results name the exact
        file used.

    Raises
    ------
    InputFileError
        A :class:`~factorxray.errors.UsageError` naming the file: no units or unknown units,
        a missing or unreadable file, bytes that are not Parquet or CSV text, no date column,
        a date given twice, a value that is not a number, "decimal" values that look like
        percent.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "mine.csv"
    >>> _ = p.write_text("date,MYF\\n2020-01,1.5\\n2020-02,-0.5\\n")
    >>> read_user_factors(p, "percent").decimals()["MYF"].tolist()
    [0.015, -0.005]
    """
    if units is None or str(units).strip().lower() not in UNITS:
        raise InputFileError(
            f"say the units of the factor file {Path(path).name}: {FACTOR_UNITS.python}"
        )
    units = str(units).strip().lower()
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputFileError(f"factor file {quote(str(path))} does not exist")
    data = file.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise InputFileError(f"factor file {file.name} is over {MAX_FILE_BYTES} bytes")
    name = file.name
    raw = _read_table(data, name)
    frame = _tidy(raw, name, units)
    return FactorFile(
        library="user",
        name=name,
        vintage="sha256:" + hashlib.sha256(data).hexdigest()[:12],
        frequency="monthly" if isinstance(frame.index, pd.PeriodIndex) else "daily",
        sections={"factors": frame},
        units=units,
        url=str(file.resolve()),
    )


#: What a factor file should be, for the errors of a file that is not.
EXPECTED = (
    "expected a CSV or Parquet file with a date column and one column per factor "
    "(RF optional), e.g. date,MYF,RF"
)
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


def _read_table(data: bytes, name: str) -> pd.DataFrame:
    """The file's table: Parquet by its suffix or its marker, else CSV (``.gz`` allowed)."""
    import io

    if name.lower().endswith(_PARQUET_SUFFIXES) or data[:4] == PARQUET_MARKER:
        problem = parquet_problem(data[:4], data[-4:], len(data))
        if problem is None:
            try:
                raw = pd.read_parquet(io.BytesIO(data))
            except Exception as exc:  # pyarrow raises several unrelated types
                problem = short_reason(exc)
        if problem is not None:
            raise InputFileError(
                f"factor file {name} is not a valid Parquet file ({problem}); {EXPECTED}"
            )
        return raw if isinstance(raw.index, pd.RangeIndex) else raw.reset_index()
    gzipped = name.lower().endswith(".gz")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputFileError(f"factor file {name} is UTF-16 text; save it as UTF-8 CSV")
    if not gzipped and looks_binary(data[:65536]):
        raise InputFileError(
            f"factor file {name} is not a CSV text file (it holds binary data); {EXPECTED}"
        )
    try:
        return pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            compression="gzip" if gzipped else None,
            skipinitialspace=True,
        )
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputFileError(
            f"factor file {name} cannot be read as CSV ({short_reason(exc, 60)}); {EXPECTED}"
        ) from None


def _tidy(raw: pd.DataFrame, name: str, units: str) -> pd.DataFrame:
    if raw.shape[1] < 2 or raw.empty:
        raise InputFileError(
            f"factor file {name} needs a date column and at least one factor column"
        )
    raw.columns = [str(c).strip() for c in raw.columns]
    date_column = next((c for c in raw.columns if c.lower() in _DATE_NAMES), raw.columns[0])
    keys = raw[date_column].astype(str).str.strip()
    index = _parse_dates(keys, name)
    values = raw.drop(columns=[date_column])
    if any(not c or c.lower().startswith("unnamed") for c in values.columns):
        raise InputFileError(f"factor file {name}: a column has no name")
    if values.columns.has_duplicates:
        raise InputFileError(f"factor file {name}: two columns share a name")
    try:
        numbers = values.apply(
            lambda col: pd.to_numeric(col.str.strip() if col.dtype == object else col)
        )
    except (ValueError, TypeError) as exc:
        raise InputFileError(
            f"factor file {name}: a value is not a number ({str(exc).splitlines()[0][:60]})"
        ) from None
    frame = pd.DataFrame(numbers.to_numpy(dtype=np.float64), index=index, columns=values.columns)
    if index.has_duplicates:
        twice = index[index.duplicated()][0]
        rows = [i + 2 for i in np.flatnonzero(index == twice)[:2]]
        raise InputFileError(
            f"factor file {name}: date {twice} appears twice (rows {rows[0]} and {rows[1]}); "
            "keep one row per date"
        )
    if not index.is_monotonic_increasing:
        frame = frame.sort_index()
    if units == "decimal":
        largest = float(np.nanmax(np.abs(frame.drop(columns=["RF"], errors="ignore").to_numpy())))
        if largest > 1.0:
            raise InputFileError(
                f"factor file {name}: values reach {largest:g}, more than 100% a period; are they "
                f"percent? {FACTOR_UNITS_PERCENT.python}"
            )
    return frame


def _parse_dates(keys: pd.Series, name: str) -> pd.Index:
    sample = keys.iloc[0] if len(keys) else ""
    digits = sample.replace("-", "").replace("/", "")
    try:
        if len(digits) == 6 and digits.isdigit():
            stamps = pd.to_datetime(keys.str.replace("-", "").str.replace("/", ""), format="%Y%m")
        elif len(digits) == 8 and digits.isdigit():
            stamps = pd.to_datetime(keys.str.replace("-", "").str.replace("/", ""), format="%Y%m%d")
        else:
            stamps = pd.to_datetime(keys, format="mixed")
    except (ValueError, TypeError):
        raise InputFileError(
            f"factor file {name}: dates such as {quote(sample)} are not YYYY-MM, YYYYMM or "
            "YYYY-MM-DD"
        ) from None
    if stamps.isna().any():
        raise InputFileError(f"factor file {name}: a date is missing")
    months = pd.PeriodIndex(stamps, freq="M")
    if len(digits) == 6 or not months.has_duplicates:
        return months.rename("period")
    days = pd.DatetimeIndex(stamps).normalize()
    if days.has_duplicates:
        twice = days[days.duplicated()][0]
        rows = [i + 2 for i in np.flatnonzero(days == twice)[:2]]
        raise InputFileError(
            f"factor file {name}: date {twice:%Y-%m-%d} appears twice (rows {rows[0]} and "
            f"{rows[1]}); keep one row per date"
        )
    return days.rename("date")
