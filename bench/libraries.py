"""Benchmark: parsing each new factor library, and a mixed model from a warm cache.

Run: ``uv run python bench/libraries.py``. Prints wall times (best and median of N) measured in
one process:

- the parse of each new source's real file (tests/data/other-factors, the reversal zip): the
  q5 monthly CSV, the liquidity text file, each AQR workbook (every data sheet, with
  python-calamine), Ken French's short-term reversal zip;
- ``load_factors("ff6bq")`` (FF5 + MOM from Ken French, BAB and QMJ from AQR's workbooks) and
  ``load_factor_set("Mkt-RF,SMB,HML,QMJ,BAB,ROE,LIQ")`` from a warm cache with every
  in-process parse cache cleared each time (what a new CLI process pays), target < 100 ms,
  each as a ratio to ``load_factors("ff5")`` measured the same way in the same run.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._kenfrench_server import KF_DIR, OTHER_DIR, all_factor_server, library_env  # noqa: E402

from factorxray.data import kenfrench  # noqa: E402
from factorxray.data.cache import Cache  # noqa: E402
from factorxray.factors import load_factors  # noqa: E402
from factorxray.factors.catalog import load_factor_set  # noqa: E402
from factorxray.factors.libraries import aqr, liquidity, q  # noqa: E402


def best_of(func: Callable[[], object], repeat: int = 15) -> tuple[float, float]:
    """(best, median) wall time in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def clear_parse_caches() -> None:
    """Forget every parsed file held in memory (a new process starts without them)."""
    for module in (q, aqr, liquidity):
        module._parse_cached.cache_clear()
    kenfrench._READ.clear()  # (a new process still reads Ken French files' kept parsed forms)


def main() -> None:
    q_bytes = (OTHER_DIR / "q5_factors_monthly_2023.csv").read_bytes()
    liq_bytes = (OTHER_DIR / "liq_data_1962_2023.txt").read_bytes()
    st_zip = (KF_DIR / "F-F_ST_Reversal_Factor_CSV.zip").read_bytes()
    parses: list[tuple[str, Callable[[], object], int]] = [
        ("q5_factors_monthly_2023.csv (35 KB)", lambda: q.parse_q_csv(q_bytes, "q5_2023"), 15),
        ("liq_data_1962_2023.txt (35 KB)", lambda: liquidity.parse_liquidity(liq_bytes, "liq"), 15),
        ("F-F_ST_Reversal_Factor_CSV.zip", lambda: kenfrench.parse_french_zip(st_zip, "st"), 15),
    ]
    from tests._kenfrench_server import LIBRARY_FILES

    for dataset, (stem, sheet, _) in aqr.DATASETS.items():
        data = (OTHER_DIR / LIBRARY_FILES[f"/aqr/{stem}.xlsx"]).read_bytes()
        parses.append(
            (
                f"AQR {dataset} workbook ({len(data) / 1e6:.1f} MB, every data sheet)",
                lambda data=data, stem=stem, sheet=sheet: aqr.parse_aqr_workbook(data, stem, sheet),
                3,
            )
        )
    print("parse time of each new source (best of N):")
    for label, func, repeat in parses:
        best, median = best_of(func, repeat)
        print(f"  {label:<58} {best * 1000:8.1f} ms best, {median * 1000:.1f} ms median")

    server = all_factor_server()
    os.environ.update(library_env(server.url))
    try:
        cache = Cache(tempfile.mkdtemp(prefix="fx-bench-libraries-"))
        started = time.perf_counter()
        load_factors("ff6bq", cache=cache)
        load_factor_set("Mkt-RF,SMB,HML,QMJ,BAB,ROE,LIQ", cache=cache)
        cold = time.perf_counter() - started
        load_factors("ff5", cache=cache)

        def warm(call: Callable[[], object]) -> Callable[[], object]:
            def run() -> object:
                clear_parse_caches()
                return call()

            return run

        ff5 = best_of(warm(lambda: load_factors("ff5", cache=cache)))
        ff6bq = best_of(warm(lambda: load_factors("ff6bq", cache=cache)))
        mix = best_of(warm(lambda: load_factor_set("Mkt-RF,SMB,HML,QMJ,BAB,ROE,LIQ", cache=cache)))
    finally:
        server.stop()
    print(
        f"\ncold (loopback download + parse) of ff6bq and the 7-factor mix: {cold * 1000:7.1f} ms"
    )
    print("warm cache, fresh parse (best, median), ratio to ff5 (best):")
    for label, (best, median) in (
        ('load_factors("ff5")', ff5),
        ('load_factors("ff6bq")  FF5+MOM+BAB+QMJ', ff6bq),
        ("load_factor_set(Mkt-RF,SMB,HML,QMJ,BAB,ROE,LIQ)", mix),
    ):
        print(
            f"  {label:<48} {best * 1000:7.1f} ms, {median * 1000:6.1f} ms median, "
            f"{best / ff5[0]:.2f}x ff5  (target < 100 ms)"
        )


if __name__ == "__main__":
    main()
