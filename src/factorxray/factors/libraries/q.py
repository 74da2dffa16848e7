"""Client for the q-factor library of Hou, Mo, Xue and Zhang (global-q.org).

The library publishes one CSV per frequency and vintage year,
``q5_factors_{frequency}_{year}.csv`` (e.g. ``q5_factors_monthly_2024.csv``), holding the
risk-free rate and the q5 factors in **percent**: ``R_F, R_MKT, R_ME, R_IA, R_ROE, R_EG``
(``R_MKT`` is already in excess of ``R_F``). The q-factor model (q4) is the first four
factors; q5 adds expected growth (``R_EG``). Monthly files are keyed ``year,month``; daily
and weekly ones ``DATE`` (``YYYYMMDD``; weekly rows are dated by the week's last day).

The newest vintage is found by asking for this year's file, then the year before, ... (a
404 moves on); a fresh cached file is used without asking. ``vintage="2023"`` pins a year.
Base URL: argument, else ``$FACTORXRAY_QFACTORS_URL``, else the library's upload folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from functools import lru_cache

import numpy as np
import pandas as pd

from factorxray.data.cache import Cache
from factorxray.data.http import HttpClient, ProgressCallback
from factorxray.data.kenfrench import decode_text
from factorxray.errors import ParseError, UsageError
from factorxray.factors.libraries._base import (
    FactorFile,
    read_yearly,
    resolve_base_url,
    to_month_index,
)

DEFAULT_BASE_URL = "https://global-q.org/uploads/1/2/2/6/122679606/"
BASE_URL_ENV = "FACTORXRAY_QFACTORS_URL"
CACHE_NAMESPACE = "qfactors"
FREQUENCIES = ("monthly", "weekly", "daily")
#: Published column -> our factor name.
COLUMNS = {
    "R_F": "RF",
    "R_MKT": "Mkt-RF",
    "R_ME": "ME",
    "R_IA": "IA",
    "R_ROE": "ROE",
    "R_EG": "EG",
}
REQUIRED = ("R_F", "R_MKT", "R_ME", "R_IA", "R_ROE")
_YEAR = re.compile(r"^\d{4}$")


def base_url(explicit: str | None = None) -> str:
    """Base URL: argument, else ``$FACTORXRAY_QFACTORS_URL``, else global-q.org's."""
    return resolve_base_url(explicit, BASE_URL_ENV, DEFAULT_BASE_URL)


def file_name(frequency: str, year: str | int) -> str:
    """``q5_factors_{frequency}_{year}.csv``."""
    return f"q5_factors_{frequency}_{year}.csv"


def parse_q_csv(data: bytes, name: str = "q5_factors", frequency: str = "monthly") -> FactorFile:
    """Parse a q-factor CSV (bytes) into a :class:`FactorFile` (percent, our column names).

    Parameters
    ----------
    data : bytes
        The file as downloaded.
    name : str
        Its name (``q5_factors_monthly_2023``), for messages and the vintage (the year).
    frequency : {"monthly", "weekly", "daily"}

    Raises
    ------
    ParseError
        A header without the q-factor columns, a row of the wrong width, a value that is not
        a number, dates that are invalid, repeated or out of order.

    Examples
    --------
    >>> text = b"year,month,R_F,R_MKT,R_ME,R_IA,R_ROE,R_EG\\n2023,1,0.35,6.9,4.1,-2.6,-4.6,-2.9\\n"
    >>> parsed = parse_q_csv(text, "q5_factors_monthly_2023")
    >>> parsed.vintage, list(parsed.section().columns), float(parsed.section().iloc[0, 1])
    ('2023', ['RF', 'Mkt-RF', 'ME', 'IA', 'ROE', 'EG'], 6.9)
    """
    text = decode_text(data)
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        raise ParseError(f"q-factor file {name} is empty")
    header = [cell.strip() for cell in rows[0]]
    lowered = [cell.lower() for cell in header]
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        raise ParseError(
            f"q-factor file {name} has no column(s) {', '.join(missing)} (header: "
            f"{','.join(header)[:80]}); is this a global-q.org factor file?"
        )
    if lowered[:2] == ["year", "month"]:
        key_width = 2
        file_frequency = "monthly"
    elif lowered[:1] == ["date"]:
        key_width = 1
        file_frequency = "daily" if frequency == "monthly" else frequency
    else:
        raise ParseError(
            f"q-factor file {name}: the first columns are {','.join(header[:2])}, not year,month "
            "or DATE"
        )
    if file_frequency == "monthly" and frequency != "monthly":
        raise ParseError(f"q-factor file {name} is monthly, not {frequency}")
    if file_frequency != "monthly" and frequency == "monthly":
        raise ParseError(f"q-factor file {name} is keyed by day, not monthly")
    body = rows[1:]
    if not body:
        raise ParseError(f"q-factor file {name} has a header but no rows")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ParseError(
                f"q-factor file {name}, line {number}: {len(row)} fields where the header has "
                f"{len(header)}"
            )
    try:
        values = np.array([row[key_width:] for row in body], dtype=np.float64)
    except ValueError:
        bad = next(
            (number, cell)
            for number, row in enumerate(body, start=2)
            for cell in row[key_width:]
            if not _is_number(cell)
        )
        raise ParseError(
            f"q-factor file {name}, line {bad[0]}: {bad[1].strip()[:20]!r} is not a number"
        ) from None
    try:
        if key_width == 2:
            index: pd.Index = to_month_index(
                [int(row[0]) for row in body], [int(row[1]) for row in body]
            )
        else:
            index = pd.DatetimeIndex(
                pd.to_datetime([row[0].strip() for row in body], format="%Y%m%d"), name="date"
            )
    except (ValueError, TypeError):
        raise ParseError(f"q-factor file {name}: invalid dates in the key column(s)") from None
    if index.has_duplicates:
        raise ParseError(
            f"q-factor file {name}: a date appears twice ({index[index.duplicated()][0]})"
        )
    if not index.is_monotonic_increasing:
        raise ParseError(f"q-factor file {name}: dates are not in increasing order")
    columns = [COLUMNS.get(column, column) for column in header[key_width:]]
    frame = pd.DataFrame(values, index=index, columns=columns)
    year = name.rsplit("_", 1)[-1]
    return FactorFile(
        library="q",
        name=name,
        vintage=year if _YEAR.match(year) else None,
        frequency=frequency,
        sections={"factors": frame},
        units="percent",
    )


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=16)
def _parse_cached(sha256: str, data: bytes, name: str, frequency: str) -> FactorFile:
    return parse_q_csv(data, name, frequency)


def read_q_factors(
    frequency: str = "monthly",
    *,
    vintage: str | int | None = None,
    base: str | None = None,
    cache: Cache | None = None,
    client: HttpClient | None = None,
    refresh: bool = False,
    offline: bool = False,
    on_progress: ProgressCallback | None = None,
) -> FactorFile:
    """Download (or take from the cache) and parse the q5 factor file of a frequency.

    Parameters
    ----------
    frequency : {"monthly", "weekly", "daily"}
    vintage : str or int, optional
        The vintage year of the file (``"2023"``); default the newest the server has (or,
        offline, the newest in the cache).
    base, cache, client, refresh, offline, on_progress
        As in :func:`factorxray.data.kenfrench.read_dataset`.

    Returns
    -------
    FactorFile
        One table, ``"factors"``: ``RF, Mkt-RF, ME, IA, ROE, EG`` in percent.

    Raises
    ------
    UsageError
        Unknown frequency or vintage, or no file at the base URL for any recent year.
    NotCachedError
        Offline and no such file in the cache.
    DataSourceError
        Network failure or a file that is not a q-factor CSV (the cache keeps its good copy).

    Examples
    --------
    >>> q = read_q_factors("monthly")  # doctest: +SKIP
    >>> q.vintage, q.decimals()["ROE"].tail(1)  # doctest: +SKIP
    """
    frequency = frequency.strip().lower()
    if frequency not in FREQUENCIES:
        raise UsageError(
            f"the q-factor library has no {frequency!r} file; choose one of: {', '.join(FREQUENCIES)}"
        )
    return read_yearly(
        what=f"{frequency} q-factor file",
        namespace=CACHE_NAMESPACE,
        root=base_url(base),
        env=BASE_URL_ENV,
        file_for_year=lambda year: file_name(frequency, year),
        parse=lambda data, stem: _parse_cached(
            hashlib.sha256(data).hexdigest(), data, stem, frequency
        ),
        library="q",
        vintage=vintage,
        cache=cache,
        client=client,
        refresh=refresh,
        offline=offline,
        on_progress=on_progress,
    )
