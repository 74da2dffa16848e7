"""A small, vintage-pinned snapshot of real data shipped with the package, for ``--offline``.

It holds the Ken French files that the monthly models (``capm``, ``ff3``, ``carhart``,
``ff5``, ``ff6`` in every region; ``xray7`` and ``article7``, which need VOL, for the US)
need, under the dataset names :func:`factorxray.factors.model_sources` asks for, and the
month-end dividend-adjusted closes of two sets of ETFs: the 20 US funds of the
``smart-beta-20`` preset (complete months to 2026-06) and the 13 international funds of the
``international-13`` preset (complete months to 2026-07). See ``data/PROVENANCE.md`` for
where every byte comes from.

With ``--offline``, factorxray reads the cache first and falls back to this snapshot, so a
fresh machine with no network can run ``factorxray analyze --preset smart-beta-20 --offline``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import pandas as pd

from factorxray.errors import UsageError

#: What the US price file is, for report headers (every US fund's label; see
#: :func:`price_source_label` for any fund of the snapshot).
PRICE_SOURCE_LABEL = "bundled snapshot (month-end adjusted closes to 2026-06)"
#: The long price files (``date,ticker,adj_close``), US first.
PRICE_FILES = ("month_end_adjusted_closes.csv", "month_end_adjusted_closes_international.csv")


def snapshot_dir() -> Path:
    """The folder of the bundled snapshot."""
    return Path(str(resources.files("factorxray.snapshot") / "data"))


def dataset_zip(name: str) -> bytes | None:
    """The bundled ``{name}_CSV.zip`` bytes, or None when the snapshot does not hold it.

    The name is matched exactly, else without case (``Asia_Pacific_ex_Japan_MOM_Factor``
    finds ``Asia_Pacific_ex_Japan_Mom_Factor``), as on a case-insensitive file system.
    """
    folder = snapshot_dir() / "kenfrench"
    path = folder / f"{name}_CSV.zip"
    if path.is_file():
        return path.read_bytes()
    wanted = f"{name}_CSV.zip".lower()
    for candidate in sorted(folder.glob("*_CSV.zip")):
        if candidate.name.lower() == wanted:
            return candidate.read_bytes()
    return None


def datasets() -> list[str]:
    """Names of the Ken French datasets in the snapshot."""
    return sorted(
        p.name.removesuffix("_CSV.zip") for p in (snapshot_dir() / "kenfrench").glob("*_CSV.zip")
    )


def prices_file() -> Path:
    """The long CSV (``date,ticker,adj_close``) of the 20 US funds' month-end adjusted closes."""
    return prices_files()[0]


def prices_files() -> list[Path]:
    """Every long price CSV (``date,ticker,adj_close``) of the snapshot: US, then international."""
    return [snapshot_dir() / "prices" / name for name in PRICE_FILES]


@cache
def _price_tables() -> tuple[pd.DataFrame, ...]:
    """One wide table (month-end dates x tickers) per price file; a ticker is in one file only."""
    tables = []
    seen: set[str] = set()
    for path in prices_files():
        long = pd.read_csv(path, parse_dates=["date"])
        table = long.pivot(index="date", columns="ticker", values="adj_close").sort_index()
        twice = seen & set(table.columns)
        if twice:
            raise RuntimeError(f"snapshot: {', '.join(sorted(twice))} in more than one price file")
        seen |= set(table.columns)
        tables.append(table)
    return tuple(tables)


def tickers() -> list[str]:
    """Tickers with prices in the snapshot (US and international), sorted."""
    return sorted(ticker for table in _price_tables() for ticker in table.columns)


def month_end_prices(wanted: list[str]) -> pd.DataFrame:
    """Month-end adjusted closes of the ``wanted`` tickers that the snapshot holds.

    Returns
    -------
    DataFrame
        DatetimeIndex of month-end trading days (those of the price files that hold the
        wanted tickers: the US file ends 2026-06, the international one 2026-07), one column
        per held ticker (NaN before a fund's first month and after its file's last month),
        in the order asked.
    """
    parts = [table[[t for t in wanted if t in table.columns]] for table in _price_tables()]
    parts = [part for part in parts if part.shape[1]]
    if not parts:
        return _price_tables()[0][[]].copy()
    frame = pd.concat(parts, axis=1, join="outer").sort_index()
    return frame[[t for t in wanted if t in frame.columns]].copy()


def price_source_label(ticker: str) -> str:
    """What the snapshot's prices of one fund are, for report headers.

    Parameters
    ----------
    ticker : str
        A ticker of :func:`tickers`.

    Returns
    -------
    str
        ``"bundled snapshot (month-end adjusted closes to YYYY-MM)"``, the fund's last month.

    Raises
    ------
    UsageError
        When the snapshot holds no prices of ``ticker``.

    Examples
    --------
    >>> price_source_label("SPY") == PRICE_SOURCE_LABEL
    True
    >>> price_source_label("VEA")
    'bundled snapshot (month-end adjusted closes to 2026-07)'
    """
    for table in _price_tables():
        if ticker in table.columns:
            last = table[ticker].last_valid_index()
            return f"bundled snapshot (month-end adjusted closes to {last:%Y-%m})"
    raise UsageError(
        f"ticker {ticker!r} is not in the bundled snapshot; it holds {', '.join(tickers())}"
    )
