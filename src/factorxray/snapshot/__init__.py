"""A small, vintage-pinned snapshot of real data shipped with the package, for ``--offline``.

It holds the Ken French files that the ``capm``, ``ff3``, ``carhart``, ``ff5``, ``ff6``,
``xray7`` and ``article7`` monthly models need for the US and developed regions, and the
month-end dividend-adjusted closes of the 20 ETFs of the ``smart-beta-20`` preset (complete
months to 2026-06). See ``data/PROVENANCE.md`` for where every byte comes from.

With ``--offline``, factorxray reads the cache first and falls back to this snapshot, so a
fresh machine with no network can run ``factorxray analyze --preset smart-beta-20 --offline``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import pandas as pd

#: What the price snapshot is, for report headers.
PRICE_SOURCE_LABEL = "bundled snapshot (month-end adjusted closes to 2026-06)"


def snapshot_dir() -> Path:
    """The folder of the bundled snapshot."""
    return Path(str(resources.files("factorxray.snapshot") / "data"))


def dataset_zip(name: str) -> bytes | None:
    """The bundled ``{name}_CSV.zip`` bytes, or None when the snapshot does not hold it."""
    path = snapshot_dir() / "kenfrench" / f"{name}_CSV.zip"
    return path.read_bytes() if path.is_file() else None


def datasets() -> list[str]:
    """Names of the Ken French datasets in the snapshot."""
    return sorted(
        p.name.removesuffix("_CSV.zip") for p in (snapshot_dir() / "kenfrench").glob("*_CSV.zip")
    )


def prices_file() -> Path:
    """The long CSV (``date,ticker,adj_close``) of month-end adjusted closes."""
    return snapshot_dir() / "prices" / "month_end_adjusted_closes.csv"


@cache
def _price_table() -> pd.DataFrame:
    long = pd.read_csv(prices_file(), parse_dates=["date"])
    return long.pivot(index="date", columns="ticker", values="adj_close").sort_index()


def tickers() -> list[str]:
    """Tickers with prices in the snapshot."""
    return list(_price_table().columns)


def month_end_prices(wanted: list[str]) -> pd.DataFrame:
    """Month-end adjusted closes of the ``wanted`` tickers that the snapshot holds.

    Returns
    -------
    DataFrame
        DatetimeIndex of month-end trading days, one column per held ticker (NaN before a
        fund's first month), in the order asked.
    """
    table = _price_table()
    held = [ticker for ticker in wanted if ticker in table.columns]
    return table[held].copy()
