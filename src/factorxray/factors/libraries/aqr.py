"""Client for AQR's factor data sets (xlsx workbooks): BAB, QMJ, HML Devil, UMD and the market.

AQR publishes each data set as a workbook, e.g. ``Betting-Against-Beta-Equity-Factors-
Monthly.xlsx``. Its first sheet holds the data set's own factor (``BAB Factors``,
``QMJ Factors``, ``HML Devil``); "Additional Global Factors" sheets of the same vintage
follow (``MKT``, ``SMB``, ``HML FF``, ``HML Devil``, ``UMD``, ``ME(t-1)``, ``RF``). Every data
sheet has a free-text preamble, then a header row starting ``DATE`` with one column per
country (``AUS`` ... ``USA``) and aggregate (``Global``, ``Global Ex USA``, ``Europe``,
``North America``, ``Pacific``), then month-end rows. Returns are **decimals** (monthly
excess returns of self-financing long/short portfolios; ``MKT`` in excess of T-bills);
blank cells are months before a country's data start. Dates are text ``MM/DD/YYYY`` in
some vintages and Excel dates in others: both are read. The header row is found by
structure (its first cell is ``DATE``), never by a fixed offset.

AQR rebuilds the whole history at every monthly update, so the vintage is the last month
of the data set's own sheet (``YYYYMM``). Workbooks are read with python-calamine (about
ten times faster than openpyxl on these files); the parsed tables are kept in the cache
beside the workbook (Parquet, tied to the workbook's sha256), so a warm load does not
parse the workbook again. Base URL: argument, else ``$FACTORXRAY_AQR_URL``.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from functools import lru_cache

import numpy as np
import pandas as pd

from factorxray.data.cache import Cache, CacheEntry
from factorxray.data.http import HttpClient, ProgressCallback
from factorxray.errors import PASS_REFRESH, CacheError, NotCachedError, ParseError, UsageError
from factorxray.factors.libraries._base import (
    FactorFile,
    download,
    is_not_found,
    resolve_base_url,
    to_month_index,
)

DEFAULT_BASE_URL = "https://www.aqr.com/-/media/AQR/Documents/Insights/Data-Sets/"
BASE_URL_ENV = "FACTORXRAY_AQR_URL"
CACHE_NAMESPACE = "aqr"
#: Data set -> (file name without .xlsx, its own sheet, what it is).
DATASETS: dict[str, tuple[str, str, str]] = {
    "bab": (
        "Betting-Against-Beta-Equity-Factors-Monthly",
        "BAB Factors",
        "Betting Against Beta (Frazzini and Pedersen 2014)",
    ),
    "qmj": (
        "Quality-Minus-Junk-Factors-Monthly",
        "QMJ Factors",
        "Quality Minus Junk (Asness, Frazzini and Pedersen 2019)",
    ),
    "hml_devil": (
        "The-Devil-in-HMLs-Details-Factors-Monthly",
        "HML Devil",
        "HML Devil (Asness and Frazzini 2013): value with current prices",
    ),
}
#: Sheets of the "Additional Global Factors" part that factorxray reads.
SHARED_SHEETS = ("MKT", "SMB", "HML FF", "HML Devil", "UMD", "RF")
#: factorxray region -> AQR column (regions AQR does not publish are absent).
REGION_COLUMNS = {
    "us": "USA",
    "developed": "Global",
    "developed_ex_us": "Global Ex USA",
    "europe": "Europe",
    "north_america": "North America",
    "japan": "JPN",
}
#: Largest workbook accepted (the biggest real monthly one is ~2.5 MB).
MAX_WORKBOOK_BYTES = 64 * 1024 * 1024
_PARSED_SUFFIX = ".parsed.parquet"
_TEXT_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")


def base_url(explicit: str | None = None) -> str:
    """Base URL: argument, else ``$FACTORXRAY_AQR_URL``, else AQR's data-set folder."""
    return resolve_base_url(explicit, BASE_URL_ENV, DEFAULT_BASE_URL)


def _dataset(dataset: str) -> tuple[str, str, str]:
    key = dataset.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in DATASETS:
        raise UsageError(f"unknown AQR data set {dataset!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[key]


def _month(cell: object) -> tuple[int, int] | None:
    if isinstance(cell, dt.datetime | dt.date):
        return cell.year, cell.month
    if isinstance(cell, str):
        match = _TEXT_DATE.match(cell)
        if match:
            return int(match.group(3)), int(match.group(1))
        return None
    if isinstance(cell, int | float) and not isinstance(cell, bool) and 1 <= cell < 2958466:
        day = dt.date(1899, 12, 30) + dt.timedelta(days=int(cell))  # an Excel date serial
        return day.year, day.month
    return None


def _sheet_frame(rows: list[list[object]], name: str, sheet: str) -> pd.DataFrame | None:
    """The table of one sheet (None when the sheet has no ``DATE`` header: a text sheet)."""
    header_at = next(
        (i for i, row in enumerate(rows) if row and str(row[0]).strip().upper() == "DATE"), None
    )
    if header_at is None:
        return None
    header = [str(cell).strip() for cell in rows[header_at]]
    while header and not header[-1]:
        header.pop()
    columns = header[1:]
    if not columns or any(not column for column in columns):
        raise ParseError(f"AQR workbook {name}, sheet {sheet!r}: the DATE header has empty names")
    years: list[int] = []
    months: list[int] = []
    values: list[list[float]] = []
    for number, row in enumerate(rows[header_at + 1 :], start=header_at + 2):
        if not row or all(cell in ("", None) for cell in row):
            continue
        when = _month(row[0])
        if when is None:
            if str(row[0]).strip() == "":
                continue  # a footnote below the table
            raise ParseError(
                f"AQR workbook {name}, sheet {sheet!r}, row {number}: {str(row[0])[:20]!r} is not "
                "a date"
            )
        cells = list(row[1 : len(columns) + 1]) + [""] * max(0, len(columns) + 1 - len(row))
        parsed = []
        for cell in cells:
            if cell in ("", None):
                parsed.append(np.nan)
            elif isinstance(cell, int | float) and not isinstance(cell, bool):
                parsed.append(float(cell))
            else:
                try:
                    parsed.append(float(str(cell)))
                except ValueError:
                    raise ParseError(
                        f"AQR workbook {name}, sheet {sheet!r}, row {number}: "
                        f"{str(cell)[:20]!r} is not a number"
                    ) from None
        years.append(when[0])
        months.append(when[1])
        values.append(parsed)
    if not values:
        raise ParseError(f"AQR workbook {name}, sheet {sheet!r}: a DATE header but no rows")
    try:
        index = to_month_index(years, months)
    except ValueError:
        raise ParseError(f"AQR workbook {name}, sheet {sheet!r}: invalid dates") from None
    if index.has_duplicates:
        raise ParseError(
            f"AQR workbook {name}, sheet {sheet!r}: month {index[index.duplicated()][0]} appears twice"
        )
    if not index.is_monotonic_increasing:
        raise ParseError(f"AQR workbook {name}, sheet {sheet!r}: dates are out of order")
    return pd.DataFrame(np.array(values, dtype=np.float64), index=index, columns=columns)


def parse_aqr_workbook(data: bytes, name: str, main_sheet: str | None = None) -> FactorFile:
    """Parse an AQR factor workbook (bytes) into a :class:`FactorFile` of decimals.

    Parameters
    ----------
    data : bytes
        The ``.xlsx`` file.
    name : str
        Its name, for messages.
    main_sheet : str, optional
        The data set's own sheet (``"BAB Factors"``); it must be present, it comes first
        and its last month is the vintage. Default: the first sheet with data.

    Returns
    -------
    FactorFile
        ``sections``: the data set's sheet and every sheet of :data:`SHARED_SHEETS` present,
        each a frame of countries and aggregates by month.

    Raises
    ------
    ParseError
        Not an xlsx workbook (or a damaged one), no data sheet, the main sheet missing, a
        cell that is not a number, dates invalid, repeated or out of order.
    """
    from python_calamine import CalamineError, CalamineWorkbook

    if len(data) > MAX_WORKBOOK_BYTES:
        raise ParseError(f"AQR workbook {name} is {len(data)} bytes, over the limit; refusing it")
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(workbook.sheet_names)
    except (CalamineError, OSError, ValueError, RuntimeError) as exc:
        raise ParseError(
            f"AQR workbook {name} is not a readable xlsx file ({str(exc).splitlines()[0][:80]})"
        ) from None
    wanted = [s for s in names if s == main_sheet or s in SHARED_SHEETS]
    if main_sheet is None:
        wanted = names
    elif main_sheet not in names:
        raise ParseError(
            f"AQR workbook {name} has no sheet {main_sheet!r} (sheets: {', '.join(names)[:120]})"
        )
    sections: dict[str, pd.DataFrame] = {}
    for sheet in wanted:
        try:
            rows = workbook.get_sheet_by_name(sheet).to_python()
        except (CalamineError, OSError, ValueError, RuntimeError) as exc:
            raise ParseError(
                f"AQR workbook {name}, sheet {sheet!r} cannot be read ({str(exc)[:80]})"
            ) from None
        frame = _sheet_frame(rows, name, sheet)
        if frame is not None:
            sections[sheet] = frame
    if not sections:
        raise ParseError(f"AQR workbook {name} has no sheet with a DATE table")
    if main_sheet is not None:
        sections = {main_sheet: sections[main_sheet]} | {
            k: v for k, v in sections.items() if k != main_sheet
        }
    main = next(iter(sections.values()))
    last = main.dropna(how="all").index.max()
    return FactorFile(
        library="aqr",
        name=name,
        vintage=last.strftime("%Y%m") if last is not None and last is not pd.NaT else None,
        frequency="monthly",
        sections=sections,
        units="decimal",
    )


def _to_parquet(parsed: FactorFile) -> bytes:
    """The parsed tables as one Parquet file (columns ``sheet|country``, months as dates)."""
    frames = []
    for sheet, frame in parsed.sections.items():
        renamed = frame.copy()
        renamed.columns = [f"{sheet}|{column}" for column in frame.columns]
        frames.append(renamed)
    wide = pd.concat(frames, axis=1).sort_index()
    wide.index = wide.index.to_timestamp()
    wide.index.name = "period"
    buffer = io.BytesIO()
    wide.to_parquet(buffer, engine="pyarrow", index=True)
    return buffer.getvalue()


def _from_parquet(
    data: bytes,
    name: str,
    vintage: str | None,
    sheets: tuple[str, ...] | None = None,
    countries: tuple[str, ...] | None = None,
) -> FactorFile:
    """Tables back from :func:`_to_parquet` (only ``sheets`` and ``countries`` when given)."""
    import pyarrow.parquet as pq

    source = pq.ParquetFile(io.BytesIO(data))
    names = [n for n in source.schema_arrow.names if "|" in n]
    order: list[str] = []
    for column in names:
        sheet = column.partition("|")[0]
        if sheet not in order:
            order.append(sheet)
    if sheets is not None:
        order = [sheet for sheet in sheets if sheet in order]
        names = [n for n in names if n.partition("|")[0] in order]
    if countries is not None:
        names = [n for n in names if n.partition("|")[2] in countries]
    wide = source.read(columns=["period", *names]).to_pandas(ignore_metadata=True)
    index = pd.PeriodIndex(pd.DatetimeIndex(wide.pop("period")), freq="M", name="period")
    wide.index = index
    tables: dict[str, pd.DataFrame] = {}
    for sheet in order:
        columns = [n for n in names if n.partition("|")[0] == sheet]
        frame = wide[columns].dropna(how="all")
        frame.columns = [n.partition("|")[2] for n in columns]
        tables[sheet] = frame
    return FactorFile(
        library="aqr",
        name=name,
        vintage=vintage,
        frequency="monthly",
        sections=tables,
        units="decimal",
    )


@lru_cache(maxsize=8)
def _parse_cached(sha256: str, data: bytes, name: str, main_sheet: str) -> FactorFile:
    return parse_aqr_workbook(data, name, main_sheet)


def read_aqr(
    dataset: str,
    *,
    sheets: tuple[str, ...] | list[str] | None = None,
    countries: tuple[str, ...] | list[str] | None = None,
    base: str | None = None,
    cache: Cache | None = None,
    client: HttpClient | None = None,
    refresh: bool = False,
    offline: bool = False,
    on_progress: ProgressCallback | None = None,
) -> FactorFile:
    """Download (or take from the cache) and parse one of AQR's factor workbooks.

    Parameters
    ----------
    dataset : {"bab", "qmj", "hml_devil"}
        Which workbook (see :data:`DATASETS`).
    sheets : sequence of str, optional
        Only these sheets (e.g. ``("BAB Factors", "RF")``); default all that are read.
    countries : sequence of str, optional
        Only these columns (``("USA",)``; ``RF``'s column is ``"Risk Free Rate"``).
    base, cache, client, refresh, offline, on_progress
        As in :func:`factorxray.data.kenfrench.read_dataset`.

    Returns
    -------
    FactorFile
        The data set's own sheet first, then ``MKT, SMB, HML FF, HML Devil, UMD, RF`` where
        the workbook has them: decimals, one column per country or aggregate.

    Raises
    ------
    UsageError
        Unknown data set, or no such workbook at the base URL (404).
    NotCachedError
        Offline and the workbook is not in the cache.
    DataSourceError
        Network failure, or a file that is not an AQR factor workbook (the cache keeps its
        last good copy).

    Examples
    --------
    >>> bab = read_aqr("bab")  # doctest: +SKIP
    >>> bab.vintage, bab.section("BAB Factors")["USA"].tail(1)  # doctest: +SKIP
    """
    stem, main_sheet, label = _dataset(dataset)
    wanted = tuple(sheets) if sheets is not None else None
    only = tuple(countries) if countries is not None else None
    key = f"{stem}.xlsx"
    url = base_url(base) + key
    cache = cache if cache is not None else Cache()
    parsed: dict[str, FactorFile] = {}

    def validate(data: bytes) -> dict[str, str | None]:
        try:
            result = parse_aqr_workbook(data, stem, main_sheet)
        except ParseError as exc:
            raise ParseError(f"{exc} (from {url})") from None
        parsed["fresh"] = result
        return {"vintage": result.vintage, "dataset": stem, "library": "aqr"}

    try:
        entry = download(
            cache=cache,
            client=client,
            namespace=CACHE_NAMESPACE,
            key=key,
            url=url,
            what=f"AQR workbook {stem}",
            validate=validate,
            refresh=refresh,
            offline=offline,
            on_progress=on_progress,
        )
    except NotCachedError:
        raise
    except Exception as exc:
        if is_not_found(exc):
            raise UsageError(
                f"AQR workbook {key} not found at {url} (HTTP 404); AQR may have renamed it: set "
                f"{BASE_URL_ENV} or check {label} on aqr.com"
            ) from None
        raise
    if "fresh" in parsed:
        _store_parsed(cache, entry, parsed["fresh"])
        return _only(parsed["fresh"], wanted, only).with_url(url)
    result = entry_to_file(cache, entry, main_sheet, wanted, only)
    return result.with_url(entry.meta.get("url") or url)


def entry_to_file(
    cache: Cache,
    entry: CacheEntry,
    main_sheet: str,
    sheets: tuple[str, ...] | None = None,
    countries: tuple[str, ...] | None = None,
) -> FactorFile:
    """A cached workbook's tables: from its cached Parquet twin if it matches, else parsed."""
    sha = entry.meta["sha256"]
    stem = entry.key.removesuffix(".xlsx")
    twin = cache.get(CACHE_NAMESPACE, entry.key + _PARSED_SUFFIX)
    if twin is not None and twin.meta.get("source_sha256") == sha:
        try:
            return _from_parquet(twin.data, stem, entry.meta.get("vintage"), sheets, countries)
        except (OSError, ValueError, KeyError):
            pass  # a damaged twin: parse the workbook again
    try:
        result = _parse_cached(sha, entry.data, stem, main_sheet)
    except ParseError as exc:
        raise ParseError(
            f"{exc} (cached copy in {entry.namespace}/{entry.key}; {PASS_REFRESH.python})"
        ) from None
    _store_parsed(cache, entry, result)
    return _only(result, sheets, countries)


def _only(
    result: FactorFile,
    sheets: tuple[str, ...] | None,
    countries: tuple[str, ...] | None = None,
) -> FactorFile:
    if sheets is None and countries is None:
        return result
    chosen = {
        sheet: frame
        if countries is None
        else frame[[c for c in frame.columns if c in countries]].dropna(how="all")
        for sheet, frame in result.sections.items()
        if sheets is None or sheet in sheets
    }
    if sheets is not None:
        chosen = {sheet: chosen[sheet] for sheet in sheets if sheet in chosen}
    return FactorFile(
        result.library,
        result.name,
        result.vintage,
        result.frequency,
        chosen,
        result.units,
        result.url,
    )


def _store_parsed(cache: Cache, entry: CacheEntry, result: FactorFile) -> None:
    try:
        cache.put(
            CACHE_NAMESPACE,
            entry.key + _PARSED_SUFFIX,
            _to_parquet(result),
            {
                "source_sha256": entry.meta["sha256"],
                "vintage": result.vintage,
                "derived_from": entry.key,
            },
        )
    except CacheError:
        pass  # the twin only saves time; the workbook itself is cached


def region_column(region: str) -> str:
    """The AQR column of a factorxray region, or a one-line UsageError."""
    try:
        return REGION_COLUMNS[region]
    except KeyError:
        raise UsageError(
            f"AQR publishes no {region} aggregate; AQR factors exist for: "
            f"{', '.join(REGION_COLUMNS)} (and single countries through read_aqr)"
        ) from None
