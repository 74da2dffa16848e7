"""Build the bundled offline snapshot (src/factorxray/snapshot/data) from ../shared/data.

Run from the repository root: ``uv run python scripts/make_snapshot.py``.

- Every Ken French file that a monthly model (``capm``, ``ff3``, ``carhart``, ``ff5``,
  ``ff6``, ``xray7``, ``article7``) needs in any region, by the dataset names that
  :func:`factorxray.factors.model_sources` asks for (so the two cannot drift apart): the US
  and developed files from ``kenfrench/``, the other regions from ``kenfrench-regions/``.
  Each CSV is zipped alone as the library serves it (bytes unchanged, fixed timestamps, so
  running this again gives the same bytes). Momentum zips hold ``<Region>_MOM_Factor.csv``,
  the member name Ken French uses.
- The daily adjusted closes of the 20 US ETFs (``etf-prices/``, complete months to 2026-06)
  and of the 13 international ETFs (``etf-prices-intl/adj_close/``, complete months to
  2026-07: their last row, 2026-08-03, is an intraday partial row) reduced to the last close
  of each complete month, one long file per set (the monthly total returns are ratios of
  consecutive month-end closes, so nothing is lost for monthly work). The text of each close
  is copied unchanged from the source file.
"""

from __future__ import annotations

import csv
import hashlib
import re
import zipfile
from pathlib import Path

from factorxray.errors import UsageError
from factorxray.factors import MODELS, REGIONS, model_sources

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TARGET = ROOT / "src" / "factorxray" / "snapshot" / "data"
#: Where the source CSVs are, searched in this order.
KENFRENCH_FOLDERS = (SHARED / "kenfrench", SHARED / "kenfrench-regions")
#: Price sets: (output file, folder of daily ``Date,Close`` files, last complete month).
PRICE_SETS = (
    # The US files end 2026-07-14, so July 2026 is partial.
    ("month_end_adjusted_closes.csv", SHARED / "etf-prices", "2026-06"),
    # The international files end with a partial (intraday) row on 2026-08-03.
    (
        "month_end_adjusted_closes_international.csv",
        SHARED / "etf-prices-intl" / "adj_close",
        "2026-07",
    ),
)
_MOMENTUM = re.compile(r"_mom_factor$", re.IGNORECASE)


def snapshot_datasets() -> list[str]:
    """Dataset names of every monthly model in every region (VOL models: US only)."""
    names: set[str] = set()
    for model in MODELS:
        for region in REGIONS:
            try:
                sources = model_sources(model, region, "monthly")
            except UsageError:  # VOL outside the US
                continue
            names.update(source.dataset for source in sources)
    return sorted(names)


def source_csv(dataset: str) -> Path:
    """The shared CSV of a dataset (file names compared without case: ``Mom``/``MOM``)."""
    for folder in KENFRENCH_FOLDERS:
        for path in sorted(folder.glob("*.csv")):
            if path.stem.lower() == dataset.lower():
                return path
    raise SystemExit(f"no CSV for dataset {dataset} in {', '.join(map(str, KENFRENCH_FOLDERS))}")


def member_name(dataset: str) -> str:
    """The CSV name inside Ken French's zip: ``<Region>_MOM_Factor.csv`` for regional momentum."""
    if dataset.startswith("F-F_"):
        return f"{dataset}.csv"
    return _MOMENTUM.sub("_MOM_Factor", dataset) + ".csv"


def zip_kenfrench() -> list[str]:
    """Zip each Ken French CSV alone, deterministic timestamps; drop zips no model needs."""
    folder = TARGET / "kenfrench"
    folder.mkdir(parents=True, exist_ok=True)
    names = snapshot_datasets()
    for stale in folder.glob("*_CSV.zip"):
        if stale.name.removesuffix("_CSV.zip") not in names:
            stale.unlink()
    for name in names:
        data = source_csv(name).read_bytes()
        info = zipfile.ZipInfo(member_name(name), date_time=(2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(folder / f"{name}_CSV.zip", "w") as archive:
            archive.writestr(info, data)
        print(f"{name}: {source_csv(name).name} sha256 {hashlib.sha256(data).hexdigest()}")
    return names


def month_end_closes(output: str, source: Path, last_month: str) -> None:
    """Write ``prices/<output>``: date,ticker,adj_close (long), complete months only."""
    rows: list[tuple[str, str, str]] = []
    paths = sorted(source.glob("*.csv"))
    if not paths:
        raise SystemExit(f"no price files in {source}")
    for path in paths:
        last_by_month: dict[str, tuple[str, str]] = {}
        final_date = ""
        with path.open(newline="") as handle:
            for record in csv.DictReader(handle):
                final_date = record["Date"]
                month = record["Date"][:7]
                if month <= last_month:
                    last_by_month[month] = (record["Date"], record["Close"])
        if final_date[:7] <= last_month:
            raise SystemExit(f"{path} ends {final_date}: {last_month} may not be complete")
        rows.extend((date, path.stem, close) for date, close in last_by_month.values())
    rows.sort()
    target = TARGET / "prices" / output
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["date", "ticker", "adj_close"])
        writer.writerows(rows)


if __name__ == "__main__":
    zip_kenfrench()
    for output, source, last_month in PRICE_SETS:
        month_end_closes(output, source, last_month)
    total = 0
    for path in sorted(TARGET.rglob("*.*")):
        total += path.stat().st_size
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")
    print(f"total: {total} bytes")
