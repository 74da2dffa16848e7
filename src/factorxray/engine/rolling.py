"""Rolling-window factor regressions of many funds in one vectorized pass.

For every fund ``f`` and window ``w`` (rows ``s_w..e_w``) with all its rows usable (a
*complete* window), ``X'X`` is the same for every fund: its inverse is computed once per window
(from cumulative sums of ``x_t x_t'``) and applied to the ``X'y`` of all funds with one matrix
product. For fixed-length windows ``X'y`` itself is, per window, one product of the funds'
window rows with the window's design rows, read through strided views of the ``(funds, time)``
array (plain sums of ``window`` terms, no copies); expanding windows use cumulative sums.
Windows with missing rows get their own ``X'X`` from cumulative sums of ``m_ft x_t x_t'``
(``m`` the usable-row mask) and the batched Cholesky of :mod:`factorxray.engine.ols`.
``y'y`` and ``sum y`` per window are differences of cumulative sums, ``SSR = y'y - b'X'y``.
Robust covariances (HC1, HAC) need the residuals of each window: those are computed on
gathered windows in memory-bounded batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from factorxray.engine import ols as _ols
from factorxray.engine.covariance import (
    CovarianceEstimator,
    LagProducts,
    make_estimator,
    unpack_symmetric,
)
from factorxray.engine.ols import (
    PreparedInputs,
    blas_threads,
    check_design_rank,
    invert_normal_equations,
    prepare_inputs,
    regression_scores,
)
from factorxray.errors import InsufficientDataError, UsageError
from factorxray.results import RollingExposureResults

__all__ = ["rolling_regress"]

#: The rolling engine's chunks of funds may use this many times ``ols.CHUNK_BYTES``.
ROLLING_CHUNK_FACTOR = 4
#: Windows missing at most this many rows get their inverse by downdating the complete
#: window's shared inverse (one rank-one step per missing row); others solve their own X'X.
MAX_DOWNDATE = 12
#: Working set of one batch of (fund, window) pairs whose robust covariances are computed
#: together (their window rows, residuals and scores). Small enough to stay in the CPU caches:
#: the products are memory-bound, and one batch of every pair (20 funds x 360 windows x 36
#: months, ~25 MB) ran 2-3 times slower than batches of a few hundred pairs.
ROBUST_BATCH_BYTES = 2 * 2**20
#: A downdate is kept only if it shrinks the determinant of X'X by at most this factor
#: (rounding errors grow by about its inverse: 1e3 keeps them near 1e-13).
DOWNDATE_LIMIT = 1e-3


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
    valid = counts >= min_obs
    has_window = valid.any(axis=1)
    if not has_window.any():
        raise InsufficientDataError(
            f"no fund has a window with at least {min_obs} usable observations; "
            "shorten the window or lower min_obs"
        )
    partial = bool((valid & (counts < (ends - starts + 1))).any())
    with blas_threads():
        check_design_rank(inputs.design[usable[has_window].any(axis=0)], inputs.terms)
        shared = _shared_window_inverses(inputs.design, starts, ends)
        parts = [
            _fit_fund_chunk(
                inputs, usable, ids, starts, ends, counts[ids], valid[ids], shared, estimator
            )
            for ids in _fund_chunks(np.flatnonzero(has_window), n_time, n_params, partial)
        ]
    fund_pos, window_pos, params, bse, nobs, ssr, tss = (
        np.concatenate(arrays) for arrays in zip(*parts, strict=True)
    )
    fitted = np.zeros(len(inputs.funds), dtype=bool)
    fitted[fund_pos] = True
    skipped = {
        inputs.funds[i]: _skip_reason(bool(has_window[i]), min_obs) for i in np.flatnonzero(~fitted)
    }
    if not fitted.any():
        raise InsufficientDataError(
            "no window has a non-singular factor design; drop collinear factors"
        )
    index = pd.MultiIndex(
        levels=[pd.Index(inputs.funds), inputs.index[ends]],
        codes=[fund_pos, window_pos],
        names=["fund", "period"],
        verify_integrity=False,
    )
    return RollingExposureResults(
        index=index,
        terms=inputs.terms,
        params=params,
        bse=bse,
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


def _fund_chunks(
    fund_ids: np.ndarray, n_time: int, n_params: int, partial: bool
) -> list[np.ndarray]:
    """Chunks of funds: cumulative moments, window sums and estimates, ``(P + 2)`` columns
    each, plus the ``P^2`` columns of ``X'X`` sums when some windows have missing rows."""
    columns = (n_params + 2) * 4 + (2 * n_params * n_params if partial else 0)
    size = max(1, ROLLING_CHUNK_FACTOR * _ols.CHUNK_BYTES // (8 * (n_time + 1) * columns))
    count = -(-fund_ids.size // size)
    return np.array_split(fund_ids, count) if count > 1 else [fund_ids]


@dataclass(frozen=True)
class _SharedInverses:
    """``(X'X)^-1`` of every window when all its rows are used (shared by complete funds).

    ``scaled_det`` is the determinant of each window's ``X'X`` scaled to unit diagonal (the
    product of its Cholesky pivots, each at most 1), which bounds how far a downdate may go.
    """

    inverse: np.ndarray
    singular: np.ndarray
    scaled_det: np.ndarray


def _shared_window_inverses(
    design: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> _SharedInverses:
    n_params = design.shape[1]
    packed = LagProducts(design).window_sums(starts, ends + 1)
    xtx = unpack_symmetric(packed, n_params)
    inverse, singular = invert_normal_equations(xtx)
    diag = np.diagonal(xtx, axis1=1, axis2=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled_det = np.linalg.det(xtx) / np.prod(diag, axis=1)
    scaled_det = np.where(singular | ~np.isfinite(scaled_det), 0.0, scaled_det)
    return _SharedInverses(inverse=inverse, singular=singular, scaled_det=scaled_det)


@dataclass
class _PartialWindows:
    """Estimates of the (fund, window) pairs whose window misses some of its rows.

    The first ``n_down`` pairs (those missing at most :data:`MAX_DOWNDATE` rows, most missing
    first) start from the shared window inverse ``A^-1`` downdated by their ``k`` missing rows
    ``x_1 .. x_k`` (Sherman-Morrison, one rank-one step per row):
    ``A_k^-1 = A^-1 + sum_j v_j v_j' / d_j`` with ``v_j = A_{j-1}^-1 x_j`` and
    ``d_j = 1 - x_j' v_j``. Kept in that form, ``b = A_k^-1 X'y`` and ``diag(A_k^-1)`` cost
    ``O(k P)`` per pair beyond the shared product, and ``v_j`` costs ``O(j P)`` from
    ``A^-1 x_j``, which is computed for every row of every window in one batched product.
    Pairs listed in ``direct`` solve their own ``X'X`` instead. Full inverses (robust
    covariances only) are formed on request.
    """

    params: np.ndarray
    singular: np.ndarray
    diag: np.ndarray
    windows: np.ndarray
    shared_inverse: np.ndarray
    steps: list[tuple[np.ndarray, np.ndarray]]
    direct: np.ndarray
    direct_inverse: np.ndarray

    def bread(self) -> np.ndarray:
        """``(X'X)^-1`` of every pair, shape ``(m, P, P)``."""
        inverse = np.take(self.shared_inverse, self.windows, axis=0)
        for v, d in self.steps:
            inverse[: v.shape[0]] += (v / d[:, None])[:, :, None] * v[:, None, :]
        inverse[self.direct] = self.direct_inverse
        return inverse


def _partial_order(
    starts: np.ndarray,
    ends: np.ndarray,
    counts: np.ndarray,
    pair_f: np.ndarray,
    pair_w: np.ndarray,
    shared: _SharedInverses,
) -> np.ndarray:
    """Order of the pairs for :func:`_partial_windows`: downdatable ones first, most rows
    missing first, so the pairs still downdating at each step are a leading slice."""
    missing = (ends - starts + 1)[pair_w] - counts[pair_f, pair_w]
    direct = (missing > MAX_DOWNDATE) | shared.singular[pair_w]
    return np.lexsort((-missing, direct))


def _partial_windows(
    usable: np.ndarray,
    design: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    counts: np.ndarray,
    pair_f: np.ndarray,
    pair_w: np.ndarray,
    shared: _SharedInverses,
    base_params: np.ndarray,
    xty: np.ndarray,
) -> _PartialWindows:
    """Parameters, singular flags and ``diag((X'X)^-1)`` of windows with missing rows.

    Pairs come in :func:`_partial_order`. ``base_params`` are ``A^-1 X'y`` of each pair (the
    shared inverse applied to the pair's own ``X'y``), ``xty`` the pairs' ``X'y``. A pair
    missing ``k <= MAX_DOWNDATE`` rows is downdated (see :class:`_PartialWindows`) and kept
    when the downdates shrink the determinant of ``X'X`` by at most :data:`DOWNDATE_LIMIT`
    (rounding errors grow by about its inverse; matrix determinant lemma:
    ``det A_k = det A prod d_j``) and its scaled determinant stays above the singularity
    tolerance, so every Cholesky pivot would too (pivots of a unit-diagonal matrix are at
    most 1). Other pairs get their own ``X'X`` from cumulative sums and the batched Cholesky
    of ``invert_normal_equations``.
    """
    n_funds, n_time = usable.shape
    n_params = design.shape[1]
    missing = (ends - starts + 1)[pair_w] - counts[pair_f, pair_w]
    params = base_params
    diag = np.take(np.diagonal(shared.inverse, axis1=1, axis2=2), pair_w, axis=0)
    singular = np.zeros(pair_w.size, dtype=bool)
    direct = (missing > MAX_DOWNDATE) | shared.singular[pair_w]
    n_down = int(np.count_nonzero(~direct))
    steps: list[tuple[np.ndarray, np.ndarray]] = []
    if n_down:
        # the missing rows of each fund in time order, and how many come before each row
        miss_f, miss_t = np.nonzero(~usable)
        offsets = np.zeros(n_funds + 1, dtype=np.int64)
        np.cumsum(np.bincount(miss_f, minlength=n_funds), out=offsets[1:])
        before = np.zeros((n_funds, n_time + 1), dtype=np.int64)
        np.cumsum(~usable, axis=1, out=before[:, 1:])
        f, w = pair_f[:n_down], pair_w[:n_down]
        first_missing = offsets[f] + before[f, starts[w]]
        active = np.cumsum(np.bincount(missing[:n_down], minlength=1)[::-1])[::-1]
        ratio = np.ones(n_down)
        solved_rows = _inverse_times_rows(shared.inverse, design, starts, ends)
        for step in range(int(missing[0])):
            count = int(active[step + 1])  # pairs missing more than `step` rows
            rows = np.take(miss_t, first_missing[:count] + step)
            x = np.take(design, rows, axis=0)
            # A^-1 x for the row, then the earlier downdates of the pair
            if solved_rows is not None:
                window_rows = solved_rows.shape[1]
                flat = w[:count] * window_rows + (rows - starts[w[:count]])
                v = np.take(solved_rows.reshape(-1, n_params), flat, axis=0)
            else:
                inverse = np.take(shared.inverse, w[:count], axis=0)
                v = np.matmul(inverse, x[:, :, None])[:, :, 0]
            for earlier, d in steps:
                earlier = earlier[:count]
                v += earlier * (np.einsum("mp,mp->m", earlier, x) / d[:count])[:, None]
            d = 1.0 - np.einsum("mp,mp->m", x, v)
            with np.errstate(divide="ignore", invalid="ignore"):
                scaled = v / d[:, None]
            params[:count] += scaled * np.einsum("mp,mp->m", v, xty[:count])[:, None]
            diag[:count] += scaled * v
            ratio[:count] *= d
            steps.append((v, d))
        failed = ~(ratio >= DOWNDATE_LIMIT) | ~(ratio * shared.scaled_det[w] > _ols.PIVOT_TOL)
        direct[:n_down] = failed
    rest = np.flatnonzero(direct)
    direct_inverse = np.empty((0, n_params, n_params))
    if rest.size:
        direct_inverse, singular[rest] = _direct_inverses(
            usable, design, starts, ends, pair_f[rest], pair_w[rest]
        )
        params[rest] = np.matmul(direct_inverse, xty[rest][:, :, None])[:, :, 0]
        diag[rest] = np.diagonal(direct_inverse, axis1=1, axis2=2)
    return _PartialWindows(
        params=params,
        singular=singular,
        diag=diag,
        windows=pair_w,
        shared_inverse=shared.inverse,
        steps=steps,
        direct=rest,
        direct_inverse=direct_inverse,
    )


def _inverse_times_rows(
    inverse: np.ndarray, design: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray | None:
    """``A_w^-1 x_t`` for every row ``t`` of every window ``w``, shape ``(W, window, P)``.

    One batched product over strided views for windows of one length that advance one row at
    a time; ``None`` otherwise (expanding windows), where callers multiply per pair.
    """
    length = ends - starts + 1
    if not ((length == length[0]).all() and (np.diff(starts) == 1).all()):
        return None
    size, first = int(length[0]), int(starts[0])
    rows = sliding_window_view(design, size, axis=0)[first : first + starts.size]  # (W, P, L)
    return np.matmul(rows.transpose(0, 2, 1), inverse)  # x' A^-1 = (A^-1 x)', A symmetric


def _direct_inverses(
    usable: np.ndarray,
    design: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    pair_f: np.ndarray,
    pair_w: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's own ``X'X`` (cumulative sums of ``m_t pack(x_t x_t')``), inverted."""
    n_params = design.shape[1]
    involved, local = np.unique(pair_f, return_inverse=True)
    packed = LagProducts(design).packed(0)
    weighted = usable[involved].T[:, :, None] * packed[:, None, :]
    cumulative = np.zeros((weighted.shape[0] + 1, *weighted.shape[1:]))
    np.cumsum(weighted, axis=0, out=cumulative[1:])
    sums = cumulative[ends[pair_w] + 1, local] - cumulative[starts[pair_w], local]
    return invert_normal_equations(unpack_symmetric(sums, n_params))


def _window_sums(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Window sums of ``values`` (time on axis 0) via cumulative sums: ``(T, ...) -> (W, ...)``."""
    cumulative = np.empty((values.shape[0] + 1, *values.shape[1:]))
    cumulative[0] = 0.0
    np.cumsum(values, axis=0, out=cumulative[1:])
    return _difference(cumulative, starts, ends)


def _difference(cumulative: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``cumulative[ends + 1] - cumulative[starts]``, with slices for consecutive windows."""
    return _rows(cumulative, ends + 1) - _rows(cumulative, starts)


def _rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``array[rows]``, as a view when ``rows`` are consecutive or all equal (broadcast)."""
    first = int(rows[0])
    if rows[-1] - first == rows.size - 1 and (np.diff(rows) == 1).all():
        return array[first : first + rows.size]
    if (rows == first).all():
        return array[first : first + 1]
    return array[rows]


def _fit_fund_chunk(
    inputs: PreparedInputs,
    usable: np.ndarray,
    fund_ids: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    counts: np.ndarray,
    valid: np.ndarray,
    shared: _SharedInverses,
    estimator: CovarianceEstimator,
) -> tuple[np.ndarray, ...]:
    """Fit every valid window of a chunk of funds.

    Per-pair masks and sums are ``(fund, window)``; ``X'y`` and the estimates are
    ``(window, fund, P)`` (one matrix product per window); pairs come out fund-major.
    """
    design = inputs.design
    n_params = design.shape[1]
    fund_usable = usable[fund_ids]
    y = np.where(fund_usable, inputs.returns[fund_ids], 0.0)
    n_funds = y.shape[0]
    ysum = _window_sums(y.T, starts, ends).T
    yy = _window_sums((y * y).T, starts, ends).T
    xty = _window_xty(y, design, starts, ends)
    complete = counts == (ends - starts + 1)[None, :]

    # complete windows: one shared inverse per window, applied to all funds in one product
    params = np.matmul(xty, shared.inverse)  # the inverse is symmetric
    singular = valid & complete & shared.singular[None, :]

    # windows with missing rows: the shared inverse downdated by the missing rows, or their
    # own X'X from cumulative sums of m_t x_t x_t'
    partial_f, partial_w = np.nonzero(valid & ~complete)
    partial = None
    if partial_w.size:
        order = _partial_order(starts, ends, counts, partial_f, partial_w, shared)
        partial_f, partial_w = partial_f[order], partial_w[order]
        partial = _partial_windows(
            fund_usable,
            design,
            starts,
            ends,
            counts,
            partial_f,
            partial_w,
            shared,
            params[partial_w, partial_f],
            xty[partial_w, partial_f],
        )
        params[partial_w, partial_f] = partial.params
        singular[partial_f, partial_w] = partial.singular

    # (fund, window) pairs with estimates, fund-major
    keep = valid & ~singular
    fund_pos, window_pos = np.nonzero(keep)
    flat = window_pos * n_funds + fund_pos  # row of the pair in (window, fund) arrays
    pair_params = np.take(params.reshape(-1, n_params), flat, axis=0)
    pair_nobs = counts[keep]
    pair_yy, pair_ysum = yy[keep], ysum[keep]
    pair_tss = pair_yy - pair_ysum * pair_ysum / pair_nobs
    is_partial = ~complete[keep]
    if is_partial.any():
        slot = np.full(keep.shape, -1)
        slot[partial_f, partial_w] = np.arange(partial_w.size)
        partial_slot = slot[keep][is_partial]
    if estimator.needs_scores:
        breads = shared.inverse[window_pos]
        if is_partial.any():
            breads[is_partial] = partial.bread()[partial_slot]
        pair_ssr, pair_bse = _robust_bse(
            y,
            fund_usable,
            design,
            fund_pos,
            window_pos,
            starts,
            ends,
            pair_params,
            breads,
            pair_nobs,
            estimator,
        )
    else:
        bread_diag = np.diagonal(shared.inverse, axis1=1, axis2=2)[window_pos]
        if is_partial.any():
            bread_diag[is_partial] = partial.diag[partial_slot]
        pair_xty = np.take(xty.reshape(-1, n_params), flat, axis=0)
        pair_ssr = pair_yy - np.einsum("mp,mp->m", pair_params, pair_xty)
        scale = pair_ssr / (pair_nobs - n_params)
        with np.errstate(invalid="ignore"):
            pair_bse = np.sqrt(scale[:, None] * bread_diag)
    return (
        fund_ids[fund_pos],
        window_pos,
        pair_params,
        pair_bse,
        pair_nobs,
        pair_ssr,
        pair_tss,
    )


def _window_xty(
    y: np.ndarray, design: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """``X'y`` of every (window, fund): ``(W, n, P)`` from ``y`` ``(n, T)`` (0 where unusable).

    Rolling windows of one length: for each window one product of the funds' window rows with
    the window's design rows, read through strided views (no copies, and sums of ``window``
    terms rather than differences of running sums). Expanding windows: cumulative sums.
    """
    length = ends - starts + 1
    if (length == length[0]).all() and (np.diff(starts) == 1).all():
        size, first, count = int(length[0]), int(starts[0]), starts.size
        y_windows = sliding_window_view(y, size, axis=1)[:, first : first + count]
        x_windows = sliding_window_view(design, size, axis=0)[first : first + count]
        return np.matmul(y_windows.transpose(1, 0, 2), x_windows.transpose(0, 2, 1))
    return _window_sums(y.T[:, :, None] * design[:, None, :], starts, ends)


def _robust_bse(
    y: np.ndarray,
    usable: np.ndarray,
    design: np.ndarray,
    local_fund: np.ndarray,
    window_pos: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    params: np.ndarray,
    bread: np.ndarray,
    nobs: np.ndarray,
    estimator: CovarianceEstimator,
) -> tuple[np.ndarray, np.ndarray]:
    """SSR and robust standard errors of the (fund, window) pairs, in cache-sized batches.

    Each pair's window rows are gathered: for windows of one length that advance one row at
    a time, as whole blocks of strided views of the design, the returns and the usable mask
    (:func:`_window_blocks`); otherwise row by row.
    """
    n_time, n_params = design.shape
    n_pairs = params.shape[0]
    ssr = np.empty(n_pairs)
    bse = np.empty((n_pairs, n_params))
    pair_starts, pair_ends = starts[window_pos], ends[window_pos]
    length = int((pair_ends - pair_starts).max(initial=0)) + 1
    batch = max(1, ROBUST_BATCH_BYTES // (length * (8 * (3 * n_params + 4) + 1)))
    blocks = _window_blocks(y, usable, design, starts, ends)
    offsets = np.arange(length)
    for first in range(0, n_pairs, batch):
        part = slice(first, first + batch)
        if blocks is not None:
            y_blocks, usable_blocks, design_blocks = blocks
            funds, windows = local_fund[part], window_pos[part]
            mask = usable_blocks[funds, windows]
            window_design = design_blocks[windows]
            observed = y_blocks[funds, windows]
        else:
            rows = pair_starts[part, None] + offsets[None, :]
            inside = rows <= pair_ends[part, None]
            rows = np.minimum(rows, n_time - 1)
            funds = local_fund[part, None]
            mask = inside & usable[funds, rows]
            window_design = design[rows]
            observed = y[funds, rows]
        fitted = np.einsum("mtp,mp->mt", window_design, params[part])
        resid = np.where(mask, observed - fitted, 0.0)
        ssr[part] = np.einsum("mt,mt->m", resid, resid)
        scores = regression_scores(resid, mask, window_design)
        cov = estimator.cov(bread[part], ssr=ssr[part], nobs=nobs[part], scores=scores)
        with np.errstate(invalid="ignore"):
            bse[part] = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    return ssr, bse


def _window_blocks(
    y: np.ndarray, usable: np.ndarray, design: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Views of every window's rows: returns and usable mask ``(n, W, L)``, design
    ``(W, L, P)`` (each window a contiguous block of the design); ``None`` unless the windows
    have one length and advance one row at a time."""
    length = ends - starts + 1
    if not ((length == length[0]).all() and (np.diff(starts) == 1).all()):
        return None
    size, first, count = int(length[0]), int(starts[0]), starts.size
    windows = slice(first, first + count)
    y_blocks = sliding_window_view(y, size, axis=1)[:, windows]
    usable_blocks = sliding_window_view(usable, size, axis=1)[:, windows]
    design_blocks = sliding_window_view(design, (size, design.shape[1]))[windows, 0]
    return y_blocks, usable_blocks, design_blocks


def _skip_reason(had_window: bool, min_obs: int) -> str:
    if had_window:
        return "every window's factor design is singular (collinear factors)"
    return f"no window with at least {min_obs} usable observations"
