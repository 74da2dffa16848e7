"""Style drift: Andrews' (1993) sup-Wald test for a break at an unknown date.

Model of one fund, with ``x_t = [1, factors_t]`` (``K`` regressors) and ``z_t`` the ``p``
tested columns of ``x_t`` (the betas its label promises):

    y_t = x_t' b + 1{t > tau} z_t' d + e_t,       H0: d = 0.

For every candidate split ``tau`` (the number of observations before the break) in the
trimmed range ``[floor(trim n), n - floor(trim n)]`` the Wald statistic
``W(tau) = d' V_dd^-1 d`` uses the heteroskedasticity-robust (White, HC0) covariance of the
unrestricted regression (or the classical one); the test statistic is ``sup_tau W(tau)``.
Its null distribution is not chi-square: p-values come from a bundled table of the
asymptotic distribution ``sup_pi ||B_p(pi) - pi B_p(1)||^2 / (pi (1 - pi))`` simulated by
``scripts/make_supwald_table.py``. See ``docs/robustness.md``.

All splits of one fund are computed together (no loop over splits): the restricted fit of
every fund by one batched solve; the sums over ``t > tau`` of every split from cumulative sums
of ``x_t z_t'``, ``z_t z_t'`` and ``z_t y_t``; each split's ``p``-dimensional algebra by
partitioned inversion, batched over splits (see :class:`_Restricted`); the residuals of all
splits as one ``(S, n)`` matrix; and the HC0 meat blocks of all splits as two matrix products,
``e^2 @ vec(x_t x_t')`` and ``(e^2 * 1{t > tau}) @ [vec(x_t z_t'), vec(z_t z_t')]``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple

import numpy as np
import pandas as pd

from factorxray.engine.ols import (
    PIVOT_TOL,
    PreparedInputs,
    blas_threads,
    check_design_rank,
    prepare_inputs,
    solve_normal_equations,
)
from factorxray.errors import CollinearityError, InsufficientDataError, UsageError

__all__ = [
    "DEFAULT_TRIM",
    "P_VALUE_FLOOR",
    "SupWaldResult",
    "drift_tests",
    "drift_tests_by_cov",
    "format_p_value",
    "needed_observations",
    "sup_wald",
    "supwald_critical_value",
    "supwald_pvalue",
]

#: Andrews' (1993) standard trimming: breaks are searched in the middle 70% of the sample.
DEFAULT_TRIM = 0.15
#: Smallest p-value the table can give (1 - its highest CDF level); smaller ones are floored.
P_VALUE_FLOOR = 0.001
#: Working memory of one batch of splits: each ``(S, n)`` float array stays under this.
SPLIT_CHUNK_BYTES = 4 * 2**20
_TABLE_FILE = ("data", "supwald_quantiles.csv")
_COV_TYPES = {"hc0": "HC0", "nonrobust": "nonrobust"}
_MAX_TESTED = 10
_ALPHA = "alpha"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class SupWaldResult:
    """Andrews' sup-Wald test of one fund.

    Attributes
    ----------
    stat : float
        ``sup_tau W(tau)``.
    p_value : float
        Asymptotic p-value from the simulated table; floored at :data:`P_VALUE_FLOOR`
        (then read it as "< 0.001", see :attr:`p_value_text`).
    break_period : hashable
        Index label of the last period *before* the break (the argmax split).
    break_index : int
        Position of that period among the fund's usable observations (0-based).
    tested : tuple of str
        Names of the tested coefficients.
    before, after : pandas.Series
        Tested betas before the break (``b_z``) and after it (``b_z + d``), at the argmax
        split, indexed by ``tested``.
    wald : pandas.Series
        ``W(tau)`` of every candidate split, indexed by the label of the last period before
        that split (NaN where the split's design is singular).
    nobs : int
        Usable observations (rows where ``y`` and every regressor are finite).
    trim : float
        Trimming fraction ``pi0``.
    cov_type : str
        ``"HC0"`` or ``"nonrobust"``.
    """

    stat: float
    p_value: float
    break_period: Hashable
    break_index: int
    tested: tuple[str, ...]
    before: pd.Series
    after: pd.Series
    wald: pd.Series
    nobs: int
    trim: float
    cov_type: str

    @property
    def n_tested(self) -> int:
        """Number ``p`` of tested coefficients."""
        return len(self.tested)

    @property
    def p_value_text(self) -> str:
        """The p-value for display: ``"< 0.001"`` at the table's floor, else 3 decimals."""
        return format_p_value(self.p_value)

    def summary(self) -> str:
        """One paragraph: statistic, p-value, break and the tested betas before/after.

        Examples
        --------
        >>> y, factors = _example_series()
        >>> print(sup_wald(y, factors[["Mkt-RF", "HML"]], ["HML"]).summary().splitlines()[0])
        sup-Wald 143.43 (p < 0.001; 1 tested, HC0, trim 0.15, 120 obs): break after 2009-12
        """
        head = (
            f"sup-Wald {self.stat:.2f} (p {_p_phrase(self.p_value)}; {self.n_tested} tested, "
            f"{self.cov_type}, trim {self.trim:.2f}, {self.nobs} obs): "
            f"break after {self.break_period}"
        )
        lines = [
            f"  {name}: {self.before[name]:.3f} -> {self.after[name]:.3f}" for name in self.tested
        ]
        return "\n".join([head, *lines])


class _Fit(NamedTuple):
    """The sup-Wald fit of one fund on its usable rows (plain arrays)."""

    stat: float
    split: int  # observations before the break at the argmax
    before: np.ndarray  # (p,)
    after: np.ndarray  # (p,)
    splits: np.ndarray  # (S,) candidate splits
    wald: np.ndarray  # (S,)


# --------------------------------------------------------------------------- public API


def sup_wald(
    y: pd.Series | np.ndarray,
    X: pd.DataFrame | np.ndarray,
    tested_columns: Sequence[str | int],
    *,
    trim: float = DEFAULT_TRIM,
    cov: str = "HC0",
) -> SupWaldResult:
    """Andrews' sup-Wald test for a break at an unknown date in some betas of one regression.

    A constant is always added to ``X``; the tested coefficients break, the others
    (including the constant) stay fixed under both hypotheses.

    Parameters
    ----------
    y : pandas.Series or numpy.ndarray
        Dependent variable (a fund's excess returns), NaN where missing.
    X : pandas.DataFrame or numpy.ndarray
        Regressors *without* the constant (factor returns), one column each; rows where ``y``
        or any column is NaN are dropped. With pandas objects ``y`` and ``X`` are aligned on
        their common index; numpy inputs must have equal lengths and their columns are
        called ``x0, x1, ...``.
    tested_columns : sequence of str or int
        The coefficients allowed to break: column names of ``X`` (or integer positions).
    trim : float
        Trimming ``pi0``: one of the table's values 0.05, 0.10, 0.15 (default), 0.20, 0.25.
    cov : {"HC0", "nonrobust"}
        Covariance of the unrestricted regression in ``W(tau)``, case-insensitive.

    Returns
    -------
    SupWaldResult
        Statistic, p-value, break period, tested betas before and after, ``W(tau)`` path.

    Raises
    ------
    UsageError
        Bad options or inputs (unknown column, unsupported ``trim`` or ``cov``).
    InsufficientDataError
        Too few usable observations for a trimmed test (each segment must have more
        observations than the ``K`` regressors), or every candidate split is singular.
    CollinearityError
        The regressors are collinear over the whole sample (the message names them).

    Examples
    --------
    >>> y, factors = _example_series()  # HML beta 0.5 until 2009-12, then -0.3
    >>> res = sup_wald(y, factors[["Mkt-RF", "HML"]], ["HML"])
    >>> str(res.break_period), res.p_value_text
    ('2009-12', '< 0.001')
    >>> res.before.round(1).tolist(), res.after.round(1).tolist()
    ([0.5], [-0.3])
    """
    robust = _check_cov(cov) == "HC0"
    trim = _check_trim(trim)
    sample = _single_sample(y, X)
    names = _tested_names(tested_columns, sample.factors)
    nobs = sample.y.size
    needed = needed_observations(sample.design.shape[1], trim)
    if nobs < needed:
        raise InsufficientDataError(_too_few_reason(nobs, needed, trim, None))
    check_design_rank(sample.design, [_ALPHA, *sample.factors])
    positions = [sample.factors.index(name) + 1 for name in names]
    every_row = np.ones((1, nobs), dtype=bool)
    with blas_threads():
        params, inverse, _ = _restricted_fits(sample.y[None], every_row, sample.design)
        fund = _Restricted.build(sample.y, sample.design, positions, params[0], inverse[0])
        (fit,) = _fit_one(fund, trim, (robust,))
    if fit is None:
        raise InsufficientDataError(_SINGULAR_REASON)  # the full sample passed the rank check
    return _result(fit, names, sample.labels, trim, "HC0" if robust else "nonrobust")


def drift_tests(
    excess_returns: pd.DataFrame,
    factors: pd.DataFrame,
    tested: Mapping[str, Sequence[str] | str],
    *,
    trim: float = DEFAULT_TRIM,
    cov: str = "HC0",
    min_obs: int = 60,
    rf_column: str = "RF",
) -> pd.DataFrame:
    """Style-drift (sup-Wald) tests of many funds, each on its labelled betas.

    Each fund is regressed on a constant and *every* factor column (``rf_column`` excluded),
    on its own rows where it and all factors are observed (ragged histories), and tested for
    a break at an unknown date in the betas ``tested[fund]``.

    Parameters
    ----------
    excess_returns : pandas.DataFrame
        Fund excess returns in decimals, one column per fund, NaN where missing.
    factors : pandas.DataFrame
        Factor returns on the same kind of index; every column but ``rf_column`` is a
        regressor.
    tested : mapping of str to sequence of str
        Fund -> the factor columns whose betas its label promises (a single name may be
        given as a string). Funds missing here (or with an empty list) are skipped.
    trim : float
        Trimming ``pi0`` (0.05, 0.10, 0.15, 0.20 or 0.25).
    cov : {"HC0", "nonrobust"}
        Covariance used in each ``W(tau)``.
    min_obs : int
        Funds with fewer usable observations are skipped (default 60: five years of months,
        so the shortest segment at ``trim = 0.15`` has 9). Whatever ``min_obs``, a fund needs
        ``floor(trim n) > K`` (each segment has more observations than the ``K`` regressors):
        ``n >= 60`` for 7 factors and the constant at ``trim = 0.15``.
    rf_column : str
        Risk-free column of ``factors``, never a regressor.

    Returns
    -------
    pandas.DataFrame
        Long format, one row per (fund, tested factor), MultiIndex ``(fund, factor)``, funds
        in the column order of ``excess_returns`` and factors in the order given in
        ``tested``. Columns:

        * ``before``, ``after``: the factor's beta before the break and after it;
        * ``stat``, ``p_value``, ``break_period``, ``nobs``, ``n_tested``: the fund's test
          (repeated on each of its rows); ``break_period`` is the index label of the last
          period before the break; ``p_value`` equal to :data:`P_VALUE_FLOOR` means
          "< 0.001".

        One row per fund: ``result.groupby(level="fund").first()``.
        ``result.attrs["skipped"]`` maps each fund not tested to the reason;
        ``attrs`` also holds ``trim``, ``cov_type`` and ``p_value_floor``.

    Raises
    ------
    UsageError
        Bad options, malformed inputs, a tested name that is not a factor column.
    InsufficientDataError
        No fund could be tested (``.skipped`` holds the reasons).
    CollinearityError
        The factors are collinear over the rows any fund uses (as in ``regress``). A fund
        whose *own* sample is collinear is skipped instead.

    Examples
    --------
    >>> y, factors = _example_series()  # Mkt-RF, HML and RF (not a regressor)
    >>> returns = pd.DataFrame({"VAL": y, "NEW": y.where(y.index >= "2010-06")})
    >>> res = drift_tests(returns, factors, {"VAL": ["HML"], "NEW": ["HML"]})
    >>> res[["before", "after", "stat", "p_value"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
                 before  after     stat  p_value
    fund factor
    VAL  HML      0.514 -0.274  143.431    0.001
    >>> res.loc[("VAL", "HML"), "break_period"]
    Period('2009-12', 'M')
    >>> res.attrs["skipped"]["NEW"]  # doctest: +ELLIPSIS
    'only 55 usable observations; the test needs at least 60 (min_obs=60), so that ...'
    """
    kind = _check_cov(cov)
    tables = drift_tests_by_cov(
        excess_returns,
        factors,
        tested,
        covs=(kind,),
        trim=trim,
        min_obs=min_obs,
        rf_column=rf_column,
    )
    table = tables[kind]
    if isinstance(table, InsufficientDataError):
        raise table
    return table


def drift_tests_by_cov(
    excess_returns: pd.DataFrame,
    factors: pd.DataFrame,
    tested: Mapping[str, Sequence[str] | str],
    *,
    covs: Sequence[str] = ("HC0", "nonrobust"),
    trim: float = DEFAULT_TRIM,
    min_obs: int = 60,
    rf_column: str = "RF",
) -> dict[str, pd.DataFrame | InsufficientDataError]:
    """:func:`drift_tests` under several covariances at once, sharing the fits.

    The restricted fit of each fund, the partial sums of every split and the shift ``d`` do
    not depend on the covariance: they are computed once, and only ``W(tau)`` (and so the
    argmax split) per covariance. Each table equals ``drift_tests(..., cov=cov)``.

    Parameters
    ----------
    excess_returns, factors, tested, trim, min_obs, rf_column
        As in :func:`drift_tests`.
    covs : sequence of {"HC0", "nonrobust"}
        The covariances (case-insensitive), each once.

    Returns
    -------
    dict
        Per covariance (``"HC0"``, ``"nonrobust"``, in the order given): the table
        :func:`drift_tests` returns, or the :class:`~factorxray.errors.InsufficientDataError`
        it would raise when no fund could be tested under it (returned, not raised).

    Raises
    ------
    UsageError, CollinearityError
        As :func:`drift_tests`.

    Examples
    --------
    >>> y, factors = _example_series()
    >>> tables = drift_tests_by_cov(pd.DataFrame({"VAL": y}), factors, {"VAL": ["HML"]})
    >>> [round(float(t["stat"].iloc[0]), 1) for t in tables.values()]
    [143.4, 154.0]
    """
    kinds = [_check_cov(cov) for cov in covs]
    if not kinds or len(set(kinds)) != len(kinds):
        raise UsageError(f"covs must name each covariance once, not {list(covs)!r}")
    trim = _check_trim(trim)
    min_obs = _check_min_obs(min_obs)
    inputs = prepare_inputs(excess_returns, factors, factors_used=None, rf_column=rf_column)
    tested_by_fund = _tested_by_fund(tested, inputs.factors)
    usable = inputs.usable()
    check_design_rank(inputs.design[usable.any(axis=0)], inputs.terms)
    needed = max(min_obs, needed_observations(len(inputs.factors) + 1, trim))
    skipped: dict[str, str] = {}
    nobs = usable.sum(axis=1)
    kept: list[int] = []
    for position, fund in enumerate(inputs.funds):
        if not tested_by_fund.get(fund):
            skipped[fund] = (
                "no tested factor: the fund is not listed in tested (or its list is empty)"
            )
        elif nobs[position] < needed:
            skipped[fund] = _too_few_reason(int(nobs[position]), needed, trim, min_obs)
        else:
            kept.append(position)
    robust = tuple(kind == "HC0" for kind in kinds)
    with blas_threads():
        by_cov = _fit_funds(inputs, usable, kept, tested_by_fund, trim, robust, skipped)
    absent = {
        fund: "not a column of excess_returns"
        for fund in tested_by_fund
        if fund not in inputs.funds
    }
    out: dict[str, pd.DataFrame | InsufficientDataError] = {}
    for kind, (records, singular) in zip(kinds, by_cov, strict=True):
        reasons = {**skipped, **singular, **absent}
        if not records:
            error = InsufficientDataError(_nothing_tested_message(reasons))
            error.skipped = dict(reasons)
            out[kind] = error
        else:
            out[kind] = _long_table(records, reasons, trim, kind)
    return out


def supwald_pvalue(
    stat: float | np.ndarray, n_tested: int, trim: float = DEFAULT_TRIM
) -> float | np.ndarray:
    """Asymptotic p-value of a sup-Wald statistic, interpolated in the simulated table.

    Parameters
    ----------
    stat : float or numpy.ndarray
        sup-Wald statistic(s) (Wald form, not divided by ``n_tested``).
    n_tested : int
        Number ``p`` of tested coefficients, 1 to 10.
    trim : float
        Trimming ``pi0`` of the statistic (0.05, 0.10, 0.15, 0.20 or 0.25).

    Returns
    -------
    float or numpy.ndarray
        ``1 - F(stat)`` with ``F`` linear between the table's CDF levels (0.00-0.98 by 0.01,
        0.980-0.999 by 0.001); 1 below the simulated minimum, :data:`P_VALUE_FLOOR` at or
        above the 0.999 quantile; NaN for NaN.

    Examples
    --------
    >>> round(float(supwald_pvalue(8.9, 1)), 2)
    0.05
    >>> float(supwald_pvalue(100.0, 2))
    0.001
    """
    quantiles, levels = _table_column(n_tested, _check_trim(trim))
    values = np.asarray(stat, dtype=float)
    p_values = np.round(1.0 - np.interp(values, quantiles, levels), 12)  # 1 - 0.999 is 0.001
    p_values = np.where(np.isnan(values), np.nan, np.maximum(p_values, P_VALUE_FLOOR))
    return float(p_values) if p_values.ndim == 0 else p_values


def supwald_critical_value(level: float, n_tested: int, trim: float = DEFAULT_TRIM) -> float:
    """Asymptotic critical value: the ``level`` quantile of the sup-Wald null distribution.

    Parameters
    ----------
    level : float
        CDF level in [0, 0.999], e.g. 0.95 for a 5% test.
    n_tested : int
        Number ``p`` of tested coefficients, 1 to 10.
    trim : float
        Trimming ``pi0``.

    Returns
    -------
    float
        The quantile, interpolated linearly between the table's levels.

    Examples
    --------
    >>> round(supwald_critical_value(0.95, 1), 1)
    8.9
    """
    quantiles, levels = _table_column(n_tested, _check_trim(trim))
    if not 0.0 <= level <= levels[-1]:
        raise UsageError(f"level must be between 0 and {levels[-1]:g}, not {level!r}")
    return float(np.interp(level, levels, quantiles))


def needed_observations(n_regressors: int, trim: float) -> int:
    """Fewest observations ``n`` with ``floor(trim n) > n_regressors`` (both segments fit).

    Parameters
    ----------
    n_regressors : int
        ``K``, the constant included.
    trim : float
        Trimming ``pi0``.

    Returns
    -------
    int
        The smallest sample a trimmed sup-Wald test can use.

    Examples
    --------
    >>> needed_observations(8, 0.15)
    60
    """
    n = max(1, math.ceil((n_regressors + 1) / trim) - 1)
    while _edge(trim, n) <= n_regressors:
        n += 1
    return n


def format_p_value(p_value: float) -> str:
    """``"< 0.001"`` at the table's floor, else the p-value with 3 decimals.

    Parameters
    ----------
    p_value : float
        A p-value from :func:`supwald_pvalue`.

    Returns
    -------
    str
        Text for tables and sentences (``"nan"`` for NaN).

    Examples
    --------
    >>> format_p_value(0.001), format_p_value(0.04321)
    ('< 0.001', '0.043')
    """
    if np.isnan(p_value):
        return "nan"
    return f"< {P_VALUE_FLOOR:g}" if p_value <= P_VALUE_FLOOR else f"{p_value:.3f}"


# --------------------------------------------------------------------------- the computation


def _fit_funds(
    inputs: PreparedInputs,
    usable: np.ndarray,
    kept: list[int],
    tested_by_fund: Mapping[str, list[str]],
    trim: float,
    robust: Sequence[bool],
    skipped: Mapping[str, str],
) -> list[tuple[list[_Record], dict[str, str]]]:
    """Fit the screened funds ``kept`` under each covariance (``robust``: HC0 or not).

    Per covariance: the records, and the funds no split can fit with the reason.
    """
    nobs = usable.sum(axis=1)
    restricted = _restricted_fits(inputs.returns[kept], usable[kept], inputs.design)
    out: list[tuple[list[_Record], dict[str, str]]] = [([], {}) for _ in robust]
    for position, params, inverse, singular in zip(kept, *restricted, strict=True):
        fund, rows = inputs.funds[position], usable[position]
        names = tested_by_fund[fund]
        columns = [inputs.factors.index(name) + 1 for name in names]
        y, design = inputs.returns[position, rows], inputs.design[rows]
        fits: list[_Fit | None] = [None] * len(robust)
        if not singular:
            fund_fit = _Restricted.build(y, design, columns, params, inverse)
            fits = _fit_one(fund_fit, trim, robust)
        for fit, (records, failed) in zip(fits, out, strict=True):
            if fit is None:
                failed[fund] = _singular_reason(design, inputs.terms)
            else:
                label = inputs.index[np.flatnonzero(rows)[fit.split - 1]]
                records.append(_Record(fund, names, fit, label, int(nobs[position])))
    return out


def _fit_one(fund: _Restricted, trim: float, robust: Sequence[bool]) -> list[_Fit | None]:
    """``W(tau)`` of every candidate split of one fund, per covariance (``robust``: HC0 or
    classical); ``None`` for a covariance under which every split is singular."""
    n = fund.y.size
    edge = _edge(trim, n)
    splits = np.arange(edge, n - edge + 1)
    batch = max(1, SPLIT_CHUNK_BYTES // (8 * n))
    walds = [np.empty(splits.size) for _ in robust]
    best: list[tuple[float, int, np.ndarray, np.ndarray] | None] = [None] * len(robust)
    for start in range(0, splits.size, batch):
        chunk = splits[start : start + batch]
        chunk_walds, before, shift = _wald_of_splits(fund, chunk, robust)
        for k, chunk_wald in enumerate(chunk_walds):
            walds[k][start : start + batch] = chunk_wald
            if np.isnan(chunk_wald).all():
                continue
            top = int(np.nanargmax(chunk_wald))
            current = best[k]
            if current is None or chunk_wald[top] > current[0]:
                best[k] = (float(chunk_wald[top]), int(chunk[top]), before[top], shift[top])
    fits: list[_Fit | None] = []
    for found, wald in zip(best, walds, strict=True):
        if found is None:
            fits.append(None)
            continue
        stat, split, before, shift = found
        fits.append(_Fit(stat, split, before, before + shift, splits, wald))
    return fits


@dataclass(frozen=True)
class _Restricted:
    """One fund's restricted fit (no break) and the per-observation pieces the splits need.

    With ``A = X'X``, ``C_tau = sum_{t>tau} x_t z_t'`` and ``D_tau = sum_{t>tau} z_t z_t'``
    (differences of cumulative sums), the unrestricted ``X'X`` of split ``tau`` is
    ``[[A, C], [C', D]]``. Partitioned inversion (Frisch-Waugh-Lovell) leaves ``p``-sized
    algebra per split: ``G = C' A^-1``, the Schur complement ``S = D - G C``,
    ``g = sum_{t>tau} z_t y_t - G X'y``, the shift ``d = S^-1 g``, and the rows of
    ``(X'X)^-1`` that belong to ``d``, ``S^-1 [-G, I]``. Hence, with the HC0 meat
    ``M = sum_t e_t^2 w_t w_t'`` of ``w_t = [x_t, 1{t>tau} z_t]``,

        V_dd = S^-1 H S^-1,   H = M_zz - G M_xz - M_zx G' + G M_xx G',
        W    = d' V_dd^-1 d = g' H^-1 g,

    and without robustness ``V_dd = s^2 S^-1``, ``W = g' d / s^2``, where
    ``SSR = SSR_0 - g' d`` (``SSR_0`` of the restricted fit). The residuals of every split,
    ``e_t = y_t - x_t' b - 1{t>tau} z_t' d``, are ``e0_t - 1{t>tau} z_t' d + x_t' G' d``.
    """

    y: np.ndarray  # (n,)
    design: np.ndarray  # (n, K): x_t
    tested_columns: np.ndarray  # (n, p): z_t
    tested: list[int]  # positions of z in x
    xtx_inverse: np.ndarray  # (K, K): A^-1
    xty: np.ndarray  # (K,): X'y
    params: np.ndarray  # (K,): restricted coefficients b0 = A^-1 X'y
    resid: np.ndarray  # (n,): e0
    ssr: float  # e0'e0
    xz_prefix: np.ndarray  # (n, K, p): cumulative sums of x_t z_t'
    zz_prefix: np.ndarray  # (n, p, p): cumulative sums of z_t z_t'
    zy_prefix: np.ndarray  # (n, p): cumulative sums of z_t y_t
    xx_packed: np.ndarray  # (n, K(K+1)/2): upper triangle of x_t x_t', diagonal halved
    xz_zz: np.ndarray  # (n, K p + p p): vec(x_t z_t') then vec(z_t z_t')

    @classmethod
    def build(
        cls,
        y: np.ndarray,
        design: np.ndarray,
        tested: list[int],
        params: np.ndarray,
        xtx_inverse: np.ndarray,
    ) -> _Restricted:
        """Pieces of one fund from its usable rows and its restricted fit (``b0``, ``A^-1``)."""
        n, k = design.shape
        z = design[:, tested]
        resid = y - design @ params
        xz = design[:, :, None] * z[:, None, :]
        zz = z[:, :, None] * z[:, None, :]
        rows, columns, weights = _packed_upper(k)
        return cls(
            y=y,
            design=design,
            tested_columns=z,
            tested=tested,
            xtx_inverse=xtx_inverse,
            xty=design.T @ y,
            params=params,
            resid=resid,
            ssr=float(resid @ resid),
            xz_prefix=np.cumsum(xz, axis=0),
            zz_prefix=np.cumsum(zz, axis=0),
            zy_prefix=np.cumsum(z * y[:, None], axis=0),
            xx_packed=design[:, rows] * design[:, columns] * weights,
            xz_zz=np.concatenate([xz.reshape(n, -1), zz.reshape(n, -1)], axis=1),
        )

    @property
    def n_tested(self) -> int:
        return len(self.tested)

    def after(self, prefix: np.ndarray, splits: np.ndarray) -> np.ndarray:
        """``sum_{t > tau}`` of a cumulative-sum array, for each split ``tau``."""
        return prefix[-1] - prefix[splits - 1]


def _restricted_fits(
    returns: np.ndarray, usable: np.ndarray, design: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Restricted (no break) OLS of many funds at once, each on its usable rows.

    ``X'X`` and ``X'y`` of every fund are two matrix products over the shared design (as in
    :func:`factorxray.engine.regress`), solved by one batched Cholesky with the engine's rank
    check. Returns ``params`` (N, K), ``(X'X)^-1`` (N, K, K) and ``singular`` (N,).
    """
    n_time, k = design.shape
    outer = (design[:, :, None] * design[:, None, :]).reshape(n_time, k * k)
    xtx = (usable.astype(float) @ outer).reshape(-1, k, k)
    xty = np.where(usable, returns, 0.0) @ design
    return solve_normal_equations(xtx, xty)


def _wald_of_splits(
    fund: _Restricted, splits: np.ndarray, robust: Sequence[bool]
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """``W(tau)`` (S,) per covariance, tested betas before the break ``b_z`` (S, p) and
    shifts ``d`` (S, p). Splits whose unrestricted design is singular get NaN.
    """
    n, k = fund.design.shape
    p = fund.n_tested
    cross = fund.after(fund.xz_prefix, splits)  # C (S, K, p)
    post_zz = fund.after(fund.zz_prefix, splits)  # D (S, p, p)
    gain = cross.transpose(0, 2, 1) @ fund.xtx_inverse  # G = C' A^-1 (S, p, K)
    schur = post_zz - gain @ cross  # S (S, p, p)
    score = fund.after(fund.zy_prefix, splits) - gain @ fund.xty  # g (S, p)
    singular = _singular_schur(schur, post_zz)
    schur[singular] = np.eye(p)
    shift = _solve(schur, score)  # d (S, p)
    walds = []
    for hc0 in robust:
        if hc0:
            middle = _hc0_middle(fund, splits, gain, shift)
            middle[singular] = np.eye(p)
            wald = np.einsum("sp,sp->s", score, _solve(middle, score))
        else:
            explained = np.einsum("sp,sp->s", score, shift)  # g' S^-1 g
            variance = (fund.ssr - explained) / (n - k - p)
            wald = explained / variance
        wald[singular] = np.nan
        walds.append(wald)
    correction = (cross @ shift[:, :, None])[:, :, 0] @ fund.xtx_inverse  # A^-1 C d (A sym.)
    before = fund.params[fund.tested] - correction[:, fund.tested]
    return walds, before, shift


def _hc0_middle(
    fund: _Restricted, splits: np.ndarray, gain: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    """``H = M_zz - G M_xz - M_zx G' + G M_xx G'`` of each split, shape (S, p, p).

    The residuals of all splits form one ``(S, n)`` matrix; the meat blocks are two matrix
    products: ``e^2 @ vec(x x')`` (packed upper triangle, diagonal halved) for ``M_xx`` and
    ``(e^2 * 1{t > tau}) @ [vec(x z'), vec(z z')]`` for the blocks touching ``z``.
    """
    n, k = fund.design.shape
    post = np.arange(n)[None, :] >= splits[:, None]  # (S, n): t after the break
    back = (shift[:, None, :] @ gain)[:, 0, :]  # G' d (S, K)
    resid = back @ fund.design.T
    resid += fund.resid
    np.subtract(resid, shift @ fund.tested_columns.T, out=resid, where=post)
    squared = np.square(resid, out=resid)
    xx_packed = squared @ fund.xx_packed  # (S, K(K+1)/2), diagonal terms halved
    squared *= post
    touching_z = squared @ fund.xz_zz  # (S, K p + p p)
    p = fund.n_tested
    meat_xz = touching_z[:, : k * p].reshape(-1, k, p)
    meat_zz = touching_z[:, k * p :].reshape(-1, p, p)
    # G M_xx G' = T + T' with T = sum_{i<=j} m_ij G_i G_j' (m_ii halved): no K x K unpacking
    rows, columns, _ = _packed_upper(k)
    half = (gain[:, :, rows] * xx_packed[:, None, :]) @ gain[:, :, columns].transpose(0, 2, 1)
    half -= gain @ meat_xz  # T - G M_xz
    return meat_zz + half + half.transpose(0, 2, 1)


def _singular_schur(schur: np.ndarray, post_zz: np.ndarray) -> np.ndarray:
    """Whether each split's unrestricted ``X'X`` is singular (``A`` itself is not).

    The scaled Cholesky pivots of the full ``X'X`` for the ``z`` block are those of the
    Schur complement scaled by ``diag(D)``: the share of each post-break tested column not
    explained by ``x`` and the previous ones. Below ``PIVOT_TOL`` (as in the static engine)
    the split is singular.
    """
    diag = np.diagonal(post_zz, axis1=1, axis2=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 1.0 / np.sqrt(diag)
    dead = ~np.isfinite(scale).all(axis=1) | (diag <= 0).any(axis=1)
    scale = np.where(np.isfinite(scale), scale, 0.0)
    scaled = schur * scale[:, :, None] * scale[:, None, :]
    scaled[dead] = np.eye(scaled.shape[-1])
    try:
        lower = np.linalg.cholesky(scaled)
    except np.linalg.LinAlgError:  # some split is not positive definite: pivot by pivot
        return dead | _small_pivots(scaled)
    pivots = np.diagonal(lower, axis1=1, axis2=2) ** 2
    return dead | ~(pivots > PIVOT_TOL).all(axis=1)


def _small_pivots(scaled: np.ndarray) -> np.ndarray:
    """Cholesky vectorized over the batch that carries on past pivots below ``PIVOT_TOL``."""
    size = scaled.shape[-1]
    lower = np.zeros_like(scaled)
    singular = np.zeros(scaled.shape[0], dtype=bool)
    for j in range(size):
        row = lower[:, j, :j]
        pivot = scaled[:, j, j] - np.einsum("sk,sk->s", row, row)
        bad = ~(pivot > PIVOT_TOL)
        singular |= bad
        root = np.sqrt(np.where(bad, 1.0, pivot))
        lower[:, j, j] = root
        below = scaled[:, j + 1 :, j] - np.einsum("sik,sk->si", lower[:, j + 1 :, :j], row)
        lower[:, j + 1 :, j] = below / root[:, None]
    return singular


def _solve(matrices: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Batched ``matrices^-1 rhs``; NaN for a matrix LAPACK finds singular."""
    try:
        return np.linalg.solve(matrices, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        solved = np.full_like(rhs, np.nan)
        for i in range(rhs.shape[0]):  # only when some matrix is exactly singular
            try:
                solved[i] = np.linalg.solve(matrices[i], rhs[i])
            except np.linalg.LinAlgError:
                pass
        return solved


@functools.cache
def _packed_upper(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and weights (1/2 on the diagonal) of the upper triangle of ``k x k``."""
    rows, columns = np.triu_indices(k)
    weights = np.where(rows == columns, 0.5, 1.0)
    for array in (rows, columns, weights):
        array.setflags(write=False)
    return rows, columns, weights


def _edge(trim: float, n: int) -> int:
    """``floor(trim n)``, robust to binary rounding (0.15 * 60 is 9, not 8.999...)."""
    return math.floor(trim * n + 1e-9)


# --------------------------------------------------------------------------- the table


class _Table(NamedTuple):
    """The bundled quantile table: ``quantiles[trim, level, p - 1]``."""

    trims: np.ndarray  # (R,)
    levels: np.ndarray  # (L,)
    quantiles: np.ndarray  # (R, L, 10): grid-corrected, used for p-values
    grid_quantiles: np.ndarray  # (R, L, 10): raw maximum over the simulation grid


@functools.cache
def _quantile_table() -> _Table:
    """Read ``data/supwald_quantiles.csv`` (comment lines ``#``, header, rows) once."""
    resource = resources.files("factorxray.engine").joinpath(*_TABLE_FILE)
    lines = [
        line
        for line in resource.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    header = lines[0].split(",")
    values = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    trims = np.unique(values[:, 0])
    levels = np.unique(values[:, 1])

    def block(prefix: str) -> np.ndarray:
        columns = [header.index(f"{prefix}p{p}") for p in range(1, _MAX_TESTED + 1)]
        array = values[:, columns].reshape(trims.size, levels.size, _MAX_TESTED)
        array.setflags(write=False)
        return array

    trims.setflags(write=False)
    levels.setflags(write=False)
    return _Table(trims, levels, block(""), block("grid_"))


def _table_column(n_tested: int, trim: float) -> tuple[np.ndarray, np.ndarray]:
    table = _quantile_table()
    max_tested = _MAX_TESTED
    if isinstance(n_tested, bool) or not isinstance(n_tested, int | np.integer):
        raise UsageError(f"n_tested must be an integer, not {n_tested!r}")
    if not 1 <= n_tested <= max_tested:
        raise UsageError(
            f"the sup-Wald table covers 1 to {max_tested} tested coefficients, not {n_tested}"
        )
    row = int(np.flatnonzero(np.isclose(table.trims, trim))[0])
    return table.quantiles[row, :, n_tested - 1], table.levels


# --------------------------------------------------------------------------- checks and output


def _check_cov(cov: str) -> str:
    if not isinstance(cov, str) or cov.lower() not in _COV_TYPES:
        raise UsageError(f"cov must be 'HC0' or 'nonrobust' for the sup-Wald test, not {cov!r}")
    return _COV_TYPES[cov.lower()]


def _check_trim(trim: float) -> float:
    trims = _quantile_table().trims
    if isinstance(trim, bool) or not isinstance(trim, int | float | np.floating):
        raise UsageError(f"trim must be a number, not {trim!r}")
    match = np.flatnonzero(np.isclose(trims, trim, rtol=0, atol=1e-9))
    if match.size == 0:
        available = ", ".join(f"{t:.2f}" for t in trims)
        raise UsageError(f"trim must be one of the tabulated values {available}, not {trim!r}")
    return float(trims[match[0]])


def _check_min_obs(min_obs: int) -> int:
    if isinstance(min_obs, bool) or not isinstance(min_obs, int | np.integer) or min_obs < 1:
        raise UsageError(f"min_obs must be a positive integer, not {min_obs!r}")
    return int(min_obs)


def _tested_names(tested: Sequence[str | int] | str, factors: list[str]) -> list[str]:
    """Validate one fund's tested columns (names or positions) into factor names."""
    if isinstance(tested, str):
        tested = [tested]
    names: list[str] = []
    for item in tested:
        if isinstance(item, int | np.integer) and not isinstance(item, bool):
            if not 0 <= item < len(factors):
                raise UsageError(
                    f"tested column position {item} is out of range 0..{len(factors) - 1}"
                )
            names.append(factors[int(item)])
        elif str(item) in factors:
            names.append(str(item))
        else:
            raise UsageError(
                f"tested names {item!r}, which is not a factor column; available: "
                f"{', '.join(factors)}"
            )
    if len(set(names)) != len(names):
        raise UsageError("a tested factor is listed twice")
    if len(names) > _MAX_TESTED:
        raise UsageError(
            f"the sup-Wald table covers 1 to {_MAX_TESTED} tested coefficients, not {len(names)}"
        )
    return names


def _tested_by_fund(
    tested: Mapping[str, Sequence[str] | str], factors: list[str]
) -> dict[str, list[str]]:
    if not isinstance(tested, Mapping):
        raise UsageError(
            f"tested must map each fund to its tested factors, not {type(tested).__name__}"
        )
    by_fund: dict[str, list[str]] = {}
    for fund, names in tested.items():
        if isinstance(names, str):
            names = [names]
        elif not isinstance(names, Sequence | np.ndarray | pd.Index):
            raise UsageError(f"tested[{fund!r}] must be a list of factor names")
        by_fund[str(fund)] = _tested_names(list(names), factors)
    return by_fund


class _Sample(NamedTuple):
    """One regression's usable rows: ``y``, ``[1, X]``, the factor names and row labels."""

    y: np.ndarray
    design: np.ndarray
    factors: list[str]
    labels: pd.Index


def _single_sample(y: pd.Series | np.ndarray, X: pd.DataFrame | np.ndarray) -> _Sample:
    """Validate one regression's inputs and keep the rows where ``y`` and ``X`` are finite."""
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(y, pd.Series) and isinstance(X, pd.DataFrame):
        frame = X.set_axis([str(c) for c in X.columns], axis=1)
        columns = list(frame.columns)
        inputs = prepare_inputs(y.rename("y"), frame, factors_used=columns, rf_column="")
        rows = inputs.usable()[0]
        design = inputs.design[rows]
        return _Sample(inputs.returns[0, rows], design, inputs.factors, inputs.index[rows])
    if isinstance(y, pd.Series | pd.DataFrame) or isinstance(X, pd.DataFrame):
        raise UsageError(
            "pass y and X both as pandas objects (aligned on the index) or both as arrays"
        )
    y_values = np.asarray(y, dtype=float)
    x_values = np.asarray(X, dtype=float)
    if x_values.ndim == 1:
        x_values = x_values[:, None]
    if y_values.ndim != 1 or x_values.ndim != 2 or x_values.shape[0] != y_values.size:
        raise UsageError(
            f"y must be 1-D and X 2-D with as many rows; got shapes {y_values.shape} and "
            f"{x_values.shape}"
        )
    if np.isinf(y_values).any() or np.isinf(x_values).any():
        raise UsageError("y or X contains infinite values; replace them with NaN or fix them")
    rows = ~np.isnan(y_values) & ~np.isnan(x_values).any(axis=1)
    design = np.column_stack([np.ones(int(rows.sum())), x_values[rows]])
    factors = [f"x{j}" for j in range(x_values.shape[1])]
    return _Sample(y_values[rows], design, factors, pd.Index(np.flatnonzero(rows)))


_SINGULAR_REASON = (
    "singular design in every candidate split (a factor is constant or collinear within the "
    "segments)"
)


def _singular_reason(design: np.ndarray, terms: list[str]) -> str:
    """Why a fund has no usable split: collinear in its whole sample, or in the segments."""
    try:
        check_design_rank(design, terms)
    except CollinearityError as error:
        return f"{error}".replace("; drop one of them", " in its sample")
    return _SINGULAR_REASON


def _too_few_reason(nobs: int, needed: int, trim: float, min_obs: int | None) -> str:
    floor = f" (min_obs={min_obs})" if min_obs is not None else ""
    return (
        f"only {nobs} usable observations; the test needs at least {needed}{floor}, so that with "
        f"trim {trim:.2f} each segment has more observations than regressors"
    )


def _nothing_tested_message(skipped: dict[str, str]) -> str:
    if not skipped:
        return "no fund to test: excess_returns has no columns"
    fund, reason = next(iter(skipped.items()))
    more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
    return f"no fund could be tested for drift: {fund}: {reason}{more}"


def _p_phrase(p_value: float) -> str:
    text = format_p_value(p_value)
    return text if text.startswith("<") else f"= {text}"


def _result(
    fit: _Fit, names: list[str], labels: pd.Index, trim: float, cov_type: str
) -> SupWaldResult:
    tested = tuple(names)
    return SupWaldResult(
        stat=fit.stat,
        p_value=float(supwald_pvalue(fit.stat, len(tested), trim)),
        break_period=labels[fit.split - 1],
        break_index=fit.split - 1,
        tested=tested,
        before=pd.Series(fit.before, index=list(tested), name="before"),
        after=pd.Series(fit.after, index=list(tested), name="after"),
        wald=pd.Series(fit.wald, index=labels[fit.splits - 1], name="wald"),
        nobs=int(labels.size),
        trim=trim,
        cov_type=cov_type,
    )


class _Record(NamedTuple):
    """One tested fund's row data for :func:`drift_tests`' table."""

    fund: str
    names: list[str]
    fit: _Fit
    break_period: Hashable
    nobs: int


def _long_table(
    records: list[_Record], skipped: dict[str, str], trim: float, cov_type: str
) -> pd.DataFrame:
    """One row per (fund, tested factor); the fund-level columns repeat on its rows."""
    funds: list[str] = []
    factors: list[str] = []
    columns: dict[str, list] = {
        name: [] for name in ("before", "after", "stat", "break_period", "nobs", "n_tested")
    }
    stats = np.array([record.fit.stat for record in records])
    n_tested = np.array([len(record.names) for record in records])
    p_values = np.empty(stats.size)
    for p in np.unique(n_tested):
        chosen = n_tested == p
        p_values[chosen] = supwald_pvalue(stats[chosen], int(p), trim)
    fund_p_values: list[float] = []
    for record, p_value in zip(records, p_values.tolist(), strict=True):
        count = len(record.names)
        funds += [record.fund] * count
        factors += record.names
        columns["before"] += record.fit.before.tolist()
        columns["after"] += record.fit.after.tolist()
        columns["stat"] += [record.fit.stat] * count
        columns["break_period"] += [record.break_period] * count
        columns["nobs"] += [record.nobs] * count
        columns["n_tested"] += [count] * count
        fund_p_values += [p_value] * count
    index = _fund_factor_index(funds, factors)
    table = pd.DataFrame(
        {
            "before": np.array(columns["before"], dtype=float),
            "after": np.array(columns["after"], dtype=float),
            "stat": np.array(columns["stat"], dtype=float),
            "p_value": np.array(fund_p_values, dtype=float),
            "break_period": pd.Index(columns["break_period"]),
            "nobs": np.array(columns["nobs"], dtype=np.int64),
            "n_tested": np.array(columns["n_tested"], dtype=np.int64),
        },
        index=index,
    )
    table.attrs.update(
        skipped=dict(skipped), trim=trim, cov_type=cov_type, p_value_floor=P_VALUE_FLOOR
    )
    return table


def _fund_factor_index(funds: list[str], factors: list[str]) -> pd.MultiIndex:
    """``pd.MultiIndex.from_arrays([funds, factors], names=["fund", "factor"])`` from its
    sorted levels and codes (from_arrays factorizes through Categoricals: ~1 ms)."""
    levels, codes = [], []
    for labels in (funds, factors):
        level = sorted(set(labels))
        position = {label: code for code, label in enumerate(level)}
        levels.append(pd.Index(level))
        codes.append(np.array([position[label] for label in labels], dtype=np.int64))
    return pd.MultiIndex(
        levels=levels, codes=codes, names=["fund", "factor"], verify_integrity=False
    )


def _example_series() -> tuple[pd.Series, pd.DataFrame]:
    """Ten years of a fund whose HML beta drops from 0.5 to -0.3 after 2009-12 (for examples)."""
    rng = np.random.default_rng(9)
    index = pd.period_range("2005-01", periods=120, freq="M", name="period")
    factors = pd.DataFrame(rng.normal(0.0, 0.03, (120, 2)), index, ["Mkt-RF", "HML"])
    hml_beta = np.where(index <= pd.Period("2009-12", "M"), 0.5, -0.3)
    noise = rng.normal(0.0, 0.01, 120)
    y = 0.001 + factors["Mkt-RF"] + hml_beta * factors["HML"] + noise
    return y.rename("VAL"), factors.assign(RF=0.001)
