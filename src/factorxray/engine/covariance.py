"""Covariance estimators of the regression engine, vectorized over many regressions.

Every estimator works on a batch of ``m`` regressions at once (funds, or fund-windows in the
rolling engine) that share the number of parameters ``P``. The engine hands over the *bread*
``(X'X)^-1`` of each regression and, for the robust estimators, its *scores* ``x_t * u_t`` as
a :class:`Scores` object that returns the score autocovariances ``G_l = sum_t s_t s_{t-l}'``.
Lags count *usable* observations: lag ``l`` means "``l`` usable observations earlier", exactly
the series statsmodels sees after dropping NaN rows.

The layout follows arch's ``arch.covariance.kernel``: one abstract :class:`CovarianceEstimator`,
and HAC takes a pluggable :class:`Kernel` (only :class:`Bartlett`, i.e. Newey-West, ships).
The defaults reproduce ``statsmodels`` ``OLS(...).fit(cov_type=...)``:

* ``nonrobust``: ``s^2 (X'X)^-1`` with ``s^2 = SSR / (n - P)``; p-values from Student t.
* ``HC1``: ``n / (n - P) (X'X)^-1 (sum u_t^2 x_t x_t') (X'X)^-1``; p-values from the normal
  distribution (statsmodels' default ``use_t=False`` for robust covariances).
* ``HAC``: ``(X'X)^-1 S (X'X)^-1`` with ``S = G_0 + sum_l w_l (G_l + G_l')``, Bartlett weights
  ``w_l = 1 - l / (L + 1)``, *no* small-sample correction (statsmodels' default
  ``use_correction=False`` for ``cov_type="HAC"``); p-values from the normal distribution.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod

import numpy as np

from factorxray.errors import UsageError

__all__ = [
    "HAC",
    "HC1",
    "Bartlett",
    "CovarianceEstimator",
    "Kernel",
    "LagProducts",
    "NonRobust",
    "PackedScores",
    "Scores",
    "SharedDesignScores",
    "make_estimator",
    "pack_products",
    "unpack_symmetric",
]


class Scores(ABC):
    """Scores ``s_t = x_t u_t`` of a batch of ``m`` regressions, seen through autocovariances."""

    @property
    @abstractmethod
    def n_time(self) -> int:
        """Length of the (padded) time axis; no lag at or beyond it has any pair."""

    @abstractmethod
    def autocovariance(self, lag: int) -> np.ndarray:
        """``G_lag = sum_t s_t s_{t-lag}'`` over usable observations, shape ``(m, P, P)``.

        Parameters
        ----------
        lag : int
            Lag in usable observations, ``>= 0``.

        Returns
        -------
        numpy.ndarray
            Shape ``(m, P, P)``.
        """

    def long_run(self, weights: np.ndarray) -> np.ndarray:
        """Weighted sum ``G_0 + sum_l w_l (G_l + G_l')`` of each regression.

        Parameters
        ----------
        weights : numpy.ndarray
            ``w_l`` for lags ``1..L`` of each regression, shape ``(m, L)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(m, P, P)``.
        """
        meat = self.autocovariance(0)
        for lag in range(1, weights.shape[1] + 1):
            gamma = self.autocovariance(lag)
            meat += weights[:, lag - 1, None, None] * (gamma + gamma.transpose(0, 2, 1))
        return meat


class PackedScores(Scores):
    """Scores stored as ``(m, P, T)``, each regression's usable rows packed first, zeros after.

    Parameters
    ----------
    scores : numpy.ndarray
        Shape ``(m, P, T)``, C-contiguous.

    Examples
    --------
    >>> PackedScores(np.array([[[1.0, -1.0, 2.0]]])).autocovariance(1)
    array([[[-3.]]])
    """

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores

    @property
    def n_time(self) -> int:
        """Length of the time axis."""
        return self.scores.shape[-1]

    def autocovariance(self, lag: int) -> np.ndarray:
        """See :meth:`Scores.autocovariance`."""
        if lag == 0:
            return np.matmul(self.scores, self.scores.transpose(0, 2, 1))
        later, earlier = self.scores[:, :, lag:], self.scores[:, :, :-lag]
        return np.matmul(later, earlier.transpose(0, 2, 1))


class SharedDesignScores(Scores):
    """Scores of regressions sharing one design, each using one contiguous run of rows.

    ``s_t = x_t u_t`` with ``u`` zero outside each regression's run, so calendar lags are
    usable-observation lags, and ``G_l = (u_t u_{t-l}) @ (x_t (x) x_{t-l})`` is one matrix
    product for the whole batch. :meth:`long_run` only needs the symmetric ``G_l + G_l'``,
    whose upper triangle is ``(u_t u_{t-l}) @ pack(x_t (x) x_{t-l} + x_{t-l} (x) x_t)``:
    ``P (P + 1) / 2`` columns instead of ``P^2``.

    Parameters
    ----------
    resid : numpy.ndarray
        Residuals ``(m, T)``, zero on unusable rows.
    design : numpy.ndarray
        Shared design ``(T, P)``.
    products : LagProducts, optional
        Packed products of the full design, shared between batches (built on use).
    start : int
        Row of the full design where ``design`` (and the residuals) begin, for batches that
        cover only part of the time axis.

    Examples
    --------
    >>> u = np.array([[0.0, 1.0, -1.0, 2.0]])
    >>> SharedDesignScores(u, np.ones((4, 1))).autocovariance(1)
    array([[[-3.]]])
    >>> SharedDesignScores(u, np.ones((4, 1))).long_run(np.array([[0.5]]))
    array([[[3.]]])
    """

    def __init__(
        self,
        resid: np.ndarray,
        design: np.ndarray,
        products: LagProducts | None = None,
        start: int = 0,
    ) -> None:
        self.resid = resid
        self.design = design
        self.products = LagProducts(design) if products is None else products
        self.start = start

    @property
    def n_time(self) -> int:
        """Length of the time axis."""
        return self.design.shape[0]

    def autocovariance(self, lag: int) -> np.ndarray:
        """See :meth:`Scores.autocovariance`."""
        n_time, n_params = self.design.shape
        later_x, earlier_x = self.design[lag:], self.design[: n_time - lag]
        cross = (later_x[:, :, None] * earlier_x[:, None, :]).reshape(n_time - lag, -1)
        products = self.resid[:, lag:] * self.resid[:, : n_time - lag]
        return (products @ cross).reshape(-1, n_params, n_params)

    def long_run(self, weights: np.ndarray) -> np.ndarray:
        """See :meth:`Scores.long_run`; one ``(m, T) @ (T, P(P+1)/2)`` product per lag."""
        n_time, n_params = self.design.shape
        resid = self.resid
        start, stop = self.start, self.start + n_time
        packed = (resid * resid) @ self.products.packed(0, start, stop)
        for lag in range(1, min(weights.shape[1], n_time - 1) + 1):
            products = resid[:, lag:] * resid[:, : n_time - lag]
            packed += weights[:, lag - 1, None] * (
                products @ self.products.packed(lag, start, stop)
            )
        return unpack_symmetric(packed, n_params)


class LagProducts:
    """Packed products ``pack(x_t (x) x_{t-l} + x_{t-l} (x) x_t)`` of a design, cached per lag.

    Lag 0 is ``pack(x_t (x) x_t)``, the rows whose masked sums are ``X'X``.

    Parameters
    ----------
    design : numpy.ndarray
        Shape ``(T, P)``.

    Examples
    --------
    >>> LagProducts(np.array([[1.0], [2.0], [3.0]])).packed(1, 1, 3)
    array([[12.]])
    """

    def __init__(self, design: np.ndarray) -> None:
        self.design = design
        self._cache: dict[int, np.ndarray] = {}
        self._prefix: np.ndarray | None = None
        self._columns: tuple[np.ndarray, np.ndarray] | None = None

    def window_sums(self, first: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Sums of the lag-0 rows over ``first[i] .. stop[i] - 1``: packed ``X'X`` of each run.

        From prefix sums of the packed outer products (computed once), so a regression using
        one contiguous run of rows gets its ``X'X`` without a product over time.

        Parameters
        ----------
        first, stop : numpy.ndarray
            Row ranges ``[first, stop)`` in the full design, shape ``(m,)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(m, P (P + 1) / 2)``.

        Examples
        --------
        >>> LagProducts(np.array([[1.0], [2.0], [3.0]])).window_sums(np.array([1]), np.array([3]))
        array([[13.]])
        """
        if self._prefix is None:
            rows = self.packed(0)
            self._prefix = np.zeros((rows.shape[0] + 1, rows.shape[1]))
            np.cumsum(rows, axis=0, out=self._prefix[1:])
        return self._prefix[stop] - self._prefix[first]

    def packed(self, lag: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows for ``t`` in ``start + lag .. stop - 1`` (pairs inside rows ``start..stop-1``).

        Parameters
        ----------
        lag : int
            The lag, ``>= 0``.
        start, stop : int
            Row range of the batch in the full design (``stop`` defaults to its end).

        Returns
        -------
        numpy.ndarray
            Shape ``(stop - start - lag, P (P + 1) / 2)``, a view.
        """
        n_time = self.design.shape[0]
        if lag not in self._cache:
            if self._columns is None:  # the design's columns in packed order, gathered once
                rows, cols = _upper(self.design.shape[1])
                self._columns = (self.design[:, rows], self.design[:, cols])
            by_row, by_col = self._columns
            packed = by_row[lag:] * by_col[: n_time - lag]  # pack_products(later, earlier)
            if lag > 0:
                packed += by_row[: n_time - lag] * by_col[lag:]
            self._cache[lag] = packed
        stop = n_time if stop is None else stop
        return self._cache[lag][start : stop - lag]


def pack_products(a: np.ndarray, b: np.ndarray, *, symmetric: bool = False) -> np.ndarray:
    """Upper triangles of the row-wise products ``a_t b_t'`` (or ``a_t b_t' + b_t a_t'``).

    Parameters
    ----------
    a, b : numpy.ndarray
        Shape ``(T, P)``.
    symmetric : bool
        Pack ``a_t b_t' + b_t a_t'`` (symmetric) instead of ``a_t b_t'`` (symmetric only when
        ``a is b``).

    Returns
    -------
    numpy.ndarray
        Shape ``(T, P (P + 1) / 2)``, entries ``(j, k)`` with ``j <= k`` in
        ``numpy.triu_indices`` order.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0]])
    >>> pack_products(x, x)
    array([[1., 2., 4.]])
    """
    rows, cols = _upper(a.shape[1])
    packed = a[:, rows] * b[:, cols]
    if symmetric:
        packed += b[:, rows] * a[:, cols]
    return packed


def unpack_symmetric(packed: np.ndarray, n_params: int) -> np.ndarray:
    """Symmetric ``(m, P, P)`` matrices from their packed upper triangles ``(m, P(P+1)/2)``.

    Examples
    --------
    >>> unpack_symmetric(np.array([[1.0, 2.0, 4.0]]), 2)
    array([[[1., 2.],
            [2., 4.]]])
    """
    rows, cols = _upper(n_params)
    full = np.empty((packed.shape[0], n_params, n_params))
    full[:, rows, cols] = packed
    full[:, cols, rows] = packed
    return full


class Kernel(ABC):
    """A HAC kernel: lag weights and the automatic lag (bandwidth) rule."""

    name: str = "kernel"

    @abstractmethod
    def weight(self, lag: int, bandwidth: np.ndarray) -> np.ndarray:
        """Weight of autocovariance ``lag`` (>= 1) for each regression's bandwidth.

        Parameters
        ----------
        lag : int
            The lag, at least 1.
        bandwidth : numpy.ndarray
            Integer bandwidth (the number of lags) of each regression, shape ``(m,)``.

        Returns
        -------
        numpy.ndarray
            Weights, shape ``(m,)``; 0 where ``lag`` is beyond the kernel's support.
        """

    @abstractmethod
    def default_lags(self, nobs: np.ndarray) -> np.ndarray:
        """Automatic bandwidth for regressions with ``nobs`` usable observations.

        Parameters
        ----------
        nobs : numpy.ndarray
            Usable observations of each regression.

        Returns
        -------
        numpy.ndarray
            Integer lags, same shape as ``nobs``.
        """

    def weights(self, lags: int) -> np.ndarray:
        """All weights for lags ``0..lags`` (statsmodels' ``weights_func`` signature).

        Parameters
        ----------
        lags : int
            Highest lag.

        Returns
        -------
        numpy.ndarray
            Weights of lags ``0..lags``, shape ``(lags + 1,)``; the first is 1.

        Examples
        --------
        >>> Bartlett().weights(3)
        array([1.  , 0.75, 0.5 , 0.25])
        """
        bandwidth = np.array([lags])
        rest = [float(self.weight(lag, bandwidth)[0]) for lag in range(1, lags + 1)]
        return np.array([1.0, *rest])


class Bartlett(Kernel):
    """Bartlett (Newey-West) kernel: ``w_l = 1 - l / (L + 1)`` for ``l <= L``.

    The automatic lag is Newey and West's (1994) rule ``floor(4 (n / 100)^(2/9))``, the rule
    statsmodels' ``S_hac_simple`` uses when it is given no lag.

    Examples
    --------
    >>> Bartlett().default_lags(np.array([36, 120, 420]))
    array([3, 4, 5])
    """

    name = "Bartlett"

    def weight(self, lag: int, bandwidth: np.ndarray) -> np.ndarray:
        """Bartlett weight of ``lag``; see :meth:`Kernel.weight`."""
        bandwidth = np.asarray(bandwidth, dtype=float)
        return np.clip(1.0 - lag / (bandwidth + 1.0), 0.0, None)

    def default_lags(self, nobs: np.ndarray) -> np.ndarray:
        """Newey-West lag ``floor(4 (n / 100)^(2/9))``; see :meth:`Kernel.default_lags`."""
        nobs = np.asarray(nobs, dtype=float)
        return np.floor(4.0 * (nobs / 100.0) ** (2.0 / 9.0)).astype(np.int64)


class CovarianceEstimator(ABC):
    """Parameter covariance for a batch of OLS regressions.

    Subclasses set ``name`` (as shown in results), ``use_t`` (whether p-values and intervals
    use Student t with the residual degrees of freedom, else the normal distribution) and
    ``needs_scores`` (whether :meth:`cov` needs the score array).
    """

    name: str = "estimator"
    use_t: bool = False
    needs_scores: bool = True

    def lags(self, nobs: np.ndarray) -> np.ndarray | None:
        """HAC lags used for each regression, or ``None`` when the estimator has no lags.

        Parameters
        ----------
        nobs : numpy.ndarray
            Usable observations of each regression.

        Returns
        -------
        numpy.ndarray or None
            Integer lags per regression.
        """
        return None

    @abstractmethod
    def cov(
        self,
        bread: np.ndarray,
        *,
        ssr: np.ndarray,
        nobs: np.ndarray,
        scores: Scores | None,
    ) -> np.ndarray:
        """Covariance of the parameters of each regression.

        Parameters
        ----------
        bread : numpy.ndarray
            ``(X'X)^-1`` of each regression, shape ``(m, P, P)``.
        ssr : numpy.ndarray
            Sum of squared residuals, shape ``(m,)``.
        nobs : numpy.ndarray
            Usable observations, shape ``(m,)``.
        scores : Scores or None
            The scores ``x_t * u_t``; ``None`` when ``needs_scores`` is false.

        Returns
        -------
        numpy.ndarray
            Covariance matrices, shape ``(m, P, P)``.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NonRobust(CovarianceEstimator):
    """Classical OLS covariance ``s^2 (X'X)^-1``; p-values from Student t.

    Examples
    --------
    >>> NonRobust().cov(np.eye(2)[None], ssr=np.array([4.0]), nobs=np.array([10]), scores=None)
    array([[[0.5, 0. ],
            [0. , 0.5]]])
    """

    name = "nonrobust"
    use_t = True
    needs_scores = False

    def cov(
        self,
        bread: np.ndarray,
        *,
        ssr: np.ndarray,
        nobs: np.ndarray,
        scores: Scores | None,
    ) -> np.ndarray:
        """Nonrobust covariance; see :meth:`CovarianceEstimator.cov`."""
        df_resid = nobs - bread.shape[-1]
        return (ssr / df_resid)[:, None, None] * bread


class HC1(CovarianceEstimator):
    """White heteroskedasticity-robust covariance with the ``n / (n - P)`` correction.

    Examples
    --------
    >>> HC1().name
    'HC1'
    """

    name = "HC1"

    def cov(
        self,
        bread: np.ndarray,
        *,
        ssr: np.ndarray,
        nobs: np.ndarray,
        scores: Scores | None,
    ) -> np.ndarray:
        """HC1 covariance; see :meth:`CovarianceEstimator.cov`."""
        meat = _require(scores).autocovariance(0)
        correction = nobs / (nobs - bread.shape[-1])
        return correction[:, None, None] * _sandwich(bread, meat)


class HAC(CovarianceEstimator):
    """Heteroskedasticity and autocorrelation robust (Newey-West type) covariance.

    Parameters
    ----------
    lags : int or None
        Number of lags for every regression; ``None`` (default) picks the kernel's automatic
        lag from each regression's own number of usable observations.
    kernel : Kernel or None
        Lag-weighting kernel; default :class:`Bartlett`.
    use_correction : bool
        Multiply by ``n / (n - P)``; default ``False`` as in statsmodels' ``cov_type="HAC"``.

    Examples
    --------
    >>> HAC(lags=3).lags(np.array([100, 400]))
    array([3, 3])
    >>> HAC().lags(np.array([100, 400]))
    array([4, 5])
    """

    name = "HAC"

    def __init__(
        self,
        lags: int | None = None,
        kernel: Kernel | None = None,
        use_correction: bool = False,
    ) -> None:
        self._fixed_lags = _check_lags(lags)
        self.kernel = kernel if kernel is not None else Bartlett()
        self.use_correction = bool(use_correction)

    def lags(self, nobs: np.ndarray) -> np.ndarray:
        """Lags per regression: the fixed value or the kernel's automatic rule."""
        nobs = np.asarray(nobs)
        if self._fixed_lags is not None:
            return np.full(nobs.shape, self._fixed_lags, dtype=np.int64)
        return self.kernel.default_lags(nobs)

    def cov(
        self,
        bread: np.ndarray,
        *,
        ssr: np.ndarray,
        nobs: np.ndarray,
        scores: Scores | None,
    ) -> np.ndarray:
        """HAC covariance; see :meth:`CovarianceEstimator.cov`."""
        meat = kernel_meat(_require(scores), self.lags(nobs), self.kernel)
        cov = _sandwich(bread, meat)
        if self.use_correction:
            cov *= (nobs / (nobs - bread.shape[-1]))[:, None, None]
        return cov

    def __repr__(self) -> str:
        return f"HAC(lags={self._fixed_lags}, kernel={self.kernel.name})"


def kernel_meat(scores: Scores, lags: np.ndarray, kernel: Kernel) -> np.ndarray:
    """Kernel-weighted long-run covariance ``S = G_0 + sum_l w_l (G_l + G_l')`` per regression.

    Parameters
    ----------
    scores : Scores
        The scores of the batch.
    lags : numpy.ndarray
        Integer lags per regression, shape ``(m,)``.
    kernel : Kernel
        Supplies the lag weights.

    Returns
    -------
    numpy.ndarray
        ``S`` (not divided by ``n``), shape ``(m, P, P)``.

    Examples
    --------
    >>> x = PackedScores(np.array([[[1.0, -1.0, 2.0]]]))
    >>> kernel_meat(x, np.array([1]), Bartlett())
    array([[[3.]]])
    """
    max_lag = min(int(lags.max(initial=0)), scores.n_time - 1)
    weights = np.empty((lags.shape[0], max_lag))
    for lag in range(1, max_lag + 1):
        weights[:, lag - 1] = kernel.weight(lag, lags)
    return scores.long_run(weights)


def make_estimator(cov: str | CovarianceEstimator, hac_lags: int | None) -> CovarianceEstimator:
    """Turn the ``cov`` / ``hac_lags`` arguments of the engine into an estimator.

    Parameters
    ----------
    cov : str or CovarianceEstimator
        ``"nonrobust"``, ``"HC1"`` or ``"hac"`` (case-insensitive), or an estimator instance.
    hac_lags : int or None
        Fixed HAC lag; only allowed with ``cov="hac"``.

    Returns
    -------
    CovarianceEstimator
        The estimator.

    Raises
    ------
    UsageError
        Unknown ``cov``, negative or non-integer lags, or lags with a non-HAC covariance.

    Examples
    --------
    >>> make_estimator("hac", 4)
    HAC(lags=4, kernel=Bartlett)
    """
    if isinstance(cov, CovarianceEstimator):
        if hac_lags is not None:
            raise UsageError("hac_lags cannot be combined with a CovarianceEstimator instance")
        return cov
    if not isinstance(cov, str):
        raise UsageError(f"cov must be 'nonrobust', 'HC1' or 'hac', not {cov!r}")
    kind = cov.strip().lower()
    if kind == "hac":
        return HAC(lags=hac_lags)
    if hac_lags is not None:
        raise UsageError(f"hac_lags (--hac-lags) only applies to cov='hac', not cov={cov!r}")
    if kind == "nonrobust":
        return NonRobust()
    if kind == "hc1":
        return HC1()
    raise UsageError(f"unknown cov {cov!r} (--cov): use 'nonrobust', 'HC1' or 'hac'")


def _check_lags(lags: int | None) -> int | None:
    if lags is None:
        return None
    if isinstance(lags, bool) or not isinstance(lags, int | np.integer):
        raise UsageError(f"hac_lags (--hac-lags) must be a non-negative integer, not {lags!r}")
    if lags < 0:
        raise UsageError(f"hac_lags (--hac-lags) must be a non-negative integer, not {lags}")
    return int(lags)


@functools.cache
def _upper(n_params: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n_params)


def _require(scores: Scores | None) -> Scores:
    if scores is None:
        raise UsageError("this covariance estimator needs the regression scores")
    return scores


def _sandwich(bread: np.ndarray, meat: np.ndarray) -> np.ndarray:
    return np.matmul(np.matmul(bread, meat), bread)
