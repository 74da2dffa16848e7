"""Benchmark: factor loading from a warm cache, and parsing the largest Ken French file.

Run: ``uv run python bench/factors.py``. Prints wall times (best of N) and ratios against a
reference measured in the same process:

- ``load_factors("xray7")`` from a warm cache in a fresh state (the in-process memo of read
  datasets cleared each time: what a new CLI process pays), target < 100 ms: reading the
  kept parsed forms (``kenfrench-parsed``), and parsing the zips (forms removed each time,
  as on a cache written by an older version);
- parsing every section of ``25_Portfolios_ME_VAR_5x5`` (1.9 MB, 11 sections) against
  ``pandas.read_csv`` reading only its first section with hand-counted ``skiprows``/``nrows``
  (the fixed-offset way we refuse to use).
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._kenfrench_server import KF_DIR, kenfrench_server  # noqa: E402

from factorxray.data import kenfrench  # noqa: E402
from factorxray.data.cache import Cache  # noqa: E402
from factorxray.factors import load_factors  # noqa: E402


def best_of(func: Callable[[], object], repeat: int = 15) -> tuple[float, float]:
    """(best, median) wall time in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    server = kenfrench_server()
    try:
        cache = Cache(tempfile.mkdtemp(prefix="fx-bench-"))
        started = time.perf_counter()
        load_factors("xray7", cache=cache, base_url=server.url)
        cold = time.perf_counter() - started

        def warm() -> None:
            kenfrench._READ.clear()
            load_factors("xray7", cache=cache, base_url=server.url)

        def warm_parsing() -> None:
            cache.clear(kenfrench.PARSED_NAMESPACE)
            warm()

        warm_best, warm_median = best_of(warm)
        parse_best, parse_median = best_of(warm_parsing)
    finally:
        server.stop()
    print(f"load_factors('xray7') cold (loopback download + parse): {cold * 1000:7.1f} ms")
    print(
        f"load_factors('xray7') warm cache, kept parsed forms:    {warm_best * 1000:7.1f} ms best, "
        f"{warm_median * 1000:.1f} ms median  (target < 100 ms)"
    )
    print(
        f"load_factors('xray7') warm cache, zips parsed + forms: {parse_best * 1000:7.1f} ms best, "
        f"{parse_median * 1000:.1f} ms median  (forms: {parse_best / warm_best:.1f}x faster)"
    )

    zipped = (KF_DIR / "25_Portfolios_ME_VAR_5x5_CSV.zip").read_bytes()
    text = kenfrench.decode_text(kenfrench.read_zip_member(zipped, "25"))
    ours_best, _ = best_of(lambda: kenfrench.parse_french_csv(text, "25"))
    reference_best, _ = best_of(
        lambda: pd.read_csv(io.StringIO(text), skiprows=19, nrows=752, index_col=0)
    )
    sections = len(kenfrench.parse_french_csv(text, "25").sections)
    print(
        f"parse 25_Portfolios_ME_VAR_5x5 ({len(text) / 1e6:.1f} MB, all {sections} sections): "
        f"{ours_best * 1000:6.1f} ms"
    )
    print(
        f"pandas.read_csv, first section only, fixed skiprows:          {reference_best * 1000:6.1f} ms"
    )
    print(
        f"ratio ours(all sections) / read_csv(one section): {ours_best / reference_best:.2f}x; "
        f"per section: {ours_best / sections / reference_best:.2f}x"
    )


if __name__ == "__main__":
    main()
