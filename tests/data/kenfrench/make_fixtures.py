"""Zip the real Ken French CSVs of ../shared/data/kenfrench as the library serves them.

Run from the repository root: ``uv run python tests/data/kenfrench/make_fixtures.py``.
The zips are deterministic (fixed timestamps), one CSV member each, named as in the
library's archives. The CSV bytes are copied unchanged.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
SHARED = HERE.parents[3] / "shared" / "data" / "kenfrench"
#: Saved CSV name -> in-zip member name where the library's differs.
MEMBER_NAMES = {"Developed_Mom_Factor.csv": "Developed_MOM_Factor.csv"}


def main(source: Path = SHARED) -> None:
    """Write ``{name}_CSV.zip`` beside this script for each CSV in ``source``."""
    for csv_path in sorted(source.glob("*.csv")):
        member = MEMBER_NAMES.get(csv_path.name, csv_path.name)
        target = HERE / f"{csv_path.stem}_CSV.zip"
        info = zipfile.ZipInfo(member, date_time=(2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr(info, csv_path.read_bytes())
        print(f"{target.name}: {target.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED)
