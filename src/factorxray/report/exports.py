"""Machine-readable exports of an analysis: ``exposures.csv`` and ``summary.json``.

``exposures.csv`` is long (``fund,factor,beta,se,t,p,q,region,model``, alpha as factor
``alpha``) with floats written in full round-trip precision, so reading it back gives the
engine's numbers exactly; ``q`` is the Benjamini-Hochberg q-value over the whole funds x
factors table (empty for alpha), ``region`` and ``model`` the factors the fund was regressed
on. ``summary.json`` holds one record per analyzed fund (its region and model, verdict,
robustness across models, over time and across regions, warnings) plus the run's facts and
the funds that were not analyzed; it never contains NaN (missing numbers are ``null``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from factorxray._atomic import atomic_write_bytes
from factorxray.errors import UsageError
from factorxray.report.periods import PeriodWords, period_words

if TYPE_CHECKING:
    from factorxray.analysis import Analysis

__all__ = [
    "EXPOSURES_CSV",
    "EXPOSURE_COLUMNS",
    "ROLLING_COLUMNS",
    "ROLLING_CSV",
    "SUMMARY_JSON",
    "TILT_ROBUSTNESS_KEYS",
    "exposures_frame",
    "factors_limited_by",
    "fund_factors",
    "fund_terms",
    "regions_used",
    "rolling_frame",
    "summary",
    "write_exposures_csv",
    "write_rolling_csv",
    "write_summary_json",
]

EXPOSURES_CSV = "exposures.csv"
SUMMARY_JSON = "summary.json"
EXPOSURE_COLUMNS = ["fund", "factor", "beta", "se", "t", "p", "q", "region", "model"]
#: Robustness keys every tilt of summary.json carries (``null`` when not computed).
TILT_ROBUSTNESS_KEYS = (
    "share_of_windows",
    "last_window_beta",
    "last_window_end",
    "drift_p",
    "drift_break",
)


def fund_terms(analysis: Analysis, fund: str) -> list[str]:
    """The factors of the model a fund was regressed on (its region's frame), in model order.

    In a run mixing regions, ``analysis.results`` holds the union of every model's factors
    and a factor a fund's model lacks is NaN for it; this is that fund's own list. When the
    analysis does not record it (built by hand), every factor of the results.
    """
    names = [c for c in analysis.results.params.columns if c != "alpha"]
    try:
        frame = analysis.factors_for(fund)
    except AttributeError:  # an object that is not an Analysis
        return names
    own = [c for c in names if c in frame.columns]
    return own or names


def fund_factors(analysis: Analysis, fund: str) -> dict[str, Any]:
    """``{region, model, note}`` of the factors a fund was regressed on.

    From ``analysis.fund_factors``; for an analysis that does not record it, the run's
    region and model and no note.
    """
    info = dict(getattr(analysis, "fund_factors", {}).get(fund) or {})
    meta = analysis.meta
    return {
        "region": info.get("region") or meta.get("region"),
        "model": info.get("model") or meta.get("model"),
        "note": info.get("note"),
    }


def exposures_frame(analysis: Analysis) -> pd.DataFrame:
    """The long exposures table: ``fund, factor, beta, se, t, p, q, region, model``.

    One row per fund and term of the fund's own model (alpha as ``alpha``); ``q`` is the
    Benjamini-Hochberg q-value (``analysis.qvalues``, NaN for alpha); ``region`` and
    ``model`` name the factors the fund was regressed on.

    Examples
    --------
    >>> exposures_frame(analysis).columns.tolist()  # doctest: +SKIP
    ['fund', 'factor', 'beta', 'se', 't', 'p', 'q', 'region', 'model']
    """
    results = analysis.results
    params = results.params
    funds = np.asarray(params.index, dtype=object)
    terms = np.asarray(params.columns, dtype=object)
    # One row per fund and term of its own model, fund by fund in term order (numpy: the
    # long table of results.to_frame() filtered in pandas cost most of the report's CSV).
    own = [{"alpha", *fund_terms(analysis, fund)} for fund in funds.tolist()]
    keep = np.array([[t in terms_of for t in terms.tolist()] for terms_of in own], dtype=bool)
    rows, cols = np.nonzero(keep.reshape(len(funds), len(terms)))
    fund, factor = funds[rows], terms[cols]
    facts = {f: fund_factors(analysis, f) for f in dict.fromkeys(funds.tolist())}
    return pd.DataFrame(
        {
            "fund": fund,
            "factor": factor,
            "beta": params.to_numpy(float)[rows, cols],
            "se": results.bse.to_numpy(float)[rows, cols],
            "t": results.tvalues.to_numpy(float)[rows, cols],
            "p": results.pvalues.to_numpy(float)[rows, cols],
            "q": _lookup(getattr(analysis, "qvalues", None), fund, factor),
            "region": [facts[f]["region"] for f in fund.tolist()],
            "model": [facts[f]["model"] for f in fund.tolist()],
        },
        columns=EXPOSURE_COLUMNS,
    )


def _lookup(table: pd.DataFrame | None, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``table.at[row, column]`` for each pair (NaN where the table lacks either)."""
    out = np.full(len(rows), np.nan)
    if table is None or table.empty:
        return out
    i = table.index.get_indexer(rows)
    j = table.columns.get_indexer(columns)
    found = (i >= 0) & (j >= 0)
    out[found] = table.to_numpy(dtype=float)[i[found], j[found]]
    return out


def write_exposures_csv(analysis: Analysis, path: str | os.PathLike[str]) -> Path:
    """Write :func:`exposures_frame` as CSV (full-precision floats, empty for NaN)."""
    path = Path(path)
    atomic_write_bytes(path, _exposures_csv_bytes(analysis))
    return path


def _exposures_csv_bytes(analysis: Analysis) -> bytes:
    """The bytes :func:`write_exposures_csv` writes (UTF-8)."""
    return exposures_frame(analysis).to_csv(index=False, lineterminator="\n").encode("utf-8")


def _clean(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN/inf/NA to None, periods and dates to text."""
    kind = type(value)
    # The plain types first, by exact type: a summary holds some 6,000 values, and the
    # isinstance checks against Mapping and the numpy types below cost most of its time.
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {str(k): _clean(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_clean(v) for v in value]
    return _clean_other(value)


def _clean_other(value: Any) -> Any:
    """:func:`_clean` of what is not a plain ``str``, number, ``dict``, ``list`` or None."""
    if value is pd.NA or value is pd.NaT:
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


def _json_text(value: Any) -> str:
    """``json.dumps(value, indent=2, allow_nan=False)``: the same text, 2-3 times faster.

    The standard library writes indented JSON in pure Python (its C encoder writes only the
    compact form). This writes the plain types of a cleaned record (``dict`` with ``str``
    keys, ``list``, ``str``, ``int``, finite ``float``, ``bool``, None) in one recursion,
    with the encoder's own C function for strings and ``float.__repr__`` as it does, and
    leaves anything else (another type, NaN, very deep nesting, a cycle) to ``json.dumps``,
    so the text and the errors are always its.

    Examples
    --------
    >>> print(_json_text({"a": [1, 2.5, None], "b": {}, "c": True}))
    {
      "a": [
        1,
        2.5,
        null
      ],
      "b": {},
      "c": true
    }
    """
    chunks: list[str] = []
    try:
        _json_chunks(value, chunks, 0)
    except _NotPlain:
        return json.dumps(value, indent=2, allow_nan=False)
    return "".join(chunks)


class _NotPlain(Exception):
    """A value :func:`_json_text` leaves to ``json.dumps``."""


#: A new line and the indent of each nesting level (deeper: ``json.dumps``).
_INDENTS = ["\n" + "  " * level for level in range(64)]


#: The JSON text of each plain scalar type, by the C functions ``json`` itself uses (a float
#: that is not finite gives ``nan``/``inf``, caught by its last letter).
_SCALAR_TEXT: dict[type, Any] = {
    str: json.encoder.encode_basestring_ascii,
    float: float.__repr__,
    int: int.__repr__,
    bool: {True: "true", False: "false"}.__getitem__,
    type(None): {None: "null"}.__getitem__,
}


def _json_chunks(value: Any, chunks: list[str], level: int) -> None:
    """Append the indented JSON text of ``value``, nested ``level`` deep, to ``chunks``."""
    kind = type(value)
    if kind is not dict and kind is not list:
        chunks.append(_scalar_text(value))
        return
    if not value:
        chunks.append("{}" if kind is dict else "[]")
        return
    if level + 1 >= len(_INDENTS):
        raise _NotPlain
    inner = _INDENTS[level + 1]
    text_of = _SCALAR_TEXT.get
    encode_key = _SCALAR_TEXT[str]
    separator = ("{" if kind is dict else "[") + inner
    # (key, item) pairs; a list's "key" is unused
    items = value.items() if kind is dict else zip(value, value, strict=True)
    for key, item in items:
        if kind is dict:
            if type(key) is not str:
                raise _NotPlain
            separator += encode_key(key) + ": "
        to_text = text_of(type(item))
        if to_text is None:
            chunks.append(separator)
            _json_chunks(item, chunks, level + 1)
        else:
            text = to_text(item)
            if text[-1] in "nf":  # nan, inf, -inf
                raise _NotPlain
            chunks.append(separator + text)
        separator = "," + inner
    chunks.append(_INDENTS[level] + ("}" if kind is dict else "]"))


def _scalar_text(value: Any) -> str:
    """The JSON text of a plain scalar (:class:`_NotPlain` for anything else)."""
    to_text = _SCALAR_TEXT.get(type(value))
    if to_text is None:
        raise _NotPlain
    text = to_text(value)
    if text[-1] in "nf":
        raise _NotPlain
    return text


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


def _vintage_comparison(analysis: Analysis) -> dict[str, Any] | None:
    """``--compare-vintage``: per fund the verdict then and now, and each beta's change."""
    comparison = getattr(analysis, "vintage_comparison", None)
    if comparison is None:
        return None
    funds: dict[str, Any] = {}
    for fund, row in comparison.verdicts.iterrows():
        betas = comparison.betas.xs(fund, level="fund") if not comparison.betas.empty else None
        funds[str(fund)] = {
            "verdict": row["verdict"],
            "verdict_other": row["verdict_other"],
            "changed": bool(row["changed"]),
            "nobs": int(row["nobs"]),
            "nobs_other": int(row["nobs_other"]),
            "betas": {}
            if betas is None
            else {
                str(factor): {
                    "beta": b["beta"],
                    "beta_other": b["beta_other"],
                    "change": b["change"],
                }
                for factor, b in betas.iterrows()
            },
        }
    return {
        "vintage": comparison.vintage,
        "vintages_other": comparison.vintages_other,
        "error": comparison.error,
        "funds": funds,
    }


def summary(analysis: Analysis, *, generated_at: str | None = None) -> dict[str, Any]:
    """The content of ``summary.json`` as a JSON-ready dict.

    Returns
    -------
    dict
        ``run`` (model, region, vintages, the factor files that limit the range, price
        source, covariance, the verdict rules, the model ladder, the regions used and the
        factors of each, sample, version, generated-at), ``funds`` (list, one record per
        analyzed fund, in universe order: see docs/report.md) and ``not_analyzed``
        ({fund: reason}).
    """
    from factorxray import __version__

    results = analysis.results
    meta = dict(analysis.meta)
    vintages = meta.get("factors_vintage") or analysis.factors.attrs.get("vintages")
    order = [f for f in analysis.universe.tickers if f in results.params.index]
    order += [f for f in results.params.index if f not in order]
    tables = _Tables(analysis)
    funds = [_fund_record(analysis, fund, tables) for fund in order]
    try:
        sample = {"start": str(min(results.start)), "end": str(max(results.end))}
    except (TypeError, ValueError):
        sample = {"start": None, "end": None}
    rules = {
        "t_threshold": meta.get("t_threshold"),
        "min_beta": meta.get("min_beta"),
        "fdr": meta.get("fdr"),
        "legend": meta.get("rules"),
    }
    run = {
        **meta,
        "price_source": meta.get("price_source"),
        "factors_vintage": vintages,
        "factors_limited_by": factors_limited_by(analysis.factors),
        "factor_sources": analysis.factors.attrs.get("factor_sources"),
        "factor_libraries": analysis.factors.attrs.get("libraries"),
        "rf_source": analysis.factors.attrs.get("rf_source"),
        "vintage_comparison": _vintage_comparison(analysis),
        "cov_type": results.cov_type,
        "factors": [c for c in results.params.columns if c != "alpha"],
        "rules": rules,
        "models": list(meta.get("models") or []),
        "regions": regions_used(analysis),
        "factors_by_region": _factors_by_region(analysis),
        "sample": sample,
        "periods_per_year": results.periods_per_year,
        "n_analyzed": len(order),
        "n_not_analyzed": len(analysis.failed),
        "n_with_warnings": sum(1 for f in order if getattr(analysis, "warnings", {}).get(f)),
        "factorxray_version": __version__,
        "generated_at": generated_at
        or datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }
    not_analyzed = {fund: shareable(reason) for fund, reason in analysis.failed.items()}
    return _clean({"run": run, "funds": funds, "not_analyzed": not_analyzed})


def shareable(text: str) -> str:
    """``text`` with the user's home folder written ``~``: a report is meant to be shared.

    Examples
    --------
    >>> from pathlib import Path
    >>> shareable(f"no cached prices in {Path.home() / '.cache'}")
    'no cached prices in ~/.cache'
    """
    home = str(Path.home())
    return text.replace(home, "~") if len(home) > 1 else text


def regions_used(analysis: Analysis) -> list[str]:
    """The regions whose factors at least one analyzed fund was regressed on, sorted."""
    funds = list(analysis.results.params.index)
    regions = {fund_factors(analysis, f)["region"] for f in funds}
    return sorted(str(r) for r in regions if r)


def _factors_by_region(analysis: Analysis) -> dict[str, dict[str, Any]]:
    """Per region used: its model, factors, vintages, range, limiting files and funds."""
    funds = list(analysis.results.params.index)
    out: dict[str, dict[str, Any]] = {}
    for region in regions_used(analysis):
        members = [f for f in funds if fund_factors(analysis, f)["region"] == region]
        frame = analysis.factors_for(members[0])
        out[region] = {
            "model": frame.attrs.get("model") or fund_factors(analysis, members[0])["model"],
            "factors": [c for c in frame.columns if c != "RF"],
            "factors_vintage": frame.attrs.get("vintages"),
            "start": str(frame.index[0]) if len(frame) else None,
            "end": str(frame.index[-1]) if len(frame) else None,
            "limited_by": factors_limited_by(frame),
            "note": fund_factors(analysis, members[0])["note"],
            "funds": members,
        }
    return out


class _Tables:
    """The results of an analysis as plain dicts, read once per ``summary.json``: a pandas
    lookup per fund and term cost most of its time."""

    def __init__(self, analysis: Analysis) -> None:
        results = analysis.results
        qvalues = getattr(analysis, "qvalues", None)
        self.params = _rows(results.params)
        self.bse = _rows(results.bse)
        self.tvalues = _rows(results.tvalues)
        self.pvalues = _rows(results.pvalues)
        self.qvalues = _rows(qvalues) if qvalues is not None else {}
        self.hac_lags = results.hac_lags.to_dict()
        self.start, self.end = results.start.to_dict(), results.end.to_dict()
        self.nobs = results.nobs.to_dict()
        self.rsquared = results.rsquared.to_dict()
        self.rsquared_adj = results.rsquared_adj.to_dict()
        self.alpha_annualized = {k: v.to_dict() for k, v in results.alpha_annualized.items()}
        self.annualization = _annualization_text(period_words(analysis))
        self.drift = _drift_records(analysis)


def _annualization_text(period: PeriodWords) -> str:
    """summary.json's ``alpha_annualization``: ``arithmetic: 12 x alpha_monthly, as in the
    return attribution`` (``alpha_monthly`` holds the alpha of one period at any frequency)."""
    key = "alpha_monthly"
    if period.frequency != "monthly":
        key += f" (the alpha of one {period.unit})"
    return f"arithmetic: {period.per_year_text} x {key}, as in the return attribution"


def _rows(frame: pd.DataFrame) -> dict[Any, dict[Any, float]]:
    columns = list(frame.columns)
    return {
        r: dict(zip(columns, row, strict=True))
        for r, row in zip(frame.index.tolist(), frame.to_numpy(float).tolist(), strict=True)
    }


def _fund_record(analysis: Analysis, fund: str, tables: _Tables | None = None) -> dict[str, Any]:
    tables = tables or _Tables(analysis)
    results = analysis.results
    meta = analysis.meta
    params, bse = tables.params[fund], tables.bse[fund]
    tvalues, pvalues = tables.tvalues[fund], tables.pvalues[fund]
    qvalues = tables.qvalues.get(fund, {})
    try:
        info = analysis.universe.fund(fund)
    except UsageError:  # analyzed but not in the universe (an Analysis built by hand)
        info = None
    verdict = analysis.verdicts.get(fund)
    verdict_dict = _clean(verdict.to_dict()) if verdict is not None else {}
    tilts = verdict_dict.get("tilts", verdict_dict.get("checks"))
    if tilts is None and info is not None:
        tilts = _clean(getattr(info, "tilts", None))
    elif tilts is not None:
        tilts = [_with_robustness_keys(t) for t in tilts]
        verdict_dict["tilts"] = tilts
    lags = tables.hac_lags[fund]
    used = fund_factors(analysis, fund)
    terms = fund_terms(analysis, fund)
    ladder = getattr(analysis, "ladder", {}).get(fund) or {}
    frame = analysis.factors_for(fund)
    alpha_ann = tables.alpha_annualized
    return {
        "fund": fund,
        "name": getattr(info, "name", None),
        "category": getattr(info, "category", None),
        # The factors the fund was regressed on: its own region's (its label's region, or
        # the run's default) and the model there (a fallback where the main one cannot be
        # built, e.g. ff6 where VOL is missing).
        "model": used["model"],
        "region": used["region"],
        "model_note": used["note"],
        "fund_region": getattr(info, "region", None),
        "factors": terms,
        "start": str(tables.start[fund]),
        "end": str(tables.end[fund]),
        "nobs": int(tables.nobs[fund]),
        "rsquared": tables.rsquared[fund],
        "rsquared_adj": tables.rsquared_adj[fund],
        "alpha_monthly": params["alpha"],
        "alpha_se": bse["alpha"],
        "alpha_t": tvalues["alpha"],
        "alpha_p": pvalues["alpha"],
        # One annual alpha in the report: arithmetic, as the return attribution's.
        "alpha_annual": alpha_ann["arithmetic"][fund],
        "alpha_annual_arithmetic": alpha_ann["arithmetic"][fund],
        "alpha_annual_geometric": alpha_ann["geometric"][fund],
        "alpha_annualization": tables.annualization,
        "cov_type": results.cov_type,
        "hac_lags": None if pd.isna(lags) else int(lags),
        "factors_vintage": frame.attrs.get("vintages")
        or meta.get("factors_vintage")
        or analysis.factors.attrs.get("vintages"),
        "price_source": _price_source(meta, fund),
        "verdict": _clean(getattr(verdict, "status", None)),
        "verdict_sentence": getattr(verdict, "sentence", None),
        "tilts": tilts,
        "verdict_by_model": dict(ladder.get("verdict_by_model") or {}),
        "reason_by_model": dict(ladder.get("reason_by_model") or {}),
        "drift": tables.drift.get(fund),
        "region_fit": dict(getattr(analysis, "region_fit", {}).get(fund) or {}),
        "better_region": getattr(analysis, "better_region", {}).get(fund),
        "warnings": list(getattr(analysis, "warnings", {}).get(fund) or []),
        "verdict_detail": verdict_dict,
        "exposures": {
            term: {
                "beta": params[term],
                "se": bse[term],
                "t": tvalues[term],
                "p": pvalues[term],
                "q": None if term == "alpha" else qvalues.get(term),
            }
            for term in ["alpha", *terms]
        },
    }


def _with_robustness_keys(tilt: Any) -> Any:
    if not isinstance(tilt, dict):
        return tilt
    return {**tilt, **{k: tilt.get(k) for k in TILT_ROBUSTNESS_KEYS}}


def _drift_records(analysis: Analysis) -> dict[Any, dict[str, Any]]:
    """Per fund, the sup-Wald drift test of its labelled betas (funds without one: absent).

    Read in one pass over ``analysis.drift`` (index fund, factor)."""
    table = getattr(analysis, "drift", None)
    if table is None or table.empty:
        return {}
    floor = table.attrs.get("p_value_floor", 0.001)
    columns = list(table.columns)
    out: dict[Any, dict[str, Any]] = {}
    for (fund, factor), values in zip(table.index.tolist(), table.to_numpy(object), strict=True):
        row = dict(zip(columns, values, strict=True))
        record = out.get(fund)
        if record is None:
            p_value = row.get("p_value")
            record = out[fund] = {
                "test": "Andrews (1993) sup-Wald, break at an unknown date",
                "stat": row.get("stat"),
                "p_value": p_value,
                # The table gives no p-value below its floor: there, read p_value as "< floor".
                "p_value_floored": bool(p_value is not None and p_value <= floor),
                "break_period": str(row.get("break_period")),
                "nobs": row.get("nobs"),
                "n_tested": row.get("n_tested"),
                "betas": {},
            }
        record["betas"][str(factor)] = {"before": row.get("before"), "after": row.get("after")}
    return out


def write_summary_json(
    analysis: Analysis, path: str | os.PathLike[str], *, generated_at: str | None = None
) -> Path:
    """Write :func:`summary` as indented JSON (strict: no NaN)."""
    path = Path(path)
    atomic_write_bytes(path, _summary_json_bytes(analysis, generated_at=generated_at))
    return path


def _summary_json_bytes(analysis: Analysis, *, generated_at: str | None = None) -> bytes:
    """The bytes :func:`write_summary_json` writes (UTF-8; ASCII, as ``json.dumps``)."""
    return (_json_text(summary(analysis, generated_at=generated_at)) + "\n").encode("utf-8")


ROLLING_CSV = "rolling_betas.csv"
ROLLING_COLUMNS = ["fund", "window_end", "factor", "beta", "se", "t", "nobs"]


def rolling_frame(analysis: Analysis) -> pd.DataFrame:
    """The rolling betas in long form: ``fund, window_end, factor, beta, se, t, nobs``.

    One row per fund, window and term of the fund's own model (alpha, per period, as
    ``alpha``; a factor the fund's model lacks has no row), from ``analysis.rolling``
    (:class:`~factorxray.results.RollingExposureResults`): ``window_end`` is the window's last
    period (a month ``2020-04``, a week ``2020-04-06/2020-04-12`` or a day ``2020-04-09``, by
    the run's frequency), ``nobs`` the periods the window used; decimals, as the engine gives
    them. Empty (with these columns) when no fund has a full window.

    Examples
    --------
    >>> rolling_frame(analysis).columns.tolist()  # doctest: +SKIP
    ['fund', 'window_end', 'factor', 'beta', 'se', 't', 'nobs']
    """
    rows = _rolling_rows(analysis)
    if rows is None:
        return pd.DataFrame({c: [] for c in ROLLING_COLUMNS})
    return pd.DataFrame(
        {
            "fund": rows.funds[rows.fund_codes],
            "window_end": rows.window_ends[rows.window_codes],
            "factor": rows.terms[rows.term_codes],
            "beta": rows.beta,
            "se": rows.se,
            "t": rows.t,
            "nobs": rows.nobs,
        }
    )


@dataclass(frozen=True)
class _RollingRows:
    """The rows of :func:`rolling_frame` as numpy arrays, each text column as its distinct
    labels (object arrays of ``str``) and one code per row into them."""

    funds: np.ndarray
    fund_codes: np.ndarray
    window_ends: np.ndarray
    window_codes: np.ndarray
    terms: np.ndarray
    term_codes: np.ndarray
    beta: np.ndarray
    se: np.ndarray
    t: np.ndarray
    nobs: np.ndarray


def _rolling_rows(analysis: Analysis) -> _RollingRows | None:
    """The rolling betas' rows (see :func:`rolling_frame`); None without a window estimate.

    Read from the ``(fund, window end)`` index's levels and codes: each fund's model and each
    window end's text once, not once a row."""
    rolling = getattr(analysis, "rolling", None)
    if rolling is None or not len(rolling.params):
        return None
    params = rolling.params
    index = params.index
    terms = [str(t) for t in params.columns]
    fund_level, period_level = index.levels
    fund_of_row, period_of_row = (np.asarray(c, dtype=np.intp) for c in index.codes)
    # The fund's own model (a run mixing regions holds the union of the models' factors).
    masks = np.zeros((len(fund_level), len(terms)), dtype=bool)
    for code in np.unique(fund_of_row):
        own = {"alpha", *fund_terms(analysis, fund_level[code])}
        masks[code] = [t in own for t in terms]
    values = params.to_numpy(float)
    keep = masks[fund_of_row] & ~np.isnan(values)
    rows, cols = np.nonzero(keep)
    return _RollingRows(
        funds=np.asarray([str(f) for f in fund_level], dtype=object),
        fund_codes=fund_of_row[rows],
        window_ends=np.asarray(period_level.astype(str), dtype=object),
        window_codes=period_of_row[rows],
        terms=np.asarray(terms, dtype=object),
        term_codes=cols,
        beta=values[rows, cols],
        se=rolling.bse.to_numpy(float)[rows, cols],
        t=rolling.tvalues.to_numpy(float)[rows, cols],
        nobs=rolling.nobs.to_numpy()[rows],
    )


def write_rolling_csv(analysis: Analysis, path: str | os.PathLike[str]) -> Path:
    """Write :func:`rolling_frame` as CSV: floats in shortest round-trip precision (reading
    it back gives the engine's numbers bit for bit), empty for NaN.

    Written with pyarrow's CSV writer (5-6 times faster than ``DataFrame.to_csv`` for the
    24,000 rows of 20 funds, which matters on every report): floats as the shortest text
    that reads back exactly (``-2.0612e-05`` reads ``-0.000020612``, ``1.0`` reads ``1``);
    text cells plain, or every text cell quoted when a fund or factor name holds a comma, a
    quote or a line break.
    """
    path = Path(path)
    atomic_write_bytes(path, _rolling_csv_bytes(analysis))
    return path


def _rolling_csv_bytes(analysis: Analysis) -> bytes:
    """The bytes :func:`write_rolling_csv` writes (UTF-8)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    header = (",".join(ROLLING_COLUMNS) + "\n").encode("utf-8")
    rows = _rolling_rows(analysis)
    if rows is None:
        return header
    labels = (rows.funds, rows.window_ends, rows.terms)
    structural = any(c in text for column in labels for text in column for c in ',"\n\r')

    def text(labels: np.ndarray, codes: np.ndarray) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(
            pa.array(codes.astype(np.int32)), pa.array(labels, type=pa.string())
        )

    table = pa.table(
        {
            "fund": text(rows.funds, rows.fund_codes),
            "window_end": text(rows.window_ends, rows.window_codes),
            "factor": text(rows.terms, rows.term_codes),
            # NaN as null: written as an empty cell
            "beta": pa.array(rows.beta, from_pandas=True),
            "se": pa.array(rows.se, from_pandas=True),
            "t": pa.array(rows.t, from_pandas=True),
            "nobs": pa.array(rows.nobs.astype(np.int64)),
        }
    )
    body = pa.BufferOutputStream()
    options = pa_csv.WriteOptions(
        include_header=False, quoting_style="needed" if structural else "none"
    )
    pa_csv.write_csv(table, body, options)
    return header + body.getvalue().to_pybytes()
