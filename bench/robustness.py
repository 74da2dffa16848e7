"""Benchmark: what the verdict's robustness costs (model ladder, region fit, time, drift).

Run: ``uv run python bench/robustness.py``. All on the bundled snapshot (real data, no
network). For 20 funds (``smart-beta-20``) and 500 funds (the 20 real funds' monthly excess
returns, each repeated 25 times with independent noise of 1% a month, labels cycled), the
pure ``build_analysis`` step is timed, best of 3, with each robustness part switched on in
turn; every line prints its ratio to the bare analysis (static + rolling regressions and the
verdicts) measured in the same process. The last line is ``fx.analyze`` of the 20 funds with
everything on (factor files parsed, snapshot returns built), the README's main job minus the
report.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd

import factorxray as fx
from factorxray.analysis import build_analysis
from factorxray.data.cache import Cache
from factorxray.judge.robustness import DEFAULT_MODEL_LADDER
from factorxray.pipeline import FactorLoader, Hooks
from factorxray.universe import Fund, Universe

REPEATS = 3


def best(func: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def inputs(cache: Cache) -> tuple[pd.DataFrame, dict, dict]:
    loader = FactorLoader(None, None, cache, False, True, Hooks())
    try:
        frames, _, _ = loader.main("xray7", ["us"])
        ladder = loader.ladder(list(DEFAULT_MODEL_LADDER), frames)
        fit = loader.at_hand("ff5")
    finally:
        loader.close()
    return frames["us"], ladder, fit


def wide_universe(base: fx.Analysis, copies: int) -> tuple[Universe, pd.DataFrame]:
    rng = np.random.default_rng(0)
    funds, columns = [], {}
    for k in range(copies):
        for fund in base.universe:
            ticker = f"{fund.ticker}{k:02d}"
            funds.append(Fund(ticker, category=fund.category, tilts=list(fund.tilts) or "none"))
            series = base.returns[fund.ticker]
            noise = rng.normal(0.0, 0.01, len(series))
            columns[ticker] = series + np.where(series.notna(), noise, np.nan)
    return Universe(f"wide-{copies}", funds), pd.DataFrame(columns)


def measure(label: str, universe: Universe, returns, frame, ladder, fit) -> None:
    def run(**kwargs):
        return lambda: build_analysis(universe, frame, returns, **kwargs)

    bare = best(run(drift=False))
    parts = {
        "+ model ladder (6 models)": run(drift=False, ladder=ladder),
        "+ region fit (8 regions)": run(drift=False, fit_factors=fit),
        "+ drift test (sup-Wald)": run(drift=True),
        "everything": run(drift=True, ladder=ladder, fit_factors=fit),
    }
    print(f"{label}: bare analysis (regressions, rolling, verdicts) {bare * 1000:7.0f} ms")
    for name, func in parts.items():
        seconds = best(func)
        print(f"  {name:<28} {seconds * 1000:7.0f} ms   {seconds / bare:5.2f}x bare")


def main() -> None:
    print(
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; best of {REPEATS}"
    )
    cache = Cache(tempfile.mkdtemp(prefix="fx-bench-robust-"))
    base = fx.analyze(preset="smart-beta-20", offline=True, cache=cache, models=None, drift=False)
    frame, ladder, fit = inputs(cache)
    measure("20 funds", base.universe, base.returns, frame, ladder, fit)
    universe, returns = wide_universe(base, 25)
    measure(f"{len(universe)} funds", universe, returns, frame, ladder, fit)
    plain = best(
        lambda: fx.analyze(
            preset="smart-beta-20",
            offline=True,
            cache=cache,
            models=None,
            drift=False,
            region_fit=False,
        )
    )
    full = best(lambda: fx.analyze(preset="smart-beta-20", offline=True, cache=cache))
    print(
        f"fx.analyze, 20 funds, snapshot: {full * 1000:.0f} ms with every check, "
        f"{plain * 1000:.0f} ms without ({full / plain:.2f}x)"
    )


if __name__ == "__main__":
    main()
