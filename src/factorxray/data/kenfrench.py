"""Client for Kenneth R. French's data library: any dataset by name, every section, the vintage.

The library serves ``{name}_CSV.zip`` archives holding one CSV. Each CSV opens with free
text (which names the vintage: "... using the 202511 CRSP database"), then one or more
sections: an optional title (one or more lines), a header row starting with a comma, then
rows keyed ``YYYYMM`` (monthly), ``YYYYMMDD`` (daily) or ``YYYY`` (annual) until a blank
line. This module downloads (through the cache), opens the zip in memory and parses every
section by that structure, never by fixed line offsets. Values stay as published (percent).

Parsing a large file costs ~0.1 s (most of it turning text into floats), so the parsed form
of each zip at hand is kept in the cache namespace ``kenfrench-parsed``: an ``.npz`` archive
(numpy's format, read with ``allow_pickle=False``) of each section's values and index plus a
JSON header (:func:`encode_parsed`). A new process reads that instead of parsing the zip
again. It names the sha256 of the zip it came from and a format version; one that does not
match, or cannot be read, is ignored and written again from the zip. Every zip at hand has
its own form (:func:`form_key`, :func:`read_zip_at_hand`): the current download
(``X.npz``), each kept older vintage that a pinned read takes (``X@202006.npz``), and the
bundled snapshot's copy that an offline run falls back to (``X@snapshot.npz``). Forms are
written without fsync (a torn one fails its checks and is made again) and never fail a run:
a cache that cannot be written only loses the speed-up.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import itertools
import json
import os
import re
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from factorxray.data.cache import Cache, CacheEntry, cached_get, derived_namespace
from factorxray.data.http import HttpClient, ProgressCallback
from factorxray.errors import (
    PASS_REFRESH,
    PASS_SNAPSHOT,
    CacheError,
    DataSourceError,
    HttpStatusError,
    NotCachedError,
    ParseError,
    UnreachableError,
    UsageError,
    quote,
    with_message,
)

DEFAULT_BASE_URL = "https://mba.tuck.dartmouth.edu/pages/faculty/ken.french/ftp/"
BASE_URL_ENV = "FACTORXRAY_KENFRENCH_URL"
CACHE_NAMESPACE = "kenfrench"
#: Where the parsed form of each cached dataset is kept (cleared with ``kenfrench``).
PARSED_NAMESPACE = derived_namespace(CACHE_NAMESPACE)
#: What the parsed form's header says it is, and the version of its layout: a form of another
#: version is ignored and written again.
PARSED_FORMAT = "factorxray/kenfrench-parsed"
PARSED_VERSION = 1
#: Largest CSV member we agree to decompress (the biggest real file is ~30 MB).
MAX_MEMBER_BYTES = 64 * 1024 * 1024
#: Values the library uses for "missing".
MISSING_VALUES = (-99.99, -999.0)
#: What a damaged archive can raise anywhere in :mod:`zipfile` (found by fuzzing real files).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,
    zlib.error,
    NotImplementedError,  # "zip file version 6.4", unknown compression
    RuntimeError,  # an encrypted member
)
_VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_VINTAGE = re.compile(r"using the (\d{6}) (\w+) database", re.IGNORECASE)
_KEY_FREQUENCY = {4: "annual", 6: "monthly", 8: "daily"}

#: Datasets factorxray uses, and a few more, for suggestions when a name is not found.
#: Any other dataset of the library can be read by its exact name.
KNOWN_DATASETS = (
    "F-F_Research_Data_Factors",
    "F-F_Research_Data_Factors_weekly",
    "F-F_Research_Data_Factors_daily",
    "F-F_Research_Data_5_Factors_2x3",
    "F-F_Research_Data_5_Factors_2x3_daily",
    "F-F_Momentum_Factor",
    "F-F_Momentum_Factor_daily",
    "F-F_ST_Reversal_Factor",
    "F-F_LT_Reversal_Factor",
    "25_Portfolios_ME_VAR_5x5",
    "25_Portfolios_ME_VAR_5x5_daily",
    "25_Portfolios_5x5",
    "6_Portfolios_2x3",
    "49_Industry_Portfolios",
    "12_Industry_Portfolios",
    *(
        f"{region}_{kind}"
        for region in (
            "Developed",
            "Developed_ex_US",
            "Europe",
            "Japan",
            "Asia_Pacific_ex_Japan",
            "North_America",
        )
        for kind in (
            "3_Factors",
            "5_Factors",
            "Mom_Factor",
            "3_Factors_Daily",
            "5_Factors_Daily",
            "Mom_Factor_Daily",
        )
    ),
    "Emerging_5_Factors",
    "Emerging_MOM_Factor",
)


@dataclass(frozen=True)
class FrenchDataset:
    """One parsed dataset of the library.

    Attributes
    ----------
    name : str
        The dataset name (``F-F_Research_Data_5_Factors_2x3``).
    description : str
        The free text before the first section, as published.
    vintage : str or None
        The database vintage, ``YYYYMM`` (e.g. ``"202511"``), when the text names one.
    database : str or None
        ``"CRSP"`` or ``"Bloomberg"`` when named.
    sections : dict of str to DataFrame
        Every section in file order, keyed by its title (``"Monthly"``, ``"Annual"``...
        when untitled). Values as published (percent), missing values as NaN, columns
        stripped; index a monthly ``PeriodIndex``, a ``DatetimeIndex`` (daily) or int years.
    url : str or None
        Where it was downloaded from.
    """

    name: str
    description: str
    vintage: str | None
    database: str | None
    sections: dict[str, pd.DataFrame] = field(repr=False)
    url: str | None = None

    def section(self, title: str | int = 0) -> pd.DataFrame:
        """Return a section by position or by (case-insensitive) title or title fragment.

        Raises
        ------
        ParseError
            When no section (or several) match, naming the available titles.
        """
        titles = list(self.sections)
        if isinstance(title, int):
            if not -len(titles) <= title < len(titles):
                raise ParseError(
                    f"dataset {self.name} has {len(titles)} section(s); no section #{title}"
                )
            return self.sections[titles[title]]
        if title in self.sections:
            return self.sections[title]
        wanted = title.casefold()
        matches = [t for t in titles if wanted in t.casefold()]
        if len(matches) == 1:
            return self.sections[matches[0]]
        if matches:
            raise ParseError(
                f"dataset {self.name}: section {quote(title)} is ambiguous; it matches: {_titles(matches)}"
            )
        raise ParseError(
            f"dataset {self.name} has no section {quote(title)}; sections: {_titles(titles)}"
        )

    def first_section(self, frequency: str) -> pd.DataFrame:
        """The first section of a frequency (``"monthly"``, ``"daily"``, ``"annual"``)."""
        for frame in self.sections.values():
            if frame.attrs.get("frequency") == frequency:
                return frame
        raise ParseError(
            f"dataset {self.name} has no {frequency} section; sections: {_titles(list(self.sections))}"
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _titles(titles: list[str], limit: int = 12) -> str:
    """Section titles for a message: each cut to 80 characters, at most ``limit`` of them."""
    shown = "; ".join(_cut(t, 80) for t in titles[:limit])
    return shown + (f"; and {len(titles) - limit} more" if len(titles) > limit else "")


# ----------------------------------------------------------------------------- parsing


def decode_text(raw: bytes) -> str:
    """Decode as UTF-8 (cp1252 fallback) and normalise CRLF and lone CR line ends to LF."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_zip_member(data: bytes, name: str, max_bytes: int = MAX_MEMBER_BYTES) -> bytes:
    """Return the bytes of the one CSV member of a zip archive, read in memory.

    Raises
    ------
    ParseError
        Not a zip, corrupt or truncated, no CSV member, or a member over ``max_bytes``
        (a zip bomb).
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as exc:
        raise ParseError(
            f"dataset {name}: the download is not a valid zip archive ({_cut(_one_line(exc), 120)})"
        ) from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        csv_members = [info for info in members if info.filename.lower().endswith(".csv")]
        if not csv_members:
            found = ", ".join(_cut(info.filename, 60) for info in members[:5]) or "nothing"
            raise ParseError(f"dataset {name}: the archive holds no CSV file (found: {found})")
        member = csv_members[0]
        if member.file_size > max_bytes:
            raise ParseError(
                f"dataset {name}: {member.filename} would expand to {member.file_size} bytes, "
                f"over the {max_bytes}-byte limit; refusing it"
            )
        try:
            with archive.open(member) as handle:
                content = handle.read(max_bytes + 1)
        except _ZIP_ERRORS as exc:
            raise ParseError(
                f"dataset {name}: the archive is corrupt ({_cut(_one_line(exc), 120)})"
            ) from None
        if len(content) > max_bytes:
            raise ParseError(
                f"dataset {name}: {member.filename} expands past the {max_bytes}-byte limit; refusing it"
            )
        return content


def _split_fields(line: str) -> list[str]:
    return [part.strip() for part in line.split(",")]


def _is_key(text: str) -> bool:
    return text.isdigit() and len(text) in _KEY_FREQUENCY


def _make_index(keys: list[str], frequency: str) -> pd.Index:
    if frequency == "monthly":
        numbers = np.array(keys, dtype=np.int64)
        years, months = numbers // 100, numbers % 100
        if ((months < 1) | (months > 12)).any():
            raise ValueError("month out of range")
        ordinals = (years - 1970) * 12 + months - 1
        return pd.PeriodIndex.from_ordinals(ordinals, freq="M").rename("period")
    if frequency == "daily":
        return pd.DatetimeIndex(pd.to_datetime(keys, format="%Y%m%d"), name="date")
    return pd.Index([int(k) for k in keys], dtype="int64", name="year")


def _to_values(rows: list[list[str]], name: str, title: str, first_line: int) -> np.ndarray:
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        for offset, row in enumerate(rows):
            for cell in row:
                try:
                    float(cell)
                except ValueError:
                    raise ParseError(
                        f"dataset {name}, section {quote(title or 'untitled')}, line {first_line + offset}: "
                        f"{quote(cell.strip())} is not a number"
                    ) from None
        raise
    for missing in MISSING_VALUES:
        values[values == missing] = np.nan
    return values


def parse_french_csv(text: str, name: str = "dataset") -> FrenchDataset:
    """Parse the text of a Ken French CSV file into a :class:`FrenchDataset`.

    Parameters
    ----------
    text : str
        The CSV text (any line endings).
    name : str
        The dataset name, for the result and error messages.

    Returns
    -------
    FrenchDataset
        The description, the vintage and every section.

    Raises
    ------
    ParseError
        No section, a row whose width differs from its header, a value that is not a
        number, keys that mix widths or do not increase.

    Examples
    --------
    >>> text = "Made using the 202511 CRSP database.\\n\\n,Mom\\n202510, 1.20\\n202511,-99.99\\n"
    >>> ds = parse_french_csv(text, "demo")
    >>> ds.vintage, ds.section("Monthly")["Mom"].tolist()
    ('202511', [1.2, nan])
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    sections: dict[str, pd.DataFrame] = {}
    description_end: int | None = None
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith(","):
            i += 1
            continue
        header_line = i
        title_start = header_line
        while (
            title_start > 0
            and lines[title_start - 1].strip()
            and not _is_key(_split_fields(lines[title_start - 1])[0])
        ):
            title_start -= 1
        if description_end is None:
            description_end = title_start
        title = " ".join(" ".join(line.split()) for line in lines[title_start:header_line]).strip()
        columns = _split_fields(lines[header_line])[1:]
        if not columns or any(not column for column in columns):
            raise ParseError(
                f"dataset {name}, line {header_line + 1}: header row has empty column names"
            )
        keys: list[str] = []
        rows: list[list[str]] = []
        i = header_line + 1
        while i < len(lines):
            fields = lines[i].split(",")
            key = fields[0].strip()
            if not _is_key(key):
                break
            if len(fields) != len(columns) + 1:
                raise ParseError(
                    f"dataset {name}, section {quote(title or 'untitled')}, line {i + 1}: "
                    f"{len(fields) - 1} values where the header has {len(columns)} columns"
                )
            keys.append(key)
            rows.append(fields[1:])
            i += 1
        if not keys:
            raise ParseError(
                f"dataset {name}, line {header_line + 1}: header row with no data rows under it"
            )
        widths = {len(k) for k in keys}
        if len(widths) != 1:
            raise ParseError(
                f"dataset {name}, section {quote(title or 'untitled')}: date keys of mixed widths"
            )
        frequency = _KEY_FREQUENCY[widths.pop()]
        if any(a >= b for a, b in itertools.pairwise(keys)):
            raise ParseError(
                f"dataset {name}, section {quote(title or 'untitled')}: dates are not strictly increasing"
            )
        try:
            index = _make_index(keys, frequency)
        except (ValueError, TypeError):
            raise ParseError(
                f"dataset {name}, section {quote(title or 'untitled')}: invalid dates in the key column"
            ) from None
        values = _to_values(rows, name, title, header_line + 2)
        frame = pd.DataFrame(values, index=index, columns=pd.Index(columns))
        frame.attrs["frequency"] = frequency
        frame.attrs["title"] = title
        sections[_unique_title(title or frequency.capitalize(), sections)] = frame
    if not sections:
        raise ParseError(f"dataset {name}: no data sections found (is this a Ken French CSV file?)")
    description = "\n".join(line.rstrip() for line in lines[:description_end]).strip()
    match = _VINTAGE.search(description)
    return FrenchDataset(
        name=name,
        description=description,
        vintage=match.group(1) if match else None,
        database=match.group(2) if match else None,
        sections=sections,
    )


def _unique_title(title: str, taken: dict[str, pd.DataFrame]) -> str:
    if title not in taken:
        return title
    n = 2
    while f"{title} ({n})" in taken:
        n += 1
    return f"{title} ({n})"


def parse_french_zip(data: bytes, name: str = "dataset") -> FrenchDataset:
    """Parse a ``{name}_CSV.zip`` archive as served by the library (read in memory)."""
    return parse_french_csv(decode_text(read_zip_member(data, name)), name)


# ----------------------------------------------------------------------------- parsed form

#: Dates (``Jan 1, 1980``) of every member of the parsed form, so equal content gives equal bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: What reading a damaged or foreign parsed form can raise (besides :data:`_ZIP_ERRORS`).
_FORM_ERRORS = (
    *_ZIP_ERRORS,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    OverflowError,
    struct.error,
)


class _UnusableForm(ValueError):
    """A parsed form that is damaged, of another version, or of another download."""


def encode_parsed(dataset: FrenchDataset, source_sha256: str) -> bytes:
    """The parsed form of a dataset: an ``.npz`` archive, no pickle, same bytes for same data.

    Members: ``header.npy`` (UTF-8 JSON as ``uint8``: format, version, the source zip's
    sha256, name, description, vintage, database, and per section its title, columns,
    frequency and ``attrs``), then per section ``index<i>.npy`` (period ordinals, datetime64
    values or years) and ``values<i>.npy`` (float64, rows x columns).

    Parameters
    ----------
    dataset : FrenchDataset
        As :func:`parse_french_zip` returns it.
    source_sha256 : str
        The sha256 of the zip it was parsed from; :func:`decode_parsed` checks it.

    Returns
    -------
    bytes

    Raises
    ------
    TypeError
        A section's ``attrs`` hold something JSON cannot write.
    """
    header: dict[str, Any] = {
        "format": PARSED_FORMAT,
        "version": PARSED_VERSION,
        "source_sha256": source_sha256,
        "name": dataset.name,
        "description": dataset.description,
        "vintage": dataset.vintage,
        "database": dataset.database,
        "sections": [],
    }
    arrays: list[tuple[str, np.ndarray]] = []
    for i, (title, frame) in enumerate(dataset.sections.items()):
        frequency = frame.attrs.get("frequency")
        header["sections"].append(
            {
                "title": title,
                "columns": [str(column) for column in frame.columns],
                "frequency": frequency,
                "attrs": dict(frame.attrs),
            }
        )
        index = frame.index
        stored = index.asi8 if isinstance(index, pd.PeriodIndex) else index.to_numpy()
        arrays.append((f"index{i}", np.ascontiguousarray(stored)))
        arrays.append((f"values{i}", np.ascontiguousarray(frame.to_numpy(dtype=np.float64))))
    text = json.dumps(header, ensure_ascii=False, sort_keys=True).encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for member, array in [("header", np.frombuffer(text, dtype=np.uint8)), *arrays]:
            with archive.open(zipfile.ZipInfo(f"{member}.npy", date_time=_ZIP_TIME), "w") as out:
                np.lib.format.write_array(out, array, allow_pickle=False)
    return buffer.getvalue()


def decode_parsed(data: bytes, name: str, source_sha256: str) -> FrenchDataset:
    """The dataset :func:`encode_parsed` stored, equal to parsing the zip again.

    Raises
    ------
    ValueError
        The bytes are not a parsed form of this version, of dataset ``name`` parsed from
        the zip with ``source_sha256``, or are damaged (every member carries a CRC-32).
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            header = json.loads(bytes(_member(archive, "header", "u1")).decode("utf-8"))
            if not isinstance(header, dict):
                raise _UnusableForm("the header is not an object")
            for field_name, wanted in (
                ("format", PARSED_FORMAT),
                ("version", PARSED_VERSION),
                ("source_sha256", source_sha256),
                ("name", name),
            ):
                if header.get(field_name) != wanted:
                    raise _UnusableForm(f"{field_name} is not {wanted!r}")
            sections = {
                str(entry["title"]): _section_frame(
                    entry, _member(archive, f"index{i}"), _member(archive, f"values{i}", "f8")
                )
                for i, entry in enumerate(header["sections"])
            }
            if not sections or len(sections) != len(header["sections"]):
                raise _UnusableForm("no sections, or two with one title")
            return FrenchDataset(
                name=name,
                description=_text_or_none(header["description"]) or "",
                vintage=_text_or_none(header["vintage"]),
                database=_text_or_none(header["database"]),
                sections=sections,
            )
    except _UnusableForm:
        raise
    except _FORM_ERRORS as exc:
        raise _UnusableForm(f"unreadable ({_one_line(exc)})") from None


def _member(archive: Any, member: str, kind: str | None = None) -> np.ndarray:
    """One array of the archive, checked to be of dtype ``kind`` when given."""
    array = archive[member]
    if kind is not None and array.dtype != np.dtype(kind):
        raise _UnusableForm(f"{member} is {array.dtype}, not {kind}")
    return array


def _text_or_none(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _UnusableForm(f"{value!r} is not text")


def _section_frame(entry: dict[str, Any], stored: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """A section rebuilt as :func:`parse_french_csv` builds it (same index type and name)."""
    frequency = entry["frequency"]
    columns = entry["columns"]
    attrs = entry["attrs"]
    if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
        raise _UnusableForm("columns are not a list of text")
    if not isinstance(attrs, dict) or attrs.get("frequency") != frequency:
        raise _UnusableForm("attrs do not name the frequency")
    if values.ndim != 2 or values.shape != (len(stored), len(columns)) or stored.ndim != 1:
        raise _UnusableForm(f"values of shape {values.shape} for {len(stored)} rows x {columns}")
    if frequency == "monthly" and stored.dtype == np.int64:
        index = pd.PeriodIndex.from_ordinals(stored, freq="M").rename("period")
    elif frequency == "daily" and stored.dtype.kind == "M":
        index = pd.DatetimeIndex(stored, name="date")
    elif frequency == "annual" and stored.dtype == np.int64:
        index = pd.Index(stored, dtype="int64", name="year")
    else:
        raise _UnusableForm(f"a {frequency} section indexed by {stored.dtype}")
    frame = pd.DataFrame(values, index=index, columns=pd.Index(columns))
    frame.attrs.update(attrs)
    return frame


#: How the bundled snapshot's zips are named as a source (``derived_from``, a dataset's ``url``).
SNAPSHOT_SOURCE = "snapshot:"


def form_key(source: str) -> str:
    """The key, in :data:`PARSED_NAMESPACE`, of the parsed form of the zip at ``source``.

    Each zip at hand has its own slot, rewritten when the zip changes: the current download,
    each kept older vintage and the bundled snapshot's copy never overwrite one another.

    Parameters
    ----------
    source : str
        The zip's key in the ``kenfrench`` namespace (``X_CSV.zip``, a kept older vintage
        ``X_CSV.zip@202006``), or ``snapshot:X_CSV.zip`` for the bundled snapshot's.

    Examples
    --------
    >>> form_key("F-F_Momentum_Factor_CSV.zip"), form_key("F-F_Momentum_Factor_CSV.zip@202006")
    ('F-F_Momentum_Factor.npz', 'F-F_Momentum_Factor@202006.npz')
    >>> form_key("snapshot:F-F_Momentum_Factor_CSV.zip")
    'F-F_Momentum_Factor@snapshot.npz'
    """
    bundled = source.startswith(SNAPSHOT_SOURCE)
    key, _, vintage = source.removeprefix(SNAPSHOT_SOURCE).partition("@")
    name = key.removesuffix("_CSV.zip")
    tag = "snapshot" if bundled else vintage
    return f"{name}@{tag}.npz" if tag else f"{name}.npz"


def read_zip_at_hand(
    data: bytes,
    dataset: str,
    source: str,
    cache: Cache | None = None,
    *,
    sha256: str | None = None,
    keep: bool = True,
) -> FrenchDataset:
    """:func:`parse_french_zip`, through the parsed form kept in the cache.

    The form of a zip (:func:`encode_parsed`, key :func:`form_key`) is read when it was
    made from these very bytes (their sha256, in its metadata and in its header) by this
    version of the format. Otherwise, or when it cannot be read, the zip is parsed and its
    form written again; a cache that cannot be written only loses the speed-up. Within a
    process each zip is read once (by sha256 and name).

    Parameters
    ----------
    data : bytes
        The ``{dataset}_CSV.zip`` archive: a cached download (current or a kept older
        vintage) or the bundled snapshot's.
    dataset : str
        The dataset name, as for :func:`parse_french_zip`.
    source : str
        Where the zip is, which names its form: see :func:`form_key`.
    cache : Cache, optional
        Where forms are kept; without one the zip is parsed (once per process).
    sha256 : str, optional
        The sha256 of ``data`` when known (a cache entry's, checked on reading).
    keep : bool
        Write the form of a zip that had to be parsed (False for a listing that wants only
        the vintage of every bundled file, and should not fill the cache with their forms).

    Returns
    -------
    FrenchDataset
        Equal to ``parse_french_zip(data, dataset)`` (sections, values to the bit, index
        types, attrs); ``url`` is None, as there.

    Raises
    ------
    ParseError
        The zip cannot be parsed.
    """
    sha = sha256 or hashlib.sha256(data).hexdigest()
    key = form_key(source)
    result = _READ.get((sha, dataset))
    if result is None and cache is not None:
        result = _read_parsed(cache, key, sha, dataset)
    if result is None:
        result = parse_french_zip(data, dataset)
        if cache is not None and keep:
            _store_parsed(cache, key, source, sha, result)
    _READ.put((sha, dataset), result)
    return result


def _read_parsed(cache: Cache, key: str, source_sha256: str, dataset: str) -> FrenchDataset | None:
    """The form kept under ``key`` if made from the zip with ``source_sha256``, or None (quietly)."""
    entry = cache.get(PARSED_NAMESPACE, key, quiet=True)
    if entry is None or entry.meta.get("source_sha256") != source_sha256:
        return None
    try:
        return decode_parsed(entry.data, dataset, source_sha256)
    except ValueError:
        return None  # damaged or of another version: parsed again and rewritten


def _store_parsed(
    cache: Cache, key: str, source: str, source_sha256: str, result: FrenchDataset
) -> None:
    """Keep the parsed form of a zip under ``key``; skipped when the cache cannot be written."""
    try:
        data = encode_parsed(result, source_sha256)
    except (TypeError, ValueError):
        return  # attrs JSON cannot hold: nothing to keep
    derived_from = source if source.startswith(SNAPSHOT_SOURCE) else f"{CACHE_NAMESPACE}/{source}"
    with contextlib.suppress(CacheError):
        cache.put(
            PARSED_NAMESPACE,
            key,
            data,
            {
                "derived_from": derived_from,
                "source_sha256": source_sha256,
                "format": PARSED_FORMAT,
                "version": PARSED_VERSION,
                "vintage": result.vintage,
                "dataset": result.name,
            },
            durable=False,  # checked on reading (sha256, CRC-32s, header) and made again
        )


class _Memo:
    """Datasets already read in this process, by (zip sha256, name): a run reads the same
    files several times (main model, model ladder, region fit)."""

    def __init__(self, size: int = 32) -> None:
        self._items: dict[tuple[str, str], FrenchDataset] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> FrenchDataset | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: tuple[str, str], value: FrenchDataset) -> None:
        with self._lock:
            self._items.pop(key, None)
            while len(self._items) >= self._size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_READ = _Memo()


# ----------------------------------------------------------------------------- download


def normalize_name(name: str) -> str:
    """Accept ``X``, ``X_CSV.zip`` or ``X.csv``; return ``X``; reject unsafe names."""
    cleaned = name.strip()
    for suffix in ("_CSV.zip", "_csv.zip", ".zip", ".csv", ".CSV"):
        if cleaned.endswith(suffix):
            cleaned = cleaned[: -len(suffix)]
            break
    if not _VALID_NAME.match(cleaned):
        raise UsageError(
            f"dataset name {quote(name)} is not valid: use the library's file name without _CSV.zip, "
            "e.g. F-F_Research_Data_5_Factors_2x3"
        )
    return cleaned


def base_url(explicit: str | None = None) -> str:
    """The library's base URL: argument, else ``$FACTORXRAY_KENFRENCH_URL``, else the real one."""
    url = explicit or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return url if url.endswith("/") else url + "/"


def dataset_url(name: str, base: str | None = None) -> str:
    """The download address of a dataset."""
    return f"{base_url(base)}{normalize_name(name)}_CSV.zip"


def suggest_datasets(name: str) -> list[str]:
    """Known dataset names close to ``name``."""
    candidates = [known for known in KNOWN_DATASETS if known != name]
    return difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)


def read_dataset(
    name: str,
    *,
    base: str | None = None,
    cache: Cache | None = None,
    client: HttpClient | None = None,
    refresh: bool = False,
    offline: bool = False,
    snapshot: bool = False,
    on_progress: ProgressCallback | None = None,
) -> FrenchDataset:
    """Download (or take from the cache) and parse any dataset of the library.

    Parameters
    ----------
    name : str
        The dataset's file name without ``_CSV.zip``, e.g. ``"F-F_Momentum_Factor"``,
        ``"Developed_5_Factors"``, ``"25_Portfolios_ME_VAR_5x5"``, ``"..._daily"``.
    base : str, optional
        Base URL of the library (default ``$FACTORXRAY_KENFRENCH_URL`` or the real one).
    cache : Cache, optional
        Where downloads are kept (default: the user cache folder).
    client : HttpClient, optional
        The HTTP client to use (default: a new one).
    refresh : bool
        Download again even when the cached copy is fresh.
    offline : bool
        Use only the cache.
    snapshot : bool
        Never download (as ``offline``), and when the cache lacks the dataset, fall back to
        the package's bundled snapshot (:mod:`factorxray.snapshot`) if it holds it.
    on_progress : callable, optional
        ``on_progress(received_bytes, total_bytes_or_None)`` during the download.

    Returns
    -------
    FrenchDataset

    Raises
    ------
    UsageError
        The name is invalid, or the library has no such dataset (404).
    UnreachableError
        No network (or a wrong address): at once, saying to pass ``snapshot=True`` for
        the bundled snapshot or the cached copy (the CLI says ``--offline``).
    DataSourceError
        Network failure, corrupt archive, a file that is not a Ken French CSV (the cache
        keeps its last good copy).

    Examples
    --------
    >>> ds = read_dataset("F-F_Momentum_Factor")  # doctest: +SKIP
    >>> ds.vintage, ds.section("Monthly").tail(1)  # doctest: +SKIP
    """
    dataset = normalize_name(name)
    url = dataset_url(dataset, base)
    cache = cache if cache is not None else Cache()
    parsed: dict[str, FrenchDataset] = {}

    def validate(data: bytes) -> dict[str, str | None]:
        try:
            result = parse_french_zip(data, dataset)
        except ParseError as exc:
            raise ParseError(f"{exc} (from {url})") from None
        parsed["fresh"] = result
        return {"vintage": result.vintage, "database": result.database, "dataset": dataset}

    own_client = client is None
    http = client if client is not None else HttpClient()
    try:
        entry = cached_get(
            cache,
            http,
            namespace=CACHE_NAMESPACE,
            key=f"{dataset}_CSV.zip",
            url=url,
            what=f"dataset {dataset}",
            validate=validate,
            refresh=refresh,
            offline=offline or snapshot,
            on_progress=on_progress,
            offline_hint=OFFLINE_HINT,
        )
    except NotCachedError as exc:
        bundled = _from_snapshot(dataset, cache) if snapshot else None
        if bundled is None:
            hint = (
                f" (or {OFFLINE_HINT} to use the bundled snapshot)"
                if not snapshot and dataset in _snapshot_names()
                else ""
            )
            raise NotCachedError(f"{exc}{hint}") from None
        return bundled
    except UnreachableError as exc:
        raise _offline_advice(exc, dataset) from None
    except DataSourceError as exc:
        if isinstance(exc, HttpStatusError) and exc.status_code == 404:
            hint = suggest_datasets(dataset)
            also = f"; did you mean {', '.join(hint)}?" if hint else ""
            raise UsageError(
                f"dataset {dataset} not found at {url} (HTTP 404): check the exact file name on "
                f"the library's page, or run `factorxray factors list`{also}"
            ) from None
        raise
    finally:
        if own_client:
            http.close()
    fresh = parsed.get("fresh")
    result = (
        _from_download(cache, entry, fresh)
        if fresh is not None
        else _from_entry(cache, entry, dataset)
    )
    return FrenchDataset(
        name=result.name,
        description=result.description,
        vintage=result.vintage,
        database=result.database,
        sections=result.sections,
        url=url,
    )


#: How a user of the library works without a network, in the API's words (the CLI prints
#: its own, ``add --offline``: :func:`factorxray.errors.cli_wording`).
OFFLINE_HINT = PASS_SNAPSHOT.python


def _offline_advice(exc: UnreachableError, dataset: str) -> UnreachableError:
    """``exc`` saying how to go on without the network: the kept copy, the snapshot, or neither."""
    if getattr(exc, "kept_copy", None) is not None:  # already says to use the cached copy
        return exc
    if dataset in _snapshot_names():
        return with_message(exc, f"{exc}, or {OFFLINE_HINT} to use the bundled snapshot")
    return with_message(exc, f"{exc} (this dataset is not in the bundled snapshot)")


def _snapshot_names() -> list[str]:
    from factorxray import snapshot

    return snapshot.datasets()


def _from_snapshot(dataset: str, cache: Cache | None) -> FrenchDataset | None:
    """The dataset from the package's bundled snapshot (offline fallback), or None.

    Read through its parsed form kept in ``cache`` (:func:`read_zip_at_hand`, key
    ``kenfrench-parsed/<dataset>@snapshot.npz``), as cached downloads are: the zips in the
    package stay the only thing shipped and the source of every value; the form, named by
    the bundled zip's sha256, is made on the first offline run on a machine and read by
    every later one (an upgraded package's new zip is parsed again). Measured on the 11
    reads of ``analyze --preset smart-beta-20 --offline`` in a new process (median of 15):
    ~0.18 s parsing the zips, ~0.06 s reading the forms, and ~0.03 s more than parsing
    alone on the first run (encoding and writing 1.6 MB of forms). Shipping the forms
    instead would make that first run as fast as the later ones, but add ~1.9 MB (1.45 MB
    for ``25_Portfolios_ME_VAR_5x5`` alone; ~0.7 MB to the wheel) to a ~3.6 MB package and
    keep a second copy of the data beside the zips, to save ~0.12 s once per machine.
    """
    bundled = _snapshot_zip(dataset)
    if bundled is None:
        return None
    data, sha = bundled
    source = f"{SNAPSHOT_SOURCE}{dataset}_CSV.zip"
    return replace(read_zip_at_hand(data, dataset, source, cache, sha256=sha), url=source)


@lru_cache(maxsize=64)
def _snapshot_zip(dataset: str) -> tuple[bytes, str] | None:
    """The bundled zip of a dataset and its sha256 (read once per process), or None."""
    from factorxray import snapshot as bundled

    data = bundled.dataset_zip(dataset)
    return None if data is None else (data, hashlib.sha256(data).hexdigest())


def _from_entry(cache: Cache, entry: CacheEntry, dataset: str) -> FrenchDataset:
    """A cached download: read before in this process, else its kept parsed form, else parsed
    (and its parsed form kept)."""
    try:
        return read_zip_at_hand(entry.data, dataset, entry.key, cache, sha256=entry.meta["sha256"])
    except ParseError as exc:
        raise ParseError(
            f"{exc} (cached copy in {entry.namespace}/{entry.key}; {PASS_REFRESH.python})"
        ) from None


def _from_download(cache: Cache, entry: CacheEntry, result: FrenchDataset) -> FrenchDataset:
    """A download just parsed (and stored as ``entry``): keep its parsed form."""
    sha = entry.meta["sha256"]
    _store_parsed(cache, form_key(entry.key), entry.key, sha, result)
    _READ.put((sha, result.name), result)
    return result
