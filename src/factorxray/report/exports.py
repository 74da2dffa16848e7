"""Machine-readable exports of an analysis: ``exposures.csv`` and ``summary.json``.

``exposures.csv`` is long (``fund,factor,beta,se,t,p``, alpha as factor ``alpha``) with
floats written in full round-trip precision, so reading it back gives the engine's numbers
exactly. ``summary.json`` holds one record per analyzed fund plus the run's facts and the
funds that were not analyzed; it never contains NaN (missing numbers are ``null``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from factorxray._atomic import atomic_write_text
from factorxray.errors import UsageError

if TYPE_CHECKING:
    from factorxray.analysis import Analysis

__all__ = [
    "EXPOSURES_CSV",
    "SUMMARY_JSON",
    "exposures_frame",
    "factors_limited_by",
    "summary",
    "write_exposures_csv",
    "write_summary_json",
]

EXPOSURES_CSV = "exposures.csv"
SUMMARY_JSON = "summary.json"


def exposures_frame(analysis: Analysis) -> pd.DataFrame:
    """The long exposures table: ``fund, factor, beta, se, t, p`` (alpha as ``alpha``).

    Examples
    --------
    >>> exposures_frame(analysis).columns.tolist()  # doctest: +SKIP
    ['fund', 'factor', 'beta', 'se', 't', 'p']
    """
    frame = analysis.results.to_frame()
    return frame.rename(columns={"term": "factor", "estimate": "beta"})[
        ["fund", "factor", "beta", "se", "t", "p"]
    ]


def write_exposures_csv(analysis: Analysis, path: str | os.PathLike[str]) -> Path:
    """Write :func:`exposures_frame` as CSV (full-precision floats, empty for NaN)."""
    path = Path(path)
    text = exposures_frame(analysis).to_csv(index=False, lineterminator="\n")
    atomic_write_text(path, text)
    return path


def _clean(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN/inf/NA to None, periods and dates to text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | pd.Index | np.ndarray | pd.Series):
        return [_clean(v) for v in list(value)]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return value
    if isinstance(value, pd.Period | pd.Timestamp | datetime):
        return str(value)
    if hasattr(value, "to_dict"):
        return _clean(value.to_dict())
    if hasattr(value, "value") and not callable(value.value):  # enums
        return _clean(value.value)
    return str(value)


def _price_source(meta: Mapping[str, Any], fund: str) -> Any:
    per_fund = meta.get("price_sources")
    if isinstance(per_fund, Mapping) and per_fund.get(fund):
        return per_fund[fund]
    source = meta.get("price_source")
    if isinstance(source, Mapping):
        return source.get(fund)
    return source


def factors_limited_by(factors: pd.DataFrame) -> dict[str, list[str]] | None:
    """The factor files that start last and end first (``factors.attrs["limited_by"]``).

    They set the factor data's range: the model's files are joined on their common months.
    ``None`` when the factors do not record it (a frame not from
    :func:`factorxray.factors.load_factors`).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"Mkt-RF": [0.01]})
    >>> f.attrs["limited_by"] = {"start": ["A"], "end": ["B", "A"]}
    >>> factors_limited_by(f)
    {'start': ['A'], 'end': ['B', 'A']}
    """
    limited = factors.attrs.get("limited_by")
    if not isinstance(limited, Mapping):
        return None
    return {side: [str(name) for name in limited.get(side) or []] for side in ("start", "end")}


def summary(analysis: Analysis, *, generated_at: str | None = None) -> dict[str, Any]:
    """The content of ``summary.json`` as a JSON-ready dict.

    Returns
    -------
    dict
        ``run`` (model, region, vintages, the factor files that limit the range, price
        source, covariance, thresholds, sample, version, generated-at), ``funds`` (list, one record per analyzed fund, in universe
        order) and ``not_analyzed`` ({fund: reason}).
    """
    from factorxray import __version__

    results = analysis.results
    meta = dict(analysis.meta)
    params, bse, tvalues, pvalues = results.params, results.bse, results.tvalues, results.pvalues
    rsq, rsq_adj, nobs = results.rsquared, results.rsquared_adj, results.nobs
    alpha_ann = results.alpha_annualized
    hac = results.hac_lags
    vintages = meta.get("factors_vintage") or analysis.factors.attrs.get("vintages")
    order = [f for f in analysis.universe.tickers if f in params.index]
    order += [f for f in params.index if f not in order]
    funds = []
    for fund in order:
        try:
            info = analysis.universe.fund(fund)
        except UsageError:  # analyzed but not in the universe (an Analysis built by hand)
            info = None
        verdict = analysis.verdicts.get(fund)
        verdict_dict = _clean(verdict.to_dict()) if verdict is not None else {}
        status = getattr(verdict, "status", None)
        tilts = verdict_dict.get("tilts", verdict_dict.get("checks"))
        if tilts is None and info is not None:
            tilts = _clean(getattr(info, "tilts", None))
        lags = hac[fund]
        funds.append(
            {
                "fund": fund,
                "name": getattr(info, "name", None),
                "category": getattr(info, "category", None),
                "model": meta.get("model"),
                # Every fund is regressed on the run's factors; the label's region is apart.
                "region": meta.get("region"),
                "fund_region": getattr(info, "region", None),
                "start": str(results.start[fund]),
                "end": str(results.end[fund]),
                "nobs": int(nobs[fund]),
                "rsquared": rsq[fund],
                "rsquared_adj": rsq_adj[fund],
                "alpha_monthly": params.loc[fund, "alpha"],
                "alpha_annual": alpha_ann.loc[fund, "geometric"],
                "alpha_annual_arithmetic": alpha_ann.loc[fund, "arithmetic"],
                "alpha_annualization": "geometric: (1 + alpha_monthly)^12 - 1",
                "cov_type": results.cov_type,
                "hac_lags": None if pd.isna(lags) else int(lags),
                "factors_vintage": vintages,
                "price_source": _price_source(meta, fund),
                "verdict": _clean(status),
                "verdict_sentence": getattr(verdict, "sentence", None),
                "tilts": tilts,
                "verdict_detail": verdict_dict,
                "exposures": {
                    term: {
                        "beta": params.loc[fund, term],
                        "se": bse.loc[fund, term],
                        "t": tvalues.loc[fund, term],
                        "p": pvalues.loc[fund, term],
                    }
                    for term in params.columns
                },
            }
        )
    try:
        sample = {"start": str(min(results.start)), "end": str(max(results.end))}
    except (TypeError, ValueError):
        sample = {"start": None, "end": None}
    run = {
        **meta,
        "price_source": meta.get("price_source"),
        "factors_vintage": vintages,
        "factors_limited_by": factors_limited_by(analysis.factors),
        "cov_type": results.cov_type,
        "factors": [c for c in params.columns if c != "alpha"],
        "sample": sample,
        "periods_per_year": results.periods_per_year,
        "n_analyzed": len(order),
        "n_not_analyzed": len(analysis.failed),
        "factorxray_version": __version__,
        "generated_at": generated_at
        or datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }
    return _clean({"run": run, "funds": funds, "not_analyzed": dict(analysis.failed)})


def write_summary_json(
    analysis: Analysis, path: str | os.PathLike[str], *, generated_at: str | None = None
) -> Path:
    """Write :func:`summary` as indented JSON (strict: no NaN)."""
    path = Path(path)
    text = json.dumps(summary(analysis, generated_at=generated_at), indent=2, allow_nan=False)
    atomic_write_text(path, text + "\n")
    return path
