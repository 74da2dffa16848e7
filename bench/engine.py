"""Benchmark of the regression engine against statsmodels, on seeded synthetic data.

Run ``uv run python bench/engine.py`` (add ``--quick`` for a smaller, faster run). Every case
runs twice: once as the machine is ("idle": whatever else is running is measured and printed
first) and once beside a busy-loop process that this script starts (one core kept busy).
Ratios are always between figures measured in the same run and the same condition:

(a) static regressions of 500 funds x 420 months x 7 factors (ragged starts): ``regress``
    vs a loop of ``statsmodels`` OLS fits on pre-sliced numpy arrays (statsmodels' fastest
    use, "sm arrays") and on pandas objects (``dropna`` and ``add_constant`` per fund, as a
    user would write it and as our parity tests do, "sm pandas"), and vs a lean one-shot
    version of the engine's own method ("lean": the same products for all funds at once
    from bare arrays, no input checks, no chunks, no result object);
(b) rolling 36-month windows of the same funds vs ``RollingOLS`` per fund: complete windows,
    and the same funds with 2% of their months missing (windows with up to 6 missing rows
    estimated, ``RollingOLS(missing="drop", min_nobs=30)``), with the gaps/complete ratio;
(c) 10,000 funds x 5,000 daily observations x 7 factors (nonrobust and HAC): wall time and
    peak memory, each in a fresh subprocess (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N_FACTORS = 7
BUSY_LOOP = "while True: pass"


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


def with_gaps(returns: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """The same funds with a random ``share`` of their observations missing."""
    rng = np.random.default_rng(seed)
    return returns.mask(rng.random(returns.shape) < share)


# ----------------------------------------------------------------------------- conditions


def _cpu_ticks() -> tuple[int, int, dict[int, tuple[int, str]]]:
    """(busy ticks, total ticks) of the machine and the CPU ticks of every process."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]
    processes: dict[int, tuple[int, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                stat = handle.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            command = " ".join(command.split())
        except OSError:
            continue
        after_name = stat.rsplit(")", 1)[1].split()
        processes[int(entry.name)] = (int(after_name[11]) + int(after_name[12]), command)
    return sum(fields) - idle, sum(fields), processes


def machine_activity(seconds: float = 1.0) -> str:
    """What else keeps the CPUs busy: share of all CPUs over ``seconds``, and the top users.

    Only this benchmark's own process is left out (its subprocesses are listed: the busy
    loop shows up in the loaded condition).
    """
    if not os.path.exists("/proc/stat"):
        return f"load average {os.getloadavg()[0]:.2f}"
    busy0, total0, before = _cpu_ticks()
    time.sleep(seconds)
    busy1, total1, after = _cpu_ticks()
    share = (busy1 - busy0) / max(1, total1 - total0)
    cpus = os.cpu_count() or 1
    tick = os.sysconf("SC_CLK_TCK")
    users = []
    for pid, (ticks, command) in after.items():
        if pid == os.getpid() or pid not in before:
            continue
        used = (ticks - before[pid][0]) / tick / seconds
        if used >= 0.05:
            users.append((used, command or f"pid {pid}"))
    users.sort(reverse=True)
    top = "; ".join(f"{used:.0%} {command[:60]}" for used, command in users[:4]) or "none"
    return (
        f"other work used {share * cpus:.2f} of {cpus} CPUs over {seconds:.0f} s "
        f"(load average {os.getloadavg()[0]:.2f}); top: {top}"
    )


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """A pure-Python busy loop in a child process for the duration of the block."""
    loop = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        time.sleep(0.2)  # let it start spinning
        yield
    finally:
        loop.terminate()
        loop.wait()


CONDITIONS: list[tuple[str, Callable[[], contextlib.AbstractContextManager]]] = [
    ("idle", contextlib.nullcontext),
    ("busy core", busy_core),
]


def best_time(func: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls and the last result (the machine may be shared)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def interleaved_best(funcs: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Best wall time of each function, calls interleaved so that all see the same load."""
    best = [float("inf")] * len(funcs)
    for _ in range(repeat):
        for k, func in enumerate(funcs):
            start = time.perf_counter()
            func()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


# ----------------------------------------------------------------------------- (a) static


def lean_regress(values: np.ndarray, factors: np.ndarray, hac: bool) -> tuple[np.ndarray, ...]:
    """The engine's method in one shot: masked products for all funds at once, bare arrays.

    ``values`` is ``(T, N)`` with NaN where a fund has no data, ``factors`` ``(T, K)``.
    Returns params and covariances (nonrobust, or Newey-West with each fund's own lag).
    """
    y = values.T
    n_time = factors.shape[0]
    design = np.empty((n_time, factors.shape[1] + 1))
    design[:, 0] = 1.0
    design[:, 1:] = factors
    n_params = design.shape[1]
    usable = ~np.isnan(y)
    weight = usable.astype(np.float64)
    y0 = np.where(usable, y, 0.0)
    rows, cols = np.triu_indices(n_params)
    packed = design[:, rows] * design[:, cols]
    xtx = np.empty((y.shape[0], n_params, n_params))
    xtx_packed = weight @ packed
    xtx[:, rows, cols] = xtx_packed
    xtx[:, cols, rows] = xtx_packed
    inverse = np.linalg.inv(xtx)
    params = np.matmul(inverse, (y0 @ design)[:, :, None])[:, :, 0]
    resid = (y0 - params @ design.T) * weight
    nobs = weight.sum(axis=1)
    ssr = np.einsum("nt,nt->n", resid, resid)
    centred = (y0 - (y0.sum(axis=1) / nobs)[:, None]) * weight
    np.einsum("nt,nt->n", centred, centred)  # TSS, as the engine computes it
    if not hac:
        return params, (ssr / (nobs - n_params))[:, None, None] * inverse
    lags = np.floor(4 * (nobs / 100) ** (2 / 9)).astype(int)
    meat = (resid * resid) @ packed
    for lag in range(1, int(lags.max()) + 1):
        weights = np.clip(1 - lag / (lags + 1), 0, None)
        later, earlier = design[lag:], design[:-lag]
        lag_packed = later[:, rows] * earlier[:, cols] + earlier[:, rows] * later[:, cols]
        meat += weights[:, None] * ((resid[:, lag:] * resid[:, :-lag]) @ lag_packed)
    full = np.empty_like(xtx)
    full[:, rows, cols] = meat
    full[:, cols, rows] = meat
    return params, inverse @ full @ inverse


def static_benchmark(n_funds: int, n_time: int) -> list[dict[str, Any]]:
    """(a) ``regress`` vs the lean version of its method and loops of statsmodels fits."""
    import statsmodels.api as sm

    from factorxray.engine import regress
    from factorxray.engine.ols import blas_threads

    returns, factors = synthetic_panel(n_funds, n_time, seed=1)
    names = [c for c in factors.columns if c != "RF"]
    exog = sm.add_constant(factors[names].to_numpy())
    values = returns.to_numpy()
    rows = []
    for cov, sm_cov in (("nonrobust", "nonrobust"), ("hac", "HAC")):
        res = regress(returns, factors, cov=cov)
        lags = res.hac_lags.to_numpy()

        def ours(cov=cov):
            return regress(returns, factors, cov=cov)

        def lean(cov=cov):
            with blas_threads():  # the same thread setting as the engine
                return lean_regress(returns.to_numpy(), factors[names].to_numpy(), cov == "hac")

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

        lean_params, lean_cov = lean()
        lean_diff = max(
            float(np.max(np.abs(res.params.to_numpy() - lean_params))),
            float(np.max(np.abs(res.bse.to_numpy() - np.sqrt(np.diagonal(lean_cov, 0, 1, 2))))),
        )
        fits = statsmodels_loop()
        diffs = _max_diffs(res, fits)
        pandas_diffs = _max_diffs(res, statsmodels_pandas_loop())
        for condition, context in CONDITIONS:
            with context():
                activity = machine_activity()
                ours_s, lean_s = interleaved_best([ours, lean], repeat=20)
                sm_s, _ = best_time(statsmodels_loop, repeat=3)
                pandas_s, _ = best_time(statsmodels_pandas_loop, repeat=2)
            rows.append(
                {
                    "case": f"static {cov}",
                    "condition": condition,
                    "activity": activity,
                    "ours_s": ours_s,
                    "lean_s": lean_s,
                    "lean_max_diff": lean_diff,
                    "statsmodels_s": sm_s,
                    "statsmodels_pandas_s": pandas_s,
                    **{key: max(value, pandas_diffs[key]) for key, value in diffs.items()},
                }
            )
    return rows


# ----------------------------------------------------------------------------- (b) rolling


def rolling_benchmark(n_funds: int, n_time: int, window: int = 36) -> list[dict[str, Any]]:
    """(b) ``rolling_regress`` vs ``RollingOLS`` per fund (nonrobust), complete and gappy."""
    import statsmodels.api as sm
    from statsmodels.regression.rolling import RollingOLS

    from factorxray.engine import rolling_regress

    complete, factors = synthetic_panel(n_funds, n_time, seed=2)
    gappy = with_gaps(complete, 0.02, seed=5)
    names = [c for c in factors.columns if c != "RF"]
    exog = sm.add_constant(factors[names].to_numpy())
    min_gappy = window - 6
    cases = [
        ("rolling complete", complete, None),
        ("rolling 2% missing", gappy, min_gappy),
    ]

    def ours(returns, min_obs):
        return rolling_regress(returns, factors, window=window, min_obs=min_obs)

    def statsmodels_loop(returns, min_obs):
        values = returns.to_numpy()
        fits = []
        for j in range(returns.shape[1]):
            fit = RollingOLS(
                values[:, j], exog, window=window, min_nobs=min_obs or window, missing="drop"
            ).fit()
            fits.append((fit.params, fit.bse, fit.tvalues))
        return fits

    diffs = {}
    for name, returns, min_obs in cases:
        res = ours(returns, min_obs)
        theirs = statsmodels_loop(returns, min_obs)
        ours_arrays = (res.params.to_numpy(), res.bse.to_numpy(), res.tvalues.to_numpy())
        stacked = [
            np.concatenate([f[k][~np.isnan(f[0]).any(axis=1)] for f in theirs]) for k in range(3)
        ]
        diffs[name] = {
            "windows": len(res.params),
            **{
                f"max_abs_diff_{label}": float(np.max(np.abs(a - b)))
                for label, a, b in zip(("params", "bse", "t"), ours_arrays, stacked, strict=True)
            },
        }
    rows = []
    for condition, context in CONDITIONS:
        with context():
            activity = machine_activity()
            times = interleaved_best(
                [lambda r=returns, m=min_obs: ours(r, m) for _, returns, m in cases],
                repeat=12,
            )
            sm_times = [
                best_time(lambda r=r, m=m: statsmodels_loop(r, m), repeat=2)[0] for _, r, m in cases
            ]
        for (name, _, _), ours_s, sm_s in zip(cases, times, sm_times, strict=True):
            rows.append(
                {
                    "case": f"{name} {window}",
                    "condition": condition,
                    "activity": activity,
                    "ours_s": ours_s,
                    "statsmodels_s": sm_s,
                    "gaps_over_complete": times[1] / times[0],
                    **diffs[name],
                }
            )
    return rows


# ----------------------------------------------------------------------------- (c) big panel


def big_panel_child(n_funds: int, n_time: int, cov: str) -> None:
    """(c) Runs in a subprocess: build the daily panel, then time ``regress``; prints JSON."""
    from factorxray.engine import regress

    returns, factors = synthetic_panel(n_funds, n_time, seed=3, freq="D", min_history=500)
    rss_data = _max_rss_mb()
    start = time.perf_counter()
    cpu = time.process_time()
    res = regress(returns, factors, cov=cov)
    elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "funds": n_funds,
                "obs": n_time,
                "cov": cov,
                "seconds": elapsed,
                "cpu_seconds": time.process_time() - cpu,
                "peak_rss_mb": _max_rss_mb(),
                "rss_after_data_mb": rss_data,
                "input_mb": returns.memory_usage(index=False).sum() / 2**20,
                "fitted": len(res.funds),
            }
        )
    )


def big_panel_benchmark(n_funds: int, n_time: int, cov: str) -> dict[str, Any]:
    """(c) Launch :func:`big_panel_child` in a fresh interpreter so ru_maxrss is its own."""
    command = [sys.executable, str(Path(__file__)), "--child", str(n_funds), str(n_time), cov]
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


# ----------------------------------------------------------------------------- printing


def _print_static(row: dict[str, Any]) -> None:
    ours = row["ours_s"]
    print(
        f"{row['case']:<17} {row['condition']:<9} ours {ours * 1000:6.1f} ms   "
        f"lean {row['lean_s'] * 1000:6.1f} ms (ours/lean {ours / row['lean_s']:4.2f})   "
        f"sm arrays {row['statsmodels_s'] * 1000:7.1f} ms = {row['statsmodels_s'] / ours:5.1f}x   "
        f"sm pandas {row['statsmodels_pandas_s'] * 1000:7.1f} ms = "
        f"{row['statsmodels_pandas_s'] / ours:6.1f}x"
    )


def _print_rolling(row: dict[str, Any]) -> None:
    ours = row["ours_s"]
    print(
        f"{row['case']:<22} {row['condition']:<9} ours {ours * 1000:6.1f} ms "
        f"({row['windows']} windows)   RollingOLS {row['statsmodels_s'] * 1000:7.1f} ms = "
        f"{row['statsmodels_s'] / ours:6.1f}x"
    )


def _print_diffs(label: str, row: dict[str, Any]) -> None:
    print(
        f"  {label}: max |diff| params {row['max_abs_diff_params']:.1e}  "
        f"bse {row['max_abs_diff_bse']:.1e}  t {row['max_abs_diff_t']:.1e}"
    )


def main() -> None:
    """Parse options, run the three benchmarks idle and beside a busy core, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, runs in seconds")
    parser.add_argument("--child", nargs=3, metavar=("FUNDS", "OBS", "COV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        big_panel_child(int(args.child[0]), int(args.child[1]), args.child[2])
        return
    import statsmodels

    from factorxray.engine.ols import BLAS_THREADS, engine_workers

    n_funds = 100 if args.quick else 500
    big_funds = 1_000 if args.quick else 10_000
    print(
        f"numpy {np.__version__}, pandas {pd.__version__}, statsmodels {statsmodels.__version__}; "
        f"{os.cpu_count()} CPUs; engine: {BLAS_THREADS} BLAS thread, up to {engine_workers()} "
        f"chunk workers on large panels; {N_FACTORS} factors + alpha"
    )
    print("each case idle (other work on the machine as measured) and beside a busy-loop process")
    print(f"(a) static: {n_funds} funds x 420 months, ragged starts")
    for row in static_benchmark(n_funds, 420):
        print(f"  [{row['condition']}] {row['activity']}")
        _print_static(row)
    _print_diffs("vs statsmodels (all static cases)", row)
    print(f"  lean and ours differ by at most {row['lean_max_diff']:.1e}")
    print(f"(b) rolling: {n_funds} funds x 420 months, 36-month windows, nonrobust")
    rolling_rows = rolling_benchmark(n_funds, 420)
    for row in rolling_rows:
        if row["case"].startswith("rolling complete"):
            print(f"  [{row['condition']}] {row['activity']}")
        _print_rolling(row)
        if not row["case"].startswith("rolling complete"):
            print(f"  gaps / complete ({row['condition']}): {row['gaps_over_complete']:.2f}")
    for row in rolling_rows[:2]:
        _print_diffs(f"{row['case']} vs RollingOLS", row)
    print(f"(c) big daily panel: {big_funds} funds x 5000 days, subprocess")
    for condition, context in CONDITIONS:
        with context():
            print(f"  [{condition}] {machine_activity()}")
            for cov in ("nonrobust", "hac"):
                big = big_panel_benchmark(big_funds, 5_000, cov)
                print(
                    f"{cov:<10} {condition:<9} {big['seconds']:6.2f} s (CPU {big['cpu_seconds']:.2f} s)"
                    f"   peak RSS {big['peak_rss_mb']:5.0f} MB (after building the "
                    f"{big['input_mb']:.0f} MB input: {big['rss_after_data_mb']:.0f} MB)   "
                    f"fitted {big['fitted']} funds"
                )


if __name__ == "__main__":
    main()
