"""The report of an analysis: one self-contained HTML page, PNG charts and data exports.

:func:`write_report` writes, into one folder:

- ``index.html``: works offline (plotly.js embedded once, no external request of any kind),
  with the header facts, an overview table, the funds that were not analyzed, the summary
  heatmap, factor correlations with VIFs, per-fund beta bars, rolling betas and return
  attribution, the methods and a factor glossary;
- ``png/``: matplotlib copies of the charts (unless ``png=False``);
- ``exposures.csv`` and ``summary.json`` (see :mod:`factorxray.report.exports`).
"""

from __future__ import annotations

import json
import math
import os
import re
import webbrowser
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from factorxray._atomic import atomic_write_text
from factorxray.errors import FactorXrayError, UsageError
from factorxray.report import charts, exports, glossary

if TYPE_CHECKING:
    from factorxray.analysis import Analysis

__all__ = ["ReportData", "prepare", "write_report"]

_TEMPLATE = "report.html.j2"


@dataclass
class ReportData:
    """What every part of the report is drawn from, computed once per report."""

    analysis: Any
    threshold: float
    groups: list[tuple[str, list[str]]]
    funds: list[str]
    y_range: tuple[float, float]
    corr: pd.DataFrame | None = None
    vif: pd.Series | None = None
    corr_span: tuple[str, str] | None = None
    diagnostics_error: str | None = None
    rolling_terms: dict[str, list[str]] = field(default_factory=dict)
    rolling_data: dict[str, pd.DataFrame] = field(default_factory=dict)
    rolling_missing: dict[str, str] = field(default_factory=dict)
    rolling_y_range: tuple[float, float] = (-0.5, 1.5)
    hac_range: tuple[int, int] | None = None


def prepare(analysis: Analysis) -> ReportData:
    """Compute what the HTML page and the PNGs share: order, ranges, diagnostics, rolling data.

    Parameters
    ----------
    analysis : Analysis
        From :func:`factorxray.analysis.build_analysis`.

    Returns
    -------
    ReportData
    """
    results = analysis.results
    threshold = charts.significance_threshold(analysis.meta)
    analyzed = [f for f in results.params.index]
    groups = charts.category_groups(analysis.universe, analyzed)
    funds = [f for _, members in groups for f in members]
    data = ReportData(
        analysis=analysis,
        threshold=threshold,
        groups=groups,
        funds=funds,
        y_range=charts.beta_range(results.params),
        hac_range=_hac_range(results),
    )
    _add_diagnostics(data)
    _add_rolling(data)
    return data


def _hac_range(results: Any) -> tuple[int, int] | None:
    lags = results.hac_lags.dropna()  # <NA> for every fund unless the covariance is HAC
    if lags.empty:
        return None
    return int(lags.min()), int(lags.max())


def _add_diagnostics(data: ReportData) -> None:
    from factorxray.engine.diagnostics import factor_correlations, vif

    analysis = data.analysis
    results = analysis.results
    factor_names = [c for c in results.params.columns if c != "alpha"]
    frame = analysis.factors[[c for c in factor_names if c in analysis.factors.columns]]
    try:
        start, end = min(results.start), max(results.end)
        frame = frame.loc[start:end]
        data.corr_span = (str(start), str(end))
    except (TypeError, ValueError, KeyError):
        data.corr_span = (str(frame.index[0]), str(frame.index[-1])) if len(frame) else None
    try:
        data.corr = factor_correlations(frame)
        data.vif = vif(frame)
    except (FactorXrayError, np.linalg.LinAlgError) as exc:
        # Too few complete rows, no factor column, a singular system: diagnostics are an
        # extra, so the page says why they are missing instead of failing.
        data.diagnostics_error = str(exc)


def _add_rolling(data: ReportData) -> None:
    analysis = data.analysis
    rolling = analysis.rolling
    results = analysis.results
    factor_names = [c for c in results.params.columns if c != "alpha"]
    window = analysis.meta.get("rolling_window", 36)
    available = set(rolling.funds) if rolling is not None else set()
    for fund in data.funds:
        if fund not in available:
            data.rolling_missing[fund] = (
                f"fewer than {window} months of history: no rolling window to estimate"
            )
            continue
        tilts = _fund_attr(analysis.universe, fund, "tilts")
        terms = charts.rolling_terms(
            tilts, results.tvalues.loc[fund], factor_names, threshold=data.threshold
        )
        data.rolling_terms[fund] = terms
        data.rolling_data[fund] = rolling.plot_data(fund)
    data.rolling_y_range = charts.rolling_range(data.rolling_data, data.rolling_terms)


def _fund(universe: Any, ticker: str) -> Any:
    try:
        return universe.fund(ticker)
    except UsageError:  # analyzed but not in the universe (an Analysis built by hand)
        return None


def _tilts_text(fund: Any) -> str:
    if fund is None:
        return ""
    if hasattr(fund, "tilts_text"):
        return str(fund.tilts_text())
    return ", ".join(charts.tilt_factors(getattr(fund, "tilts", None)))


def _fund_attr(universe: Any, ticker: str, name: str, default: Any = None) -> Any:
    fund = _fund(universe, ticker)
    value = getattr(fund, name, default) if fund is not None else default
    return default if value is None else value


# ---------------------------------------------------------------------------- page


#: Verdict status -> badge colour (see factorxray.verdicts.VERDICT_STATUSES).
_STATUS_CLASSES = {
    "delivers": "good",
    "partly delivers": "warn",
    "weak": "warn",
    "tilted": "warn",
    "contradicts": "bad",
    "neutral": "good",
    "untested": "neutral",
    "no label": "neutral",
}


def _status_class(status: Any) -> str:
    return _STATUS_CLASSES.get(_status_text(status), "neutral")


def _status_text(status: Any) -> str:
    return str(getattr(status, "value", status) or "n/a").replace("_", " ").strip().lower()


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _pct(value: Any, digits: int = 2) -> str:
    number = _finite(value)
    return "n/a" if number is None else f"{number * 100:.{digits}f}%"


def _num(value: Any, spec: str = ".3f") -> str:
    number = _finite(value)
    return "n/a" if number is None else format(number, spec)


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    # Nothing in plotly.js closes a script element today; make sure it never can.
    return re.sub(r"</(script)", r"<\\/\1", get_plotlyjs(), flags=re.IGNORECASE)


def _script_json(obj: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``<``, ``>`` or ``&`` survive)."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _vintage_text(vintages: Any) -> str:
    if isinstance(vintages, dict):
        return "; ".join(f"{k}: {v}" for k, v in vintages.items()) or "not recorded"
    return str(vintages) if vintages else "not recorded"


def _factor_range_text(meta: dict[str, Any], limited_by: dict[str, list[str]] | None) -> str:
    """The factor data's range and the files that limit it, e.g. "range 1963-07 to 2025-11;
    the files' common months start with A and end with B, C".

    The model's files are joined on their common months, so the file that starts last and
    the one that ends first set the range (before any start/end the run asked for).
    """
    start, end = meta.get("factors_start"), meta.get("factors_end")
    text = f"range {start} to {end}" if start and end else "range not recorded"
    sides = [
        f"{verb} with {', '.join(limited_by[side])}"
        for side, verb in (("start", "start"), ("end", "end"))
        if limited_by and limited_by.get(side)
    ]
    if sides:
        text += "; the files' common months " + " and ".join(sides)
    return text


def _cov_text(cov_type: Any, hac_range: tuple[int, int] | None) -> str:
    text = str(cov_type or "n/a")
    if str(cov_type).upper() == "HAC":
        text = "HAC (Newey-West, Bartlett)"
        if hac_range:
            low, high = hac_range
            text += f", lag {low}" if low == high else f", lags {low}-{high} (per fund)"
    return text


def _header(data: ReportData, generated_at: str, version: str) -> list[tuple[str, str]]:
    analysis = data.analysis
    meta = analysis.meta
    results = analysis.results
    try:
        sample = f"{min(results.start)} to {max(results.end)}"
    except (TypeError, ValueError):
        sample = "n/a"
    price = meta.get("price_source")
    if isinstance(price, dict):
        price = "; ".join(f"{k}: {v}" for k, v in price.items())
    return [
        ("Model", str(meta.get("model") or "n/a")),
        ("Region", str(meta.get("region") or "n/a")),
        ("Factor data vintage", _vintage_text(meta.get("factors_vintage"))),
        ("Factor data", _factor_range_text(meta, exports.factors_limited_by(analysis.factors))),
        ("Price source", str(price or "not recorded")),
        ("Covariance", _cov_text(results.cov_type, data.hac_range)),
        ("Significance", f"|t| >= {data.threshold:g}"),
        ("Sample", sample),
        ("Funds", f"{len(data.funds)} analyzed, {len(analysis.failed)} not analyzed"),
        ("Generated", generated_at),
        ("factorxray", version),
    ]


def _build_page(data: ReportData, pngs: dict[str, str], generated_at: str) -> str:
    from factorxray import __version__

    analysis = data.analysis
    results = analysis.results
    universe = analysis.universe
    params, tvalues = results.params, results.tvalues
    bse, pvalues = results.bse, results.pvalues
    rsq, rsq_adj, nobs = results.rsquared, results.rsquared_adj, results.nobs
    alpha_ann = results.alpha_annualized
    window = analysis.meta.get("rolling_window", 36)
    specs: dict[str, Any] = {}
    counter = iter(range(1_000_000))

    def add(spec: dict[str, Any]) -> str:
        key = f"f{next(counter)}"
        specs[key] = spec
        return key

    heatmap_id = add(
        charts._beta_heatmap_spec(params, tvalues, data.groups, threshold=data.threshold)
    )
    corr_id = add(charts._correlation_spec(data.corr, data.vif)) if data.corr is not None else None
    attribution_id = add(charts._attribution_bars_spec(analysis.attribution, data.funds))

    rows = []
    groups = []
    for category, members in data.groups:
        cards = []
        for fund in members:
            index = len(rows)
            anchor = f"fund-{index}"
            verdict = analysis.verdicts.get(fund)
            status = getattr(verdict, "status", None)
            name = _fund_attr(universe, fund, "name", "")
            r2 = _finite(rsq[fund])
            alpha_geo = _finite(alpha_ann.loc[fund, "geometric"])
            start, end = str(results.start[fund]), str(results.end[fund])
            row = {
                "ticker": fund,
                "anchor": anchor,
                "name": name,
                "category": category,
                "status": _status_text(status),
                "status_class": _status_class(status),
                "r2": r2,
                "r2_text": _num(r2, ".3f"),
                "alpha": alpha_geo,
                "alpha_text": _pct(alpha_geo),
                "nobs": int(nobs[fund]),
                "start": start,
                "end": end,
            }
            rows.append(row)
            bars_id = add(
                charts._beta_bars_spec(
                    params.loc[fund],
                    tvalues.loc[fund],
                    bse=bse.loc[fund],
                    pvalues=pvalues.loc[fund],
                    threshold=data.threshold,
                    y_range=data.y_range,
                )
            )
            rolling_id = None
            if fund in data.rolling_data:
                rolling_id = add(
                    charts._rolling_spec(
                        data.rolling_data[fund],
                        data.rolling_terms[fund],
                        window=window,
                        y_range=data.rolling_y_range,
                    )
                )
            waterfall_id = None
            if fund in analysis.attribution.index:
                waterfall_id = add(
                    charts._attribution_waterfall_spec(analysis.attribution.loc[fund])
                )
            lags = results.hac_lags[fund]
            checks, unintended = _verdict_parts(verdict)
            cards.append(
                {
                    **row,
                    "description": _fund_attr(universe, fund, "description", ""),
                    "region": _fund_attr(universe, fund, "region", ""),
                    "tilts": _tilts_text(_fund(universe, fund)),
                    "sentence": getattr(verdict, "sentence", "") if verdict is not None else "",
                    "checks": checks,
                    "unintended": unintended,
                    "r2_adj_text": _num(rsq_adj[fund], ".3f"),
                    "alpha_monthly_text": _pct(params.loc[fund, "alpha"], 3),
                    "alpha_arith_text": _pct(alpha_ann.loc[fund, "arithmetic"]),
                    "hac_lags": None if pd.isna(lags) else int(lags),
                    "bars_id": bars_id,
                    "rolling_id": rolling_id,
                    "rolling_terms": ", ".join(data.rolling_terms.get(fund, [])),
                    "rolling_missing": data.rolling_missing.get(fund),
                    "waterfall_id": waterfall_id,
                    "png_bars": pngs.get(f"bars:{fund}"),
                    "png_rolling": pngs.get(f"rolling:{fund}"),
                }
            )
        groups.append({"category": category, "funds": cards})

    not_analyzed = [
        {"ticker": t, "name": _fund_attr(universe, t, "name", ""), "reason": reason}
        for t, reason in analysis.failed.items()
    ]
    vif_rows = []
    if data.vif is not None:
        vif_rows = [
            {"factor": f, "vif": _num(v, ".2f"), "high": (_finite(v) or 0) >= 5}
            for f, v in data.vif.items()
        ]
    model_factors = [c for c in params.columns if c != "alpha"]
    glossary_rows = [
        {"factor": f, "label": glossary.FACTORS[f][0], "text": glossary.FACTORS[f][1]}
        for f in model_factors
        if f in glossary.FACTORS
    ]
    chart_counts = {
        "heatmap": 1,
        "correlations": 1 if corr_id else 0,
        "attribution": 1,
        "funds": sum(
            1 + (c["rolling_id"] is not None) + (c["waterfall_id"] is not None)
            for g in groups
            for c in g["funds"]
        ),
    }
    meta = analysis.meta
    context = {
        "title": f"factorxray report: {meta.get('model') or 'factor model'}, "
        f"{len(data.funds)} funds",
        "header": _header(data, generated_at, __version__),
        "rows": rows,
        "groups": groups,
        "not_analyzed": not_analyzed,
        "heatmap_id": heatmap_id,
        "corr_id": corr_id,
        "corr_span": data.corr_span,
        "diagnostics_error": data.diagnostics_error,
        "attribution_id": attribution_id,
        "vif_rows": vif_rows,
        "threshold": f"{data.threshold:g}",
        "window": window,
        "methods": glossary.methods(meta, hac_lags=data.hac_range),
        "glossary": glossary_rows,
        "terms": list(glossary.TERMS.items()),
        "chart_counts": chart_counts,
        "png": pngs,
        "figures_json": _script_json(specs),
        "plotly_js": _plotly_js(),
        "version": __version__,
        "generated_at": generated_at,
    }
    return _environment().get_template(_TEMPLATE).render(**context)


def _verdict_parts(verdict: Any) -> tuple[list[dict[str, str]], list[str]]:
    """Per-tilt checks and unintended exposures of a verdict, as short display strings."""
    if verdict is None:
        return [], []
    detail = verdict.to_dict()
    checks = []
    for check in detail.get("tilts") or []:
        status = str(check.get("status", ""))
        beta, t = _finite(check.get("beta")), _finite(check.get("t"))
        if check.get("factor") == "multi":
            count = "" if beta is None else f"{beta:.0f} significant premia"
            evidence = ", ".join(check.get("factors") or [])
            text = count + (f" ({evidence})" if evidence else "")
        elif beta is None:
            text = ""
        else:
            text = f"beta {beta:.2f}" + ("" if t is None else f", t {t:.2f}")
        checks.append(
            {
                "tilt": str(check.get("tilt", "")),
                "status": status,
                "status_class": _CHECK_CLASSES.get(status, "neutral"),
                "text": text,
            }
        )
    unintended = []
    for item in detail.get("unintended") or []:
        beta, t = _finite(item.get("beta")), _finite(item.get("t"))
        numbers = (
            ""
            if beta is None
            else f" (beta {beta:.2f}" + ("" if t is None else f", t {t:.2f}") + ")"
        )
        side = item.get("side")
        unintended.append(f"{item.get('factor')}{f' {side}' if side else ''}{numbers}")
    return checks, unintended


_CHECK_CLASSES = {"delivers": "good", "weak": "warn", "absent": "warn", "contradicts": "bad"}


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("factorxray.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def write_report(
    analysis: Analysis,
    out_dir: str | os.PathLike[str],
    *,
    png: bool = True,
    open_browser: bool = False,
) -> Path:
    """Write the HTML report, PNG charts, ``exposures.csv`` and ``summary.json``.

    Parameters
    ----------
    analysis : Analysis
        From :func:`factorxray.analysis.build_analysis` (or :func:`factorxray.analyze`).
    out_dir : path
        Folder to write into (created if needed; existing report files are replaced).
    png : bool
        Also draw PNG copies of the charts with matplotlib into ``out_dir/png``.
    open_browser : bool
        Open the page in the default web browser when done.

    Returns
    -------
    Path
        The ``index.html`` file.

    Examples
    --------
    >>> from factorxray.report import write_report
    >>> index = write_report(analysis, "report/")  # doctest: +SKIP
    >>> index.name  # doctest: +SKIP
    'index.html'
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = prepare(analysis)
    generated_at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    exports.write_exposures_csv(analysis, out / exports.EXPOSURES_CSV)
    exports.write_summary_json(analysis, out / exports.SUMMARY_JSON, generated_at=generated_at)
    pngs: dict[str, str] = {}
    if png:
        from factorxray.report import static_png

        pngs = static_png.write_pngs(data, out / "png")
    index = out / "index.html"
    atomic_write_text(index, _build_page(data, pngs, generated_at))
    if open_browser:
        webbrowser.open(index.resolve().as_uri())
    return index
