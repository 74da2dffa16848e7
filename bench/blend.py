"""Benchmark: the blend finder's solve time for 20 and for 200 candidate funds.

Run: ``uv run python bench/blend.py``. All on the bundled snapshot (real data, no network).

- 20 candidates: the ``smart-beta-20`` funds, regressed on xray7 (US) over their common window
  (86 months, 2018-10..2025-11: QGRO starts last).
- 200 candidates: synthetic funds built from the 20 real ones, ten each: the real fund's betas
  plus N(0, 0.05) noise per factor, its real residuals resampled plus N(0, half their
  volatility) noise, and its alpha: ``RF + alpha + X beta' + e'`` on the real factors of
  2006-01..2025-11 (239 months, so that 200 funds' residual covariance has full rank).

Timed (best of 3, seconds): the solver alone (:func:`solve_blend`: HiGHS LP + SLSQP) and the
whole :func:`find_blend` (regressions, solve, the blend's regression, the out-of-sample refit),
for the target ``SMB>=0.2,HML>=0.2`` (and an infeasible one), then with ``max_funds=3``. Every
line prints its ratio to a reference measured in the same run: the unconstrained
least-squares solve of the same risk matrix (min w'Qw subject only to sum(w) = 1, one
``numpy.linalg.solve``). The same QP is also solved by ``trust-constr`` (the other scipy
method for constrained problems) to justify the choice of SLSQP, and the max-funds heuristic
is compared with trying every support (objective gap).
"""

from __future__ import annotations

import math
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from scipy import optimize

import factorxray as fx
from factorxray.data.cache import Cache
from factorxray.engine.ols import blas_threads
from factorxray.portfolio.blend import find_blend, parse_target, solve_blend

REPEATS = 3
TARGET = "SMB>=0.2,HML>=0.2"
INFEASIBLE = "SMB>=0.3,HML>=0.9"


def best(func: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return min(times), result


def real_funds(cache: Cache) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    analysis = fx.analyze(
        preset="smart-beta-20",
        offline=True,
        cache=cache,
        models=None,
        region_fit=False,
        drift=False,
    )
    return analysis.returns, analysis.factors, analysis.analyzed


def synthetic(
    returns: pd.DataFrame, factors: pd.DataFrame, funds: list[str], copies: int
) -> tuple[pd.DataFrame, list[str]]:
    """``copies`` noisy versions of each real fund over the last 20 years of factors.

    Betas: the real fund's (on the funds' common window) plus N(0, 0.05) per factor.
    Residuals: the real fund's residuals resampled month by month (with replacement) plus
    N(0, half their volatility). Returns: ``RF + alpha + X beta' + e'``. Twenty years
    (239 months) keep the residual covariance of 200 funds of full rank.
    """
    names = [c for c in factors.columns if c != "RF"]
    window = returns[funds].join(factors, how="inner").dropna()
    design = np.column_stack([np.ones(len(window)), window[names].to_numpy()])
    excess = window[funds].sub(window["RF"], axis=0).to_numpy()
    params = np.linalg.lstsq(design, excess, rcond=None)[0]  # (1 + K, n)
    resid = excess - design @ params
    months = factors.loc["2006-01":].dropna()
    x = months[names].to_numpy()
    rng = np.random.default_rng(200)
    columns = {}
    for i, fund in enumerate(funds):
        for k in range(copies):
            beta = params[1:, i] + rng.normal(0, 0.05, len(names))
            e = rng.choice(resid[:, i], size=len(x)) + rng.normal(
                0, 0.5 * resid[:, i].std(), len(x)
            )
            columns[f"{fund}{k:02d}"] = months["RF"].to_numpy() + params[0, i] + x @ beta + e
    frame = pd.DataFrame(columns, index=months.index)
    return frame, list(frame.columns)


def risk_inputs(
    returns: pd.DataFrame, factors: pd.DataFrame, funds: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Betas and residual covariance on the common window (what find_blend hands the solver)."""
    names = [c for c in factors.columns if c != "RF"]
    window = returns[funds].join(factors, how="inner").dropna()
    design = np.column_stack([np.ones(len(window)), window[names].to_numpy()])
    excess = window[funds].sub(window["RF"], axis=0).to_numpy()
    params = np.linalg.lstsq(design, excess, rcond=None)[0]
    resid = excess - design @ params
    return pd.DataFrame(params[1:].T, index=funds, columns=names), np.cov(resid, rowvar=False)


def reference(q: np.ndarray) -> np.ndarray:
    """Unconstrained least squares: min w'Qw with sum(w) = 1 (one linear solve)."""
    ones = np.ones(len(q))
    with blas_threads():  # as solve_blend runs its products
        z = np.linalg.solve(q + 1e-12 * np.eye(len(q)), ones)
    return z / z.sum()


def trust_constr(target: str, betas: pd.DataFrame, q: np.ndarray) -> tuple[np.ndarray, int]:
    """The same QP with scipy's trust-constr (no cardinality), for comparison."""
    parsed = parse_target(target, list(betas.columns))
    a = np.array([betas[c.factor].to_numpy() for c in parsed.constraints])
    lower = np.array([c.value for c in parsed.constraints])
    n = len(q)
    scale = float(np.mean(np.diag(q)))
    result = optimize.minimize(
        lambda w: w @ q @ w / scale,
        np.full(n, 1 / n),
        jac=lambda w: 2 * q @ w / scale,
        hess=lambda w: 2 * q / scale,
        method="trust-constr",
        constraints=[
            optimize.LinearConstraint(np.ones((1, n)), 1, 1),
            optimize.LinearConstraint(a, lower, np.inf),
        ],
        bounds=optimize.Bounds(0, 1),
        options={"gtol": 1e-10, "xtol": 1e-12, "maxiter": 5000},
    )
    return result.x, int(result.nit)


def main() -> None:
    print(f"# bench/blend.py  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"# {platform.python_version()} numpy {np.__version__} pandas {pd.__version__} "
        f"cpus {os.cpu_count()} load {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as folder:
        returns, factors, funds = real_funds(Cache(folder))
    wide, many = synthetic(returns, factors, funds, copies=10)
    wide_factors = factors.loc[wide.index]
    cases = [("20 real", returns, factors, funds), ("200 synthetic", wide, wide_factors, many)]
    for label, r, f, pool in cases:
        betas, q = risk_inputs(r, f, pool)
        t_ref, w_ref = best(lambda q=q: reference(q))
        target = parse_target(TARGET, list(betas.columns))
        t_solve, solution = best(lambda b=betas, q=q, t=target: solve_blend(t, b, q))
        w = solution.weights  # type: ignore[attr-defined]
        print(
            f"{label:>14}: reference lstsq {t_ref * 1e3:7.2f} ms | solve_blend "
            f"{t_solve * 1e3:8.1f} ms = {t_solve / t_ref:7.0f}x reference, "
            f"{solution.iterations} SLSQP iterations, {np.count_nonzero(w)} funds, "  # type: ignore[attr-defined]
            f"residual vol {math.sqrt(12 * w @ q @ w):.4%} (unconstrained "
            f"{math.sqrt(12 * max(w_ref @ q @ w_ref, 0)):.4%}, {np.count_nonzero(w_ref > 1e-9)} funds long/short)"  # type: ignore[operator]
        )
        t_tc, (w_tc, nit) = best(lambda b=betas, q=q: trust_constr(TARGET, b, q))
        gap = (w_tc @ q @ w_tc - w @ q @ w) / (w @ q @ w)  # type: ignore[operator]
        print(
            f"{'':>14}  trust-constr {t_tc * 1e3:8.1f} ms = {t_tc / t_solve:5.1f}x SLSQP "
            f"({nit} iterations), objective {gap:+.1e} relative to SLSQP"
        )
        t_find, blend = best(lambda r=r, f=f, pool=pool: find_blend(TARGET, r, f, candidates=pool))
        print(
            f"{'':>14}  find_blend (regressions, solve, out-of-sample refit) "
            f"{t_find * 1e3:8.1f} ms = {t_find / t_ref:7.0f}x reference; feasible {blend.feasible}"  # type: ignore[attr-defined]
        )
        t_inf, blend = best(
            lambda r=r, f=f, pool=pool: find_blend(INFEASIBLE, r, f, candidates=pool)
        )
        print(
            f"{'':>14}  infeasible {INFEASIBLE} {t_inf * 1e3:8.1f} ms = {t_inf / t_ref:7.0f}x "
            f"reference; feasible {blend.feasible}: {blend.message[:80]}..."  # type: ignore[attr-defined]
        )
        t_k, heuristic = best(lambda b=betas, q=q, t=target: solve_blend(t, b, q, max_funds=3))
        line = (
            f"{'':>14}  max_funds=3 heuristic {t_k * 1e3:8.1f} ms = {t_k / t_ref:7.0f}x "
            f"reference ({heuristic.supports_tried} supports)"  # type: ignore[attr-defined]
        )
        if len(pool) <= 20:
            started = time.perf_counter()
            exact = solve_blend(target, betas, q, max_funds=3, exhaustive_limit=10**9)
            t_exact = time.perf_counter() - started
            obj_gap = (heuristic.objective - exact.objective) / exact.objective  # type: ignore[attr-defined]
            line += (
                f"; every support ({exact.supports_tried}) {t_exact:6.2f} s, heuristic "
                f"objective {obj_gap:+.1e} relative"
            )
        print(line)


if __name__ == "__main__":
    main()
