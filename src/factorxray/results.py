"""Result objects of the regression engine: read-only pandas views over batched estimates.

In the manner of linearmodels' results classes: the estimation code hands over numpy arrays
once, and every attribute (``params``, ``bse``, ``tvalues`` ...) is a property that returns a
fresh pandas object labelled by fund and term. Each table is built once, on first use, over the
(read-only) estimate arrays without copying them; the properties hand out shallow copies, which
pandas' copy-on-write turns into real copies only if the caller modifies them.

Distributions come from :mod:`scipy.special` (``stdtr``/``ndtr`` and their inverses, the
functions ``scipy.stats.t`` and ``scipy.stats.norm`` evaluate), imported on first use: the
normal p-values of robust (HAC, HC1) covariances, the default, use :func:`math.erfc` for tables
of up to :data:`ERFC_LIMIT` cells, so a command-line run never pays scipy's import (about
0.3 s, a fifth of the run).
"""

from __future__ import annotations

import html
import math
import statistics
from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pandas as pd

from factorxray.errors import UsageError

__all__ = ["ExposureResults", "RollingExposureResults"]

#: Largest table whose normal p-values are computed with :func:`math.erfc` cell by cell
#: (about 0.2 microseconds a cell); larger ones import :mod:`scipy.special` (vectorized).
ERFC_LIMIT = 50_000
_SQRT_HALF = math.sqrt(0.5)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def normal_lower_tail(values: np.ndarray) -> np.ndarray:
    """Standard normal CDF of ``values`` (``scipy.special.ndtr``), without importing scipy.

    For tables of up to :data:`ERFC_LIMIT` cells: ``0.5 * erfc(-x / sqrt(2))``, the formula
    ``ndtr`` itself evaluates with its own ``erfc`` (equal to it within 1e-13 relative, to the last bit
    almost everywhere); larger tables use ``ndtr``.

    Examples
    --------
    >>> round(float(normal_lower_tail(np.array([-1.959963984540054]))[0]), 12)
    0.025
    """
    values = np.asarray(values, dtype=float)
    if values.size > ERFC_LIMIT:
        from scipy import special

        return special.ndtr(values)
    return (0.5 * _erfc(-_SQRT_HALF * values)).astype(float)


#: Significance stars in ``summary()``: p-value threshold -> stars (checked in this order).
STARS = ((0.01, "***"), (0.05, "**"), (0.10, "*"))


class _Inference:
    """Shared arithmetic: standard errors, t, p and intervals from params and covariances."""

    _params: np.ndarray
    _bse: np.ndarray
    _nobs: np.ndarray
    _use_t: bool

    @property
    def _df_resid(self) -> np.ndarray:
        return self._nobs - self._params.shape[1]

    @cached_property
    def _tvalues(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._params / self._bse

    @cached_property
    def _pvalues(self) -> np.ndarray:
        # two-sided: 2 * sf(|t|) = 2 * cdf(-|t|), as scipy.stats.t.sf / norm.sf compute it
        lower_tail = -np.abs(self._tvalues)
        if self._use_t:
            from scipy import special

            return 2.0 * special.stdtr(self._df_resid[:, None].astype(float), lower_tail)
        return 2.0 * normal_lower_tail(lower_tail)

    def _critical_value(self, alpha: float) -> np.ndarray:
        if not 0.0 < alpha < 1.0:
            raise UsageError(f"alpha must be between 0 and 1, not {alpha!r}")
        if self._use_t:
            from scipy import special

            return special.stdtrit(self._df_resid.astype(float), 1.0 - alpha / 2.0)[:, None]
        # the normal quantile (scipy's ndtri) from the standard library: no scipy import
        critical = statistics.NormalDist().inv_cdf(1.0 - alpha / 2.0)
        return np.full((self._params.shape[0], 1), critical)

    def _frame(self, name: str, values: np.ndarray) -> pd.DataFrame:
        """Shallow copy of the cached table ``name`` (built once over ``values``, no copy)."""
        cache = self.__dict__.setdefault("_frames", {})
        frame = cache.get(name)
        if frame is None:
            values = np.asarray(values)
            values.flags.writeable = False
            frame = pd.DataFrame(values, index=self._row_index, columns=self._terms, copy=False)
            cache[name] = frame
        return frame.copy(deep=False)


class ExposureResults(_Inference):
    """Factor exposures of many funds from one batched regression (see ``regress``).

    Every table is indexed by fund; coefficient tables have the columns ``alpha`` then the
    factors. All attributes are read-only and return new pandas objects.

    Parameters
    ----------
    funds : sequence of str
        Fitted funds, in order.
    terms : sequence of str
        ``"alpha"`` then the factor names.
    params, cov : numpy.ndarray
        Estimates ``(n, P)`` and their covariances ``(n, P, P)``.
    nobs, ssr, tss : numpy.ndarray
        Usable observations, residual and centred total sums of squares, ``(n,)``.
    start, end : pandas.Index
        First and last index label each fund used.
    hac_lags : numpy.ndarray or None
        HAC lags per fund, ``None`` for non-HAC covariances.
    cov_type : str
        ``"nonrobust"``, ``"HC1"`` or ``"HAC"``.
    use_t : bool
        Student t (True) or normal (False) p-values and intervals.
    periods_per_year : float or None
        For annualizing alpha (12 for monthly data).
    skipped : dict
        Fund -> reason it was not fitted.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from factorxray.engine import regress
    >>> idx = pd.period_range("2000-01", periods=48, freq="M")
    >>> rng = np.random.default_rng(1)
    >>> f = pd.DataFrame({"MKT": rng.normal(0.005, 0.04, 48)}, index=idx)
    >>> y = pd.DataFrame({"A": 0.002 + f["MKT"] + rng.normal(0, 0.01, 48)})
    >>> res = regress(y, f, cov="nonrobust")
    >>> list(res.params.columns), int(res.nobs["A"])
    (['alpha', 'MKT'], 48)
    """

    def __init__(
        self,
        *,
        funds: Sequence[str],
        terms: Sequence[str],
        params: np.ndarray,
        cov: np.ndarray,
        nobs: np.ndarray,
        ssr: np.ndarray,
        tss: np.ndarray,
        start: pd.Index,
        end: pd.Index,
        hac_lags: np.ndarray | None,
        cov_type: str,
        use_t: bool,
        periods_per_year: float | None,
        skipped: dict[str, str],
    ) -> None:
        self._funds = pd.Index(list(funds), name="fund")
        self._terms = pd.Index(list(terms), name="term")
        self._params = np.asarray(params, dtype=float)
        self._cov = np.asarray(cov, dtype=float)
        with np.errstate(invalid="ignore"):
            self._bse = np.sqrt(np.diagonal(self._cov, axis1=1, axis2=2))
        self._nobs = np.asarray(nobs, dtype=np.int64)
        self._ssr = np.asarray(ssr, dtype=float)
        self._tss = np.asarray(tss, dtype=float)
        self._start = start
        self._end = end
        self._hac_lags = hac_lags
        self._cov_type = cov_type
        self._use_t = use_t
        self._periods_per_year = periods_per_year
        self._skipped = dict(skipped)

    # ------------------------------------------------------------------ coefficient tables

    @property
    def params(self) -> pd.DataFrame:
        """Estimated alpha (per period) and factor betas, funds x terms."""
        return self._frame("params", self._params)

    @property
    def bse(self) -> pd.DataFrame:
        """Standard errors of ``params`` under ``cov_type``."""
        return self._frame("bse", self._bse)

    @property
    def tvalues(self) -> pd.DataFrame:
        """t-statistics ``params / bse``."""
        return self._frame("tvalues", self._tvalues)

    @property
    def pvalues(self) -> pd.DataFrame:
        """Two-sided p-values: Student t with ``df_resid`` for nonrobust, normal otherwise."""
        return self._frame("pvalues", self._pvalues)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Confidence intervals, funds x (term, bound) with bound in ``lower``/``upper``.

        Parameters
        ----------
        alpha : float
            1 - coverage; 0.05 gives 95% intervals.

        Returns
        -------
        pandas.DataFrame
            Index fund; MultiIndex columns ``(term, "lower" | "upper")``, so
            ``ci["MKT"]`` is a two-column frame of that term's bounds.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from factorxray.engine import regress
        >>> idx = pd.period_range("2000-01", periods=40, freq="M")
        >>> f = pd.DataFrame({"MKT": np.sin(np.arange(40.0))}, index=idx)
        >>> y = f["MKT"] + np.cos(np.arange(40.0)) / 10
        >>> list(regress(y, f, cov="HC1").conf_int().columns[:2])
        [('alpha', 'lower'), ('alpha', 'upper')]
        """
        half = self._critical_value(alpha) * self._bse
        lower, upper = self._params - half, self._params + half
        stacked = np.stack([lower, upper], axis=2).reshape(len(self._funds), -1)
        columns = pd.MultiIndex.from_product([self._terms, ["lower", "upper"]])
        columns = columns.set_names(["term", "bound"])
        return pd.DataFrame(stacked, index=self._funds.copy(), columns=columns)

    def cov_params(self, fund: str) -> pd.DataFrame:
        """Parameter covariance matrix of one fund, terms x terms.

        Parameters
        ----------
        fund : str
            A fitted fund.

        Returns
        -------
        pandas.DataFrame
            Covariance under ``cov_type``.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from factorxray.engine import regress
        >>> idx = pd.period_range("2000-01", periods=40, freq="M")
        >>> f = pd.DataFrame({"MKT": np.sin(np.arange(40.0))}, index=idx)
        >>> y = (f["MKT"] + np.cos(np.arange(40.0)) / 10).rename("X")
        >>> regress(y, f).cov_params("X").shape
        (2, 2)
        """
        position = self._position(fund)
        return pd.DataFrame(
            self._cov[position], index=self._terms.copy(), columns=self._terms.copy()
        )

    # ------------------------------------------------------------------ per-fund statistics

    @property
    def rsquared(self) -> pd.Series:
        """Centred R-squared of each fund's regression."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._series(1.0 - self._ssr / self._tss, "rsquared")

    @property
    def rsquared_adj(self) -> pd.Series:
        """Adjusted R-squared ``1 - (n - 1) / (n - P) * (1 - R^2)``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (self._nobs - 1) / self._df_resid
            return self._series(1.0 - ratio * (self._ssr / self._tss), "rsquared_adj")

    @property
    def nobs(self) -> pd.Series:
        """Usable observations per fund (rows where the fund and all factors are observed)."""
        return self._series(self._nobs, "nobs")

    @property
    def df_resid(self) -> pd.Series:
        """Residual degrees of freedom ``nobs - P``."""
        return self._series(self._df_resid, "df_resid")

    @property
    def resid_std(self) -> pd.Series:
        """Residual standard deviation ``sqrt(SSR / df_resid)`` (per period)."""
        return self._series(np.sqrt(self._ssr / self._df_resid), "resid_std")

    @property
    def start(self) -> pd.Series:
        """First index label each fund used."""
        return pd.Series(self._start, index=self._funds.copy(), name="start")

    @property
    def end(self) -> pd.Series:
        """Last index label each fund used."""
        return pd.Series(self._end, index=self._funds.copy(), name="end")

    @property
    def hac_lags(self) -> pd.Series:
        """HAC lags used per fund (nullable ``Int64``; ``<NA>`` when ``cov_type`` is not HAC)."""
        if self._hac_lags is None:
            values = pd.array([pd.NA] * len(self._funds), dtype="Int64")
        else:
            values = pd.array(self._hac_lags, dtype="Int64")
        return pd.Series(values, index=self._funds.copy(), name="hac_lags")

    @property
    def periods_per_year(self) -> float | None:
        """Periods per year inferred from the index (M 12, W 52, D/B 252, Q 4, A 1)."""
        return self._periods_per_year

    @property
    def alpha_annualized(self) -> pd.DataFrame:
        """Annualized alpha: ``arithmetic = k * alpha`` and ``geometric = (1 + alpha)^k - 1``.

        ``k`` is :attr:`periods_per_year` (12 for monthly data).

        Raises
        ------
        UsageError
            If the index frequency is unknown (e.g. an integer index).
        """
        per_year = self._periods_per_year
        if per_year is None:
            raise UsageError(
                "cannot annualize alpha: the index has no known frequency; "
                "use a PeriodIndex or DatetimeIndex"
            )
        alpha = self._params[:, 0]
        frame = pd.DataFrame(
            {"arithmetic": per_year * alpha, "geometric": (1.0 + alpha) ** per_year - 1.0},
            index=self._funds.copy(),
        )
        return frame

    # ------------------------------------------------------------------ metadata

    @property
    def cov_type(self) -> str:
        """Covariance estimator: ``"nonrobust"``, ``"HC1"`` or ``"HAC"``."""
        return self._cov_type

    @property
    def use_t(self) -> bool:
        """True if p-values and intervals use Student t, False for the normal distribution."""
        return self._use_t

    @property
    def skipped(self) -> dict[str, str]:
        """Funds that were not fitted, with the reason."""
        return dict(self._skipped)

    @property
    def factors(self) -> list[str]:
        """Factor names (regressors without the constant)."""
        return list(self._terms[1:])

    @property
    def funds(self) -> list[str]:
        """Fitted funds, in order."""
        return list(self._funds)

    # ------------------------------------------------------------------ exports

    def to_frame(self) -> pd.DataFrame:
        """Long table, one row per fund and term.

        Returns
        -------
        pandas.DataFrame
            Columns ``fund, term, estimate, se, t, p``.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from factorxray.engine import regress
        >>> idx = pd.period_range("2000-01", periods=40, freq="M")
        >>> f = pd.DataFrame({"MKT": np.sin(np.arange(40.0))}, index=idx)
        >>> y = f["MKT"] + np.cos(np.arange(40.0)) / 10
        >>> list(regress(y, f).to_frame().columns)
        ['fund', 'term', 'estimate', 'se', 't', 'p']
        """
        n_funds, n_terms = self._params.shape
        return pd.DataFrame(
            {
                "fund": np.repeat(np.asarray(self._funds, dtype=object), n_terms),
                "term": np.tile(np.asarray(self._terms, dtype=object), n_funds),
                "estimate": self._params.ravel(),
                "se": self._bse.ravel(),
                "t": self._tvalues.ravel(),
                "p": self._pvalues.ravel(),
            }
        )

    def summary(self) -> str:
        """Paper-style text table: funds x terms, coefficient with stars and (t) beside.

        Returns
        -------
        str
            The table, with a footer on the covariance, lags, sample sizes and skipped funds.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from factorxray.engine import regress
        >>> idx = pd.period_range("2000-01", periods=40, freq="M")
        >>> f = pd.DataFrame({"MKT": np.sin(np.arange(40.0))}, index=idx)
        >>> y = f["MKT"] + np.cos(np.arange(40.0)) / 10
        >>> print(regress(y, f).summary().splitlines()[0])
        Factor exposures (HAC standard errors)
        """
        cells = self._cells()
        header = ["fund", *self._terms, "adj. R2", "N"]
        rows = [
            [fund, *cells[i], f"{self._adj_r2(i):.3f}", str(self._nobs[i])]
            for i, fund in enumerate(self._funds)
        ]
        widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
        line = "  ".join("-" * w for w in widths)

        def fmt(row: list[str]) -> str:
            first = str(row[0]).ljust(widths[0])
            rest = (str(v).rjust(w) for v, w in zip(row[1:], widths[1:], strict=True))
            return "  ".join([first, *rest])

        title = f"Factor exposures ({self._cov_type} standard errors)"
        body = [title, line, fmt(header), line, *(fmt(r) for r in rows), line]
        return "\n".join(body + self._footer())

    def _repr_html_(self) -> str:
        cells = self._cells()
        head = "".join(f"<th>{html.escape(str(t))}</th>" for t in self._terms)
        rows = "".join(
            "<tr><th>"
            + html.escape(fund)
            + "</th>"
            + "".join(f"<td>{html.escape(c)}</td>" for c in cells[i])
            + f"<td>{self._adj_r2(i):.3f}</td><td>{self._nobs[i]}</td></tr>"
            for i, fund in enumerate(self._funds)
        )
        footer = "<br>".join(html.escape(line) for line in self._footer())
        return (
            f"<table><caption>Factor exposures ({html.escape(self._cov_type)} standard errors)"
            f"</caption><thead><tr><th>fund</th>{head}<th>adj. R2</th><th>N</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><p>{footer}</p>"
        )

    def __repr__(self) -> str:
        return (
            f"<ExposureResults: {len(self._funds)} funds, {len(self._terms) - 1} factors, "
            f"cov_type={self._cov_type}, skipped={len(self._skipped)}>"
        )

    # ------------------------------------------------------------------ helpers

    @property
    def _row_index(self) -> pd.Index:
        return self._funds

    def _series(self, values: np.ndarray, name: str) -> pd.Series:
        return pd.Series(values, index=self._funds.copy(), name=name)

    def _position(self, fund: str) -> int:
        if fund not in self._funds:
            known = ", ".join(self._funds[:10])
            raise UsageError(f"unknown fund {fund!r}; fitted funds: {known}")
        return int(self._funds.get_loc(fund))

    def _adj_r2(self, i: int) -> float:
        return float(self.rsquared_adj.iloc[i])

    def _cells(self) -> list[list[str]]:
        return [
            [
                f"{b:.4f}{significance_stars(p)} ({t:.2f})"
                for b, t, p in zip(self._params[i], self._tvalues[i], self._pvalues[i], strict=True)
            ]
            for i in range(len(self._funds))
        ]

    def _footer(self) -> list[str]:
        dist = "Student t" if self._use_t else "normal"
        notes = [f"t-statistics in parentheses; * p<0.10, ** p<0.05, *** p<0.01 ({dist} p-values)."]
        if self._hac_lags is not None and len(self._hac_lags):
            low, high = int(np.min(self._hac_lags)), int(np.max(self._hac_lags))
            span = str(low) if low == high else f"{low}-{high}"
            notes.append(
                f"HAC: Newey-West (Bartlett kernel), lags {span}, no small-sample correction."
            )
        if len(self._funds):
            notes.append(
                f"N: {int(self._nobs.min())}-{int(self._nobs.max())} observations per fund, "
                f"from {min(self._start)} to {max(self._end)}. Alpha is per period."
            )
        for fund, reason in self._skipped.items():
            notes.append(f"Skipped {fund}: {reason}.")
        return notes


class RollingExposureResults(_Inference):
    """Rolling-window factor exposures of many funds (see ``rolling_regress``).

    Tables are indexed by a ``(fund, period)`` MultiIndex, ``period`` being the last label of
    the window; only windows that have an estimate appear.

    Parameters
    ----------
    index : pandas.MultiIndex
        ``(fund, period)`` of each window estimate, ``period`` being the window's last label.
    terms : sequence of str
        ``"alpha"`` then the factor names.
    params, bse : numpy.ndarray
        Estimates and their standard errors, ``(m, P)``.
    nobs, ssr, tss : numpy.ndarray
        Usable observations and sums of squares per window, ``(m,)``.
    cov_type : str
        Covariance estimator name.
    use_t : bool
        Student t (True) or normal (False) intervals and p-values.
    window : int
        Window length in rows (ignored for expanding windows).
    expanding : bool
        Whether windows start at the first row.
    skipped : dict
        Funds with no window estimate, with the reason.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from factorxray.engine import rolling_regress
    >>> idx = pd.period_range("2000-01", periods=40, freq="M")
    >>> f = pd.DataFrame({"MKT": np.sin(np.arange(40.0))}, index=idx)
    >>> y = (f["MKT"] + np.cos(np.arange(40.0)) / 10).rename("X")
    >>> rolling_regress(y, f, window=36).params.shape
    (5, 2)
    """

    def __init__(
        self,
        *,
        index: pd.MultiIndex,
        terms: Sequence[str],
        params: np.ndarray,
        bse: np.ndarray,
        nobs: np.ndarray,
        ssr: np.ndarray,
        tss: np.ndarray,
        cov_type: str,
        use_t: bool,
        window: int,
        expanding: bool,
        skipped: dict[str, str],
    ) -> None:
        self._index = index
        self._terms = pd.Index(list(terms), name="term")
        self._params = np.asarray(params, dtype=float)
        self._bse = np.asarray(bse, dtype=float)
        self._nobs = np.asarray(nobs, dtype=np.int64)
        self._ssr = np.asarray(ssr, dtype=float)
        self._tss = np.asarray(tss, dtype=float)
        self._cov_type = cov_type
        self._use_t = use_t
        self._window = window
        self._expanding = expanding
        self._skipped = dict(skipped)

    @property
    def params(self) -> pd.DataFrame:
        """Window estimates, (fund, period) x terms."""
        return self._frame("params", self._params)

    @property
    def bse(self) -> pd.DataFrame:
        """Standard errors of the window estimates."""
        return self._frame("bse", self._bse)

    @property
    def tvalues(self) -> pd.DataFrame:
        """t-statistics of the window estimates."""
        return self._frame("tvalues", self._tvalues)

    @property
    def pvalues(self) -> pd.DataFrame:
        """p-values (Student t for nonrobust, normal otherwise, as in ``regress``)."""
        return self._frame("pvalues", self._pvalues)

    @property
    def rsquared(self) -> pd.Series:
        """Centred R-squared of each window."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return pd.Series(1.0 - self._ssr / self._tss, index=self._index.copy(), name="rsquared")

    @property
    def nobs(self) -> pd.Series:
        """Usable observations in each window."""
        return pd.Series(self._nobs, index=self._index.copy(), name="nobs")

    @property
    def cov_type(self) -> str:
        """Covariance estimator name."""
        return self._cov_type

    @property
    def window(self) -> int:
        """Window length in rows."""
        return self._window

    @property
    def expanding(self) -> bool:
        """Whether the windows are expanding (start at the first row)."""
        return self._expanding

    @property
    def skipped(self) -> dict[str, str]:
        """Funds without any window estimate, with the reason."""
        return dict(self._skipped)

    @property
    def factors(self) -> list[str]:
        """Factor names."""
        return list(self._terms[1:])

    @property
    def funds(self) -> list[str]:
        """Funds with at least one window estimate."""
        return list(self._index.remove_unused_levels().levels[0])

    def plot_data(
        self, fund: str, *, level: float = 0.95, include_alpha: bool = False
    ) -> pd.DataFrame:
        """Betas of one fund over time with confidence bands, ready to plot.

        Parameters
        ----------
        fund : str
            A fund with window estimates.
        level : float
            Coverage of the bands (0.95: 95% bands).
        include_alpha : bool
            Also return the alpha path.

        Returns
        -------
        pandas.DataFrame
            Index ``period`` (window end); MultiIndex columns ``(term, "estimate" | "lower" |
            "upper")``.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from factorxray.engine import rolling_regress
        >>> idx = pd.period_range("2000-01", periods=40, freq="M")
        >>> f = pd.DataFrame({"MKT": np.sin(np.arange(40.0))}, index=idx)
        >>> y = (f["MKT"] + np.cos(np.arange(40.0)) / 10).rename("X")
        >>> list(rolling_regress(y, f).plot_data("X").columns)
        [('MKT', 'estimate'), ('MKT', 'lower'), ('MKT', 'upper')]
        """
        if not 0.0 < level < 1.0:
            raise UsageError(f"level must be between 0 and 1, not {level!r}")
        funds = self._index.levels[0]
        code = funds.get_loc(fund) if fund in funds else -1
        rows = np.flatnonzero(self._index.codes[0] == code)
        if rows.size == 0:
            raise UsageError(f"no window estimates for fund {fund!r}")
        first = 0 if include_alpha else 1
        half = (self._critical_value(1.0 - level)[rows] * self._bse[rows])[:, first:]
        estimate = self._params[rows][:, first:]
        # columns (term, estimate/lower/upper), term by term: one (windows, 3 * terms) block
        values = np.stack([estimate, estimate - half, estimate + half], axis=2)
        periods = self._index.levels[1][self._index.codes[1][rows]].rename("period")
        return pd.DataFrame(
            values.reshape(len(rows), -1), index=periods, columns=self._plot_columns(first)
        )

    def _plot_columns(self, first: int) -> pd.MultiIndex:
        """``plot_data``'s columns ``(term, estimate | lower | upper)`` from term ``first``
        on: built once (``MultiIndex.from_product`` cost more than the rest of a call), a
        shallow copy per frame so renaming one frame's columns leaves the others alone."""
        cache = self.__dict__.setdefault("_plot_columns_cache", {})
        columns = cache.get(first)
        if columns is None:
            columns = cache[first] = pd.MultiIndex.from_product(
                [list(self._terms[first:]), ["estimate", "lower", "upper"]], names=["term", "bound"]
            )
        return columns.copy()

    def __repr__(self) -> str:
        kind = "expanding" if self._expanding else f"window={self._window}"
        return (
            f"<RollingExposureResults: {len(self.funds)} funds, {len(self._index)} windows, "
            f"{kind}, cov_type={self._cov_type}>"
        )

    @property
    def _row_index(self) -> pd.MultiIndex:
        return self._index


def significance_stars(pvalue: float) -> str:
    """``***`` for p < 0.01, ``**`` for p < 0.05, ``*`` for p < 0.10, else empty (NaN: empty)."""
    for threshold, stars in STARS:
        if pvalue < threshold:
            return stars
    return ""


# ------------------------------------------------------------------------------ combining


def _union_terms(parts: Sequence[_Inference]) -> list[str]:
    terms: list[str] = []
    for part in parts:
        terms.extend(t for t in part._terms if t not in terms)
    return terms


def _spread(values: np.ndarray, own: Sequence[str], terms: Sequence[str], axes: int) -> np.ndarray:
    """Place ``values`` (terms on the last ``axes`` axes) into the union ``terms``, NaN elsewhere."""
    position = [list(terms).index(t) for t in own]
    shape = values.shape[: values.ndim - axes] + (len(terms),) * axes
    out = np.full(shape, np.nan)
    if axes == 1:
        out[..., position] = values
    else:
        out[np.ix_(range(values.shape[0]), position, position)] = values
    return out


def combine_results(
    parts: Sequence[ExposureResults], order: Sequence[str] | None = None
) -> ExposureResults:
    """One :class:`ExposureResults` from several fits of different funds (e.g. one per region).

    Terms are the union in order of first appearance; a fund's term that its own model lacks
    (``VOL`` for a fund judged on a region without it) is NaN. All parts must share the
    covariance type and the period frequency.

    Parameters
    ----------
    parts : sequence of ExposureResults
        Disjoint sets of funds.
    order : sequence of str, optional
        Fund order of the result (default: the parts' order).

    Returns
    -------
    ExposureResults

    Raises
    ------
    UsageError
        No parts, a fund in two parts, or mixed covariance types.
    """
    if not parts:
        raise UsageError("nothing to combine: no regression results")
    if len(parts) == 1 and order is None:
        return parts[0]
    if len({p.cov_type for p in parts}) > 1:
        raise UsageError("cannot combine results of different covariance types")
    funds = [f for p in parts for f in p._funds]
    if len(set(funds)) != len(funds):
        raise UsageError("cannot combine results that share a fund")
    terms = _union_terms(parts)
    params = np.concatenate([_spread(p._params, p._terms, terms, 1) for p in parts])
    cov = np.concatenate([_spread(p._cov, p._terms, terms, 2) for p in parts])
    hac = (
        None
        if all(p._hac_lags is None for p in parts)
        else np.concatenate(
            [
                p._hac_lags if p._hac_lags is not None else np.full(len(p._funds), np.nan)
                for p in parts
            ]
        )
    )
    skipped: dict[str, str] = {}
    for part in parts:
        skipped.update(part._skipped)
    rows = np.array([funds.index(f) for f in (order or funds) if f in funds], dtype=int)
    return ExposureResults(
        funds=[funds[i] for i in rows],
        terms=terms,
        params=params[rows],
        cov=cov[rows],
        nobs=np.concatenate([p._nobs for p in parts])[rows],
        ssr=np.concatenate([p._ssr for p in parts])[rows],
        tss=np.concatenate([p._tss for p in parts])[rows],
        start=pd.Index([x for p in parts for x in p._start])[rows],
        end=pd.Index([x for p in parts for x in p._end])[rows],
        hac_lags=None if hac is None else hac[rows],
        cov_type=parts[0].cov_type,
        use_t=parts[0].use_t,
        periods_per_year=parts[0].periods_per_year,
        skipped=skipped,
    )


def combine_rolling(parts: Sequence[RollingExposureResults]) -> RollingExposureResults:
    """One :class:`RollingExposureResults` from several fits of different funds (union of terms).

    Raises
    ------
    UsageError
        No parts or mixed covariance types / windows.
    """
    if not parts:
        raise UsageError("nothing to combine: no rolling results")
    if len(parts) == 1:
        return parts[0]
    if len({(p.cov_type, p.window, p.expanding) for p in parts}) > 1:
        raise UsageError("cannot combine rolling results of different windows or covariances")
    terms = _union_terms(parts)
    skipped: dict[str, str] = {}
    for part in parts:
        skipped.update(part._skipped)
    index = pd.MultiIndex.from_tuples(
        [key for p in parts for key in p._index], names=parts[0]._index.names
    )
    return RollingExposureResults(
        index=index,
        terms=terms,
        params=np.concatenate([_spread(p._params, p._terms, terms, 1) for p in parts]),
        bse=np.concatenate([_spread(p._bse, p._terms, terms, 1) for p in parts]),
        nobs=np.concatenate([p._nobs for p in parts]),
        ssr=np.concatenate([p._ssr for p in parts]),
        tss=np.concatenate([p._tss for p in parts]),
        cov_type=parts[0].cov_type,
        use_t=parts[0]._use_t,
        window=parts[0].window,
        expanding=parts[0].expanding,
        skipped=skipped,
    )
