"""Vintages of factor data: which are at hand, pinning one, and how two differ.

Publishers revise history: Ken French re-forms every portfolio with each CRSP update, AQR
rebuilds its whole history every month, the q-factor and liquidity files are re-issued
yearly. The cache keeps every vintage it has seen of a file (an older version is kept
under ``KEY@VINTAGE`` when a newer one replaces it; yearly files have one key per year),
the package's bundled snapshot adds its own.

A **vintage** is the month the data run to, ``YYYYMM``: Ken French's "... using the 202511
CRSP database", the last month of an AQR workbook, and for the yearly q-factor and
liquidity files December of their year (``2023`` -> ``202312``). Pinning ``vintage="202511"``
takes, for each file, the version at hand that matches it, else the newest one whose data
end before it ("as published by then"); nothing is downloaded, and a file with no such
version at hand is an error naming the vintages that are.

:func:`diff_vintages` compares two vintages of a dataset factor by factor: months changed,
the largest and the root-mean-square change (in the file's units), and the correlation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from factorxray.data.cache import Cache, CacheEntry, entry_stem
from factorxray.data.kenfrench import (
    CACHE_NAMESPACE as KF_NAMESPACE,
)
from factorxray.data.kenfrench import (
    SNAPSHOT_SOURCE,
    FrenchDataset,
    normalize_name,
    read_zip_at_hand,
)
from factorxray.errors import UNPINNED_RUN, NotCachedError, ParseError, UsageError, quote

VERSION_SEPARATOR = "@"
_VINTAGE = re.compile(r"^(\d{4})-?(\d{2})?$")
#: Months whose values differ by less than this (in the file's units) are "unchanged":
#: files are published to 2 (Ken French) or more decimals.
CHANGE_TOLERANCE = 1e-9


def normalize_vintage(vintage: str | int) -> str:
    """``"2025-11"``, ``"202511"`` -> ``"202511"``; a year ``"2023"`` -> ``"202312"``.

    Examples
    --------
    >>> normalize_vintage("2025-11"), normalize_vintage(2023)
    ('202511', '202312')
    """
    text = str(vintage).strip()
    match = _VINTAGE.match(text)
    if not match or (match.group(2) and not 1 <= int(match.group(2)) <= 12):
        raise UsageError(f"vintage {quote(text)} is not YYYYMM (e.g. 202511) or a year")
    return match.group(1) + (match.group(2) or "12")


def _data_end(vintage: str | None) -> str | None:
    if not vintage:
        return None
    try:
        return normalize_vintage(vintage)
    except UsageError:
        return None


def version_key(key: str, vintage: str) -> str:
    """The cache key of a kept older version: ``KEY@VINTAGE``."""
    return f"{key}{VERSION_SEPARATOR}{vintage}"


def cached_versions(cache: Cache, namespace: str, key: str) -> dict[str, CacheEntry]:
    """Every version of a cache entry at hand: vintage -> entry (the current one included).

    Reads the current entry and every ``KEY@VINTAGE`` kept beside it.
    """
    found: dict[str, CacheEntry] = {}
    current = cache.get(namespace, key)
    if current is not None and current.meta.get("vintage"):
        found[str(current.meta["vintage"])] = current
    folder = cache.root / entry_stem(namespace)
    if not folder.is_dir():
        return found
    prefix = key + VERSION_SEPARATOR
    for meta_path in sorted(folder.glob("*.meta.json")):
        try:
            meta = json.loads(meta_path.read_bytes())
        except (OSError, ValueError):
            continue
        stored = meta.get("key") if isinstance(meta, dict) else None
        if not isinstance(stored, str) or not stored.startswith(prefix):
            continue
        if meta.get("derived_from"):
            continue  # a parsed twin of a kept version, not a version
        entry = cache.get(namespace, stored)
        if entry is not None:
            found.setdefault(stored[len(prefix) :], entry)
    return found


def choose(available: dict[str, object], vintage: str, what: str) -> str:
    """The vintage to use of those ``available`` for a pin: exact, else newest before it."""
    wanted = normalize_vintage(vintage)
    ends = {v: _data_end(v) for v in available}
    exact = [v for v, end in ends.items() if end == wanted]
    if exact:
        return exact[0]
    earlier = sorted((end, v) for v, end in ends.items() if end is not None and end < wanted)
    if earlier:
        return earlier[-1][1]
    at_hand = ", ".join(sorted(available)) or "none"
    raise NotCachedError(
        f"vintage {vintage} of {what} is not at hand (vintages at hand: {at_hand}); download "
        f"it first ({UNPINNED_RUN.python} keeps each vintage it sees), or pin one at hand"
    )


# ----------------------------------------------------------------------------- Ken French


def kenfrench_versions(name: str, cache: Cache | None = None) -> dict[str, tuple[str, bytes]]:
    """Vintages of a Ken French dataset at hand: vintage -> (where, zip bytes).

    From the cache (current and kept versions) and the package's bundled snapshot.
    """
    from factorxray import snapshot

    dataset = normalize_name(name)
    cache = cache if cache is not None else Cache()
    found: dict[str, tuple[str, bytes]] = {}
    for vintage, entry in cached_versions(cache, KF_NAMESPACE, f"{dataset}_CSV.zip").items():
        found[vintage] = (f"cache {entry.key}", entry.data)
    bundled = snapshot.dataset_zip(dataset)
    if bundled is not None:
        where = f"{SNAPSHOT_SOURCE}{dataset}_CSV.zip"
        try:
            parsed = read_zip_at_hand(bundled, dataset, where, cache)
        except ParseError:
            parsed = None
        if parsed is not None and parsed.vintage and parsed.vintage not in found:
            found[parsed.vintage] = (where, bundled)
    return found


def read_pinned_dataset(name: str, vintage: str, *, cache: Cache | None = None) -> FrenchDataset:
    """A Ken French dataset as published by ``vintage`` (cache or snapshot, never downloaded).

    Raises
    ------
    NotCachedError
        No version of the dataset published by then is at hand (the message lists those
        that are).
    """
    dataset = normalize_name(name)
    versions = kenfrench_versions(dataset, cache)
    chosen = choose(versions, vintage, f"dataset {dataset}")
    where, data = versions[chosen]
    # through the parsed form kept in the cache: ``where`` is "cache KEY" or "snapshot:KEY"
    parsed = read_zip_at_hand(data, dataset, where.removeprefix("cache "), cache)
    return FrenchDataset(
        name=parsed.name,
        description=parsed.description,
        vintage=parsed.vintage,
        database=parsed.database,
        sections=parsed.sections,
        url=where,
    )


# ----------------------------------------------------------------------------- other libraries


def pinned_year(
    cache: Cache,
    namespace: str,
    file_for_year: Callable[[int], str],
    vintage: str,
    what: str,
    oldest: int = 2000,
) -> int:
    """The year of a yearly file (q-factors, liquidity) to use for a pinned vintage."""
    wanted = normalize_vintage(vintage)
    available = {}
    for year in range(int(wanted[:4]) + 1, oldest - 1, -1):
        if cache.get(namespace, file_for_year(year)) is not None:
            available[str(year)] = year
    return available[choose(available, vintage, what)]


def read_pinned_aqr(
    dataset: str,
    vintage: str,
    cache: Cache,
    sheets: tuple[str, ...] | None = None,
    countries: tuple[str, ...] | None = None,
):
    """An AQR workbook as published by ``vintage``, from the cache."""
    from factorxray.factors.libraries.aqr import CACHE_NAMESPACE, DATASETS, entry_to_file

    stem, main_sheet, _ = DATASETS[dataset]
    versions = cached_versions(cache, CACHE_NAMESPACE, f"{stem}.xlsx")
    chosen = choose(versions, vintage, f"AQR workbook {stem}")
    entry = versions[chosen]
    return entry_to_file(cache, entry, main_sheet, sheets, countries).with_url(f"cache {entry.key}")


# ----------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class VintageRecord:
    """One version of one file at hand."""

    library: str
    dataset: str
    vintage: str
    where: str
    fetched_at: str | None


def vintages_at_hand(cache: Cache | None = None) -> list[VintageRecord]:
    """Every version of every factor file in the cache (and the bundled snapshot)."""
    from factorxray import snapshot

    cache = cache if cache is not None else Cache()
    libraries = {KF_NAMESPACE: "kenfrench", "qfactors": "q", "aqr": "aqr", "liquidity": "liquidity"}
    records = []
    for entry in cache.entries():
        library = libraries.get(entry.namespace)
        if library is None or entry.meta.get("derived_from") or not entry.meta.get("vintage"):
            continue
        key = entry.key.split(VERSION_SEPARATOR)[0]
        dataset = entry.meta.get("dataset") or re.sub(r"(_CSV\.zip|\.xlsx|\.csv|\.txt)$", "", key)
        records.append(
            VintageRecord(
                library,
                dataset,
                str(entry.meta["vintage"]),
                "cache" + (" (kept)" if VERSION_SEPARATOR in entry.key else ""),
                entry.meta.get("fetched_at"),
            )
        )
    for name in snapshot.datasets():
        data = snapshot.dataset_zip(name)
        where = f"{SNAPSHOT_SOURCE}{name}_CSV.zip"
        try:
            vintage = (
                read_zip_at_hand(data, name, where, cache, keep=False).vintage
                if data is not None
                else None
            )
        except ParseError:
            vintage = None
        if vintage:
            records.append(VintageRecord("kenfrench", name, vintage, "snapshot", None))
    return sorted(records, key=lambda r: (r.library, r.dataset, r.vintage, r.where))


# ----------------------------------------------------------------------------- diff


def _monthly_table(
    dataset: str, vintage: str, cache: Cache, section: str | None
) -> tuple[pd.DataFrame, str]:
    """The table of a dataset at one vintage (values as published) and its exact vintage."""
    spec = dataset.strip()
    library, _, rest = spec.partition(":") if ":" in spec else ("kenfrench", "", spec)
    library = library.lower()
    if library in ("kenfrench", "ff", "kf"):
        parsed = read_pinned_dataset(rest, vintage, cache=cache)
        if normalize_vintage(parsed.vintage or "0000") != normalize_vintage(vintage):
            raise NotCachedError(
                f"vintage {vintage} of dataset {parsed.name} is not at hand (vintages at hand: "
                f"{', '.join(sorted(kenfrench_versions(parsed.name, cache)))})"
            )
        frame = parsed.section(section) if section else parsed.first_section("monthly")
        return frame, parsed.vintage or vintage
    if library == "aqr":
        from factorxray.factors.libraries.aqr import DATASETS

        key = rest.strip().lower()
        if key not in DATASETS:
            raise UsageError(f"unknown AQR data set {quote(rest)}; choose: {', '.join(DATASETS)}")
        data = read_pinned_aqr(key, vintage, cache)
        if data.vintage != normalize_vintage(vintage):
            raise NotCachedError(
                f"vintage {vintage} of AQR {key} is not at hand (nearest: {data.vintage})"
            )
        return data.section(section), data.vintage or vintage
    if library in ("q", "liquidity"):
        if library == "q":
            from factorxray.factors.libraries.q import CACHE_NAMESPACE, file_name, read_q_factors

            frequency = rest.strip().lower() or "monthly"
            year = int(normalize_vintage(vintage)[:4])
            if cache.get(CACHE_NAMESPACE, file_name(frequency, year)) is None:
                raise NotCachedError(
                    f"q-factor file {file_name(frequency, year)} is not in the cache"
                )
            data = read_q_factors(frequency, vintage=year, cache=cache, offline=True)
        else:
            from factorxray.factors.libraries.liquidity import read_liquidity

            data = read_liquidity(
                vintage=int(normalize_vintage(vintage)[:4]), cache=cache, offline=True
            )
        return data.section(section), data.vintage or vintage
    raise UsageError(
        f"dataset {quote(dataset)}: give a Ken French dataset name, aqr:bab|qmj|hml_devil, "
        "q:monthly|weekly|daily or liquidity:"
    )


def diff_frames(
    old: pd.DataFrame, new: pd.DataFrame, tolerance: float = CHANGE_TOLERANCE
) -> pd.DataFrame:
    """How each column changed between two vintages of a table (pure).

    Returns
    -------
    DataFrame
        Per column shared by both: ``months`` (in common, both values present),
        ``changed`` (months whose value moved by more than ``tolerance``), ``max_abs_change``
        and the month it happened (``max_change_at``), ``rms_change`` (over the common
        months), ``correlation``; ``added``/``removed``: months only in the new/old one.

    Examples
    --------
    >>> idx = pd.period_range("2020-01", periods=3, freq="M")
    >>> a = pd.DataFrame({"X": [1.0, 2.0, 3.0]}, idx)
    >>> b = pd.DataFrame({"X": [1.0, 2.5, 3.0]}, idx)
    >>> row = diff_frames(a, b).loc["X"]
    >>> int(row["changed"]), float(row["max_abs_change"]), round(float(row["rms_change"]), 4)
    (1, 0.5, 0.2887)
    """
    rows = {}
    for column in [c for c in old.columns if c in new.columns]:
        a = old[column].dropna()
        b = new[column].dropna()
        common = a.index.intersection(b.index)
        delta = (b.loc[common] - a.loc[common]).astype(float)
        moved = delta.abs() > tolerance
        largest = delta.abs().idxmax() if len(delta) and moved.any() else None
        rows[column] = {
            "months": len(common),
            "changed": int(moved.sum()),
            "max_abs_change": float(delta.abs().max()) if len(delta) else np.nan,
            "max_change_at": str(largest) if largest is not None else "",
            "rms_change": float(np.sqrt(np.mean(np.square(delta.to_numpy()))))
            if len(delta)
            else np.nan,
            "correlation": float(np.corrcoef(a.loc[common], b.loc[common])[0, 1])
            if len(common) > 1
            else np.nan,
            "added": len(b.index.difference(a.index)),
            "removed": len(a.index.difference(b.index)),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "factor"
    return table


def diff_vintages(
    dataset: str,
    old: str,
    new: str,
    *,
    section: str | None = None,
    cache: Cache | None = None,
) -> pd.DataFrame:
    """How a dataset's values changed between two vintages at hand.

    Parameters
    ----------
    dataset : str
        A Ken French dataset name (``F-F_Research_Data_Factors``), or ``aqr:bab``,
        ``q:monthly``, ``liquidity:``.
    old, new : str
        The two vintages (``YYYYMM``; years for the q-factor and liquidity files); both must
        be at hand exactly (cache or snapshot).
    section : str, optional
        A section title (Ken French) or sheet (AQR); default the first monthly table.
    cache : Cache, optional

    Returns
    -------
    DataFrame
        See :func:`diff_frames`; values in the file's units (Ken French and q: percent).
        ``attrs``: ``dataset``, ``old``, ``new`` (exact vintages), ``units``.

    Examples
    --------
    >>> diff_vintages("F-F_Research_Data_Factors", "202006", "202110")  # doctest: +SKIP
    """
    cache = cache if cache is not None else Cache()
    a, old_exact = _monthly_table(dataset, old, cache, section)
    b, new_exact = _monthly_table(dataset, new, cache, section)
    table = diff_frames(a, b)
    library = dataset.partition(":")[0].lower() if ":" in dataset else "kenfrench"
    table.attrs.update(
        dataset=dataset,
        old=old_exact,
        new=new_exact,
        units="percent" if library in ("kenfrench", "ff", "kf", "q") else "decimal",
    )
    return table
