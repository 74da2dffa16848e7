"""The report of an analysis: one self-contained HTML page, PNG charts and data exports.

:func:`write_report` writes, into one folder:

- ``index.html``: works offline (plotly.js embedded once, no external request of any kind),
  with the header facts (the verdict rules, the regions and models used), the warnings, an
  overview table, the funds that were not analyzed, the summary heatmap, factor correlations
  with VIFs, per-fund cards (factors used, verdict under each model of the ladder, time
  robustness, region fit, beta bars, rolling betas and return attribution), the methods and
  a factor glossary; with a portfolio (or a blend) its weights, implied vs regressed
  exposures, risk attribution and performance (and the blend's target vs achieved);
- beyond :data:`MAX_CARDS` funds, cards (and per-fund PNGs) only for the first funds and
  every fund with warnings or a contradicting verdict, unless ``all_cards=True``;
- ``png/``: matplotlib copies of the charts (unless ``png=False``);
- ``exposures.csv`` and ``summary.json`` (see :mod:`factorxray.report.exports`).
"""

from __future__ import annotations

import dataclasses
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

from factorxray._atomic import atomic_write_bytes, atomic_write_text
from factorxray.errors import FactorXrayError, UsageError
from factorxray.report import charts, exports, folder, glossary
from factorxray.report.periods import PeriodWords, period_words

if TYPE_CHECKING:
    from factorxray.analysis import Analysis

__all__ = ["MAX_CARDS", "ReportData", "card_funds", "prepare", "write_report"]

#: Beyond this many funds the report is summarized: per-fund cards (and their PNGs) only for
#: the first ``MAX_CARDS`` funds in display order plus every fund with warnings or a
#: contradicting verdict (and the portfolio); ``all_cards=True`` (``--all-cards``) shows all.
MAX_CARDS = 60

#: The files of every report (PNGs are added as they are drawn).
_REPORT_FILES = ("index.html", exports.EXPOSURES_CSV, exports.ROLLING_CSV, exports.SUMMARY_JSON)
#: A drift test's p-value below this is reported as style drift (as in the verdict notes).
_DRIFT_LEVEL = 0.05
#: The smallest p-value the sup-Wald table gives (``engine.breaks.P_VALUE_FLOOR``): read
#: a p-value at the floor as "< 0.001".
_DRIFT_P_FLOOR = 0.001


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
    #: The verdict rules (one definition of significance for verdicts, charts and tables).
    rules: Any = None
    #: q-value at or below which a beta is marked (``†``): the run's FDR level, else 0.05.
    fdr_level: float = 0.05
    #: Per fund, the factors of its own model (a run mixing regions mixes models).
    fund_terms: dict[str, list[str]] = field(default_factory=dict)
    #: Funds x factors: ``material``, ``faint``, ``not significant`` or ``missing``
    #: (:func:`factorxray.report.charts.beta_classes`); for the PNGs too.
    classes: pd.DataFrame | None = None
    #: Funds x factors: True where q <= ``fdr_level``.
    fdr_marks: pd.DataFrame | None = None
    #: The region whose factor returns the correlations and VIFs are of.
    corr_region: str | None = None
    #: The funds that get a card (and per-fund PNGs), in display order (see :func:`card_funds`).
    cards: list[str] = field(default_factory=list)
    #: The run's period in words ("month", "12"): every text that names a period uses it.
    period: PeriodWords = field(default_factory=period_words)


def prepare(
    analysis: Analysis,
    *,
    all_cards: bool = True,
    max_cards: int = MAX_CARDS,
    keep: tuple[str, ...] = (),
) -> ReportData:
    """Compute what the HTML page and the PNGs share: order, ranges, diagnostics, rolling data.

    Parameters
    ----------
    analysis : Analysis
        From :func:`factorxray.analysis.build_analysis`.
    all_cards : bool
        Every fund gets a card (default); else see :func:`card_funds`.
    max_cards : int
        With ``all_cards=False``: cards for the first ``max_cards`` funds, plus those flagged.
    keep : tuple of str
        Funds that always get a card (the portfolio).

    Returns
    -------
    ReportData
    """
    results = analysis.results
    threshold = charts.significance_threshold(analysis.meta)
    analyzed = [f for f in results.params.index]
    groups = charts.category_groups(analysis.universe, analyzed)
    funds = [f for _, members in groups for f in members]
    rules = charts.rules_from_meta(analysis.meta)
    qvalues = getattr(analysis, "qvalues", None)
    fdr_level = charts.fdr_level(analysis.meta)
    data = ReportData(
        analysis=analysis,
        threshold=threshold,
        groups=groups,
        funds=funds,
        y_range=charts.beta_range(results.params),
        hac_range=_hac_range(results),
        rules=rules,
        fdr_level=fdr_level,
        fund_terms={f: exports.fund_terms(analysis, f) for f in funds},
        classes=charts.beta_classes(results.params, results.tvalues, qvalues, rules),
        fdr_marks=charts.fdr_marks(qvalues, fdr_level),
        period=period_words(analysis),
    )
    data.cards = (
        list(funds) if all_cards else card_funds(analysis, funds, max_cards=max_cards, keep=keep)
    )
    _add_diagnostics(data)
    _add_rolling(data)
    return data


def card_funds(
    analysis: Any,
    funds: list[str],
    *,
    max_cards: int = MAX_CARDS,
    keep: tuple[str, ...] | list[str] = (),
) -> list[str]:
    """The funds that get a card, in display order: all of them up to ``max_cards`` funds;
    beyond, the first ``max_cards`` plus every fund with warnings, whose verdict (or one of
    whose tilt checks) is ``contradicts``, or in ``keep``.

    Parameters
    ----------
    analysis : Analysis
    funds : list of str
        The analyzed funds in display order.
    max_cards : int
    keep : sequence of str

    Returns
    -------
    list of str
    """
    if len(funds) <= max_cards:
        return list(funds)
    warnings = getattr(analysis, "warnings", {}) or {}
    verdicts = getattr(analysis, "verdicts", {}) or {}

    def flagged(fund: str) -> bool:
        if fund in keep or warnings.get(fund):
            return True
        verdict = verdicts.get(fund)
        if verdict is None:
            return False
        if _status_text(getattr(verdict, "status", None)) == "contradicts":
            return True
        checks = getattr(verdict, "checks", None) or []
        return any(_status_text(getattr(c, "status", None)) == "contradicts" for c in checks)

    return [f for i, f in enumerate(funds) if i < max_cards or flagged(f)]


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
    data.corr_region = analysis.factors.attrs.get("region") or analysis.meta.get("region")
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
    window = analysis.meta.get("rolling_window", 36)
    available = set(rolling.funds) if rolling is not None else set()
    tvalues = _row_maps(results.tvalues) if available else {}
    for fund in data.cards:
        if fund not in available:
            data.rolling_missing[fund] = (
                f"fewer than {data.period.count(window)} of history: no rolling window to estimate"
            )
            continue
        tilts = _fund_attr(analysis.universe, fund, "tilts")
        terms = charts.rolling_terms(
            tilts, tvalues[str(fund)], data.fund_terms[fund], threshold=data.threshold
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


#: Verdict status -> badge colour (see factorxray.judge.verdicts.VERDICT_STATUSES).
_STATUS_CLASSES = {
    "delivers": "good",
    "partly delivers": "warn",
    "faint": "faint",
    "weak": "warn",
    "contradicts": "bad",
    "not tested": "neutral",
    "neutral": "good",
    "tilted": "warn",
    "no label": "neutral",
}
#: Check status -> badge colour (see factorxray.judge.verdicts.CHECK_STATUSES).
_CHECK_CLASSES = {
    "delivers": "good",
    "faint": "faint",
    "weak": "warn",
    "absent": "warn",
    "contradicts": "bad",
    "not tested": "neutral",
    "not estimated": "neutral",
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
    """plotly.js for the report: the vendored partial bundle (scatter, bar, heatmap and
    waterfall traces: 1.3 MB instead of 4.8 MB; see ``assets/PROVENANCE.md``) when it is the
    plotly.js version of the installed plotly package, else plotly's full bundle."""
    bundle = Path(__file__).with_name("assets") / "plotly-factorxray.min.js"
    text = bundle.read_bytes().decode("utf-8") if bundle.is_file() else ""
    built = re.search(r"plotly\.js v([\w.+-]+)\n\* factorxray partial bundle", text[:400])
    if built is None or built.group(1) != _installed_plotlyjs_version():
        from plotly.offline import get_plotlyjs

        text = get_plotlyjs()
    # Nothing in plotly.js closes a script element today; make sure it never can.
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


def _installed_plotlyjs_version() -> str | None:
    """The plotly.js version of the installed plotly package, read from its version file.

    Importing ``plotly.offline`` for ``get_plotlyjs_version()`` costs 20-100 ms (plotly reads
    its own package metadata); the file it returns the version from is found without
    importing anything, and plotly is imported only when that file cannot be read.
    """
    from importlib.util import find_spec

    spec = find_spec("plotly")
    for package_dir in (spec.submodule_search_locations or []) if spec else []:
        path = Path(package_dir) / "offline" / "_plotlyjs_version.py"
        found = re.search(r'__plotlyjs_version__ = "([^"]+)"', _text_or_empty(path))
        if found:
            return found.group(1)
    from plotly.offline import get_plotlyjs_version

    return str(get_plotlyjs_version())


def _text_or_empty(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


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


def _factor_range_text(
    meta: dict[str, Any], limited_by: dict[str, list[str]] | None, units: str = "months"
) -> str:
    """The factor data's range and the files that limit it, e.g. "range 1963-07 to 2025-11;
    the files' common months start with A and end with B, C" (``units``: the run's periods).

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
        text += f"; the files' common {units} " + " and ".join(sides)
    return text


def _cov_text(cov_type: Any, hac_range: tuple[int, int] | None) -> str:
    text = str(cov_type or "n/a")
    if str(cov_type).upper() == "HAC":
        text = "HAC (Newey-West, Bartlett)"
        if hac_range:
            low, high = hac_range
            text += f", lag {low}" if low == high else f", lags {low}-{high} (per fund)"
    return text


def _regions_models(data: ReportData) -> list[dict[str, Any]]:
    """Per region used: its model, the fallback note and the funds, in first-fund order."""
    analysis = data.analysis
    out: dict[str, dict[str, Any]] = {}
    for fund in data.funds:
        used = exports.fund_factors(analysis, fund)
        region = str(used["region"] or "n/a")
        entry = out.setdefault(
            region, {"region": region, "model": used["model"], "note": used["note"], "funds": []}
        )
        entry["funds"].append(fund)
    return list(out.values())


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _models_text(meta: dict[str, Any], used: list[dict[str, Any]]) -> str:
    """E.g. "xray7" or "xray7 (us: 3 funds); ff6 (developed_ex_us: 8 funds, japan: 1 fund)"."""
    by_model: dict[str, list[str]] = {}
    for entry in used:
        by_model.setdefault(str(entry["model"] or "n/a"), []).append(
            f"{entry['region']}: {_plural(len(entry['funds']), 'fund')}"
        )
    requested = meta.get("requested_model")
    if len(by_model) == 1:
        model = next(iter(by_model))
        if requested and requested != model:
            return f"{model} (requested {requested})"
        return model
    text = "; ".join(f"{m} ({', '.join(parts)})" for m, parts in by_model.items())
    return f"{text}; requested {requested}" if requested and requested not in by_model else text


def _regions_text(used: list[dict[str, Any]]) -> str:
    return ", ".join(f"{e['region']} ({_plural(len(e['funds']), 'fund')})" for e in used)


def _fallback_notes(used: list[dict[str, Any]]) -> str:
    notes = list(dict.fromkeys(str(e["note"]) for e in used if e["note"]))
    return "; ".join(notes)


def _count(n: int, noun: str) -> str:
    """``1 fund``, ``20 funds``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _sources_row(factors: pd.DataFrame) -> list[tuple[str, str]]:
    """``Factor sources``: which file (library, vintage) each factor and RF come from.

    Only for factor sets mixed from several files or libraries (``--factors``, ``q5``,
    ``ff6bq``...), whose frames record ``factor_sources``.
    """
    sources = factors.attrs.get("factor_sources")
    if not isinstance(sources, dict) or not sources:
        return []
    libraries = factors.attrs.get("libraries") or {}
    vintages = factors.attrs.get("vintages") or {}
    by_file: dict[str, list[str]] = {}
    for factor, file in sources.items():
        by_file.setdefault(str(file), []).append(str(factor))
    parts = []
    for file, names in by_file.items():
        where = ", ".join(x for x in (libraries.get(file), vintages.get(file)) if x)
        parts.append(f"{', '.join(names)}: {file}" + (f" ({where})" if where else ""))
    rf = factors.attrs.get("rf_source")
    if rf:
        parts.append(f"RF: {rf}")
    return [("Factor sources", "; ".join(parts))]


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
    used = _regions_models(data)
    units = data.period.units
    frames = _frames_by_region(data, used)
    if len(frames) > 1:
        vintages: dict[str, Any] = {}
        for frame in frames.values():
            vintages.update(frame.attrs.get("vintages") or {})
        vintage = _vintage_text(vintages or meta.get("factors_vintage"))
        factor_data = "; ".join(
            f"{region}: "
            + _factor_range_text(_frame_range(frame), exports.factors_limited_by(frame), units)
            for region, frame in frames.items()
        )
    else:
        vintage = _vintage_text(meta.get("factors_vintage"))
        factor_data = _factor_range_text(meta, exports.factors_limited_by(analysis.factors), units)
    models = meta.get("models") or []
    rows = [
        ("Model", _models_text(meta, used) if used else str(meta.get("model") or "n/a")),
        ("Regions" if len(used) > 1 else "Region", _regions_text(used) or "n/a"),
    ]
    fallback = _fallback_notes(used)
    if fallback:
        rows.append(("Fallback", fallback))
    rows += [
        ("Model ladder", ", ".join(str(m) for m in models) if models else "not run"),
        ("Factor data vintage", vintage),
        ("Factor data", factor_data),
        *_sources_row(analysis.factors),
        ("Price source", str(price or "not recorded")),
        ("Covariance", _cov_text(results.cov_type, data.hac_range)),
        ("Rules", _rules_text(data)),
        ("Sample", sample + _frequency_text(meta)),
        ("Funds", _funds_text(data)),
        ("Generated", generated_at),
        ("factorxray", version),
    ]
    return rows


def _frequency_text(meta: dict[str, Any]) -> str:
    """`` (weekly returns; ladder without ff5, ...)`` for a run that is not monthly."""
    frequency = meta.get("frequency") or "monthly"
    if frequency == "monthly":
        return ""
    skipped = meta.get("ladder_skipped") or {}
    without = f"; the model ladder skips {', '.join(skipped)} (not published {frequency})"
    return f" ({frequency} returns{without if skipped else ''})"


def _breakable(text: str) -> Any:
    """``text`` escaped, with a line-break opportunity (``<wbr>``) after every underscore, so
    that a factor file name (``F-F_Research_Data_5_Factors_2x3``) wraps between its parts,
    never inside a word (the page's CSS breaks a word only when nothing else fits)."""
    from markupsafe import Markup, escape

    return Markup(str(escape(text)).replace("_", "_<wbr>"))


def _rules_text(data: ReportData) -> str:
    """The one definition of significance and size (``Rules.legend()``)."""
    legend = data.analysis.meta.get("rules") or data.rules.legend()
    return str(legend).lstrip("* ").strip()


def _funds_text(data: ReportData) -> str:
    analysis = data.analysis
    text = f"{len(data.funds)} analyzed, {len(analysis.failed)} not analyzed"
    warned = sum(1 for f in data.funds if getattr(analysis, "warnings", {}).get(f))
    return text + (f", {warned} with warnings" if warned else "")


def _frame_range(frame: pd.DataFrame) -> dict[str, Any]:
    if not len(frame):
        return {}
    return {"factors_start": str(frame.index[0]), "factors_end": str(frame.index[-1])}


def _frames_by_region(data: ReportData, used: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    frames = {}
    for entry in used:
        try:
            frames[entry["region"]] = data.analysis.factors_for(entry["funds"][0])
        except AttributeError:  # not an Analysis: one frame
            frames[entry["region"]] = data.analysis.factors
    return frames


def _legend(data: ReportData) -> list[str]:
    """How the charts and tables draw a beta: the one definition, in words."""
    rules = data.rules
    level = f"{data.fdr_level:g}"
    return [
        _rules_text(data) + ".",
        f"Solid bars and coloured heatmap cells: significant and material. Outlined bars with "
        f"a light fill, pale heatmap cells and the 'faint' badge: significant but "
        f"|beta - pivot| < {rules.min_beta:g} (the pivot is 1 for Mkt-RF, 0 for the other "
        f"factors): real, too small to act on. Faded bars and grey cells: not significant.",
        f"{charts.FDR_MARK} beside a beta or t: its Benjamini-Hochberg q-value over the whole "
        f"funds x factors table is at most {level} (it survives a false discovery rate of "
        f"{data.fdr_level:.0%}).",
    ]


def _p_text(value: Any) -> str:
    number = _finite(value)
    if number is None:
        return "n/a"
    return "< 0.001" if number < 0.001 else f"{number:.3f}"


def _t_text(value: Any) -> str:
    return charts.format_t(value)


def _beta_text(value: Any) -> str:
    return _num(value, ".2f")


def _share_text(value: Any) -> str:
    number = _finite(value)
    return "n/a" if number is None else f"{number:.0%}"


def _drift_rows(analysis: Any) -> dict[str, dict[str, Any]]:
    """Per fund with a drift test: its p-value (and text), statistic, break and the betas
    before and after, from ``analysis.drift`` (read once per report: cheap per fund)."""
    table = getattr(analysis, "drift", None)
    if table is None or table.empty:
        return {}
    floor = _finite(table.attrs.get("p_value_floor", _DRIFT_P_FLOOR)) or _DRIFT_P_FLOOR
    columns = list(table.columns)
    out: dict[str, dict[str, Any]] = {}
    for (fund, factor), values in zip(table.index.tolist(), table.to_numpy(object), strict=True):
        row = dict(zip(columns, values, strict=True))
        entry = out.get(str(fund))
        if entry is None:
            p = _finite(row["p_value"])
            entry = out[str(fund)] = {
                "p": p,
                "p_text": _p_text(p) if p is None or p > floor else f"< {floor:g}",
                "stat": _finite(row["stat"]),
                "break": str(row["break_period"]),
                "betas": {},
            }
        entry["betas"][str(factor)] = (row["before"], row["after"])
    return out


def _drift_row(analysis: Any, fund: str) -> dict[str, Any] | None:
    return _drift_rows(analysis).get(fund)


def _robust_cell(
    analysis: Any, fund: str, verdict: Any, drift: dict[str, Any] | None = None
) -> dict[str, str]:
    """The overview's compact "robust?" cell: models that agree, windows, drift."""
    parts: list[str] = []
    details: list[str] = []
    status = getattr(verdict, "status", None)
    ladder = getattr(analysis, "ladder", {}).get(fund) or {}
    by_model = ladder.get("verdict_by_model") or {}
    tested = {m: s for m, s in by_model.items() if s and s != "not tested"}
    if status and status != "no label" and len(tested) > 1:
        same = sum(1 for s in tested.values() if s == status)
        parts.append(f"{same}/{len(tested)} models")
        listed = ", ".join(f"{m} {s or 'not run'}" for m, s in by_model.items())
        details.append(
            f"verdict '{status}' under {same} of the {len(tested)} models that test it ({listed})"
        )
    shares = [
        (str(c.tilt), c.robustness["share_of_windows"], c.robustness.get("windows"))
        for c in getattr(verdict, "checks", ())
        if _finite(c.robustness.get("share_of_windows")) is not None
        and c.status not in ("not tested", "not estimated")
    ]
    if shares:
        lowest = min(share for _, share, _ in shares)
        parts.append(f"{lowest:.0%} windows")
        span = period_words(analysis).span(analysis.meta.get("rolling_window", 36))
        details.append(
            "delivered in "
            + ", ".join(f"{_share_text(v)} of {n} {span} windows ({t})" for t, v, n in shares)
        )
    if drift and drift["p"] is not None:
        if drift["p"] < _DRIFT_LEVEL:
            parts.append(f"drift {drift['break']}")
            details.append(f"style drift: sup-Wald p {drift['p_text']}, break {drift['break']}")
        else:
            parts.append("no drift")
            details.append(f"no style drift: sup-Wald p {drift['p_text']}")
    text = " · ".join(parts) if parts else "n/a"
    return {"text": text, "title": "; ".join(details) or "no robustness check for this fund"}


def _ladder_table(analysis: Any, fund: str, verdict: Any, used_model: Any) -> dict[str, Any] | None:
    """The verdict and labelled betas of a fund under each model of the ladder."""
    ladder = getattr(analysis, "ladder", {}).get(fund)
    if not ladder:
        return None
    by_model = ladder.get("verdict_by_model") or {}
    reasons = ladder.get("reason_by_model") or {}
    models = [m for m in analysis.meta.get("models") or by_model if m in by_model] or list(by_model)
    checks = list(getattr(verdict, "checks", ()))
    tilts = [str(c.tilt) for c in checks]
    multi = {str(c.tilt) for c in checks if c.tilt.is_multi}
    rows = []
    for model in models:
        status = by_model.get(model)
        cells = []
        for tilt in tilts:
            entry = (ladder.get("tilts") or {}).get(tilt, {})
            check_status = (entry.get("by_model") or {}).get(model) or "not tested"
            beta = _finite((entry.get("beta_by_model") or {}).get(model))
            if beta is None:
                value = ""
            elif tilt in multi:
                value = _plural(round(beta), "premium").replace("premiums", "premia")
            else:
                value = f"{beta:.2f}"
            cells.append(
                {
                    "value": value,
                    "status": check_status,
                    "status_class": _CHECK_CLASSES.get(check_status, "neutral"),
                }
            )
        rows.append(
            {
                "model": model,
                "used": model == used_model,
                "status": status or "not run",
                "status_class": _status_class(status) if status else "neutral",
                "reason": reasons.get(model, "") if status is None else "",
                "cells": cells,
            }
        )
    notes = [c.robustness.get("model_note") for c in checks if c.robustness.get("model_note")]
    return {"tilts": tilts, "rows": rows, "notes": notes}


def _time_table(
    analysis: Any, fund: str, verdict: Any, drift: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Per labelled tilt: share of windows delivered, last window's beta, the drift test."""
    window = analysis.meta.get("rolling_window", 36)
    rows = []
    for check in getattr(verdict, "checks", ()):
        facts = check.robustness
        before_after = drift["betas"].get(check.tilt.factor) if drift else None
        last = _finite(facts.get("last_window_beta"))
        if check.tilt.is_multi and last is not None:
            last_text = _plural(round(last), "premium").replace("premiums", "premia")
        else:
            last_text = _beta_text(last)
        rows.append(
            {
                "tilt": str(check.tilt),
                "share": _share_text(facts.get("share_of_windows")),
                "share_value": _finite(facts.get("share_of_windows")),
                "windows": facts.get("windows"),
                "last": last_text,
                "last_end": facts.get("last_window_end") or "",
                "before": _beta_text(before_after[0]) if before_after else "",
                "after": _beta_text(before_after[1]) if before_after else "",
            }
        )
    if drift and drift["p"] is not None:
        verdict_word = "style drift" if drift["p"] < _DRIFT_LEVEL else "no style drift"
        drift_text = (
            f"{verdict_word}: sup-Wald {_num(drift['stat'], '.2f')}, p {drift['p_text']}, "
            f"most likely break after {drift['break']}"
        )
    else:
        drift_text = ""
    return {
        "window": window,
        "rows": rows,
        "drift": drift_text,
        "drifted": bool(drift and drift["p"] is not None and drift["p"] < _DRIFT_LEVEL),
    }


def _region_fit_rows(analysis: Any, fund: str, used_region: Any) -> list[dict[str, Any]]:
    fit = getattr(analysis, "region_fit", {}).get(fund) or {}
    better = getattr(analysis, "better_region", {}).get(fund)
    rows = []
    for region, r2 in sorted(fit.items(), key=lambda item: -(_finite(item[1]) or -1.0)):
        rows.append(
            {
                "region": region,
                "r2": _num(r2, ".3f"),
                "used": region == used_region,
                "better": region == better,
            }
        )
    return rows


def _alpha_rule(period: PeriodWords) -> dict[str, str]:
    """How the report annualizes alpha, its one definition: arithmetically, as the return
    attribution must (its parts add up), e.g. "12 × monthly alpha"."""
    return {"alpha_rule": period.annual("alpha"), "alpha_rule_short": period.annual("")}


def _row_maps(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """``{row: {column: value}}`` of a numeric frame, read in one pass."""
    columns = [str(c) for c in frame.columns]
    values = frame.to_numpy(float).tolist()
    return {
        str(r): dict(zip(columns, row, strict=True))
        for r, row in zip(frame.index.tolist(), values, strict=True)
    }


def _alpha_facts(t: Any, p: Any) -> dict[str, Any]:
    t, p = _finite(t), _finite(p)
    return {
        "alpha_t": t,
        "alpha_t_text": _t_text(t),
        "alpha_p": p,
        "alpha_p_text": _p_text(p),
    }


def _build_page(
    data: ReportData,
    pngs: dict[str, str],
    generated_at: str,
    *,
    portfolio: Any = None,
    blend: Any = None,
    all_cards: bool = False,
) -> str:
    from factorxray import __version__

    analysis = data.analysis
    results = analysis.results
    universe = analysis.universe
    params, tvalues = results.params, results.tvalues
    qvalues = getattr(analysis, "qvalues", None)
    # Plain dicts read once: pandas lookups per fund and term were a third of the page's time.
    rows_of = {
        "params": _row_maps(params),
        "t": _row_maps(tvalues),
        "se": _row_maps(results.bse),
        "p": _row_maps(results.pvalues),
        "q": _row_maps(qvalues) if qvalues is not None else {},
    }
    rsq, rsq_adj = results.rsquared.to_dict(), results.rsquared_adj.to_dict()
    nobs, hac_lags = results.nobs.to_dict(), results.hac_lags.to_dict()
    starts, ends = results.start.to_dict(), results.end.to_dict()
    alpha_ann = {k: v.to_dict() for k, v in results.alpha_annualized.items()}
    drifts = _drift_rows(analysis)
    window = analysis.meta.get("rolling_window", 36)
    warnings = getattr(analysis, "warnings", {}) or {}
    specs: dict[str, Any] = {}
    counter = iter(range(1_000_000))

    def add(spec: dict[str, Any]) -> str:
        key = f"f{next(counter)}"
        specs[key] = spec
        return key

    heatmap_id = add(
        charts._beta_heatmap_spec(
            params,
            tvalues,
            data.groups,
            threshold=data.threshold,
            classes=data.classes,
            marks=data.fdr_marks,
        )
    )
    corr_id = add(charts._correlation_spec(data.corr, data.vif)) if data.corr is not None else None
    attribution_id = add(charts._attribution_bars_spec(analysis.attribution, data.funds))

    class_rows = (
        {
            f: dict(zip(data.classes.columns, row, strict=True))
            for f, row in zip(
                data.classes.index, data.classes.to_numpy(object).tolist(), strict=True
            )
        }
        if data.classes is not None
        else {}
    )
    rows = []
    groups = []
    anchors = {}
    carded = set(data.cards)
    for category, members in data.groups:
        cards = []
        for fund in members:
            index = len(rows)
            anchor = f"fund-{index}" if fund in carded else None
            if anchor is not None:
                anchors[fund] = anchor
            verdict = analysis.verdicts.get(fund)
            status = getattr(verdict, "status", None)
            name = _fund_attr(universe, fund, "name", "")
            r2 = _finite(rsq[fund])
            alpha_annual = _finite(alpha_ann["arithmetic"][fund])
            start, end = str(starts[fund]), str(ends[fund])
            used = exports.fund_factors(analysis, fund)
            fund_warnings = [str(w) for w in warnings.get(fund) or []]
            robust = _robust_cell(analysis, fund, verdict, drifts.get(fund))
            row = {
                "ticker": fund,
                "anchor": anchor,
                "name": name,
                "category": category,
                "region_used": str(used["region"] or ""),
                "model_used": str(used["model"] or ""),
                "status": _status_text(status),
                "status_class": _status_class(status),
                "r2": r2,
                "r2_text": _num(r2, ".3f"),
                "alpha": alpha_annual,
                "alpha_text": _pct(alpha_annual),
                **_alpha_facts(rows_of["t"][fund]["alpha"], rows_of["p"][fund]["alpha"]),
                "robust": robust["text"],
                "robust_title": robust["title"],
                "warnings": fund_warnings,
                "nobs": int(nobs[fund]),
                "start": start,
                "end": end,
            }
            rows.append(row)
            if anchor is None:
                continue
            terms = data.fund_terms.get(fund) or [c for c in params.columns if c != "alpha"]
            own = ["alpha", *terms]

            def pick(kind: str, fund: str = fund, own: list[str] = own) -> dict[str, float]:
                row = rows_of[kind].get(fund) or {}
                return {term: row.get(term, math.nan) for term in own}

            bars_id = add(
                charts._beta_bars_spec(
                    pick("params"),
                    pick("t"),
                    bse=pick("se"),
                    pvalues=pick("p"),
                    threshold=data.threshold,
                    y_range=data.y_range,
                    classes=class_rows.get(fund),
                    qvalues=rows_of["q"].get(fund),
                    fdr=data.fdr_level,
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
                        frequency=data.period.frequency,
                    )
                )
            waterfall_id = None
            if fund in analysis.attribution.index:
                waterfall_id = add(
                    charts._attribution_waterfall_spec(analysis.attribution.loc[fund])
                )
            lags = hac_lags[fund]
            parts = _verdict_parts(verdict)
            label_region = _fund_attr(universe, fund, "region", "")
            cards.append(
                {
                    **row,
                    "description": _fund_attr(universe, fund, "description", ""),
                    "region": label_region,
                    "model_note": used["note"] or "",
                    "note_in_warnings": bool(
                        used["note"] and any(used["note"] in w for w in fund_warnings)
                    ),
                    "label_region_differs": bool(
                        label_region and label_region != row["region_used"]
                    ),
                    "tilts": _tilts_text(_fund(universe, fund)),
                    "sentence": getattr(verdict, "sentence", "") if verdict is not None else "",
                    **parts,
                    "ladder": _ladder_table(analysis, fund, verdict, used["model"]),
                    "time": _time_table(analysis, fund, verdict, drifts.get(fund)),
                    "region_fit": _region_fit_rows(analysis, fund, used["region"]),
                    "better_region": getattr(analysis, "better_region", {}).get(fund),
                    "r2_adj_text": _num(rsq_adj[fund], ".3f"),
                    "alpha_monthly_text": _pct(rows_of["params"][fund]["alpha"], 3),
                    "alpha_geo_text": _pct(alpha_ann["geometric"][fund]),
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
        if cards:
            groups.append({"category": category, "funds": cards})

    not_analyzed = [
        {
            "ticker": t,
            "name": _fund_attr(universe, t, "name", ""),
            "reason": exports.shareable(reason),
        }
        for t, reason in analysis.failed.items()
    ]
    warning_items = [
        {"ticker": f, "anchor": anchors.get(f), "text": str(text)}
        for f in data.funds
        for text in warnings.get(f) or []
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
    if blend is not None and portfolio is None:
        portfolio = getattr(blend, "xray", None)
    portfolio_context = _portfolio_context(portfolio, add, anchors) if portfolio else None
    blend_context = _blend_context(blend, add) if blend is not None else None
    chart_counts["portfolio"] = portfolio_context["charts"] if portfolio_context else 0
    chart_counts["blend"] = blend_context["charts"] if blend_context else 0
    left_out = len(data.funds) - len(data.cards)
    meta = analysis.meta
    used_regions = _regions_models(data)
    context = {
        "portfolio": portfolio_context,
        "blend": blend_context,
        "cards_note": _cards_note(len(data.funds), len(data.cards), left_out)
        if left_out and not all_cards
        else "",
        "n_cards": len(data.cards),
        "title": f"factorxray report: {_title_model(meta, used_regions)}, "
        f"{_count(len(data.funds), 'fund')}",
        "header": [
            (label, _breakable(value)) for label, value in _header(data, generated_at, __version__)
        ],
        "legend": _legend(data),
        "rows": rows,
        "groups": groups,
        "not_analyzed": not_analyzed,
        "warnings": warning_items,
        "heatmap_id": heatmap_id,
        "corr_id": corr_id,
        "corr_span": data.corr_span,
        "corr_region": data.corr_region if len(used_regions) > 1 else None,
        "diagnostics_error": data.diagnostics_error,
        "attribution_id": attribution_id,
        "vif_rows": vif_rows,
        "threshold": f"{data.threshold:g}",
        "min_beta": f"{data.rules.min_beta:g}",
        "fdr_mark": charts.FDR_MARK,
        "narrow_width": charts.NARROW_WIDTH,
        "fdr_level": f"{data.fdr_level:g}",
        "window": window,
        **_alpha_rule(data.period),
        "period": data.period,
        "methods": glossary.methods(
            meta,
            hac_lags=data.hac_range,
            used=[(e["region"], e["model"], len(e["funds"]), e["note"]) for e in used_regions],
        ),
        "glossary": glossary_rows,
        "terms": list(glossary.terms(data.period).items()),
        "chart_counts": chart_counts,
        "png": pngs,
        "figures_json": _script_json(specs),
        "plotly_js": _plotly_js(),
        "version": __version__,
        "generated_at": generated_at,
    }
    from factorxray.report._template import template

    return template().render(**context)


def _cards_note(n_funds: int, n_cards: int, left_out: int) -> str:
    return (
        f"{n_funds} funds: cards for {n_cards} (the first {MAX_CARDS} in this order and every "
        f"fund with warnings or a contradicting verdict); {_plural(left_out, 'fund')} "
        "without a card are in the overview table and the heatmap only. "
        "Write the report with --all-cards (write_report(..., all_cards=True)) to show them all."
    )


# ---------------------------------------------------------------------------- portfolio


def _value(number: Any) -> str:
    """A raw number for a ``data-value`` attribute (empty when missing)."""
    value = _finite(number)
    return "" if value is None else repr(value)


def _cell(number: Any, text: str) -> dict[str, str]:
    return {"value": _value(number), "text": text}


def _gap_text(value: Any) -> str:
    text = _num(value, ".4f")
    return "0.0000" if text == "-0.0000" else text


def _window_text(start: Any, end: Any, nobs: Any = None) -> str:
    text = f"{start} – {end}"
    return text if nobs is None else f"{text} ({nobs} months)"


def _limited_text(limited_by: Any) -> str:
    if not isinstance(limited_by, dict):
        return ""
    sides = [
        f"{verb} {', '.join(str(x) for x in limited_by[side])}"
        for side, verb in (("start", "starts with"), ("end", "ends with"))
        if limited_by.get(side)
    ]
    return "the window " + " and ".join(sides) if sides else ""


def _portfolio_context(result: Any, add: Any, anchors: dict[str, str]) -> dict[str, Any]:
    """The portfolio section: weights, implied vs regressed exposures and each fund's
    contribution, risk attribution and performance, from the pure parts of
    :class:`~factorxray.portfolio.xray.PortfolioAnalysis`."""
    from factorxray.portfolio.holdings import MONTHLY

    name = result.name
    held = result.exposures.held
    rebalanced = result.portfolio.rebalance == MONTHLY
    weights = result.weights_frame()
    weight_rows = [
        {
            "fund": fund,
            "anchor": anchors.get(fund),
            "name": row["name"] if row["name"] != fund else "",
            "category": row["category"],
            "weight": _cell(row["weight"], _pct(row["weight"], 1)),
            "used": _cell(row["weight_used"], _pct(row["weight_used"], 1)),
        }
        for fund, row in weights.iterrows()
    ]

    frame = result.exposures_frame()
    exposure_rows = [
        {
            "term": term,
            "regressed": _cell(row["regressed"], _num(row["regressed"])),
            "se": _cell(row["se"], _num(row["se"])),
            "t": _cell(row["t"], _t_text(row["t"])),
            "p": _cell(row["p"], _p_text(row["p"])),
            "implied": _cell(row["implied"], _num(row["implied"])),
            "gap": _cell(row["gap"], _gap_text(row["gap"])),
        }
        for term, row in frame.iterrows()
    ]
    betas = result.fund_betas_frame()
    factors = [c for c in betas.columns if c not in ("weight", "alpha")]
    contributions = betas[factors].mul(betas["weight"], axis=0)
    contribution_rows = [
        {
            "fund": fund,
            "weight": _cell(betas.loc[fund, "weight"], _pct(betas.loc[fund, "weight"], 1)),
            "cells": [_cell(v, _num(v)) for v in row],
        }
        for fund, row in contributions.iterrows()
    ]
    implied_total = [_cell(frame.loc[f, "implied"], _num(frame.loc[f, "implied"])) for f in factors]

    risk = result.risk_frame()
    order = [name, *[f for f in risk["fund"].drop_duplicates() if f != name]]
    shares = risk.pivot_table(index="fund", columns="component", values="share", sort=False)
    components = [c for c in shares.columns if c != "idiosyncratic"] + (
        ["idiosyncratic"] if "idiosyncratic" in shares.columns else []
    )
    vol = risk.groupby("fund", sort=False)["volatility"].first()
    risk_rows = [
        {
            "fund": fund,
            "portfolio": fund == name,
            "vol": _cell(vol.get(fund), _pct(vol.get(fund), 2)),
            "cells": [_cell(shares.loc[fund, c], _pct(shares.loc[fund, c], 1)) for c in components],
        }
        for fund in order
    ]

    perf = result.performance_frame()
    tracked = result.tracking is not None
    perf_columns = [
        ("annual_return", "Return, annual", "pct"),
        ("annual_volatility", "Volatility", "pct"),
        ("sharpe", "Sharpe", "ratio"),
        ("max_drawdown", "Max drawdown", "pct"),
    ]
    if tracked:
        perf_columns += [
            ("active_return", "Active return", "pct"),
            ("tracking_error", "Tracking error", "pct"),
            ("information_ratio", "IR", "ratio"),
        ]
    perf_order = [name, *[f for f in perf.index if f != name]]
    perf_rows = []
    for fund in perf_order:
        row = perf.loc[fund]
        perf_rows.append(
            {
                "fund": fund,
                "portfolio": fund == name,
                "benchmark": fund == result.benchmark,
                "window": _window_text(row.get("start"), row.get("end"), row.get("months")),
                "trough": str(row.get("max_drawdown_trough") or ""),
                "cells": [
                    {
                        "col": col,
                        **_cell(
                            row.get(col),
                            _pct(row.get(col)) if kind == "pct" else _num(row.get(col), ".2f"),
                        ),
                    }
                    for col, _, kind in perf_columns
                ],
            }
        )
    tolerance = result.exposures.tolerance
    return {
        "name": name,
        "anchor": anchors.get(name),
        "label": result.portfolio.describe(),
        "rebalance": "rebalanced monthly" if rebalanced else "bought and held",
        "rebalanced": rebalanced,
        "region": result.region,
        "window": _window_text(result.exposures.start, result.exposures.end, result.exposures.nobs),
        "returns": _window_text(held.start, held.end),
        "limited": _limited_text(held.limited_by),
        "missing": len(held.missing),
        "benchmark": result.benchmark,
        "tolerance": _num(tolerance, ".2g"),
        "weights": weight_rows,
        "exposures": exposure_rows,
        "factors": factors,
        "contributions": contribution_rows,
        "implied_total": implied_total,
        "components": components,
        "risk": risk_rows,
        "perf_columns": [(col, label) for col, label, _ in perf_columns],
        "performance": perf_rows,
        "exposures_id": add(charts._exposures_compare_spec(frame)),
        "contributions_id": add(charts._contributions_spec(contributions)),
        "risk_id": add(charts._risk_shares_spec(risk, order)),
        "charts": 3,
    }


def _blend_context(blend: Any, add: Any) -> dict[str, Any]:
    """The blend section: target vs achieved vs out of sample, the constraints and, when no
    blend meets the target, the message (from :class:`~factorxray.portfolio.blend.Blend`)."""
    frame = blend.to_frame()
    oos = blend.out_of_sample
    target_rows = [
        {
            "factor": factor,
            "target": row["target"],
            "achieved": _cell(row["achieved"], _num(row["achieved"])),
            "se": _cell(row["se"], _num(row["se"])),
            "t": _cell(row["t"], _t_text(row["t"])),
            "met": "" if row["met"] is None else ("met" if row["met"] else "missed"),
            "oos": _cell(row["out_of_sample"], _num(row["out_of_sample"])),
        }
        for factor, row in frame.iterrows()
    ]
    constraint_rows = [
        {
            "constraint": str(row.get("constraint", "")),
            "achieved": _cell(row.get("achieved"), _num(row.get("achieved"))),
            "shortfall": _cell(row.get("shortfall"), _num(row.get("shortfall"), ".4f")),
            "met": bool(row.get("met")),
            "best": _cell(row.get("best"), _num(row.get("best"))),
        }
        for _, row in blend.constraints.iterrows()
    ]
    holdings = [
        {"fund": fund, "weight": _cell(w, _pct(w, 1))} for fund, w in blend.holdings.items()
    ]
    return {
        "target": str(blend.target),
        "feasible": bool(blend.feasible),
        "message": blend.message or "",
        "objective": blend.objective,
        "risk": _pct(blend.risk),
        "window": _window_text(blend.start, blend.end, blend.nobs),
        "limited": _limited_text(blend.limited_by),
        "candidates": len(blend.candidates),
        "holdings": holdings,
        "max_weight": None if blend.max_weight >= 1 else _pct(blend.max_weight, 0),
        "max_funds": blend.max_funds,
        "rows": target_rows,
        "constraints": constraint_rows,
        "oos": None
        if oos is None
        else {
            "fit": _window_text(oos.fit_start, oos.fit_end),
            "test": _window_text(oos.test_start, oos.test_end),
        },
        "notes": [str(n) for n in blend.notes],
        "chart_id": add(charts._blend_target_spec(frame, blend.target.constraints)),
        "charts": 1,
    }


def _title_model(meta: dict[str, Any], used: list[dict[str, Any]]) -> str:
    models = list(dict.fromkeys(str(e["model"]) for e in used if e["model"]))
    if len(models) == 1:
        return models[0]
    if models:
        return " and ".join(models)
    return str(meta.get("model") or "factor model")


def _verdict_parts(verdict: Any) -> dict[str, Any]:
    """A verdict's checks, unintended, faint and implied loadings, as display strings."""
    if verdict is None:
        return {"checks": [], "unintended": [], "faint": [], "implied": []}
    detail = verdict.to_dict()
    checks = []
    for check in detail.get("tilts") or []:
        status = str(check.get("status", ""))
        beta, t = _finite(check.get("beta")), _finite(check.get("t"))
        q = _finite(check.get("q"))
        if check.get("factor") == "multi":
            count = "" if beta is None else _plural(round(beta), "material premium")
            count = count.replace("premiums", "premia")
            evidence = ", ".join(check.get("factors") or [])
            text = count + (f" ({evidence})" if evidence else "")
        elif beta is None:
            text = ""
        else:
            text = f"beta {beta:.2f}" + ("" if t is None else f", t {t:.2f}")
            if q is not None:
                text += f", q {_p_text(q)}"
        checks.append(
            {
                "tilt": str(check.get("tilt", "")),
                "status": status,
                "status_class": _CHECK_CLASSES.get(status, "neutral"),
                "text": text,
            }
        )
    return {
        "checks": checks,
        "unintended": [_loading_text(item) for item in detail.get("unintended") or []],
        "faint": [_loading_text(item) for item in detail.get("faint") or []],
        "implied": [_loading_text(item) for item in detail.get("implied_by_label") or []],
    }


def _loading_text(item: dict[str, Any]) -> str:
    beta, t = _finite(item.get("beta")), _finite(item.get("t"))
    numbers = (
        "" if beta is None else f" (beta {beta:.2f}" + ("" if t is None else f", t {t:.2f}") + ")"
    )
    side = item.get("side")
    return f"{item.get('factor')}{f' {side}' if side else ''}{numbers}"


def write_report(
    analysis: Analysis,
    out_dir: str | os.PathLike[str],
    *,
    png: bool = True,
    open_browser: bool = False,
    portfolio: Any = None,
    blend: Any = None,
    all_cards: bool = False,
    force: bool = False,
) -> Path:
    """Write the HTML report, PNG charts, ``exposures.csv``, ``rolling_betas.csv`` and
    ``summary.json``.

    Parameters
    ----------
    analysis : Analysis
        From :func:`factorxray.analysis.build_analysis` (or :func:`factorxray.analyze`).
    out_dir : path
        Folder to write into (created if needed). A folder factorxray wrote before is
        written over; one that holds other files is refused (see ``force``).
    png : bool
        Also draw PNG copies of the charts with matplotlib into ``out_dir/png``.
    open_browser : bool
        Open the page in the default web browser when done.
    portfolio : PortfolioAnalysis, optional
        Adds the portfolio section (weights, implied vs regressed exposures, each fund's
        contribution, risk attribution, performance); ``analysis`` is ``portfolio.analysis``.
    blend : Blend, optional
        Adds the blend section (target vs achieved vs out of sample, the constraints, the
        message when no blend meets the target); its X-ray, if any, is the portfolio.
    all_cards : bool
        Beyond :data:`MAX_CARDS` funds, per-fund cards and PNGs are drawn only for the first
        ``MAX_CARDS`` funds and every fund with warnings or a contradicting verdict (a note
        says how many are left out); True draws them all.
    force : bool
        Write into ``out_dir`` even if it holds files factorxray did not write (files of
        the report's names are replaced). Without it such a folder raises
        :class:`~factorxray.report.folder.ReportFolderError`; the files factorxray wrote
        are listed in the folder's ``.factorxray-report``.

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
    folder.check_folder(out, force=force)
    out.mkdir(parents=True, exist_ok=True)
    if blend is not None and portfolio is None:
        portfolio = getattr(blend, "xray", None)
    keep = (portfolio.name,) if portfolio is not None else ()
    index = out / "index.html"
    # Without PNGs the files are written by a helper thread while the page is built (their
    # fsyncs wait on the disk); with them, here and now: static_png forks only when no other
    # thread runs.
    with _Writes(threaded=not png) as writes:
        # Claimed before writing, so a run cut short still leaves a folder the next run
        # accepts (the helper writes in order).
        writes.run(folder.record_files, out, _REPORT_FILES)
        data = prepare(analysis, all_cards=all_cards, keep=keep)
        generated_at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        for name, content in (
            (exports.EXPOSURES_CSV, exports._exposures_csv_bytes(analysis)),
            (exports.ROLLING_CSV, exports._rolling_csv_bytes(analysis)),
            (
                exports.SUMMARY_JSON,
                exports._summary_json_bytes(analysis, generated_at=generated_at),
            ),
        ):
            writes.run(atomic_write_bytes, out / name, content)
        pngs: dict[str, str] = {}
        if png:
            from factorxray.report import static_png

            pngs = static_png.write_pngs(_carded(data), out / "png")
            folder.record_files(out, pngs.values())
        page = _build_page(
            data, pngs, generated_at, portfolio=portfolio, blend=blend, all_cards=all_cards
        )
        writes.wait()  # the page last: written only when every other file is
    atomic_write_text(index, page)
    if open_browser:
        webbrowser.open(index.resolve().as_uri())
    return index


class _Writes:
    """File writes run in order, on one helper thread (``threaded``) or at once.

    Every write is atomic (temporary file, fsync, rename: :mod:`factorxray._atomic`), so a
    file is whole or absent whichever thread writes it; the helper mostly waits on the disk,
    which releases the GIL, while the caller goes on computing. Leaving the ``with`` block
    waits for the writes still running; :meth:`wait` also raises the first one's error.
    """

    def __init__(self, *, threaded: bool) -> None:
        self._pool: Any = None
        if threaded:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="factorxray-write")
        self._pending: list[Any] = []

    def run(self, write: Any, *args: Any) -> None:
        """``write(*args)``, on the helper thread after the writes before it, or now."""
        if self._pool is None:
            write(*args)
        else:
            self._pending.append(self._pool.submit(write, *args))

    def wait(self) -> None:
        """Return when every write is done; raise the first error of one (in order)."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def __enter__(self) -> _Writes:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def _carded(data: ReportData) -> ReportData:
    """``data`` restricted to the funds with a card, for the PNGs (``static_png`` draws its
    per-fund charts, and the heatmap and attribution PNGs, for ``data.funds``)."""
    if len(data.cards) == len(data.funds):
        return data
    carded = set(data.cards)
    groups = [(c, [f for f in m if f in carded]) for c, m in data.groups]
    return dataclasses.replace(data, funds=list(data.cards), groups=[g for g in groups if g[1]])
