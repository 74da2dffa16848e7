"""Batched static OLS: every fund's factor regression solved together.

The returns of ``N`` funds form a ``(N, T)`` array with NaN where a fund has no data (before
inception, gaps, after closure). A boolean mask says which rows each fund uses: the fund and
*every* factor are non-NaN. Per-fund normal equations are then plain matrix products,

    X'X_f = sum_t m_ft x_t x_t'   -> (N, T) @ (T, P*P)
    X'y_f = sum_t m_ft y_ft x_t   -> (N, T) @ (T, P)

solved by a batched Cholesky of the scaled (unit-diagonal) ``X'X`` with a pivot-based rank
check, over chunks of funds sized from a memory budget. There is no Python loop over funds.
``X'X`` is symmetric, so only its upper triangle is formed: the product is with the
``(T, P(P+1)/2)`` packed outer products of the design rows.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from factorxray.engine.covariance import (
    CovarianceEstimator,
    LagProducts,
    PackedScores,
    Scores,
    SharedDesignScores,
    make_estimator,
    unpack_symmetric,
)
from factorxray.errors import CollinearityError, InsufficientDataError, UsageError

__all__ = ["regress"]

#: Working-memory budget of one chunk of funds, in bytes. The engine runs its products on one
#: BLAS thread (see :func:`blas_threads`), so the budget only bounds memory and keeps a chunk's
#: arrays near the CPU caches; fewer, larger chunks cost less Python per fund.
CHUNK_BYTES = 8 * 2**20
#: Fewest funds per chunk, whatever the budget (so long daily series still batch well).
MIN_CHUNK_FUNDS = 32
#: A scaled Cholesky pivot below this (1 - R^2 of a regressor on the previous ones) is singular.
PIVOT_TOL = 1e-10
ALPHA = "alpha"
#: Most threads the engine runs its chunks on (each on one BLAS thread); see :func:`engine_workers`.
MAX_WORKERS = 4
#: Panels covering at least this many fund-periods are fitted on several threads; smaller ones
#: on the calling thread (starting threads costs more than it saves below ~20 ms of work).
PARALLEL_CELLS = 2_000_000
#: BLAS threads the engine's products run on. One: the products are small (a chunk of funds
#: times a few dozen columns), and a product split over threads waits for the slowest core, so
#: on a machine whose other core is busy multi-threaded BLAS stalls (10,000 funds x 5,000 days,
#: HAC, one of two cores busy: 43-51 s with the default two threads, 1.4 s with one).
BLAS_THREADS = 1

_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None
_blas_controller = None


@contextmanager
def blas_threads(limit: int | None = None) -> Iterator[None]:
    """Run the enclosed numpy products on ``limit`` BLAS threads (default :data:`BLAS_THREADS`).

    Uses threadpoolctl on the BLAS libraries loaded in the process (numpy's OpenBLAS). Nested
    and concurrent uses (several threads running the engine) share one limit: the first to
    enter sets it, the last to leave restores the previous setting. The threadpoolctl
    controller is built once per process (it scans the loaded libraries: ~3 ms), so entering
    costs microseconds.

    Parameters
    ----------
    limit : int, optional
        Number of BLAS threads; ``None`` means :data:`BLAS_THREADS`.

    Examples
    --------
    >>> with blas_threads():
    ...     _ = np.ones((2, 2)) @ np.ones((2, 2))
    """
    global _blas_users, _blas_limiter, _blas_controller
    with _blas_lock:
        if _blas_users == 0:
            try:
                if _blas_controller is None:
                    from threadpoolctl import ThreadpoolController

                    _blas_controller = ThreadpoolController()
                threads = BLAS_THREADS if limit is None else limit
                _blas_limiter = _blas_controller.limit(limits=threads, user_api="blas")
            except Exception:  # thread control is an optimisation, never an error
                _blas_limiter = None
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limiter is not None:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


@dataclass(frozen=True)
class PreparedInputs:
    """Validated, aligned engine inputs.

    Attributes
    ----------
    returns : numpy.ndarray
        Fund excess returns, shape ``(N, T)``, float64, NaN where missing.
    design : numpy.ndarray
        ``[1, factors]``, shape ``(T, P)``, rows with a NaN factor set to 0.
    factor_rows : numpy.ndarray
        Rows where every factor is observed, shape ``(T,)``.
    funds : list of str
        Fund names.
    factors : list of str
        Regressor names (without the constant).
    index : pandas.Index
        The common, sorted index.
    """

    returns: np.ndarray
    design: np.ndarray
    factor_rows: np.ndarray
    funds: list[str]
    factors: list[str]
    index: pd.Index

    @property
    def terms(self) -> list[str]:
        """Parameter names: ``alpha`` then the factors."""
        return [ALPHA, *self.factors]

    def usable(self) -> np.ndarray:
        """Rows each fund uses (fund and all factors observed), shape ``(N, T)``."""
        usable = np.equal(self.returns, self.returns)  # False exactly where NaN
        if not self.factor_rows.all():
            usable &= self.factor_rows[None, :]
        return usable


@dataclass(frozen=True)
class ChunkFit:
    """Estimates for a chunk of ``n`` regressions (arrays indexed by regression)."""

    params: np.ndarray
    cov: np.ndarray
    nobs: np.ndarray
    ssr: np.ndarray
    tss: np.ndarray
    singular: np.ndarray


def regress(
    returns: pd.DataFrame | pd.Series,
    factors: pd.DataFrame,
    *,
    cov: str | CovarianceEstimator = "hac",
    hac_lags: int | None = None,
    min_obs: int = 36,
    factors_used: list[str] | None = None,
    rf_column: str = "RF",
):
    """Regress many funds' excess returns on factor returns, all at once.

    Each fund is fitted on its own rows: those where the fund *and every factor* are
    observed, so funds with different inception dates or gaps are estimated side by side
    (ragged panel) without dropping anyone's history.

    Parameters
    ----------
    returns : pandas.DataFrame or pandas.Series
        Fund **excess** returns (fund return minus the risk-free rate), in decimals, one column
        per fund; a Series is a single fund named after ``Series.name`` (``"fund"`` if unnamed).
        NaN marks months without data.
    factors : pandas.DataFrame
        Factor returns in decimals on the same kind of index (usually a monthly
        ``PeriodIndex``; daily or any sortable index works). Only the index intersection with
        ``returns`` is used.
    cov : {"hac", "nonrobust", "HC1"} or CovarianceEstimator
        Parameter covariance, case-insensitive. ``"hac"`` is Newey-West with a Bartlett kernel.
        Defaults match statsmodels ``OLS(...).fit(cov_type=...)``: see Notes.
    hac_lags : int, optional
        Fixed HAC lag for every fund. Default: ``floor(4 * (n / 100) ** (2 / 9))`` from each
        fund's own number ``n`` of usable observations.
    min_obs : int
        Funds with fewer usable observations (or fewer than ``K + 2`` for ``K`` factors, so
        that at least one residual degree of freedom is left) are skipped, not fitted.
    factors_used : list of str, optional
        Factor columns to use as regressors, in this order. Default: every column except
        ``rf_column``.
    rf_column : str
        Name of the risk-free column. Pass *excess* returns; RF in factors is ignored as a
        regressor unless listed in ``factors_used``.

    Returns
    -------
    ExposureResults
        Estimates per fund; funds that could not be fitted are in ``skipped``.

    Raises
    ------
    UsageError
        Bad input: wrong types, non-numeric or unknown columns, mismatched or non-overlapping
        indexes, unknown ``cov``, negative ``hac_lags``.
    InsufficientDataError
        No fund has enough usable observations.
    CollinearityError
        The factors are collinear (the message names them).

    Notes
    -----
    Matching statsmodels' defaults:

    * ``nonrobust``: p-values and intervals from Student t with ``n - K - 1`` df.
    * ``HC1`` and ``hac``: p-values and intervals from the normal distribution
      (statsmodels' ``use_t=False`` default for robust covariances).
    * ``hac``: Bartlett weights ``1 - l / (L + 1)`` and no small-sample correction
      (statsmodels' ``use_correction=False``). With gaps inside a fund's history the lags
      run over the fund's consecutive *usable* observations, i.e. the series with the NaN
      rows dropped, which is what statsmodels sees after ``dropna``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> idx = pd.period_range("2000-01", periods=60, freq="M")
    >>> rng = np.random.default_rng(0)
    >>> f = pd.DataFrame({"Mkt-RF": rng.normal(0.005, 0.04, 60), "RF": 0.001}, index=idx)
    >>> y = 0.001 + 1.1 * f["Mkt-RF"] + rng.normal(0, 0.01, 60)
    >>> res = regress(y.rename("FUND"), f, cov="nonrobust")
    >>> round(float(res.params.loc["FUND", "Mkt-RF"]), 2)
    1.07
    """
    estimator = make_estimator(cov, hac_lags)
    min_obs = _check_min_obs(min_obs)
    inputs = prepare_inputs(returns, factors, factors_used=factors_used, rf_column=rf_column)
    usable = inputs.usable()
    first, last, nobs = usable_runs(usable)
    n_params = inputs.design.shape[1]
    skipped = _screen_funds(inputs.funds, nobs, max(min_obs, n_params + 1), min_obs)
    if skipped:
        kept = np.array([i for i, f in enumerate(inputs.funds) if f not in skipped], dtype=int)
    else:
        kept = np.arange(len(inputs.funds))
    if kept.size == 0:
        error = InsufficientDataError(_all_skipped_message(skipped))
        error.skipped = dict(skipped)
        raise error
    runs = _Runs(first[kept], last[kept], nobs[kept])
    used_rows = (usable if kept.size == usable.shape[0] else usable[kept]).any(axis=0)
    with blas_threads():
        check_design_rank(inputs.design[used_rows], inputs.terms)
        fit = _fit_in_chunks(inputs, usable, kept, runs, estimator)
    for position in np.flatnonzero(fit.singular):
        fund_id = kept[position]
        design = inputs.design[usable[fund_id]]
        skipped[inputs.funds[fund_id]] = "collinear factors in its sample: " + ", ".join(
            collinear_terms(design, inputs.terms)
        )
    good = ~fit.singular
    if not good.any():
        raise CollinearityError(
            "every fund's factor design is singular in its own sample; drop collinear factors"
        )
    if good.all():
        good = slice(None)  # every fund: no copies
    return _build_results(
        inputs,
        kept[good],
        runs.first[good],
        runs.last[good],
        _subset(fit, good),
        estimator,
        skipped,
    )


def prepare_inputs(
    returns: pd.DataFrame | pd.Series,
    factors: pd.DataFrame,
    *,
    factors_used: list[str] | None,
    rf_column: str,
) -> PreparedInputs:
    """Validate and align fund returns and factors (shared by the static and rolling engines).

    Parameters
    ----------
    returns : pandas.DataFrame or pandas.Series
        Fund excess returns, as in :func:`regress`.
    factors : pandas.DataFrame
        Factor returns, as in :func:`regress`.
    factors_used : list of str or None
        Regressors; default every column but ``rf_column``.
    rf_column : str
        Risk-free column, dropped unless in ``factors_used``.

    Returns
    -------
    PreparedInputs
        Arrays on the sorted index intersection.

    Raises
    ------
    UsageError
        On any malformed input.

    Examples
    --------
    >>> idx = pd.period_range("2000-01", periods=3, freq="M")
    >>> f = pd.DataFrame({"MKT": [0.01, 0.02, -0.01], "RF": 0.0}, index=idx)
    >>> prepare_inputs(pd.Series([0.0, 0.1, 0.2], index=idx), f, factors_used=None,
    ...                rf_column="RF").factors
    ['MKT']
    """
    fund_frame, fund_labels = _as_fund_frame(returns)
    if not isinstance(factors, pd.DataFrame):
        raise UsageError(f"factors must be a pandas DataFrame, not {type(factors).__name__}")
    factor_labels = factors.columns.tolist()  # once: a pyarrow-string Index lists slowly
    names = _regressor_names(factors, factor_labels, factors_used, rf_column)
    columns = [str(c) for c in factor_labels]
    positions = [columns.index(name) for name in names]
    fund_dtypes = fund_frame.dtypes.tolist()
    factor_dtypes = factors.dtypes.tolist()
    _check_numeric(fund_labels, fund_dtypes, "returns")
    _check_numeric(names, [factor_dtypes[p] for p in positions], "factors")
    index, fund_rows, factor_rows = _common_index(fund_frame.index, factors.index)
    fund_values = _float_values(fund_frame, fund_dtypes, fund_rows, None, "returns")
    factor_values = _float_values(factors, factor_dtypes, factor_rows, positions, "factors")
    factor_rows = ~np.isnan(factor_values).any(axis=1)
    design = np.empty((len(index), len(names) + 1))
    design[:, 0] = 1.0
    design[:, 1:] = np.where(factor_rows[:, None], factor_values, 0.0)
    return PreparedInputs(
        returns=np.ascontiguousarray(fund_values.T),
        design=design,
        factor_rows=factor_rows,
        funds=[str(c) for c in fund_labels],
        factors=names,
        index=index,
    )


def solve_normal_equations(
    xtx: np.ndarray, xty: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve many small normal equations with a vectorized Cholesky and a rank check.

    ``X'X`` is scaled to unit diagonal first; a Cholesky pivot below :data:`PIVOT_TOL`
    (regressor ``j`` explains less than 1e-10 of itself beyond the previous regressors) marks
    the system singular.

    Parameters
    ----------
    xtx : numpy.ndarray
        ``X'X``, shape ``(m, P, P)``.
    xty : numpy.ndarray
        ``X'y``, shape ``(m, P)``.

    Returns
    -------
    params : numpy.ndarray
        Solutions, shape ``(m, P)``; NaN for singular systems.
    inverse : numpy.ndarray
        ``(X'X)^-1``, shape ``(m, P, P)``; NaN for singular systems.
    singular : numpy.ndarray
        Boolean, shape ``(m,)``.

    Examples
    --------
    >>> b, inv, bad = solve_normal_equations(np.array([[[2.0, 0], [0, 4]]]), np.array([[2.0, 2]]))
    >>> b, bad
    (array([[1. , 0.5]]), array([False]))
    """
    inverse, singular = invert_normal_equations(xtx)
    params = np.matmul(inverse, xty[:, :, None])[:, :, 0]
    return params, inverse, singular


def invert_normal_equations(xtx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(X'X)^-1`` of many small systems with the rank check of :func:`solve_normal_equations`.

    Parameters
    ----------
    xtx : numpy.ndarray
        ``X'X``, shape ``(m, P, P)``.

    Returns
    -------
    inverse : numpy.ndarray
        Shape ``(m, P, P)``; NaN for singular systems.
    singular : numpy.ndarray
        Boolean, shape ``(m,)``.

    Examples
    --------
    >>> inv, bad = invert_normal_equations(np.array([[[2.0, 0], [0, 4]]]))
    >>> inv[0].diagonal(), bad
    (array([0.5 , 0.25]), array([False]))
    """
    lower, singular, outer = _scaled_cholesky(xtx)
    inverse = _cholesky_inverse(lower)
    inverse *= outer
    inverse[singular] = np.nan
    return inverse, singular


def _scaled_cholesky(xtx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cholesky factors of ``X'X`` scaled to unit diagonal, the singular flags (a pivot below
    :data:`PIVOT_TOL`, or a zero column) and the scaling ``outer`` (``scale_i scale_j``)."""
    diag = np.diagonal(xtx, axis1=1, axis2=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 1.0 / np.sqrt(diag)
    scale = np.where(np.isfinite(scale), scale, 0.0)
    outer = scale[:, :, None] * scale[:, None, :]
    lower, singular = _cholesky(xtx * outer)
    singular |= (diag <= 0).any(axis=1)
    return lower, singular, outer


def _singular(xtx: np.ndarray) -> np.ndarray:
    """The singular flags of :func:`invert_normal_equations`, without the inverse."""
    return _scaled_cholesky(xtx)[1]


def check_design_rank(design: np.ndarray, terms: list[str]) -> None:
    """Raise :class:`CollinearityError` if the pooled design ``[1, factors]`` is singular.

    Parameters
    ----------
    design : numpy.ndarray
        Rows of ``[1, factors]``, shape ``(T, P)``.
    terms : list of str
        Names of the columns (``alpha`` first).

    Raises
    ------
    CollinearityError
        Naming the collinear factors.

    Examples
    --------
    >>> x = np.column_stack([np.ones(4), [1.0, 2, 3, 4], [2.0, 4, 6, 8]])
    >>> check_design_rank(x, ["alpha", "A", "B"])
    Traceback (most recent call last):
    ...
    factorxray.errors.CollinearityError: collinear factors: A, B; drop one of them
    """
    if _singular((design.T @ design)[None])[0]:
        names = collinear_terms(design, terms)
        raise CollinearityError(f"collinear factors: {', '.join(names)}; drop one of them")


def collinear_terms(design: np.ndarray, terms: list[str]) -> list[str]:
    """Names of the regressors involved in the (near) linear dependence of ``design``.

    Parameters
    ----------
    design : numpy.ndarray
        Shape ``(T, P)``, columns named by ``terms``.
    terms : list of str
        Column names; the constant is reported as ``"alpha (constant)"``.

    Returns
    -------
    list of str
        Names whose weight in the smallest-eigenvalue direction is material.

    Examples
    --------
    >>> x = np.column_stack([np.ones(3), [1.0, 1, 1], [0.5, 2, 3]])
    >>> collinear_terms(x, ["alpha", "A", "B"])
    ['alpha (constant)', 'A']
    """
    norms = np.sqrt((design**2).sum(axis=0))
    zero = norms == 0
    if zero.any():
        return [_term_label(terms[j]) for j in np.flatnonzero(zero)]
    scaled = design / norms
    _, vectors = np.linalg.eigh(scaled.T @ scaled)
    direction = np.abs(vectors[:, 0])
    involved = direction > 1e-3 * direction.max()
    return [_term_label(terms[j]) for j in np.flatnonzero(involved)]


def regression_scores(
    resid: np.ndarray,
    usable: np.ndarray,
    design: np.ndarray,
    products: LagProducts | None = None,
    start: int = 0,
) -> Scores:
    """Scores ``x_t * u_t`` of a batch, with lags counted in usable observations.

    Parameters
    ----------
    resid : numpy.ndarray
        Residuals, shape ``(n, T)``, 0 on unusable rows.
    usable : numpy.ndarray
        Boolean, shape ``(n, T)``.
    design : numpy.ndarray
        Shared design ``(T, P)`` or per-regression design ``(n, T, P)``.
    products : LagProducts, optional
        Packed products of the full design for :class:`SharedDesignScores` (reused across
        chunks); ``design`` is then rows ``start ..`` of it.
    start : int
        First row of ``design`` (and of the residuals) in the full design.

    Returns
    -------
    Scores
        :class:`SharedDesignScores` when the design is shared and no regression has a gap
        inside its rows (one matrix product per lag), else :class:`PackedScores` with each
        regression's usable rows packed at the front.

    Examples
    --------
    >>> u = np.array([[1.0, 0.0, 2.0]])
    >>> regression_scores(u, np.array([[True, False, True]]), np.ones((3, 1))).scores
    array([[[1., 2., 0.]]])
    """
    n_funds, n_time = resid.shape
    per_fund_design = design.ndim == 3
    gaps = np.flatnonzero(has_internal_gap(usable))
    if not per_fund_design and not gaps.size:
        return SharedDesignScores(resid, design, products, start)
    n_params = design.shape[-1]
    scores = np.empty((n_funds, n_params, n_time))
    if per_fund_design:
        np.multiply(design.transpose(0, 2, 1), resid[:, None, :], out=scores)
    else:
        np.multiply(design.T[None, :, :], resid[:, None, :], out=scores)
    if gaps.size:
        # only regressions with a gap inside their rows need packing: elsewhere the zero
        # scores before the first and after the last usable row leave the lags unchanged
        order = np.argsort(~usable[gaps], axis=1, kind="stable")
        scores[gaps] = np.take_along_axis(scores[gaps], order[:, None, :], axis=2)
    return PackedScores(scores)


def usable_runs(usable: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First and last usable row and the number of usable rows of each row of ``usable``.

    Rows without a usable entry get ``first = 0``, ``last = T - 1`` and a count of 0.

    Parameters
    ----------
    usable : numpy.ndarray
        Boolean, shape ``(n, T)``.

    Returns
    -------
    first, last, count : numpy.ndarray
        Integer arrays, shape ``(n,)``.

    Examples
    --------
    >>> usable_runs(np.array([[False, True, True, False], [True, False, True, True]]))
    (array([1, 0]), array([2, 3]), array([2, 3]))
    """
    n_time = usable.shape[1]
    count = np.count_nonzero(usable, axis=1)
    first = np.argmax(usable, axis=1)  # stops at the first True of each row
    last = np.full(usable.shape[0], n_time - 1, dtype=first.dtype)
    open_end = np.flatnonzero(~usable[:, -1]) if n_time else np.empty(0, dtype=int)
    if open_end.size:  # only rows that end early are searched from the end
        last[open_end] = n_time - 1 - np.argmax(usable[open_end, ::-1], axis=1)
    return first, last, count


def has_internal_gap(usable: np.ndarray) -> np.ndarray:
    """Whether each row's usable entries are not one contiguous run.

    Parameters
    ----------
    usable : numpy.ndarray
        Boolean, shape ``(n, T)``.

    Returns
    -------
    numpy.ndarray
        Boolean, shape ``(n,)``.

    Examples
    --------
    >>> has_internal_gap(np.array([[False, True, True], [True, False, True]]))
    array([False,  True])
    """
    first, last, count = usable_runs(usable)
    return (count > 0) & (last - first + 1 != count)


def infer_periods_per_year(index: pd.Index) -> float | None:
    """Periods per year of an index: M->12, D/B->252, W->52, Q->4, A/Y->1.

    Uses the index's frequency (``PeriodIndex`` or ``DatetimeIndex.freq``), else the
    frequency pandas infers, else the median spacing of the dates. ``None`` for other indexes.

    Parameters
    ----------
    index : pandas.Index
        Sorted time index.

    Returns
    -------
    float or None
        Periods per year.

    Examples
    --------
    >>> infer_periods_per_year(pd.period_range("2000-01", periods=3, freq="M"))
    12.0
    """
    code = None
    if isinstance(index, pd.PeriodIndex | pd.DatetimeIndex):
        code = index.freqstr
        if code is None and isinstance(index, pd.DatetimeIndex) and len(index) >= 3:
            code = pd.infer_freq(index)
    if code:
        match = re.fullmatch(r"([A-Za-z]+)(-\w+)?", code)
        if match and match.group(1).upper() in _FREQ_PER_YEAR:
            return _FREQ_PER_YEAR[match.group(1).upper()]
    if isinstance(index, pd.DatetimeIndex) and len(index) >= 2:
        days = float(np.median((index[1:] - index[:-1]) / pd.Timedelta(days=1)))
        for limit, per_year in ((4, 252.0), (10, 52.0), (45, 12.0), (135, 4.0)):
            if days <= limit:
                return per_year
        return 1.0
    return None


_FREQ_PER_YEAR = {
    **dict.fromkeys(["M", "ME", "MS", "BM", "BME", "BMS"], 12.0),
    **dict.fromkeys(["D", "B", "C"], 252.0),
    **dict.fromkeys(["W"], 52.0),
    **dict.fromkeys(["Q", "QE", "QS", "BQ", "BQE", "BQS"], 4.0),
    **dict.fromkeys(["A", "Y", "YE", "YS", "AS", "BA", "BY", "BYE", "BYS"], 1.0),
}


# ----------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class _Runs:
    """First and last usable row and the number of usable rows of each fund."""

    first: np.ndarray
    last: np.ndarray
    nobs: np.ndarray


def _fit_in_chunks(
    inputs: PreparedInputs,
    usable: np.ndarray,
    kept: np.ndarray,
    runs: _Runs,
    estimator: CovarianceEstimator,
) -> ChunkFit:
    """Fit the funds ``kept`` in chunks of funds with similar spans, each on its own rows.

    Funds without an internal gap and those with one are chunked apart; inside each group funds
    are ordered by (first usable row, last usable row), so a chunk covers a short stretch of
    the time axis and only those rows enter its products. Gap-free funds take ``X'X`` from
    prefix sums of the design's packed outer products (two rows per fund, no product over
    time), all inverted in one batch up front; they keep the one-product-per-lag HAC path.
    """
    design = inputs.design
    n_time, n_params = design.shape
    first, last, nobs = runs.first, runs.last, runs.nobs
    gap = (last - first + 1) != nobs
    order = np.lexsort((last, first, gap))
    n_gap_free = int(np.count_nonzero(~gap))
    products = LagProducts(design)  # shared by the chunks
    bread = np.empty((0, n_params, n_params))
    singular = np.empty(0, dtype=bool)
    if n_gap_free:
        gap_free = order[:n_gap_free]
        xtx = unpack_symmetric(products.window_sums(first[gap_free], last[gap_free] + 1), n_params)
        bread, singular = invert_normal_equations(xtx)
    size = _chunk_size(n_time, n_params)
    chunks = []
    for begin, end, has_gap in ((0, n_gap_free, False), (n_gap_free, order.size, True)):
        if end > begin:
            for part in _chunks(np.arange(begin, end), size):
                chunks.append((int(part[0]), int(part[-1]) + 1, has_gap))

    def fit(chunk: tuple[int, int, bool]) -> ChunkFit:
        begin, end, has_gap = chunk
        local = order[begin:end]
        start, stop = int(first[local].min()), int(last[local].max()) + 1
        ids = kept[local]
        solved = None if has_gap else (bread[begin:end], singular[begin:end])
        return _fit_chunk(
            inputs.returns[ids, start:stop],
            usable[ids, start:stop],
            design[start:stop],
            products,
            start,
            estimator,
            nobs[local],
            solved,
        )

    cells = int(np.sum(last - first + 1))  # fund-periods the chunks cover
    parts = _map_chunks(fit, chunks, cells)
    fields = zip(*(_fields(part) for part in parts), strict=True)
    back = np.argsort(order)
    return ChunkFit(*(np.concatenate(arrays)[back] for arrays in fields))


def _fit_chunk(
    returns: np.ndarray,
    usable: np.ndarray,
    design: np.ndarray,
    products: LagProducts,
    start: int,
    estimator: CovarianceEstimator,
    nobs: np.ndarray,
    solved: tuple[np.ndarray, np.ndarray] | None,
) -> ChunkFit:
    """Fit one chunk. ``solved``: ``(X'X)^-1`` and the singular flags of gap-free funds (each
    using one contiguous run of rows), or ``None`` to form and solve ``X'X`` here."""
    n_params = design.shape[1]
    y = np.where(usable, returns, 0.0)
    xty = y @ design
    if solved is None:
        packed_xtx = usable.astype(np.float64) @ products.packed(0, start, start + len(design))
        params, bread, singular = solve_normal_equations(
            unpack_symmetric(packed_xtx, n_params), xty
        )
    else:
        bread, singular = solved
        params = np.matmul(bread, xty[:, :, None])[:, :, 0]
    resid = params @ design.T
    np.subtract(y, resid, out=resid)
    np.multiply(resid, usable, out=resid)
    ssr = np.einsum("nt,nt->n", resid, resid)
    tss = _total_sum_of_squares(y, usable, nobs)
    scores = None
    if estimator.needs_scores:
        if solved is None:
            scores = regression_scores(resid, usable, design, products, start)
        else:
            scores = SharedDesignScores(resid, design, products, start)
    cov = estimator.cov(bread, ssr=ssr, nobs=nobs, scores=scores)
    return ChunkFit(params=params, cov=cov, nobs=nobs, ssr=ssr, tss=tss, singular=singular)


def _total_sum_of_squares(y: np.ndarray, usable: np.ndarray, nobs: np.ndarray) -> np.ndarray:
    """Centred ``sum (y - mean)^2`` over usable rows (``y`` is 0 elsewhere).

    ``sum y^2 - (sum y)^2 / n`` in one pass; where the mean dominates the spread (the
    difference keeps under 1e-4 of ``sum y^2``, so it could lose more than ~1e-12 to
    cancellation) those funds are recomputed from centred values.
    """
    total = y.sum(axis=1)
    squares = np.einsum("nt,nt->n", y, y)
    tss = squares - total * total / nobs
    redo = np.flatnonzero(~(tss > 1e-4 * squares))
    if redo.size:
        centred = y[redo] - (total[redo] / nobs[redo])[:, None]
        centred *= usable[redo]
        tss[redo] = np.einsum("nt,nt->n", centred, centred)
    return tss


def _chunk_size(n_time: int, n_params: int) -> int:
    bytes_per_fund = n_time * (8 * 6 + 16 * n_params) + 8 * n_params * n_params * 4
    return max(MIN_CHUNK_FUNDS, CHUNK_BYTES // bytes_per_fund)


def _map_chunks(fit, chunks: list, cells: int) -> list:
    """``[fit(c) for c in chunks]``, on :func:`engine_workers` threads for large panels.

    Each worker takes the next chunk when it is done with one (numpy releases the GIL in its
    loops and in BLAS), so a core that another process keeps busy only slows its own worker:
    nothing waits for it but the last chunk.
    """
    workers = min(engine_workers(), len(chunks)) if cells >= PARALLEL_CELLS else 1
    if workers <= 1:
        return [fit(chunk) for chunk in chunks]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="factorxray") as pool:
        return list(pool.map(fit, chunks))


def engine_workers() -> int:
    """Threads the engine runs chunks on: :data:`MAX_WORKERS`, at most the usable CPUs.

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> engine_workers() >= 1
    True
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cpus))


def _chunks(ids: np.ndarray, size: int) -> list[np.ndarray]:
    """Split ``ids`` into equal chunks of at most ``size`` (no small remainder chunk)."""
    count = -(-ids.size // size)
    return np.array_split(ids, count) if count > 1 else [ids]


def _fields(fit: ChunkFit) -> tuple[np.ndarray, ...]:
    return (fit.params, fit.cov, fit.nobs, fit.ssr, fit.tss, fit.singular)


def _subset(fit: ChunkFit, keep: np.ndarray | slice) -> ChunkFit:
    return ChunkFit(*(array[keep] for array in _fields(fit)))


def _cholesky(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched Cholesky of unit-diagonal PSD matrices; flags pivots below :data:`PIVOT_TOL`.

    LAPACK (``numpy.linalg.cholesky``) does the work; if any matrix of the batch is not
    numerically positive definite it raises for the whole batch, and the column-by-column
    version below (the same arithmetic, vectorized over the batch) takes over.
    """
    try:
        lower = np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return _cholesky_columns(matrix)
    pivots = np.diagonal(lower, axis1=1, axis2=2) ** 2
    return lower, ~(pivots > PIVOT_TOL).all(axis=1)


def _cholesky_columns(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized Cholesky that continues past tiny pivots (then flagged singular)."""
    size = matrix.shape[-1]
    lower = np.zeros_like(matrix)
    singular = np.zeros(matrix.shape[0], dtype=bool)
    for j in range(size):
        row = lower[:, j, :j]
        pivot = matrix[:, j, j] - np.einsum("mk,mk->m", row, row)
        bad = ~(pivot > PIVOT_TOL)
        singular |= bad
        root = np.sqrt(np.where(bad, 1.0, pivot))
        lower[:, j, j] = root
        below = matrix[:, j + 1 :, j] - np.einsum("mik,mk->mi", lower[:, j + 1 :, :j], row)
        lower[:, j + 1 :, j] = below / root[:, None]
    return lower, singular


def _cholesky_inverse(lower: np.ndarray) -> np.ndarray:
    """``(L L')^-1 = L^-T L^-1``, ``L^-1`` by forward substitution vectorized over the batch."""
    size = lower.shape[-1]
    lower_inv = np.zeros_like(lower)
    diag = np.diagonal(lower, axis1=1, axis2=2)
    for i in range(size):
        row = -np.matmul(lower[:, i : i + 1, :i], lower_inv[:, :i, :])[:, 0, :]
        row[:, i] += 1.0
        lower_inv[:, i, :] = row / diag[:, i, None]
    return np.matmul(lower_inv.transpose(0, 2, 1), lower_inv)


# ----------------------------------------------------------------------------- results


def _build_results(
    inputs: PreparedInputs,
    fund_ids: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    fit: ChunkFit,
    estimator: CovarianceEstimator,
    skipped: dict[str, str],
):
    from factorxray.results import ExposureResults

    lags = estimator.lags(fit.nobs)
    return ExposureResults(
        funds=[inputs.funds[i] for i in fund_ids],
        terms=inputs.terms,
        params=fit.params,
        cov=fit.cov,
        nobs=fit.nobs,
        ssr=fit.ssr,
        tss=fit.tss,
        start=inputs.index[first],
        end=inputs.index[last],
        hac_lags=lags,
        cov_type=estimator.name,
        use_t=estimator.use_t,
        periods_per_year=infer_periods_per_year(inputs.index),
        skipped={fund: skipped[fund] for fund in inputs.funds if fund in skipped},
    )


# ----------------------------------------------------------------------------- validation


def _check_min_obs(min_obs: int) -> int:
    if isinstance(min_obs, bool) or not isinstance(min_obs, int | np.integer) or min_obs < 1:
        raise UsageError(f"min_obs must be a positive integer, not {min_obs!r}")
    return int(min_obs)


def _screen_funds(funds: list[str], nobs: np.ndarray, needed: int, min_obs: int) -> dict[str, str]:
    skipped: dict[str, str] = {}
    for fund, count in zip(funds, nobs.tolist(), strict=True):
        if count == 0:
            skipped[fund] = "no usable observations (all NaN where the factors are observed)"
        elif count < needed:
            skipped[fund] = (
                f"only {count} usable observations, fewer than {needed} "
                f"(min_obs={min_obs}, and one more than the number of parameters)"
            )
    return skipped


def _all_skipped_message(skipped: dict[str, str]) -> str:
    fund, reason = next(iter(skipped.items()))
    more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
    return f"no fund has enough data to fit: {fund}: {reason}{more}; lower min_obs (--min-months) or add data"


def _as_fund_frame(returns: pd.DataFrame | pd.Series) -> tuple[pd.DataFrame, list]:
    """The returns as a frame, and its column labels."""
    if isinstance(returns, pd.Series):
        name = returns.name if returns.name is not None else "fund"
        return returns.to_frame(name=str(name)), [str(name)]
    if isinstance(returns, pd.DataFrame):
        if returns.shape[1] == 0:
            raise UsageError("returns has no columns: pass one column per fund")
        labels = returns.columns.tolist()
        if _has_duplicates(returns.columns, labels):
            dupes = sorted({str(c) for c in returns.columns[returns.columns.duplicated()]})
            raise UsageError(f"returns has duplicate fund columns: {', '.join(dupes)}")
        return returns, labels
    raise UsageError(f"returns must be a pandas DataFrame or Series, not {type(returns).__name__}")


def _regressor_names(
    factors: pd.DataFrame, labels: list, factors_used: list[str] | None, rf_column: str
) -> list[str]:
    if _has_duplicates(factors.columns, labels):
        raise UsageError("factors has duplicate column names")
    columns = [str(c) for c in labels]
    if factors_used is None:
        names = [c for c in columns if c != rf_column]
    else:
        if isinstance(factors_used, str):
            raise UsageError("factors_used must be a list of column names, not a string")
        names = [str(c) for c in factors_used]
        unknown = [c for c in names if c not in columns]
        if unknown:
            raise UsageError(
                f"factors_used names unknown factor columns: {', '.join(unknown)}; "
                f"available: {', '.join(columns)}"
            )
        if len(set(names)) != len(names):
            raise UsageError("factors_used lists a factor twice")
    if not names:
        raise UsageError("no factor columns to regress on (only the RF column was given)")
    return names


def _has_duplicates(index: pd.Index, values: list) -> bool:
    """``index.has_duplicates`` (``values``: its labels), by a set of the labels when they are
    few and plain: pandas builds a hash table of a pyarrow-string Index (about 0.1 ms) on
    every new Index."""
    try:
        plain = len(values) <= 1_000 and all(value == value for value in values)  # no NaN
        if plain and len(set(values)) == len(values):
            return False
    except (TypeError, ValueError):  # a label that does not compare (pd.NA, arrays)
        pass
    return bool(index.has_duplicates)


def _check_numeric(labels: list, dtypes: list, what: str) -> None:
    """Raise unless every column (``labels`` with their ``dtypes``) is numeric (not bool)."""
    if all(_is_number_dtype(dtype) for dtype in set(dtypes)):
        return
    bad = [
        str(col) for col, dtype in zip(labels, dtypes, strict=True) if not _is_number_dtype(dtype)
    ]
    if bad:
        raise UsageError(f"{what} has non-numeric columns: {', '.join(bad)}")


def _is_number_dtype(dtype: object) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _common_index(
    fund_index: pd.Index, factor_index: pd.Index
) -> tuple[pd.Index, np.ndarray | None, np.ndarray | None]:
    """The sorted intersection of the two indexes, and the rows of each on it.

    Returns
    -------
    index : pandas.Index
        ``fund_index.intersection(factor_index).sort_values()``.
    fund_rows, factor_rows : numpy.ndarray or None
        Positions of ``index`` in each index; ``None`` where the index is ``index`` itself.
    """
    for index, what in ((fund_index, "returns"), (factor_index, "factors")):
        if index.has_duplicates:
            raise UsageError(f"{what} index has duplicate labels; aggregate or drop them first")
    if type(fund_index) is not type(factor_index) or _freq_of(fund_index) != _freq_of(factor_index):
        raise UsageError(
            f"returns and factors have different index kinds ({_describe(fund_index)} vs "
            f"{_describe(factor_index)}); put both on the same frequency"
        )
    if _sorted_periods(fund_index) and _sorted_periods(factor_index):
        return _common_periods(fund_index, factor_index)
    common = fund_index.intersection(factor_index)
    if len(common) == 0:
        raise UsageError("returns and factors have no dates in common")
    try:
        common = common.sort_values()
    except TypeError as exc:
        raise UsageError(f"the index cannot be sorted: {exc}") from None
    return common, _rows_of(fund_index, common), _rows_of(factor_index, common)


def _sorted_periods(index: pd.Index) -> bool:
    """A ``PeriodIndex`` without NaT in increasing order (unique: checked before)."""
    return isinstance(index, pd.PeriodIndex) and index.is_monotonic_increasing and not index.hasnans


def _common_periods(
    fund_index: pd.PeriodIndex, factor_index: pd.PeriodIndex
) -> tuple[pd.Index, np.ndarray | None, np.ndarray | None]:
    """:func:`_common_index` of two sorted period indexes of one frequency, on their ordinals
    (pandas' intersection and lookups cost ~0.1 ms each on every call)."""
    funds, factors = fund_index.asi8, factor_index.asi8
    name = _shared_name(fund_index, factor_index)
    if funds.size == factors.size and np.array_equal(funds, factors):
        return fund_index.rename(name), None, None
    _, fund_rows, factor_rows = np.intersect1d(
        funds, factors, assume_unique=True, return_indices=True
    )
    if fund_rows.size == 0:
        raise UsageError("returns and factors have no dates in common")
    common = fund_index.take(fund_rows).rename(name)
    return (
        common,
        None if fund_rows.size == funds.size else fund_rows,
        None if factor_rows.size == factors.size else factor_rows,
    )


def _shared_name(left: pd.Index, right: pd.Index) -> object:
    """The name pandas gives a set operation's result: the common name, else ``None``."""
    try:
        if left.name is right.name or left.name == right.name:
            return left.name
    except (TypeError, ValueError):
        return None
    both_nan = all(isinstance(n, float) and n != n for n in (left.name, right.name))
    return left.name if both_nan else None


def _rows_of(index: pd.Index, common: pd.Index) -> np.ndarray | None:
    """Positions of ``common`` (labels of ``index``) in ``index``; ``None`` if they are equal."""
    return None if index.equals(common) else index.get_indexer(common)


def _freq_of(index: pd.Index) -> str | None:
    return index.freqstr if isinstance(index, pd.PeriodIndex) else None


def _describe(index: pd.Index) -> str:
    freq = _freq_of(index)
    return f"{type(index).__name__}[{freq}]" if freq else type(index).__name__


def _float_values(
    frame: pd.DataFrame,
    dtypes: list,
    rows: np.ndarray | None,
    columns: list[int] | None,
    what: str,
) -> np.ndarray:
    """Rows ``rows`` (all if None) and columns ``columns`` (all if None) of ``frame``, float64.

    A frame of float64 columns is read as one array and indexed by position; others are
    taken and converted by pandas (NaN for missing values).
    """
    every_column = columns is None or columns == list(range(len(dtypes)))
    if all(dtype == np.float64 for dtype in dtypes):
        values = frame.to_numpy()  # no copy for a single float64 block
        if rows is not None:
            values = values[rows]
        if not every_column:
            values = values[:, columns]
    else:
        part = frame if every_column else frame.take(columns, axis=1)
        if rows is not None:
            part = part.take(rows)
        values = part.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise UsageError(f"{what} contains infinite values; replace them with NaN or fix them")
    return values


def _term_label(term: str) -> str:
    return "alpha (constant)" if term == ALPHA else term
