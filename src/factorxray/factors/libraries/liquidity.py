"""Client for the Pastor-Stambaugh liquidity factors (Lubos Pastor and Robert Stambaugh, JPE 2003).

Robert Stambaugh publishes ``liq_data_1962_{year}.txt``: comment lines starting with ``%``
(the last of them names the columns), then tab-separated rows ``YYYYMM``, the level of
aggregate liquidity, its innovations (the non-traded factor, equation 8) and the **traded**
liquidity factor ``LIQ_V`` (the value-weighted return of a 10-1 portfolio sorted on
historical liquidity betas), all in decimals; ``-99`` marks a missing value (the traded
factor starts in 1968). Monthly only, US only.

The newest file is found as for the q-factors (this year, then the years before);
``vintage="2023"`` pins one. Base URL: argument, else ``$FACTORXRAY_LIQUIDITY_URL``.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import numpy as np
import pandas as pd

from factorxray.data.cache import Cache
from factorxray.data.http import HttpClient, ProgressCallback
from factorxray.data.kenfrench import decode_text
from factorxray.errors import ParseError
from factorxray.factors.libraries._base import (
    FactorFile,
    read_yearly,
    resolve_base_url,
    to_month_index,
)

DEFAULT_BASE_URL = "https://finance.wharton.upenn.edu/~stambaug/"
BASE_URL_ENV = "FACTORXRAY_LIQUIDITY_URL"
CACHE_NAMESPACE = "liquidity"
#: Our names of the file's columns after the month.
COLUMNS = ("LIQ_LEVEL", "LIQ_INNOV", "LIQ")
MISSING = -99.0
_ROW = re.compile(r"^\s*(\d{6})\s")
_UPDATED = re.compile(r"THROUGH\s+([A-Z]{3})[A-Z]*\s+(\d{4})", re.IGNORECASE)


def base_url(explicit: str | None = None) -> str:
    """Base URL: argument, else ``$FACTORXRAY_LIQUIDITY_URL``, else Stambaugh's page."""
    return resolve_base_url(explicit, BASE_URL_ENV, DEFAULT_BASE_URL)


def file_name(year: str | int) -> str:
    """``liq_data_1962_{year}.txt``."""
    return f"liq_data_1962_{year}.txt"


def parse_liquidity(data: bytes, name: str = "liq_data") -> FactorFile:
    """Parse the liquidity file into a :class:`FactorFile` (decimals).

    Columns ``LIQ_LEVEL`` (aggregate liquidity), ``LIQ_INNOV`` (its innovations, the
    non-traded factor) and ``LIQ`` (the traded factor, LIQ_V); ``-99`` becomes NaN.

    Raises
    ------
    ParseError
        No data rows, a row without four numbers, months invalid, repeated or out of order.

    Examples
    --------
    >>> text = b"% Month\\tAgg Liq.\\tInnov Liq (eq8)\\tTraded Liq (LIQ_V)\\n196801\\t-0.02\\t0.002\\t-0.025\\t\\n"
    >>> parse_liquidity(text, "liq_data_1962_2023").section()["LIQ"].tolist()
    [-0.025]
    """
    text = decode_text(data)
    keys: list[str] = []
    rows: list[list[str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            continue
        if not _ROW.match(line):
            raise ParseError(
                f"liquidity file {name}, line {number}: {stripped[:30]!r} is neither a comment "
                "(%) nor a YYYYMM row; is this Pastor-Stambaugh's liq_data file?"
            )
        fields = stripped.split()
        if len(fields) != 4:
            raise ParseError(
                f"liquidity file {name}, line {number}: {len(fields) - 1} values where 3 are "
                "expected (level, innovation, traded factor)"
            )
        keys.append(fields[0])
        rows.append(fields[1:])
    if not rows:
        raise ParseError(f"liquidity file {name} has no data rows")
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        raise ParseError(f"liquidity file {name}: a value is not a number") from None
    values[values == MISSING] = np.nan
    try:
        index = to_month_index([int(k[:4]) for k in keys], [int(k[4:]) for k in keys])
    except ValueError:
        raise ParseError(f"liquidity file {name}: invalid months") from None
    if index.has_duplicates or not index.is_monotonic_increasing:
        raise ParseError(f"liquidity file {name}: months are repeated or out of order")
    frame = pd.DataFrame(values, index=index, columns=list(COLUMNS))
    year = name.rsplit("_", 1)[-1]
    return FactorFile(
        library="liquidity",
        name=name,
        vintage=year if year.isdigit() and len(year) == 4 else None,
        frequency="monthly",
        sections={"liquidity": frame},
        units="decimal",
    )


@lru_cache(maxsize=8)
def _parse_cached(sha256: str, data: bytes, name: str) -> FactorFile:
    return parse_liquidity(data, name)


def read_liquidity(
    *,
    vintage: str | int | None = None,
    base: str | None = None,
    cache: Cache | None = None,
    client: HttpClient | None = None,
    refresh: bool = False,
    offline: bool = False,
    on_progress: ProgressCallback | None = None,
) -> FactorFile:
    """Download (or take from the cache) and parse the Pastor-Stambaugh liquidity file.

    Parameters
    ----------
    vintage : str or int, optional
        The year in the file name (``"2023"``: data through December 2023); default the
        newest the server has (offline: the newest cached).
    base, cache, client, refresh, offline, on_progress
        As in :func:`factorxray.data.kenfrench.read_dataset`.

    Returns
    -------
    FactorFile
        One table, ``"liquidity"``: ``LIQ_LEVEL, LIQ_INNOV, LIQ`` in decimals.

    Examples
    --------
    >>> liq = read_liquidity()  # doctest: +SKIP
    >>> liq.section()["LIQ"].dropna().head(1)  # doctest: +SKIP
    """
    return read_yearly(
        what="Pastor-Stambaugh liquidity file",
        namespace=CACHE_NAMESPACE,
        root=base_url(base),
        env=BASE_URL_ENV,
        file_for_year=file_name,
        parse=lambda data, stem: _parse_cached(hashlib.sha256(data).hexdigest(), data, stem),
        library="liquidity",
        vintage=vintage,
        cache=cache,
        client=client,
        refresh=refresh,
        offline=offline,
        on_progress=on_progress,
    )
