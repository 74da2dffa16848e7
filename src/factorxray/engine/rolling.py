"""Rolling-window factor regressions of many funds in one vectorized pass.

For every fund ``f`` and window ``w`` (rows ``s_w..e_w``), ``X'X`` and ``X'y`` are differences
of cumulative sums over time of ``m_ft x_t x_t'`` and ``m_ft y_ft x_t`` (``m`` the usable-row
mask), so all windows of all funds come out of a few array operations; the ``(fund, window)``
systems with enough observations are then solved together by the batched Cholesky of
:mod:`factorxray.engine.ols`. The running sums are what statsmodels' ``RollingOLS`` updates
row by row, so the rounding behaviour is the same. Robust covariances (HC1, HAC) need the
residuals of each window: those are computed on gathered windows in memory-bounded batches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factorxray.engine import ols as _ols
from factorxray.engine.covariance import CovarianceEstimator, make_estimator
from factorxray.engine.ols import (
    PreparedInputs,
    check_design_rank,
    packed_scores,
    prepare_inputs,
    solve_normal_equations,
)
from factorxray.errors import InsufficientDataError, UsageError
from factorxray.results import RollingExposureResults

__all__ = ["rolling_regress"]


def rolling_regress(
    returns: pd.DataFrame | pd.Series,
    factors: pd.DataFrame,
    *,
    window: int = 36,
    min_obs: int | None = None,
    cov: str | CovarianceEstimator = "nonrobust",
    hac_lags: int | None = None,
    expanding: bool = False,
    factors_used: list[str] | None = None,
    rf_column: str = "RF",
) -> RollingExposureResults:
    """Rolling (or expanding) window factor regressions of many funds at once.

    The window ending at row ``t`` of the common index uses rows ``t - window + 1 .. t``;
    inside it each fund uses the rows where it and every factor are observed (statsmodels
    ``RollingOLS(missing="drop")`` semantics). A window gets an estimate only if the fund has
    at least ``min_obs`` usable rows in it; windows ending before row ``window - 1`` get none,
    as in ``RollingOLS`` without ``expanding``.

    Parameters
    ----------
    returns : pandas.DataFrame or pandas.Series
        Fund **excess** returns in decimals, one column per fund (see ``regress``).
    factors : pandas.DataFrame
        Factor returns in decimals; ``rf_column`` is not a regressor.
    window : int
        Window length in rows of the common index (36 months by default).
    min_obs : int, optional
        Minimum usable rows in a window; default ``window`` (only complete windows). Must be
        at least the number of factors + 2.
    cov : {"nonrobust", "HC1", "hac"} or CovarianceEstimator
        Covariance of each window's estimates, as in ``regress`` (HAC lags from each
        window's own number of usable rows unless ``hac_lags`` is given).
    hac_lags : int, optional
        Fixed HAC lag.
    expanding : bool
        If True, the window ending at ``t`` starts at the first row (an expanding window,
        pandas' ``expanding()`` meaning, *not* statsmodels' ``expanding`` flag, which only
        fills the first windows); ``window`` is then unused except as the default
        ``min_obs``.
    factors_used : list of str, optional
        Regressors; default every factor column but ``rf_column``.
    rf_column : str
        Risk-free column name, ignored as a regressor.

    Returns
    -------
    RollingExposureResults
        Estimates indexed by ``(fund, period)``, ``period`` being the window's last label.

    Raises
    ------
    UsageError
        Bad input, or ``window`` / ``min_obs`` out of range.
    InsufficientDataError
        No fund has a window with ``min_obs`` usable rows.
    CollinearityError
        The factors are collinear.

    Notes
    -----
    p-values and the bands of ``plot_data`` use Student t with the window's residual degrees
    of freedom for ``nonrobust`` (like ``regress``; statsmodels' ``RollingOLS.fit`` defaults
    to the normal) and the normal distribution for HC1 and HAC. Windows whose design is
    singular (e.g. a factor constant inside the window) get no estimate.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> idx = pd.period_range("2000-01", periods=48, freq="M")
    >>> rng = np.random.default_rng(0)
    >>> f = pd.DataFrame({"MKT": rng.normal(0.005, 0.04, 48)}, index=idx)
    >>> y = (0.9 * f["MKT"] + rng.normal(0, 0.01, 48)).rename("FUND")
    >>> res = rolling_regress(y, f, window=36)
    >>> len(res.params), str(res.params.index[0][1])
    (13, '2002-12')
    """
    estimator = make_estimator(cov, hac_lags)
    inputs = prepare_inputs(returns, factors, factors_used=factors_used, rf_column=rf_column)
    n_params = inputs.design.shape[1]
    window, min_obs = _check_window(window, min_obs, n_params, expanding)
    n_time = len(inputs.index)
    starts, ends = _window_bounds(n_time, window, expanding)
    usable = inputs.usable()
    counts = _window_counts(usable, starts, ends)
    has_window = (counts >= min_obs).any(axis=1)
    if not has_window.any():
        raise InsufficientDataError(
            f"no fund has a window with at least {min_obs} usable observations; "
            "shorten the window or lower min_obs"
        )
    check_design_rank(inputs.design[usable[has_window].any(axis=0)], inputs.terms)
    parts = [
        _fit_fund_chunk(inputs, usable, ids, starts, ends, counts[ids] >= min_obs, estimator)
        for ids in _fund_chunks(np.flatnonzero(has_window), n_time, n_params)
    ]
    fund_pos, window_pos, params, cov_params, nobs, ssr, tss = (
        np.concatenate(arrays) for arrays in zip(*parts, strict=True)
    )
    fitted = set(fund_pos.tolist())
    skipped = {
        fund: _skip_reason(bool(has_window[i]), min_obs)
        for i, fund in enumerate(inputs.funds)
        if i not in fitted
    }
    if not fitted:
        raise InsufficientDataError(
            "no window has a non-singular factor design; drop collinear factors"
        )
    return RollingExposureResults(
        funds=[inputs.funds[i] for i in fund_pos],
        periods=inputs.index[ends[window_pos]],
        terms=inputs.terms,
        params=params,
        cov=cov_params,
        nobs=nobs,
        ssr=ssr,
        tss=tss,
        cov_type=estimator.name,
        use_t=estimator.use_t,
        window=window,
        expanding=expanding,
        skipped=skipped,
    )


def _check_window(
    window: int, min_obs: int | None, n_params: int, expanding: bool
) -> tuple[int, int]:
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise UsageError(f"window must be a positive integer, not {window!r}")
    if min_obs is None:
        min_obs = int(window)
    if isinstance(min_obs, bool) or not isinstance(min_obs, int | np.integer):
        raise UsageError(f"min_obs must be an integer or None, not {min_obs!r}")
    if min_obs < n_params + 1:
        raise UsageError(
            f"min_obs={min_obs} is too small: need at least {n_params + 1} observations "
            f"for {n_params - 1} factors and alpha"
        )
    if not expanding and min_obs > window:
        raise UsageError(f"min_obs={min_obs} cannot exceed window={window}")
    return int(window), int(min_obs)


def _window_bounds(n_time: int, window: int, expanding: bool) -> tuple[np.ndarray, np.ndarray]:
    if expanding:
        ends = np.arange(n_time)
        return np.zeros(n_time, dtype=np.int64), ends
    ends = np.arange(window - 1, n_time)
    return ends - window + 1, ends


def _window_counts(usable: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    cumulative = np.zeros((usable.shape[0], usable.shape[1] + 1), dtype=np.int64)
    np.cumsum(usable, axis=1, out=cumulative[:, 1:])
    return cumulative[:, ends + 1] - cumulative[:, starts]


def _fund_chunks(fund_ids: np.ndarray, n_time: int, n_params: int) -> list[np.ndarray]:
    per_fund = 8 * (n_time + 1) * (n_params * n_params + n_params + 4) * 2
    size = max(1, _ols.CHUNK_BYTES // per_fund)
    return [fund_ids[i : i + size] for i in range(0, fund_ids.size, size)]


def _fit_fund_chunk(
    inputs: PreparedInputs,
    usable: np.ndarray,
    fund_ids: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    valid: np.ndarray,
    estimator: CovarianceEstimator,
) -> tuple[np.ndarray, ...]:
    design = inputs.design
    n_time, n_params = design.shape
    fund_usable = usable[fund_ids]
    y = np.where(fund_usable, inputs.returns[fund_ids], 0.0)
    weight = fund_usable.astype(np.float64)
    outer = (design[:, :, None] * design[:, None, :]).reshape(n_time, -1)
    sums = np.concatenate(
        [
            weight[:, :, None] * outer[None],
            y[:, :, None] * design[None],
            (y * y)[:, :, None],
            y[:, :, None],
            weight[:, :, None],
        ],
        axis=2,
    )
    cumulative = np.zeros((sums.shape[0], n_time + 1, sums.shape[2]))
    np.cumsum(sums, axis=1, out=cumulative[:, 1:])
    del sums
    local_fund, window_pos = np.nonzero(valid)
    window_sums = (
        cumulative[local_fund, ends[window_pos] + 1] - cumulative[local_fund, starts[window_pos]]
    )
    del cumulative
    n_outer = n_params * n_params
    xtx = window_sums[:, :n_outer].reshape(-1, n_params, n_params)
    xty = window_sums[:, n_outer : n_outer + n_params]
    yy, ysum = window_sums[:, -3], window_sums[:, -2]
    nobs = np.rint(window_sums[:, -1]).astype(np.int64)
    params, bread, singular = solve_normal_equations(xtx, xty)
    tss = yy - ysum * ysum / nobs
    if estimator.needs_scores:
        ssr, cov = _robust_cov(
            y,
            fund_usable,
            design,
            local_fund,
            starts[window_pos],
            ends[window_pos],
            params,
            bread,
            nobs,
            estimator,
        )
    else:
        fitted_xty = np.einsum("mp,mp->m", params, xty)
        ssr = yy - 2.0 * fitted_xty + np.einsum("mp,mpq,mq->m", params, xtx, params)
        cov = estimator.cov(bread, ssr=ssr, nobs=nobs, scores=None)
    keep = ~singular
    return (
        fund_ids[local_fund[keep]],
        window_pos[keep],
        params[keep],
        cov[keep],
        nobs[keep],
        ssr[keep],
        tss[keep],
    )


def _robust_cov(
    y: np.ndarray,
    usable: np.ndarray,
    design: np.ndarray,
    local_fund: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    params: np.ndarray,
    bread: np.ndarray,
    nobs: np.ndarray,
    estimator: CovarianceEstimator,
) -> tuple[np.ndarray, np.ndarray]:
    n_time, n_params = design.shape
    n_pairs = params.shape[0]
    ssr = np.empty(n_pairs)
    cov = np.empty((n_pairs, n_params, n_params))
    length = int((ends - starts).max(initial=0)) + 1
    batch = max(1, _ols.CHUNK_BYTES // (length * (8 * (3 * n_params + 4) + 1)))
    offsets = np.arange(length)
    for first in range(0, n_pairs, batch):
        part = slice(first, first + batch)
        rows = starts[part, None] + offsets[None, :]
        inside = rows <= ends[part, None]
        rows = np.minimum(rows, n_time - 1)
        funds = local_fund[part, None]
        mask = inside & usable[funds, rows]
        window_design = design[rows]
        fitted = np.einsum("mtp,mp->mt", window_design, params[part])
        resid = np.where(mask, y[funds, rows] - fitted, 0.0)
        ssr[part] = np.einsum("mt,mt->m", resid, resid)
        scores = packed_scores(resid, mask, window_design)
        cov[part] = estimator.cov(bread[part], ssr=ssr[part], nobs=nobs[part], scores=scores)
    return ssr, cov


def _skip_reason(had_window: bool, min_obs: int) -> str:
    if had_window:
        return "every window's factor design is singular (collinear factors)"
    return f"no window with at least {min_obs} usable observations"
