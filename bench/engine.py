"""Benchmark of the regression engine against statsmodels, on seeded synthetic data.

Run ``uv run python bench/engine.py`` (add ``--quick`` for a smaller, faster run). Prints:

(a) static regressions of 500 funds x 420 months x 7 factors (ragged starts): ``regress``
    vs a loop of ``statsmodels`` OLS fits, for nonrobust and HAC covariances, both on
    pre-sliced numpy arrays (statsmodels' fastest use, "sm arrays") and on pandas objects
    (``dropna`` and ``add_constant`` per fund, as a user would write it and as our parity
    tests do, "sm pandas"), with the speed-up against each;
(b) rolling 36-month windows of the same funds vs ``RollingOLS`` per fund;
(c) 10,000 funds x 5,000 daily observations x 7 factors (HAC): wall time and peak memory,
    measured in a fresh subprocess (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

N_FACTORS = 7


def synthetic_panel(
    n_funds: int, n_time: int, *, seed: int, freq: str = "M", min_history: int = 60
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded fund excess returns with ragged starts, and factor returns with an RF column.

    The return matrix is filled in column blocks into a Fortran-ordered array so that the
    DataFrame wraps it without a copy (the 10,000 x 5,000 case is 400 MB).
    """
    rng = np.random.default_rng(seed)
    if freq == "M":
        index = pd.period_range("1990-01", periods=n_time, freq="M")
        scale = 0.04
    else:
        index = pd.bdate_range("2000-01-03", periods=n_time)
        scale = 0.01
    factors = rng.normal(0.0, scale, size=(n_time, N_FACTORS))
    returns = np.empty((n_time, n_funds), order="F")
    starts = rng.integers(0, n_time - min_history, n_funds)
    block = 500
    for first in range(0, n_funds, block):
        cols = slice(first, min(first + block, n_funds))
        width = cols.stop - cols.start
        betas = rng.normal(0.3, 0.4, size=(N_FACTORS, width))
        noise = rng.normal(0.0, scale / 2, size=(n_time, width))
        returns[:, cols] = 0.0005 + factors @ betas + noise
    rows = np.arange(n_time)[:, None]
    returns[rows < starts[None, :]] = np.nan
    names = [f"F{k}" for k in range(N_FACTORS)]
    factor_frame = pd.DataFrame(factors, index=index, columns=names).assign(RF=0.0001)
    fund_frame = pd.DataFrame(
        returns, index=index, columns=[f"fund{j}" for j in range(n_funds)], copy=False
    )
    return fund_frame, factor_frame


def best_time(func: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls and the last result (the machine may be shared)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def static_benchmark(n_funds: int, n_time: int) -> list[dict[str, Any]]:
    """(a) ``regress`` vs a loop of statsmodels OLS fits."""
    import statsmodels.api as sm

    from factorxray.engine import regress

    returns, factors = synthetic_panel(n_funds, n_time, seed=1)
    names = [c for c in factors.columns if c != "RF"]
    exog = sm.add_constant(factors[names].to_numpy())
    values = returns.to_numpy()
    rows = []
    for cov, sm_cov in (("nonrobust", "nonrobust"), ("hac", "HAC")):
        ours_time, res = best_time(lambda cov=cov: regress(returns, factors, cov=cov), repeat=15)
        lags = res.hac_lags.to_numpy()

        def statsmodels_loop(sm_cov=sm_cov, lags=lags):
            fits = []
            for j in range(n_funds):
                keep = ~np.isnan(values[:, j])
                kwds = {"maxlags": int(lags[j])} if sm_cov == "HAC" else None
                fit = sm.OLS(values[keep, j], exog[keep]).fit(cov_type=sm_cov, cov_kwds=kwds)
                fits.append((fit.params, fit.bse, fit.tvalues))
            return fits

        def statsmodels_pandas_loop(sm_cov=sm_cov, lags=lags):
            fits = []
            for j, fund in enumerate(returns.columns):
                data = pd.concat([returns[fund], factors[names]], axis=1).dropna()
                kwds = {"maxlags": int(lags[j])} if sm_cov == "HAC" else None
                fit = sm.OLS(data[fund], sm.add_constant(data[names])).fit(
                    cov_type=sm_cov, cov_kwds=kwds
                )
                fits.append((fit.params, fit.bse, fit.tvalues))
            return fits

        sm_time, fits = best_time(statsmodels_loop, repeat=3)
        pandas_time, pandas_fits = best_time(statsmodels_pandas_loop, repeat=2)
        diffs = _max_diffs(res, fits)
        pandas_diffs = _max_diffs(res, pandas_fits)
        rows.append(
            {
                "case": f"static {cov}",
                "ours_s": ours_time,
                "statsmodels_s": sm_time,
                "statsmodels_pandas_s": pandas_time,
                **{key: max(value, pandas_diffs[key]) for key, value in diffs.items()},
            }
        )
    return rows


def rolling_benchmark(n_funds: int, n_time: int, window: int = 36) -> dict[str, Any]:
    """(b) ``rolling_regress`` vs ``RollingOLS`` per fund (nonrobust)."""
    import statsmodels.api as sm
    from statsmodels.regression.rolling import RollingOLS

    from factorxray.engine import rolling_regress

    returns, factors = synthetic_panel(n_funds, n_time, seed=2)
    names = [c for c in factors.columns if c != "RF"]
    exog = sm.add_constant(factors[names].to_numpy())
    values = returns.to_numpy()

    def ours():
        res = rolling_regress(returns, factors, window=window)
        return res, res.params, res.bse, res.tvalues

    ours_time, (_, params, bse, tvalues) = best_time(ours, repeat=10)

    def statsmodels_loop():
        fits = []
        for j in range(n_funds):
            fit = RollingOLS(values[:, j], exog, window=window, min_nobs=window).fit()
            fits.append((fit.params, fit.bse, fit.tvalues))
        return fits

    sm_time, fits = best_time(statsmodels_loop, repeat=2)
    ours_arrays = (params.to_numpy(), bse.to_numpy(), tvalues.to_numpy())
    theirs = [np.concatenate([f[k][~np.isnan(f[0]).any(axis=1)] for f in fits]) for k in range(3)]
    diffs = {
        f"max_abs_diff_{name}": float(np.max(np.abs(a - b)))
        for name, a, b in zip(("params", "bse", "t"), ours_arrays, theirs, strict=True)
    }
    return {
        "case": f"rolling {window} nonrobust",
        "windows": len(params),
        "ours_s": ours_time,
        "statsmodels_s": sm_time,
        **diffs,
    }


def big_panel_child(n_funds: int, n_time: int, cov: str) -> None:
    """(c) Runs in a subprocess: build the daily panel, then time ``regress``; prints JSON."""
    from factorxray.engine import regress

    returns, factors = synthetic_panel(n_funds, n_time, seed=3, freq="D", min_history=500)
    rss_data = _max_rss_mb()
    start = time.perf_counter()
    res = regress(returns, factors, cov=cov)
    elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "funds": n_funds,
                "obs": n_time,
                "cov": cov,
                "seconds": elapsed,
                "peak_rss_mb": _max_rss_mb(),
                "rss_after_data_mb": rss_data,
                "input_mb": returns.memory_usage(index=False).sum() / 2**20,
                "fitted": len(res.funds),
            }
        )
    )


def big_panel_benchmark(n_funds: int, n_time: int, cov: str) -> dict[str, Any]:
    """(c) Launch :func:`big_panel_child` in a fresh interpreter so ru_maxrss is its own."""
    command = [sys.executable, __file__, "--child", str(n_funds), str(n_time), cov]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _max_diffs(res, fits) -> dict[str, float]:
    ours = (res.params.to_numpy(), res.bse.to_numpy(), res.tvalues.to_numpy())
    out = {}
    for k, name in enumerate(("params", "bse", "t")):
        theirs = np.vstack([np.asarray(f[k]) for f in fits])
        out[f"max_abs_diff_{name}"] = float(np.max(np.abs(ours[k] - theirs)))
    return out


def _print_comparison(row: dict[str, Any]) -> None:
    """One line: our time, each statsmodels loop with its ratio, the largest differences."""
    ours = row["ours_s"]
    theirs = [("statsmodels", row["statsmodels_s"])]
    if "statsmodels_pandas_s" in row:
        theirs = [("sm arrays", row["statsmodels_s"]), ("sm pandas", row["statsmodels_pandas_s"])]
    versus = "   ".join(
        f"{label} {seconds * 1000:7.1f} ms = {seconds / ours:6.1f}x" for label, seconds in theirs
    )
    print(
        f"{row['case']:<20} ours {ours * 1000:6.1f} ms   {versus}   max |diff| "
        f"params {row['max_abs_diff_params']:.1e}  bse {row['max_abs_diff_bse']:.1e}  "
        f"t {row['max_abs_diff_t']:.1e}"
    )


def main() -> None:
    """Parse options, run the three benchmarks, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, runs in seconds")
    parser.add_argument("--child", nargs=3, metavar=("FUNDS", "OBS", "COV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        big_panel_child(int(args.child[0]), int(args.child[1]), args.child[2])
        return
    n_funds = 100 if args.quick else 500
    big_funds = 1_000 if args.quick else 10_000
    print(f"numpy {np.__version__}, pandas {pd.__version__}; {N_FACTORS} factors + alpha")
    print(f"(a) static: {n_funds} funds x 420 months, ragged starts")
    for row in static_benchmark(n_funds, 420):
        _print_comparison(row)
    print(f"(b) rolling: {n_funds} funds x 420 months, 36-month windows")
    _print_comparison(rolling_benchmark(n_funds, 420))
    print(f"(c) big daily panel: {big_funds} funds x 5000 days, subprocess")
    for cov in ("nonrobust", "hac"):
        big = big_panel_benchmark(big_funds, 5_000, cov)
        print(
            f"{cov:<10} {big['seconds']:6.1f} s   peak RSS {big['peak_rss_mb']:7.0f} MB "
            f"(after building the {big['input_mb']:.0f} MB input: {big['rss_after_data_mb']:.0f} MB)"
            f"   fitted {big['fitted']} funds"
        )


if __name__ == "__main__":
    main()
