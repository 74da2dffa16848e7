"""Simulate the asymptotic null distribution of Andrews' (1993) sup-Wald statistic.

Writes ``src/factorxray/engine/data/supwald_quantiles.csv``, the table that
:mod:`factorxray.engine.breaks` turns statistics into p-values with.

Run from the repository root: ``uv run python scripts/make_supwald_table.py``
(``--reps`` and ``--steps`` change the size; the defaults made the bundled table).

Under H0 the Wald statistic for a break after a fraction ``pi`` of the sample converges to

    Q_p(pi) = || B_p(pi) - pi B_p(1) ||^2 / (pi (1 - pi)),

``B_p`` a p-dimensional standard Brownian motion, and sup-Wald to ``sup Q_p(pi)`` over
``pi`` in ``[pi0, 1 - pi0]`` (Andrews 1993, Theorem 3). Each replication draws a
10-dimensional random walk of ``steps`` Gaussian increments (variance ``1 / steps``); the
``p``-dimensional process is its first ``p`` coordinates, so one draw serves every ``p``
(each ``p``'s distribution is exact; the columns are dependent, which does not matter for
marginal quantiles).

**Grid correction.** A maximum over a grid of step ``1/n`` misses the peaks between grid
points, so its quantiles are too low by about ``c / sqrt(n)`` (the Siegmund / Asmussen-Glynn-
Pitman rate for discretely monitored Brownian maxima). The script takes the maximum on the
full grid (``n = steps``) and on every 4th point (``n / 4``) of the same paths; the bias on
the coarse grid is twice that on the fine one, so ``q = 2 q_n - q_{n/4}`` removes it (one
Richardson step). The CSV holds both: the corrected quantiles (used for p-values) and the raw
fine-grid ones (comparable with published tables, which were simulated on a grid too).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "src" / "factorxray" / "engine" / "data" / "supwald_quantiles.csv"
SEED = 19930701  # Andrews (1993), Econometrica 61(4): July 1993
MAX_TESTED = 10
TRIMS = (0.05, 0.10, 0.15, 0.20, 0.25)
COARSEN = 4
#: CDF levels of the table: 0.00-0.98 by 0.01, then a finer upper tail 0.981-0.999 by 0.001.
LEVELS = np.round(np.concatenate([np.arange(0, 98) / 100, np.arange(980, 1000) / 1000]), 3)


def simulate_sups(
    reps: int, steps: int, seed: int, chunk: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Sup of ``Q_p`` over each trimmed range, on the fine and on the coarse grid.

    Parameters
    ----------
    reps : int
        Number of Brownian paths.
    steps : int
        Grid points per path; must be a multiple of ``COARSEN`` and of 20 (so that every trim
        in ``TRIMS`` falls on a grid point of both grids).
    seed : int
        Seed of ``numpy.random.default_rng``.
    chunk : int
        Paths simulated at once (memory is about ``chunk * steps * 10 * 8`` bytes, times 3).

    Returns
    -------
    fine, coarse : numpy.ndarray
        Shape ``(len(TRIMS), MAX_TESTED, reps)``: ``sup Q_p`` for ``p = 1..MAX_TESTED``.

    Examples
    --------
    >>> fine, coarse = simulate_sups(reps=10, steps=400, seed=1)
    >>> fine.shape, bool((fine >= coarse).all())
    ((5, 10, 10), True)
    """
    if steps % (COARSEN * 20):
        raise ValueError(f"steps must be a multiple of {COARSEN * 20}")
    rng = np.random.default_rng(seed)
    grid = np.arange(1, steps + 1) / steps
    fine = np.empty((len(TRIMS), MAX_TESTED, reps))
    coarse = np.empty_like(fine)
    for start in range(0, reps, chunk):
        size = min(chunk, reps - start)
        walk = rng.standard_normal((size, steps, MAX_TESTED))
        walk *= np.sqrt(1.0 / steps)
        np.cumsum(walk, axis=1, out=walk)
        walk -= grid[None, :, None] * walk[:, -1:, :]  # Brownian bridges
        np.square(walk, out=walk)
        np.cumsum(walk, axis=2, out=walk)  # ||bridge_p||^2 for p = 1..MAX_TESTED
        # Q_p(pi) = ||bridge||^2 / (pi (1 - pi)); the endpoint pi = 1 is never in range.
        with np.errstate(divide="ignore", invalid="ignore"):
            walk /= (grid * (1.0 - grid))[None, :, None]
        for k, trim in enumerate(TRIMS):
            lo = round(trim * steps)  # grid index i <-> pi = (i + 1) / steps
            inside = walk[:, lo - 1 : steps - lo, :]
            fine[k, :, start : start + size] = inside.max(axis=1).T
            coarse_inside = walk[:, COARSEN - 1 :: COARSEN, :][
                :, lo // COARSEN - 1 : (steps - lo) // COARSEN, :
            ]
            coarse[k, :, start : start + size] = coarse_inside.max(axis=1).T
    return fine, coarse


def quantile_table(fine: np.ndarray, coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grid-corrected quantiles at :data:`LEVELS`, and the raw fine-grid ones.

    Parameters
    ----------
    fine, coarse : numpy.ndarray
        Output of :func:`simulate_sups`.

    Returns
    -------
    corrected, raw : numpy.ndarray
        Shape ``(len(TRIMS), len(LEVELS), MAX_TESTED)``. ``corrected = 2 raw - coarse
        quantile``, made non-decreasing along the levels.

    Examples
    --------
    >>> fine, coarse = simulate_sups(reps=50, steps=800, seed=2)
    >>> corrected, raw = quantile_table(fine, coarse)
    >>> bool((corrected >= raw).all())
    True
    """
    raw = np.quantile(fine, LEVELS, axis=2).transpose(1, 0, 2)
    raw_coarse = np.quantile(coarse, LEVELS, axis=2).transpose(1, 0, 2)
    corrected = np.maximum.accumulate(2.0 * raw - raw_coarse, axis=1)
    return corrected, raw


def write_table(
    path: Path, corrected: np.ndarray, raw: np.ndarray, reps: int, steps: int, seed: int
) -> None:
    """Write the CSV: comment lines, then ``trim,level,p1..p10,grid_p1..grid_p10`` rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = [
        "# Asymptotic null quantiles of Andrews' (1993) sup-Wald statistic: the quantile at CDF",
        "# level `level` of sup Q_p(pi) over pi in [trim, 1 - trim], Q_p(pi) = ||B_p(pi) - pi",
        "# B_p(1)||^2 / (pi (1 - pi)), for p = 1..10 tested coefficients.",
        "# p1..p10: grid-corrected, 2 q(n) - q(n/4), the values factorxray uses for p-values.",
        f"# grid_p1..grid_p10: the raw maximum over the {steps}-step grid (biased low, as are",
        "# published tables simulated on a grid).",
        f"# Generated by scripts/make_supwald_table.py: {reps} replications, {steps} grid steps,",
        f"# numpy default_rng seed {seed}. Do not edit by hand; re-run the script.",
    ]
    names = [f"p{p}" for p in range(1, MAX_TESTED + 1)]
    columns = ["trim", "level", *names, *(f"grid_{name}" for name in names)]
    lines = [*header, ",".join(columns)]
    for k, trim in enumerate(TRIMS):
        for j, level in enumerate(LEVELS):
            values = ",".join(f"{v:.4f}" for v in (*corrected[k, j], *raw[k, j]))
            lines.append(f"{trim:.2f},{level:.3f},{values}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    """Simulate, print the 90/95/99% points for trim 0.15, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=TARGET)
    args = parser.parse_args()
    began = time.perf_counter()
    fine, coarse = simulate_sups(args.reps, args.steps, args.seed)
    corrected, raw = quantile_table(fine, coarse)
    print(f"simulated {args.reps} x {args.steps} in {time.perf_counter() - began:.1f} s")
    k = TRIMS.index(0.15)
    rows = [int(np.flatnonzero(np.isclose(LEVELS, lv))[0]) for lv in (0.90, 0.95, 0.99)]
    print("trim 0.15: p, raw 90/95/99%, corrected 90/95/99%, correction in %")
    for p in range(MAX_TESTED):
        r = raw[k, rows, p]
        c = corrected[k, rows, p]
        shift = 100 * (c / r - 1)
        print(
            f"  p={p + 1:2d}  raw {r[0]:6.2f} {r[1]:6.2f} {r[2]:6.2f}"
            f"  corrected {c[0]:6.2f} {c[1]:6.2f} {c[2]:6.2f}"
            f"  (+{shift[0]:.1f}% +{shift[1]:.1f}% +{shift[2]:.1f}%)"
        )
    write_table(args.out, corrected, raw, args.reps, args.steps, args.seed)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
