"""Long panels (``date, id, return`` or ``date, id, price``) read lazily, in pieces.

A panel is a Parquet file, a Parquet dataset (a folder, hive-partitioned or not) or a CSV file
(plain or compressed). It is never read whole: :func:`open_panel` looks only at the schema
and the Parquet footers (or the first bytes of a CSV) and cuts the panel into *pieces* of
about :data:`PIECE_ROWS` rows (groups of Parquet row groups, byte ranges of a plain CSV split
at line ends, or one streamed compressed CSV). :func:`read_piece` yields a piece as
normalised batches of at most :data:`BATCH_ROWS` rows: ``id`` (string), ``day`` (int32 days
since 1970-01-01) and ``value`` (float64), each checked (no empty id or date, dates that
parse, numeric finite values), so every later step works on one small, clean form.

:func:`series_frame` turns the rows of one chunk of series into the engine's wide input:
returns (or prices turned into returns, or daily rows compounded into months) on the run's
calendar, with duplicated ``(date, id)`` rows refused.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from factorxray._files import file_parquet_problem, looks_binary, short_reason
from factorxray.errors import InputFileError, UsageError, quote

__all__ = [
    "BATCH_ROWS",
    "PIECE_ROWS",
    "Panel",
    "Piece",
    "calendar_index",
    "index_keys",
    "open_panel",
    "read_piece",
    "series_frame",
]

#: Rows of the long panel per piece of the first pass (a few row groups, or a CSV byte range).
PIECE_ROWS = 2_000_000
#: Rows per normalised batch read from a piece (bounds the memory of the first pass).
BATCH_ROWS = 500_000
#: Bytes of a plain CSV per piece.
CSV_PIECE_BYTES = 64 * 2**20
#: Normalised schema of every batch (and of the staged chunk files).
ROW_SCHEMA = pa.schema([("id", pa.string()), ("day", pa.int32()), ("value", pa.float64())])
FREQUENCIES = ("monthly", "daily")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zstd")
_EPOCH_MONTH = np.datetime64("1970-01", "M")


@dataclass(frozen=True)
class Piece:
    """One piece of the panel, read by one task of the first pass.

    ``kind`` is ``"parquet"`` (``path``, ``row_groups``, ``partition`` keys of a hive
    dataset), ``"csv"`` (``path``, byte ``offset`` and ``length``) or ``"csv-stream"`` (a
    compressed CSV read whole as a stream).
    """

    number: int
    kind: str
    path: str
    rows: int = 0
    row_groups: tuple[int, ...] = ()
    partition: tuple[tuple[str, Any], ...] = ()
    offset: int = 0
    length: int = 0


@dataclass(frozen=True)
class Panel:
    """A long panel on disk: where it is, which columns hold what, and its pieces."""

    path: str
    format: str
    date_column: str
    id_column: str
    value_column: str
    kind: str  # "returns" or "prices"
    columns: tuple[str, ...]
    pieces: tuple[Piece, ...]
    rows: int
    rows_estimated: bool
    files: tuple[dict[str, Any], ...] = field(default=())
    csv_header: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts about the panel (for the manifest)."""
        return {
            "path": self.path,
            "format": self.format,
            "columns": {
                "date": self.date_column,
                "id": self.id_column,
                self.kind: self.value_column,
            },
            "kind": self.kind,
            "rows": self.rows,
            "rows_estimated": self.rows_estimated,
            "pieces": len(self.pieces),
            "files": list(self.files),
        }


def open_panel(
    path: str | os.PathLike[str],
    *,
    date_column: str = "date",
    id_column: str = "id",
    return_column: str | None = None,
    price_column: str | None = None,
    piece_rows: int = PIECE_ROWS,
) -> Panel:
    """Describe a long panel without reading its rows.

    Parameters
    ----------
    path : path-like
        A Parquet file, a folder of Parquet files (hive partitions such as ``year=2020/``
        allowed; files starting with ``.`` or ``_`` ignored), or a CSV file (``.csv``,
        optionally ``.gz``/``.bz2``/``.xz``/``.zst`` compressed).
    date_column, id_column : str
        Column names (matched case-insensitively).
    return_column, price_column : str, optional
        The value column: returns in decimals, or prices turned into returns. Default: a
        column named ``return``, else one named ``price``.
    piece_rows : int
        Rows per piece of the first pass.

    Returns
    -------
    Panel

    Raises
    ------
    UsageError
        Missing file, unknown format, missing columns, a non-numeric value column type.

    Examples
    --------
    >>> panel = open_panel("crsp_monthly.parquet", id_column="permno")  # doctest: +SKIP
    >>> panel.kind, len(panel.pieces)  # doctest: +SKIP
    ('returns', 12)
    """
    if return_column is not None and price_column is not None:
        raise UsageError("give a return column or a price column, not both")
    where = Path(path)
    if not where.exists():
        raise UsageError(
            f"panel {quote(str(path))} does not exist; give a Parquet file or folder, or a CSV file"
        )
    if where.is_dir() or where.suffix.lower() in (".parquet", ".pq", ".parq"):
        return _open_parquet(where, date_column, id_column, return_column, price_column, piece_rows)
    name = where.name.lower()
    for suffix in _COMPRESSED:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".csv", ".txt")):
        return _open_csv(where, date_column, id_column, return_column, price_column)
    raise UsageError(
        f"panel {quote(where.name)} is neither Parquet (.parquet or a folder) nor CSV (.csv); "
        "rename it or convert it"
    )


def _pick_columns(
    names: Sequence[str],
    date_column: str,
    id_column: str,
    return_column: str | None,
    price_column: str | None,
    where: str,
) -> tuple[str, str, str, str]:
    lower = {name.lower(): name for name in names}

    def find(wanted: str, role: str) -> str:
        found = lower.get(wanted.lower())
        if found is None:
            raise UsageError(
                f"{where} has no {role} column {quote(wanted)} (columns: {quote(list(names))}); "
                f"name it with --{role}-column"
            )
        return found

    date = find(date_column, "date")
    ident = find(id_column, "id")
    if return_column is not None:
        return date, ident, find(return_column, "return"), "returns"
    if price_column is not None:
        return date, ident, find(price_column, "price"), "prices"
    if "return" in lower:
        return date, ident, lower["return"], "returns"
    if "price" in lower:
        return date, ident, lower["price"], "prices"
    raise UsageError(
        f"{where} has no 'return' or 'price' column (columns: {quote(list(names))}); "
        "name it with --return-column or --price-column"
    )


def _open_parquet(
    where: Path,
    date_column: str,
    id_column: str,
    return_column: str | None,
    price_column: str | None,
    piece_rows: int,
) -> Panel:
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(
            str(where), format="parquet", partitioning="hive", ignore_prefixes=[".", "_"]
        )
        fragments = list(dataset.get_fragments())
    except (pa.ArrowInvalid, OSError) as exc:
        raise _not_parquet(where, exc) from None
    if not fragments:
        raise UsageError(f"the Parquet panel {quote(str(where))} holds no Parquet file")
    schema = dataset.schema
    date, ident, value, kind = _pick_columns(
        schema.names, date_column, id_column, return_column, price_column, f"panel {where.name}"
    )
    value_type = schema.field(value).type
    if not (
        pa.types.is_integer(value_type)
        or pa.types.is_floating(value_type)
        or pa.types.is_decimal(value_type)
        or pa.types.is_string(value_type)
        or pa.types.is_large_string(value_type)
        or pa.types.is_null(value_type)
    ):
        raise UsageError(f"the {kind[:-1]} column {quote(value)} holds {value_type}, not numbers")
    pieces: list[Piece] = []
    files: list[dict[str, Any]] = []
    total = 0
    for fragment in sorted(fragments, key=lambda f: f.path):
        keys = ds.get_partition_keys(fragment.partition_expression) or {}
        partition = tuple(sorted((k, v) for k, v in keys.items() if k in (date, ident, value)))
        try:
            metadata = fragment.metadata
        except (pa.ArrowInvalid, OSError) as exc:
            raise _not_parquet(where, exc, Path(fragment.path)) from None
        stat = os.stat(fragment.path)
        files.append({"path": fragment.path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
        group: list[int] = []
        rows = 0
        for number in range(metadata.num_row_groups):
            count = metadata.row_group(number).num_rows
            if group and rows + count > piece_rows:
                pieces.append(
                    Piece(len(pieces), "parquet", fragment.path, rows, tuple(group), partition)
                )
                group, rows = [], 0
            group.append(number)
            rows += count
        if group:
            pieces.append(
                Piece(len(pieces), "parquet", fragment.path, rows, tuple(group), partition)
            )
        total += metadata.num_rows
    return Panel(
        path=str(where),
        format="parquet",
        date_column=date,
        id_column=ident,
        value_column=value,
        kind=kind,
        columns=tuple(schema.names),
        pieces=tuple(pieces),
        rows=total,
        rows_estimated=False,
        files=tuple(files),
    )


#: What a panel should be, for the errors of a file that is not.
PANEL_EXPECTED = (
    "expected Parquet (a file or a folder of files) or CSV text, long: one row per date and "
    "series, e.g. date,id,return"
)


def _not_parquet(where: Path, exc: Exception, bad: Path | None = None) -> InputFileError:
    """One line naming the file of the panel ``where`` that is not Parquet, and why.

    ``bad`` is the file pyarrow failed on, when known; otherwise the first file of a folder
    whose Parquet markers are wrong (or ``where`` itself) is named.
    """
    if bad is None and where.is_dir():
        bad = next((f for f in _panel_files(where) if file_parquet_problem(f)), None)
    file = bad if bad is not None else where
    reason = file_parquet_problem(file) or short_reason(exc)
    named = (
        f"panel {quote(where.name)}: file {quote(str(file.relative_to(where)))}"
        if where.is_dir() and file != where and file.is_relative_to(where)
        else f"panel {quote(file.name)}"
    )
    return InputFileError(f"{named} is not a valid Parquet file ({reason}); {PANEL_EXPECTED}")


def _panel_files(folder: Path) -> list[Path]:
    """The files of a panel folder pyarrow reads (none under a name starting ``.`` or ``_``)."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith((".", "_")) for part in path.relative_to(folder).parts)
    )


def _open_csv(
    where: Path,
    date_column: str,
    id_column: str,
    return_column: str | None,
    price_column: str | None,
) -> Panel:
    compressed = where.name.lower().endswith(_COMPRESSED)
    try:
        with pa.input_stream(str(where), compression="detect") as stream:
            head = stream.read(1 << 20)
    except (OSError, pa.ArrowInvalid) as exc:
        raise UsageError(
            f"cannot read the CSV panel {quote(str(where))}: {_first_line(exc)}"
        ) from None
    if looks_binary(head[:65536]):
        raise InputFileError(
            f"panel {quote(where.name)} is not a CSV text file (it holds binary data); "
            f"{PANEL_EXPECTED}"
        )
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise UsageError(
            f"the CSV panel {quote(where.name)} is empty; it needs a header line date,id,return"
        )
    header = tuple(name.strip().strip('"') for name in lines[0].split(","))
    date, ident, value, kind = _pick_columns(
        header, date_column, id_column, return_column, price_column, f"panel {where.name}"
    )
    stat = where.stat()
    size = stat.st_size
    body = lines[1:-1] if len(head) == (1 << 20) else lines[1:]
    line_bytes = (len(head) - len(lines[0]) - 1) / max(len(body), 1) if body else 32.0
    files = ({"path": str(where), "size": size, "mtime_ns": stat.st_mtime_ns},)
    if compressed:
        ratio = 1.0 if len(head) < (1 << 20) else 5.0  # unknown: a typical CSV compression ratio
        rows = max(len(body), int(size * ratio / max(line_bytes, 1.0)))
        pieces = (Piece(0, "csv-stream", str(where), rows),)
    else:
        rows = max(len(body), int(size / max(line_bytes, 1.0)))
        count = max(1, math.ceil(size / CSV_PIECE_BYTES))
        step = math.ceil(size / count)
        pieces = tuple(
            Piece(i, "csv", str(where), int(rows / count), offset=i * step, length=step)
            for i in range(count)
        )
    return Panel(
        path=str(where),
        format="csv",
        date_column=date,
        id_column=ident,
        value_column=value,
        kind=kind,
        columns=header,
        pieces=pieces,
        rows=rows if len(head) == (1 << 20) else len(body),
        rows_estimated=len(head) == (1 << 20),
        files=files,
        csv_header=header,
    )


# ---------------------------------------------------------------------------------- reading


def read_piece(panel: Panel, piece: Piece, batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
    """Yield the rows of one piece as normalised tables (``id``, ``day``, ``value``).

    Rows with an empty value are kept (NaN: a missing return); an empty id or date, a date
    that does not parse, a non-numeric or infinite value raise :class:`UsageError` naming the
    first offending row.
    """
    for batch in _raw_batches(panel, piece, batch_rows):
        if batch.num_rows:
            yield normalise(batch, panel)


def _raw_batches(panel: Panel, piece: Piece, batch_rows: int) -> Iterator[pa.Table]:
    wanted = [panel.date_column, panel.id_column, panel.value_column]
    if piece.kind == "parquet":
        import pyarrow.parquet as pq

        partition = dict(piece.partition)
        present = [name for name in wanted if name not in partition]
        parquet = pq.ParquetFile(piece.path)
        for batch in parquet.iter_batches(
            batch_size=batch_rows, row_groups=list(piece.row_groups), columns=present
        ):
            table = pa.Table.from_batches([batch])
            for name, value in partition.items():
                table = table.append_column(name, pa.array([value] * table.num_rows))
            yield table
        return
    import pyarrow.csv as pacsv

    convert = pacsv.ConvertOptions(
        include_columns=wanted,
        column_types={panel.id_column: pa.string(), panel.value_column: pa.float64()},
        strings_can_be_null=True,
    )
    if piece.kind == "csv-stream":
        read = pacsv.ReadOptions(block_size=16 * 2**20)
        try:
            with pa.input_stream(piece.path, compression="detect") as stream:
                reader = pacsv.open_csv(stream, read_options=read, convert_options=convert)
                for batch in reader:
                    yield pa.Table.from_batches([batch])
        except pa.ArrowInvalid as exc:
            raise _csv_error(panel, exc) from None
        return
    from fsspec.utils import read_block

    with open(piece.path, "rb") as handle:
        block = read_block(handle, piece.offset, piece.length, delimiter=b"\n")
    if piece.offset == 0:
        read = pacsv.ReadOptions(skip_rows=1, column_names=list(panel.csv_header))
    else:
        read = pacsv.ReadOptions(column_names=list(panel.csv_header))
    if not block.strip():
        return
    try:
        table = pacsv.read_csv(pa.py_buffer(block), read_options=read, convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise _csv_error(panel, exc) from None
    for start in range(0, table.num_rows, batch_rows):
        yield table.slice(start, batch_rows)


def _csv_error(panel: Panel, exc: Exception) -> UsageError:
    text = _first_line(exc)
    if "conversion error to double" in text:
        bad = text.rsplit("invalid value", 1)[-1].strip()
        return UsageError(
            f"the {panel.kind[:-1]} column {quote(panel.value_column)} holds a non-numeric value "
            f"{bad}; returns and prices must be decimal numbers (leave missing ones empty)"
        )
    return UsageError(f"cannot parse the CSV panel {quote(Path(panel.path).name)}: {text}")


def normalise(table: pa.Table, panel: Panel) -> pa.Table:
    """One raw batch as ``id`` (string), ``day`` (int32) and ``value`` (float64), checked."""
    ids = table.column(panel.id_column)
    if ids.null_count:
        raise UsageError(
            f"the id column {quote(panel.id_column)} has empty values; every row needs an id"
        )
    if not pa.types.is_string(ids.type):
        ids = pc.cast(ids, pa.string())
    days = _days(table.column(panel.date_column), panel.date_column)
    values = _values(table.column(panel.value_column), panel, ids, days)
    return pa.table(
        {"id": ids, "day": pa.array(days, pa.int32()), "value": values}, schema=ROW_SCHEMA
    )


def _values(
    column: pa.ChunkedArray, panel: Panel, ids: pa.ChunkedArray, days: np.ndarray
) -> pa.Array:
    role = panel.kind[:-1]
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        numbers = pd.to_numeric(
            pd.Series(column.to_numpy(zero_copy_only=False)).replace("", None), errors="coerce"
        )
        text = column.to_numpy(zero_copy_only=False)
        bad = numbers.isna().to_numpy() & pd.notna(text) & (text != "")
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UsageError(
                f"the {role} column {quote(panel.value_column)} holds a non-numeric value "
                f"{quote(text[i])} (id {quote(ids[i].as_py())}, {_day_label(days[i])}); "
                "returns and prices must be decimal numbers (leave missing ones empty)"
            )
        values = numbers.to_numpy(dtype=float)
    elif pa.types.is_null(column.type):
        values = np.full(len(column), np.nan)
    else:
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        values = np.asarray(values, dtype=float)
    infinite = np.isinf(values)
    if infinite.any():
        i = int(np.flatnonzero(infinite)[0])
        raise UsageError(
            f"the {role} column {quote(panel.value_column)} holds an infinite value "
            f"(id {quote(ids[i].as_py())}, {_day_label(days[i])}); fix or drop that row"
        )
    return pa.array(values, pa.float64())


def _days(column: pa.ChunkedArray, name: str) -> np.ndarray:
    """Dates as int32 days since 1970-01-01 (YYYYMM and YYYY-MM give the month's first day)."""
    if column.null_count:
        raise UsageError(f"the date column {quote(name)} has empty values; every row needs a date")
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return pc.cast(pc.cast(column, pa.date32()), pa.int32()).to_numpy().astype(np.int32)
    if pa.types.is_integer(kind):
        return _integer_days(column.to_numpy().astype(np.int64), name)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object).str.strip()
        digits = text.str.fullmatch(r"\d{6}|\d{8}")
        if digits.all():
            return _integer_days(text.astype(np.int64).to_numpy(), name)
        parsed = pd.to_datetime(text.where(~digits, None), format="ISO8601", errors="coerce")
        if digits.any():
            parsed = parsed.where(
                ~digits, pd.to_datetime(text.where(digits), format="%Y%m%d", errors="coerce")
            )
        bad = parsed.isna().to_numpy()
        if bad.any():
            raise UsageError(
                f"the date column {quote(name)} holds {quote(text.iloc[int(np.flatnonzero(bad)[0])])}, "
                "not a date; use YYYY-MM-DD, YYYY-MM, YYYYMMDD or YYYYMM"
            )
        return (parsed.to_numpy().astype("datetime64[D]").astype(np.int64)).astype(np.int32)
    raise UsageError(f"the date column {quote(name)} holds {kind}, not dates")


def _integer_days(values: np.ndarray, name: str) -> np.ndarray:
    if ((values >= 10_000_101) & (values <= 99_991_231)).all():
        year, rest = np.divmod(values, 10_000)
        month, day = np.divmod(rest, 100)
    elif ((values >= 100_001) & (values <= 999_912)).all():
        year, month = np.divmod(values, 100)
        day = np.ones_like(month)
    else:
        raise UsageError(
            f"the date column {quote(name)} holds integers that are not YYYYMMDD or YYYYMM "
            f"(e.g. {int(values[0])})"
        )
    text = pd.Series(year.astype(str)).str.cat(
        [pd.Series(month.astype(str)).str.zfill(2), pd.Series(day.astype(str)).str.zfill(2)],
        sep="-",
    )
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise UsageError(
            f"the date column {quote(name)} holds {int(values[np.flatnonzero(bad)[0]])}, not a date"
        )
    return parsed.to_numpy().astype("datetime64[D]").astype(np.int64).astype(np.int32)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _day_label(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


# ---------------------------------------------------------------------------------- keys


def month_keys(days: np.ndarray) -> np.ndarray:
    """Monthly period ordinals (months since 1970-01) of day numbers."""
    return (
        np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]")
        - _EPOCH_MONTH
    ).astype(np.int64)


def index_keys(index: pd.Index) -> np.ndarray:
    """Integer keys of a factor index: month ordinals (monthly) or day numbers (daily)."""
    if isinstance(index, pd.PeriodIndex):
        if index.freqstr not in ("M", "ME"):
            raise UsageError(f"monthly factors need a monthly PeriodIndex, not {index.freqstr}")
        return np.asarray(index.asi8, dtype=np.int64)
    if isinstance(index, pd.DatetimeIndex):
        return index.normalize().values.astype("datetime64[D]").astype(np.int64)
    raise UsageError(
        f"factors need a monthly PeriodIndex or a daily DatetimeIndex, not {type(index).__name__}"
    )


def calendar_index(keys: np.ndarray, frequency: str) -> pd.Index:
    """The pandas index of integer keys (``PeriodIndex('M')`` or ``DatetimeIndex``)."""
    keys = np.asarray(keys, dtype=np.int64)
    if frequency == "monthly":
        return pd.PeriodIndex.from_ordinals(keys, freq="M")
    return pd.DatetimeIndex(keys.astype("datetime64[D]").astype("datetime64[ns]"))


def key_dates(keys: np.ndarray, frequency: str) -> np.ndarray:
    """Keys as ``datetime64[D]``: a month's last day for monthly keys, the day for daily ones."""
    keys = np.asarray(keys, dtype=np.int64)
    if frequency == "monthly":
        return ((keys + 1).astype("datetime64[M]").astype("datetime64[D]") - 1).astype(
            "datetime64[D]"
        )
    return keys.astype("datetime64[D]")


def key_label(key: int, frequency: str) -> str:
    """``YYYY-MM`` for a month key, ``YYYY-MM-DD`` for a day key."""
    if frequency == "monthly":
        return str(np.datetime64(int(key), "M"))
    return str(np.datetime64(int(key), "D"))


# ---------------------------------------------------------------------------------- chunks


def series_frame(
    rows: pa.Table,
    *,
    kind: str,
    frequency: str,
    aggregate: bool,
    factor_keys: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clean long rows of one chunk of series: ``(ids, id_codes, keys, returns)``.

    ``ids`` are the chunk's series names, sorted; ``id_codes`` index them; ``keys`` are month
    ordinals or day numbers; ``returns`` the period returns (prices turned into returns over
    consecutive periods of ``factor_keys``; with ``aggregate``, daily rows compounded into
    months, or the month's last price, each series' first month dropped as partial). Rows
    are sorted by series then date.

    Raises
    ------
    UsageError
        Duplicated ``(date, id)`` rows, several rows of one series in a month of a monthly
        panel, non-positive prices.
    """
    ids_arrow = rows.column("id")
    codes_arrow = pc.dictionary_encode(ids_arrow).combine_chunks()
    names = np.asarray(codes_arrow.dictionary.to_pylist(), dtype=object)
    raw_codes = codes_arrow.indices.to_numpy().astype(np.int64)
    order_names = np.argsort(names, kind="stable")
    rank = np.empty_like(order_names)
    rank[order_names] = np.arange(len(names))
    codes = rank[raw_codes]
    names = names[order_names]
    days = rows.column("day").to_numpy().astype(np.int64)
    values = rows.column("value").to_numpy().astype(float)
    # one int64 key (series, day): a stable sort is fast on the staged rows, mostly in order
    order = np.argsort(codes * 2**32 + (days + 2**31), kind="stable")
    codes, days, values = codes[order], days[order], values[order]
    same = codes[1:] == codes[:-1]
    dup = np.flatnonzero(same & (days[1:] == days[:-1]))
    if dup.size:
        i = int(dup[0])
        raise UsageError(
            f"the panel has duplicated (date, id) rows, e.g. id {quote(names[codes[i]])} on "
            f"{_day_label(days[i])}; keep one row per id and date"
        )
    if frequency == "monthly":
        months = month_keys(days)
        if aggregate:
            codes, keys, values = _to_months(codes, months, values, kind)
            kind = "returns"  # _to_months already turned prices into month returns
        else:
            twice = np.flatnonzero(same & (months[1:] == months[:-1]))
            if twice.size:
                i = int(twice[0])
                raise UsageError(
                    f"id {quote(names[codes[i]])} has several rows in {key_label(months[i], 'monthly')} "
                    f"({_day_label(days[i])}, {_day_label(days[i + 1])}) of a monthly panel; "
                    "pass --frequency daily, or --frequency monthly to compound daily rows into months"
                )
            keys = months
    else:
        keys = days
    if kind == "prices":
        values = _price_returns(codes, keys, values, factor_keys, frequency)
    return names, codes, keys, values


def _to_months(
    codes: np.ndarray, months: np.ndarray, values: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily rows (sorted by id then day) to month rows: compounded returns or month-end prices."""
    new_group = np.ones(len(codes), dtype=bool)
    new_group[1:] = (codes[1:] != codes[:-1]) | (months[1:] != months[:-1])
    starts = np.flatnonzero(new_group)
    out_codes, out_months = codes[starts], months[starts]
    if kind == "prices":
        # the month's last price (its last row with a price)
        prices = pd.Series(values).groupby(np.cumsum(new_group)).last().to_numpy()
        if (prices[~np.isnan(prices)] <= 0).any():
            raise UsageError("the panel has zero or negative prices; prices must be positive")
        out = np.full(len(starts), np.nan)
        consecutive = (out_codes[1:] == out_codes[:-1]) & (out_months[1:] - out_months[:-1] == 1)
        out[1:] = np.where(consecutive, prices[1:] / prices[:-1] - 1.0, np.nan)
        return out_codes, out_months, out
    growth = np.log1p(np.where(np.isnan(values), 0.0, values))
    if (values[~np.isnan(values)] <= -1).any():
        raise UsageError(
            "the panel has daily returns of -100% or less; returns are decimals (0.01 = 1%)"
        )
    sums = np.add.reduceat(growth, starts)
    observed = np.add.reduceat((~np.isnan(values)).astype(np.int64), starts)
    out = np.where(observed > 0, np.expm1(sums), np.nan)
    first = np.ones(len(starts), dtype=bool)
    first[1:] = out_codes[1:] != out_codes[:-1]
    out[first] = np.nan  # each series' first month may be partial
    return out_codes, out_months, out


def _price_returns(
    codes: np.ndarray, keys: np.ndarray, prices: np.ndarray, factor_keys: np.ndarray, frequency: str
) -> np.ndarray:
    """Simple returns over consecutive periods of one series (NaN after a gap)."""
    if (prices[~np.isnan(prices)] <= 0).any():
        raise UsageError("the panel has zero or negative prices; prices must be positive")
    if frequency == "monthly":
        step = keys
    else:
        position = np.searchsorted(factor_keys, keys)
        inside = (position < len(factor_keys)) & (
            factor_keys[np.minimum(position, len(factor_keys) - 1)] == keys
        )
        # days off the factors' trading calendar cannot start or end a daily return
        step = np.where(inside, position, -10)
        prices = np.where(inside, prices, np.nan)
    out = np.full(len(prices), np.nan)
    consecutive = (codes[1:] == codes[:-1]) & (step[1:] - step[:-1] == 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[1:] = np.where(consecutive, prices[1:] / prices[:-1] - 1.0, np.nan)
    return out
