"""Collinearity diagnostics of a factor set: correlation matrix and variance inflation factors.

Both use the rows where every factor is observed and ignore the risk-free column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factorxray.errors import InsufficientDataError, UsageError

__all__ = ["factor_correlations", "vif"]


def vif(factors: pd.DataFrame, *, rf_column: str = "RF") -> pd.Series:
    """Variance inflation factor of each factor.

    ``VIF_k = 1 / (1 - R^2_k)`` where ``R^2_k`` is the R-squared of regressing factor ``k``
    on all other factors and a constant, as statsmodels'
    ``variance_inflation_factor(add_constant(factors), k)``. A factor that is an exact
    linear combination of the others gets ``inf``.

    Parameters
    ----------
    factors : pandas.DataFrame
        Factor returns, one column per factor. Rows with any NaN are dropped.
    rf_column : str
        Risk-free column, ignored.

    Returns
    -------
    pandas.Series
        VIF per factor, named ``vif``.

    Raises
    ------
    UsageError
        Not a DataFrame, non-numeric columns, or no factor columns.
    InsufficientDataError
        Fewer complete rows than factors + 2.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> x = np.random.default_rng(0).normal(size=(200, 2))
    >>> f = pd.DataFrame({"A": x[:, 0], "B": x[:, 0] + x[:, 1], "RF": 0.001})
    >>> vif(f).round(1).tolist()
    [2.1, 2.1]
    """
    values, names = _complete_factor_values(factors, rf_column)
    centred = values - values.mean(axis=0)
    result = np.empty(len(names))
    for k in range(len(names)):
        result[k] = _vif_of_column(centred, k)
    return pd.Series(result, index=pd.Index(names, name="factor"), name="vif")


def factor_correlations(factors: pd.DataFrame, *, rf_column: str = "RF") -> pd.DataFrame:
    """Pearson correlation matrix of the factors on their common complete rows.

    Parameters
    ----------
    factors : pandas.DataFrame
        Factor returns, one column per factor. Rows with any NaN are dropped.
    rf_column : str
        Risk-free column, ignored.

    Returns
    -------
    pandas.DataFrame
        Factors x factors correlations.

    Raises
    ------
    UsageError
        Not a DataFrame, non-numeric columns, or no factor columns.
    InsufficientDataError
        Fewer complete rows than factors + 2.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"A": [1.0, 2, 3, 4], "B": [2.0, 4, 6, 9], "RF": 0.0})
    >>> factor_correlations(f).round(2).loc["A", "B"]
    np.float64(0.99)
    """
    values, names = _complete_factor_values(factors, rf_column)
    with np.errstate(divide="ignore", invalid="ignore"):
        matrix = np.atleast_2d(np.corrcoef(values, rowvar=False))
    index = pd.Index(names, name="factor")
    return pd.DataFrame(matrix, index=index, columns=index.copy())


def _vif_of_column(centred: np.ndarray, k: int) -> float:
    target = centred[:, k]
    tss = float(target @ target)
    if tss == 0.0:
        return float("inf")
    others = np.delete(centred, k, axis=1)
    if others.shape[1] == 0:
        return 1.0
    coef, *_ = np.linalg.lstsq(others, target, rcond=None)
    resid = target - others @ coef
    ssr = float(resid @ resid)
    if ssr <= 1e-13 * tss:
        return float("inf")
    return tss / ssr


def _complete_factor_values(factors: pd.DataFrame, rf_column: str) -> tuple[np.ndarray, list]:
    if not isinstance(factors, pd.DataFrame):
        raise UsageError(f"factors must be a pandas DataFrame, not {type(factors).__name__}")
    frame = factors.drop(columns=[c for c in factors.columns if c == rf_column])
    if frame.shape[1] == 0:
        raise UsageError("factors has no factor columns (only the RF column)")
    bad = [
        str(c)
        for c, dtype in frame.dtypes.items()
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    ]
    if bad:
        raise UsageError(f"factors has non-numeric columns: {', '.join(bad)}")
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[~np.isnan(values).any(axis=1)]
    needed = frame.shape[1] + 2
    if values.shape[0] < needed:
        raise InsufficientDataError(
            f"only {values.shape[0]} complete factor rows, need at least {needed}"
        )
    return values, [str(c) for c in frame.columns]
