"""Build the bundled offline snapshot (src/factorxray/snapshot/data) from ../shared/data.

Run from the repository root: ``uv run python scripts/make_snapshot.py``.

- Ken French files that ``xray7``, ``ff6``, ``ff3``/``capm``/``carhart`` and ``article7`` need
  for the US and developed regions, zipped as the library serves them (CSV bytes unchanged).
- The 20 ETFs' daily adjusted closes reduced to the last close of each complete month
  (the monthly total returns are ratios of consecutive month-end closes, so nothing is lost
  for monthly work). The text of each close is copied unchanged from the source file.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TARGET = ROOT / "src" / "factorxray" / "snapshot" / "data"
KENFRENCH = (
    "F-F_Research_Data_Factors",
    "F-F_Research_Data_5_Factors_2x3",
    "F-F_Momentum_Factor",
    "25_Portfolios_ME_VAR_5x5",
    "Developed_3_Factors",
    "Developed_5_Factors",
    "Developed_Mom_Factor",
)
MEMBER_NAMES = {"Developed_Mom_Factor": "Developed_MOM_Factor.csv"}
#: The last complete month of the price files (they end 2026-07-14).
LAST_MONTH = "2026-06"


def zip_kenfrench() -> None:
    """Zip each Ken French CSV alone, deterministic timestamps."""
    folder = TARGET / "kenfrench"
    folder.mkdir(parents=True, exist_ok=True)
    for name in KENFRENCH:
        info = zipfile.ZipInfo(
            MEMBER_NAMES.get(name, f"{name}.csv"), date_time=(2026, 1, 1, 0, 0, 0)
        )
        info.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(folder / f"{name}_CSV.zip", "w") as archive:
            archive.writestr(info, (SHARED / "kenfrench" / f"{name}.csv").read_bytes())


def month_end_closes() -> None:
    """Write prices/month_end_adjusted_closes.csv: date,ticker,adj_close (long), complete months."""
    rows: list[tuple[str, str, str]] = []
    for path in sorted((SHARED / "etf-prices").glob("*.csv")):
        last_by_month: dict[str, tuple[str, str]] = {}
        with path.open(newline="") as handle:
            for record in csv.DictReader(handle):
                month = record["Date"][:7]
                if month <= LAST_MONTH:
                    last_by_month[month] = (record["Date"], record["Close"])
        rows.extend((date, path.stem, close) for date, close in last_by_month.values())
    rows.sort()
    target = TARGET / "prices" / "month_end_adjusted_closes.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["date", "ticker", "adj_close"])
        writer.writerows(rows)


if __name__ == "__main__":
    zip_kenfrench()
    month_end_closes()
    for path in sorted(TARGET.rglob("*.*")):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")
