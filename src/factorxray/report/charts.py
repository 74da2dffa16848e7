"""Plotly figures of the report: pure functions from the parts of an Analysis to figures.

Every public builder returns a :class:`plotly.graph_objects.Figure`. Each one wraps a
private ``_*_spec`` function that returns the same figure as a plain dict (``data`` and
``layout``); the HTML report serializes those dicts directly, which skips plotly.py's
validation and keeps the page fast to build. Tests check that every spec validates.

Colours are shared with :mod:`factorxray.report.static_png`: betas use one diverging
red-blue scale (red negative, blue positive) everywhere; each factor has one line colour in
every time-series chart.

Every beta is drawn in one of three styles, by the verdicts' own rules
(:class:`factorxray.judge.verdicts.Rules`, see :func:`beta_class`): *material* (significant
and at least ``min_beta`` from its pivot: solid colour), *faint* (significant but smaller:
a light fill with a coloured outline in the bars, a pale cell in the heatmap) and *not
significant* (faded bars, grey cells). A dagger (``†``) marks betas whose
Benjamini-Hochberg q-value is at most the FDR level (5% unless the run set one).

User-supplied text (tickers, names, categories) is HTML-escaped before it goes into a
figure, because plotly renders a subset of HTML in its text.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from factorxray.judge.verdicts import Rules

__all__ = [
    "DIVERGING",
    "FACTOR_COLORS",
    "NEGATIVE",
    "POSITIVE",
    "attribution_bars",
    "attribution_waterfall",
    "beta_bars",
    "beta_class",
    "beta_classes",
    "beta_heatmap",
    "beta_range",
    "category_groups",
    "color_limit",
    "correlation_heatmap",
    "fdr_level",
    "fdr_marks",
    "format_t",
    "rolling_chart",
    "rolling_range",
    "rolling_terms",
    "rules_from_meta",
    "significance_threshold",
]

POSITIVE = "#2166ac"
NEGATIVE = "#b2182b"
NEUTRAL = "#f7f7f7"
#: Diverging scale for betas and correlations (plotly colorscale form).
DIVERGING: list[list[Any]] = [
    [0.0, NEGATIVE],
    [0.25, "#ef8a62"],
    [0.5, NEUTRAL],
    [0.75, "#67a9cf"],
    [1.0, POSITIVE],
]
INSIGNIFICANT = "#e6e6e6"
FAINT_TEXT = "#a0a0a0"
#: Faint (significant but immaterial) heatmap cells: pale red / pale blue by sign.
FAINT_NEGATIVE = "#f6dcdf"
FAINT_POSITIVE = "#dbe7f3"
#: Fill opacity of a faint bar (its outline is solid).
FAINT_FILL_OPACITY = 0.18
#: The mark of a beta whose q-value is at most the FDR level.
FDR_MARK = "\u2020"
#: Beta classes, in the order the legend names them.
MATERIAL, FAINT, INSIGNIFICANT_CLASS, MISSING = "material", "faint", "not significant", "missing"
TOTAL = "#4d4d4d"
ALPHA_COLOR = "#8c564b"
FADED_OPACITY = 0.25
#: One colour per factor in every time-series and attribution chart.
FACTOR_COLORS: dict[str, str] = {
    "Mkt-RF": "#6b6b6b",
    "SMB": "#1b9e77",
    "HML": "#d95f02",
    "RMW": "#7570b3",
    "CMA": "#e7298a",
    "MOM": "#66a61e",
    "VOL": "#e6ab02",
    "WML": "#66a61e",
}
_EXTRA_COLORS = ("#a6761d", "#1f78b4", "#b15928", "#6a3d9a", "#33a02c", "#fb9a99")
FONT_FAMILY = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif'
)
TEXT_COLOR = "#1f2328"
GRID_COLOR = "#e8eaed"
#: Below this chart width (CSS pixels, a phone) the page draws a figure's ``narrow`` variant
#: when it has one: shorter labels, a horizontal waterfall (see :func:`narrow_variant`).
NARROW_WIDTH = 480
#: Up to this many bars the narrow beta chart keeps its labels horizontal; beyond, they turn.
_NARROW_UPRIGHT = 7
#: Mid-month anchor and mean month length in ms: plotly dates without a month list.
_MONTH_MS = 2_629_746_000
#: One week in ms: weekly points at the week's Friday, ``dx`` apart.
_WEEK_MS = 604_800_000
#: Hover date of a rolling window's end, by frequency.
_HOVER_DATES = {"monthly": "%b %Y", "weekly": "week to %d %b %Y", "daily": "%d %b %Y"}
DIGITS = 4


# ---------------------------------------------------------------------------- shared helpers


def significance_threshold(meta: Mapping[str, Any] | None) -> float:
    """The |t| threshold of a run (``meta["t_threshold"]``, default 2)."""
    value = (meta or {}).get("t_threshold")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 2.0
    return value if math.isfinite(value) and value > 0 else 2.0


def rules_from_meta(meta: Mapping[str, Any] | None) -> Rules:
    """The verdict rules of a run (``t_threshold``, ``min_beta``, ``fdr`` of ``meta``).

    Missing or unusable values take the defaults, so a hand-built analysis still renders.
    """
    from factorxray.errors import UsageError
    from factorxray.judge.verdicts import DEFAULT_MIN_BETA, Rules

    meta = meta or {}
    min_beta = meta.get("min_beta")
    try:
        return Rules(
            significance_threshold(meta),
            DEFAULT_MIN_BETA if min_beta is None else float(min_beta),
            meta.get("fdr"),
        )
    except (TypeError, ValueError, UsageError):
        return Rules(significance_threshold(meta))


def fdr_level(meta: Mapping[str, Any] | None) -> float:
    """The q-value at or below which a beta gets the FDR mark: the run's ``fdr``, else 0.05."""
    value = (meta or {}).get("fdr")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.05
    return value if 0 < value < 1 else 0.05


def beta_class(factor: str, beta: Any, t: Any, q: Any, rules: Rules) -> str:
    """How a beta is drawn: ``material``, ``faint``, ``not significant`` or ``missing``.

    The verdicts' definition (:class:`~factorxray.judge.verdicts.Rules`): significant when
    ``|t| >= t_threshold`` (and ``q <= fdr`` when the run set an FDR level); material when
    also ``|beta - pivot| >= min_beta``, the pivot being 1 for the market and 0 for the
    other factors; significant but not material is *faint*.

    Examples
    --------
    >>> from factorxray.judge.verdicts import Rules
    >>> [beta_class("HML", b, t, None, Rules()) for b, t in ((0.3, 5), (0.03, 3), (0.3, 1))]
    ['material', 'faint', 'not significant']
    >>> beta_class("Mkt-RF", 0.98, 60.0, None, Rules())  # within 0.10 of the market's 1
    'faint'
    """
    from factorxray.judge.sentences import pivot

    b, t_value, q_value = _num(beta, 15), _num(t, 15), _num(q, 15)
    if b is None or t_value is None:
        return MISSING
    if not rules.significant(t_value, q_value):
        return INSIGNIFICANT_CLASS
    return MATERIAL if rules.material(b - pivot(factor)) else FAINT


def beta_classes(
    params: pd.DataFrame,
    tvalues: pd.DataFrame,
    qvalues: pd.DataFrame | None,
    rules: Rules,
) -> pd.DataFrame:
    """:func:`beta_class` of every fund and factor (``alpha`` left out), as a frame of str.

    Shared by the HTML charts and tables and the PNG charts, so all use one definition.
    """
    factors = [c for c in params.columns if c != "alpha"]
    q = (
        qvalues.reindex(index=params.index, columns=factors)
        if qvalues is not None
        else pd.DataFrame(np.nan, index=params.index, columns=factors)
    )
    betas = params[factors].to_numpy(float).tolist()
    tvals = tvalues.reindex(index=params.index, columns=factors).to_numpy(float).tolist()
    qvals = q.to_numpy(float).tolist()
    return pd.DataFrame(
        [
            [
                beta_class(f, b, t, qv, rules)
                for f, b, t, qv in zip(factors, brow, trow, qrow, strict=True)
            ]
            for brow, trow, qrow in zip(betas, tvals, qvals, strict=True)
        ],
        index=params.index,
        columns=factors,
        dtype=object,
    )


def fdr_marks(qvalues: pd.DataFrame | None, level: float = 0.05) -> pd.DataFrame:
    """True where a beta's Benjamini-Hochberg q-value is at most ``level``."""
    if qvalues is None:
        return pd.DataFrame(dtype=bool)
    return qvalues.le(level) & qvalues.notna()


def factor_color(factor: str, position: int = 0) -> str:
    """The line colour of a factor (a fixed palette, then extras by position)."""
    return FACTOR_COLORS.get(factor, _EXTRA_COLORS[position % len(_EXTRA_COLORS)])


def beta_range(params: pd.DataFrame, *, pad: float = 0.14) -> tuple[float, float]:
    """One y-range for every fund's beta bars, so the charts compare.

    Parameters
    ----------
    params : DataFrame
        ``results.params`` (the ``alpha`` column is ignored).
    pad : float
        Share of the span added on both sides (room for the value labels).

    Returns
    -------
    tuple of float
        ``(low, high)``, always including 0.
    """
    values = params.drop(columns=[c for c in params.columns if c == "alpha"]).to_numpy(float)
    finite = values[np.isfinite(values)]
    low = min(0.0, float(finite.min())) if finite.size else -0.5
    high = max(0.0, float(finite.max())) if finite.size else 1.0
    span = max(high - low, 0.5)
    return (round(low - pad * span, 2), round(high + pad * span, 2))


def rolling_range(
    frames: Mapping[str, pd.DataFrame], terms: Mapping[str, Sequence[str]], *, pad: float = 0.12
) -> tuple[float, float]:
    """One y-range for every fund's rolling chart: all drawn estimates, padded, with 0.

    Parameters
    ----------
    frames : mapping of str to DataFrame
        ``plot_data`` per fund.
    terms : mapping of str to sequence of str
        The factors drawn per fund.
    pad : float
        Share of the span added on both sides.
    """
    values = []
    for fund, frame in frames.items():
        block, position = _plot_columns(frame)
        values += [
            block[:, position[(term, "estimate")]]
            for term in terms.get(fund, [])
            if (term, "estimate") in position
        ]
    stacked = np.concatenate(values) if values else np.array([])
    finite = stacked[np.isfinite(stacked)]
    low = min(0.0, float(finite.min())) if finite.size else -0.5
    high = max(0.0, float(finite.max())) if finite.size else 1.5
    span = max(high - low, 0.4)
    return (round(low - pad * span, 2), round(high + pad * span, 2))


def _plot_columns(plot_data: pd.DataFrame) -> tuple[np.ndarray, dict[Any, int]]:
    """A ``plot_data`` frame's values and the position of each ``(term, bound)`` column:
    one numpy read per chart instead of a pandas lookup per line (a column that appears
    twice: its last position)."""
    columns = plot_data.columns
    keys: Iterable[Any] = columns
    if isinstance(columns, pd.MultiIndex) and all((c >= 0).all() for c in columns.codes):
        # the tuples from levels and codes: iterating a MultiIndex builds its values first
        labels = [
            [level[code] for code in codes.tolist()]
            for level, codes in zip(
                (level.tolist() for level in columns.levels), columns.codes, strict=True
            )
        ]
        keys = zip(*labels, strict=True)
    position = {key: i for i, key in enumerate(keys)}
    return plot_data.to_numpy(float), position


def category_groups(universe: Any, funds: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Funds grouped by category, in the universe's category order then fund order.

    Funds missing from the universe go to a last group named ``"Other"``.
    """
    wanted = list(funds)
    remaining = set(wanted)
    groups: list[tuple[str, list[str]]] = []
    by_category = universe.by_category() if universe is not None else {}
    for category, members in by_category.items():
        tickers = [_ticker(m) for m in members]
        chosen = [t for t in tickers if t in remaining]
        if chosen:
            groups.append((str(category), chosen))
            remaining.difference_update(chosen)
    leftovers = [t for t in wanted if t in remaining]
    if leftovers:
        groups.append(("Other", leftovers))
    return groups


def tilt_factors(tilts: Any) -> list[str]:
    """The factor names a fund's label promises (``Fund.tilts`` in any of its shapes).

    Examples
    --------
    >>> tilt_factors("SMB>0; HML>0")
    ['SMB', 'HML']
    """
    if not tilts:
        return []
    if isinstance(tilts, Mapping):
        return [str(k) for k in tilts]
    if isinstance(tilts, str):
        tilts = re.split(r"[;,]", tilts)
    names = []
    for item in tilts:
        if isinstance(item, str):
            name = re.split(r"[<>=]", item, maxsplit=1)[0].strip()
            if name:
                names.append(name)
        elif isinstance(item, tuple | list) and item:
            names.append(str(item[0]))
        elif hasattr(item, "factor"):
            names.append(str(item.factor))
    return names


def rolling_terms(
    tilts: Any,
    tvalues: pd.Series | Mapping[str, float],
    available: Sequence[str],
    *,
    threshold: float = 2.0,
) -> list[str]:
    """Which factors a fund's rolling chart shows.

    The factors its label promises (those the model has); for a fund without a label,
    the market and its biggest significant tilt (by |t|) if any.
    """
    available = list(available)
    labelled = [f for f in tilt_factors(tilts) if f in available]
    if labelled:
        return list(dict.fromkeys(labelled))
    market = [f for f in available if f in ("Mkt-RF", "MKT", "Mkt")][:1] or available[:1]
    t_of = _mapping(tvalues)
    best, best_t = None, -math.inf
    for factor in available:
        if factor in market:
            continue
        t = abs(_float(t_of.get(factor)))
        if t >= threshold and t > best_t:  # the first of equal |t| (as idxmax); NaN never
            best, best_t = factor, t
    if best is not None:
        return [*market, str(best)]
    return market


def _ticker(member: Any) -> str:
    return str(getattr(member, "ticker", member))


def _text(value: Any) -> str:
    """User text made safe for plotly's pseudo-HTML text rendering."""
    return html.escape(str(value), quote=False)


def _num(value: Any, digits: int = DIGITS) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number, digits) if math.isfinite(number) else None


def _nums(values: Iterable[Any], digits: int = DIGITS) -> list[float | None]:
    """Numbers rounded for the figure JSON, None where missing (vectorized: the rolling
    charts hold thousands)."""
    try:
        array = np.asarray(
            values if isinstance(values, np.ndarray | pd.Series) else list(values), dtype=float
        )
    except (TypeError, ValueError):
        return [_num(v, digits) for v in values]
    rounded = np.round(array, digits)
    out: list[float | None] = rounded.tolist()
    for i in np.flatnonzero(~np.isfinite(rounded)):
        out[i] = None
    return out


def _fmt(value: Any, spec: str = ".2f") -> str:
    number = _num(value, 12)
    return "n/a" if number is None else format(number, spec)


def signed_percent(value: float, digits: int) -> str:
    """``+1.2%`` / ``-0.4%``, and ``0.0%`` (no sign) for what rounds to zero.

    Examples
    --------
    >>> signed_percent(1.234, 1), signed_percent(-0.04, 1), signed_percent(0.04, 1)
    ('+1.2%', '0.0%', '0.0%')
    """
    text = f"{value:+.{digits}f}%"
    return text[1:] if float(text[1:-1]) == 0 else text


def format_t(t: Any) -> str:
    """A t-value for a label: 2 decimals, 1 from |t| >= 10 (keeps the labels narrow).

    Shared with the PNG charts (:mod:`factorxray.report.static_png`).

    Examples
    --------
    >>> format_t(2.345), format_t(-12.34), format_t(float("nan"))
    ('2.35', '-12.3', 'n/a')
    """
    number = _num(t, 12)
    if number is None:
        return "n/a"
    return f"{number:.1f}" if abs(number) >= 10 else f"{number:.2f}"


def _base_layout(**overrides: Any) -> dict[str, Any]:
    axis = {
        "gridcolor": GRID_COLOR,
        "zerolinecolor": "#9aa0a6",
        "linecolor": "#c4c8cc",
        "automargin": True,
    }
    layout: dict[str, Any] = {
        "template": {},
        "font": {"family": FONT_FAMILY, "size": 12, "color": TEXT_COLOR},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "autosize": True,
        "margin": {"l": 56, "r": 16, "t": 36, "b": 48},
        "hoverlabel": {"font": {"family": FONT_FAMILY}},
        "xaxis": dict(axis),
        "yaxis": dict(axis),
        "showlegend": False,
    }
    for key, value in overrides.items():
        if key in ("xaxis", "yaxis") and isinstance(value, Mapping):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _figure(spec: dict[str, Any]) -> Any:
    """The figure of a spec (its ``narrow`` variant, for the page on a phone, left out)."""
    import plotly.graph_objects as go

    return go.Figure({"data": spec["data"], "layout": spec["layout"]})


def narrow_variant(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The figure a phone gets (the page draws it below :data:`NARROW_WIDTH` pixels), or None
    when the chart has no separate narrow form."""
    return spec.get("narrow")


def _month_x0(period: Any) -> str:
    """Mid-month date of the first period: with ``dx`` one mean month, every point lands
    inside its own month for decades."""
    return f"{pd.Period(period, freq='M').strftime('%Y-%m')}-15"


def _time_axis(index: pd.Index, frequency: str = "monthly") -> dict[str, Any]:
    """Where a rolling chart's points go on plotly's date axis: ``x0`` and ``dx`` for
    consecutive months (mid-month, one mean month apart) or weeks (the week's Friday, seven
    days apart), else every date (``x``): trading days, or periods with a gap.

    Examples
    --------
    >>> _time_axis(pd.period_range("2020-01", periods=3, freq="M"))
    {'x0': '2020-01-15', 'dx': 2629746000}
    >>> _time_axis(pd.period_range("2020-04-06", periods=3, freq="W-SUN"), "weekly")
    {'x0': '2020-04-10', 'dx': 604800000}
    >>> _time_axis(pd.PeriodIndex(["2020-04-09", "2020-04-13"], freq="D"), "daily")
    {'x': ['2020-04-09', '2020-04-13']}
    """
    if not len(index):
        return {"x0": "2000-01-15", "dx": _MONTH_MS}
    if not isinstance(index, pd.PeriodIndex):
        from factorxray.factors.frequency import PERIOD_FREQ

        index = pd.DatetimeIndex(index).to_period(PERIOD_FREQ.get(frequency, "M"))
    step = {"M": _MONTH_MS, "W-SUN": _WEEK_MS}.get(index.freqstr)
    ordinals = index.asi8
    consecutive = bool(np.all(np.diff(ordinals) == 1))
    if index.freqstr == "M":
        if consecutive:
            return {"x0": _month_x0(index[0]), "dx": step}
        return {"x": [f"{p.strftime('%Y-%m')}-15" for p in index]}
    if index.freqstr == "W-SUN":
        fridays = (index.start_time + pd.Timedelta(days=4)).strftime("%Y-%m-%d").tolist()
        return {"x0": fridays[0], "dx": step} if consecutive else {"x": fridays}
    return {"x": index.start_time.strftime("%Y-%m-%d").tolist()}


# ---------------------------------------------------------------------------- beta bars


def _mapping(values: Mapping[str, Any] | pd.Series | None) -> dict[str, Any]:
    """A Series (or mapping) as a plain dict: one pass instead of a pandas lookup per key."""
    if values is None:
        return {}
    if isinstance(values, pd.Series):
        return dict(zip(values.index.tolist(), values.tolist(), strict=True))
    return dict(values)


def _floats(values: Mapping[str, Any], keys: Sequence[str]) -> list[float]:
    return [_float(values.get(k)) for k in keys]


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _beta_bars_spec(
    params: pd.Series | Mapping[str, float],
    tvalues: pd.Series | Mapping[str, float],
    *,
    bse: pd.Series | Mapping[str, float] | None = None,
    pvalues: pd.Series | Mapping[str, float] | None = None,
    threshold: float = 2.0,
    y_range: tuple[float, float] | None = None,
    height: int = 340,
    classes: pd.Series | Mapping[str, str] | None = None,
    qvalues: pd.Series | Mapping[str, float] | None = None,
    fdr: float = 0.05,
) -> dict[str, Any]:
    params = _mapping(params)
    factors = [f for f in params if f != "alpha"]
    betas = _floats(params, factors)
    tvals = _floats(_mapping(tvalues), factors)
    se = _floats(_mapping(bse), factors)
    pv = _floats(_mapping(pvalues), factors)
    qv = _floats(_mapping(qvalues), factors)
    labels = [_text(f) for f in factors]
    if classes is None:  # significance only (|t| >= threshold), as before the size rule
        kinds = [
            MATERIAL if math.isfinite(t) and abs(t) >= threshold else INSIGNIFICANT_CLASS
            for t in tvals
        ]
    else:
        class_of = _mapping(classes)
        kinds = [str(class_of.get(f, INSIGNIFICANT_CLASS)) for f in factors]
    marked = [bool(math.isfinite(q) and q <= fdr) for q in qv]
    colors = [POSITIVE if (b >= 0 or not math.isfinite(b)) else NEGATIVE for b in betas]
    fills = [
        _rgba(c, FAINT_FILL_OPACITY) if k == FAINT else c
        for c, k in zip(colors, kinds, strict=True)
    ]
    trace = {
        "type": "bar",
        "x": labels,
        "y": _nums(betas),
        "text": [_fmt(b) for b in betas],
        "textposition": "outside",
        "constraintext": "none",
        "textfont": {"size": 10},
        "cliponaxis": False,
        "marker": {
            "color": fills,
            "opacity": [FADED_OPACITY if k == INSIGNIFICANT_CLASS else 1.0 for k in kinds],
            "line": {
                "width": [1.5 if k == FAINT else 0 for k in kinds],
                "color": colors,
            },
        },
        "customdata": [
            [_num(s), _num(t, 2), _num(p), _num(q), kind]
            for s, t, p, q, kind in zip(se, tvals, pv, qv, kinds, strict=True)
        ],
        "hovertemplate": (
            "<b>%{x}</b><br>beta %{y:.3f}<br>se %{customdata[0]:.3f}"
            "<br>t %{customdata[1]:.2f}<br>p %{customdata[2]:.3f}"
            "<br>q %{customdata[3]:.3f}<br>%{customdata[4]}<extra></extra>"
        ),
    }
    marks = [FDR_MARK if mark else "" for mark in marked]
    ticktext = [
        f"{lab}<br>t={format_t(t)}{m}" for lab, t, m in zip(labels, tvals, marks, strict=True)
    ]
    yaxis: dict[str, Any] = {"title": {"text": "Beta"}, "zeroline": True}
    if y_range is not None:
        yaxis["range"] = [float(y_range[0]), float(y_range[1])]
    layout = _base_layout(
        height=height,
        margin={"l": 52, "r": 12, "t": 16, "b": 56},
        xaxis={
            "tickvals": labels,
            "ticktext": ticktext,
            "fixedrange": True,
            "tickangle": 0,
            "tickfont": {"size": 10},
        },
        yaxis=yaxis,
        bargap=0.35,
    )
    # On a phone: the t-value alone under the name ("t=" is in the chart's title), smaller
    # text, and the labels turned upright beyond seven bars, so that they never run together.
    upright = len(factors) <= _NARROW_UPRIGHT
    narrow_layout = _base_layout(
        height=height,
        margin={"l": 44, "r": 6, "t": 16, "b": 56 if upright else 84},
        xaxis={
            "tickvals": labels,
            "ticktext": [
                f"{lab}<br>{format_t(t)}{m}" for lab, t, m in zip(labels, tvals, marks, strict=True)
            ],
            "fixedrange": True,
            "tickangle": 0 if upright else -90,
            "tickfont": {"size": 9},
        },
        yaxis={**yaxis, "title": {"text": "Beta", "standoff": 4}, "tickfont": {"size": 10}},
        bargap=0.3,
    )
    narrow_trace = {**trace, "textfont": {"size": 9}}
    return {
        "data": [trace],
        "layout": layout,
        "narrow": {"data": [narrow_trace], "layout": narrow_layout},
    }


def beta_bars(
    params: pd.Series,
    tvalues: pd.Series,
    *,
    bse: pd.Series | None = None,
    pvalues: pd.Series | None = None,
    threshold: float = 2.0,
    y_range: tuple[float, float] | None = None,
    classes: pd.Series | None = None,
    qvalues: pd.Series | None = None,
    fdr: float = 0.05,
) -> Any:
    """Bar chart of one fund's factor betas, the seed article's per-fund chart.

    The x labels carry the t-values (with ``†`` where q <= ``fdr``). Without ``classes``,
    bars with |t| below ``threshold`` are faded; with them (see :func:`beta_classes`),
    material bars are solid, faint ones a light fill with a coloured outline, and
    insignificant ones faded.

    Parameters
    ----------
    params, tvalues : Series
        One fund's row of ``results.params`` / ``results.tvalues`` (``alpha`` is left out).
    bse, pvalues : Series, optional
        Standard errors and p-values, shown on hover.
    threshold : float
        |t| at or above which a beta is significant.
    y_range : tuple of float, optional
        Fixed y-range, e.g. :func:`beta_range` of all funds so the charts compare.
    classes : Series, optional
        One fund's row of :func:`beta_classes`.
    qvalues : Series, optional
        Benjamini-Hochberg q-values, for the hover and the ``†`` mark.
    fdr : float
        The q-value at or below which a beta is marked.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    return _figure(
        _beta_bars_spec(
            params,
            tvalues,
            bse=bse,
            pvalues=pvalues,
            threshold=threshold,
            y_range=y_range,
            classes=classes,
            qvalues=qvalues,
            fdr=fdr,
        )
    )


# ---------------------------------------------------------------------------- heatmaps


def color_limit(params: pd.DataFrame) -> float:
    """Colour-scale limit: the biggest non-market |beta| (the market beta, near 1, saturates).

    At least 0.3, rounded to 2 decimals; shared by the HTML and PNG heatmaps.
    """
    return _color_limit(params.to_numpy(float), list(params.columns))


def _color_limit(values: np.ndarray, columns: Sequence[Any]) -> float:
    """:func:`color_limit` of a frame's ``values`` (funds x ``columns``)."""
    keep = [i for i, c in enumerate(columns) if c not in ("alpha", "Mkt-RF")]
    values = values[:, keep] if keep else values
    finite = np.abs(values[np.isfinite(values)])
    return round(max(0.3, float(finite.max()) if finite.size else 1.0), 2)


def _positions(index: pd.Index, labels: Sequence[Any]) -> np.ndarray:
    """Where ``labels`` are in ``index`` (as ``.loc[labels]``: a KeyError names any missing)."""
    positions = index.get_indexer(labels)
    if (positions < 0).any():
        missing = [label for label, p in zip(labels, positions.tolist(), strict=True) if p < 0]
        raise KeyError(f"{missing} not in index")
    return positions


def _beta_heatmap_spec(
    params: pd.DataFrame,
    tvalues: pd.DataFrame,
    groups: Sequence[tuple[str, Sequence[str]]],
    *,
    threshold: float = 2.0,
    classes: pd.DataFrame | None = None,
    marks: pd.DataFrame | None = None,
) -> dict[str, Any]:
    factors = [c for c in params.columns if c != "alpha"]
    funds = [f for _, members in groups for f in members]
    rows_of_funds = _positions(params.index, funds)
    all_betas = params.to_numpy(float)[rows_of_funds]
    betas = all_betas[:, _positions(params.columns, factors)]
    tvals = tvalues.to_numpy(float)[
        np.ix_(_positions(tvalues.index, funds), _positions(tvalues.columns, factors))
    ]
    if classes is None:  # significance only (|t| >= threshold)
        kinds = np.where(
            np.isfinite(tvals) & (np.abs(tvals) >= threshold), MATERIAL, INSIGNIFICANT_CLASS
        )
        kinds = np.where(np.isfinite(betas), kinds, MISSING)
    else:
        kinds = classes.reindex(index=funds, columns=factors).fillna(MISSING).to_numpy(object)
    marked = (
        marks.reindex(index=funds, columns=factors).fillna(False).to_numpy(bool)
        if marks is not None and not marks.empty
        else np.zeros(betas.shape, dtype=bool)
    )
    significant = (kinds == MATERIAL).tolist()
    faint = (kinds == FAINT).tolist()
    # Python values from here on: a loop over numpy scalars costs several times more.
    betas, tvals, kinds, marked = betas.tolist(), tvals.tolist(), kinds.tolist(), marked.tolist()
    text = [
        [
            "" if kind == MISSING else _fmt(v) + (FDR_MARK if mark else "")
            for v, kind, mark in zip(brow, krow, mrow, strict=True)
        ]
        for brow, krow, mrow in zip(betas, kinds, marked, strict=True)
    ]
    rows = list(range(len(funds)))
    labels = [_text(f) for f in factors]
    limit = _color_limit(all_betas, list(params.columns))
    z_sig = [
        [_num(b) if s else None for b, s in zip(brow, srow, strict=True)]
        for brow, srow in zip(betas, significant, strict=True)
    ]
    z_ins = [[0 if k == INSIGNIFICANT_CLASS else None for k in krow] for krow in kinds]
    z_faint = [
        [(1 if b >= 0 else -1) if f else None for b, f in zip(brow, frow, strict=True)]
        for brow, frow in zip(betas, faint, strict=True)
    ]
    custom = [
        [
            [_text(fund), _num(t, 2), label or "n/a", str(kind)]
            for t, label, kind in zip(trow, textrow, krow, strict=True)
        ]
        for fund, trow, textrow, krow in zip(funds, tvals, text, kinds, strict=True)
    ]
    hover = (
        "<b>%{customdata[0]}</b> %{x}<br>beta %{customdata[2]}<br>t %{customdata[1]:.2f}"
        "<br>%{customdata[3]}<extra></extra>"
    )
    common = {
        "x": labels,
        "y": rows,
        "texttemplate": "%{text}",
        "customdata": custom,
        "hovertemplate": hover,
        "hoverongaps": False,
        "xgap": 2,
        "ygap": 2,
    }
    sig_trace = {
        "type": "heatmap",
        **common,
        "z": z_sig,
        "text": [
            [t if sig else "" for t, sig in zip(trow, srow, strict=True)]
            for trow, srow in zip(text, significant, strict=True)
        ],
        "colorscale": DIVERGING,
        "zmin": -limit,
        "zmid": 0,
        "zmax": limit,
        "textfont": {"color": "#111111", "size": 11},
        "colorbar": {
            "title": {"text": "Beta", "side": "top"},
            "orientation": "h",
            "thickness": 10,
            "len": 0.6,
            "x": 0.5,
            "xanchor": "center",
            "y": -0.02,
            "yanchor": "top",
        },
        "name": "significant",
    }
    ins_trace = {
        "type": "heatmap",
        **common,
        "z": z_ins,
        "text": [
            [t if k == INSIGNIFICANT_CLASS else "" for t, k in zip(trow, krow, strict=True)]
            for trow, krow in zip(text, kinds, strict=True)
        ],
        "colorscale": [[0, INSIGNIFICANT], [1, INSIGNIFICANT]],
        "zmin": 0,
        "zmax": 1,
        "showscale": False,
        "textfont": {"color": FAINT_TEXT, "size": 11},
        "name": "not significant",
    }
    faint_trace = {
        "type": "heatmap",
        **common,
        "z": z_faint,
        "text": [
            [t if f else "" for t, f in zip(trow, frow, strict=True)]
            for trow, frow in zip(text, faint, strict=True)
        ],
        "colorscale": [
            [0, FAINT_NEGATIVE],
            [0.5, FAINT_NEGATIVE],
            [0.5, FAINT_POSITIVE],
            [1, FAINT_POSITIVE],
        ],
        "zmin": -1,
        "zmax": 1,
        "showscale": False,
        "textfont": {"color": "#555555", "size": 11},
        "name": "faint",
    }
    shapes = []
    annotations = []
    position = 0
    for index, (category, members) in enumerate(groups):
        if index:
            shapes.append(
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "yref": "y",
                    "y0": position - 0.5,
                    "y1": position - 0.5,
                    "line": {"color": "#000000", "width": 2},
                }
            )
        annotations.append(
            {
                "xref": "paper",
                "x": 1.01,
                "xanchor": "left",
                "yref": "y",
                "y": position + (len(members) - 1) / 2,
                "text": f"<b>{_text(category)}</b>",
                "showarrow": False,
                "align": "left",
                "font": {"size": 11, "color": "#444444"},
            }
        )
        position += len(members)
    longest = max((len(str(c)) for c, _ in groups), default=8)
    layout = _base_layout(
        height=int(90 + 26 * max(len(funds), 1)),
        margin={"l": 60, "r": int(min(190, 20 + 6.8 * longest)), "t": 40, "b": 60},
        xaxis={"side": "top", "showgrid": False, "fixedrange": True, "linecolor": "#ffffff"},
        yaxis={
            "tickvals": rows,
            "ticktext": [_text(f) for f in funds],
            "autorange": "reversed",
            "showgrid": False,
            "zeroline": False,
            "fixedrange": True,
            "linecolor": "#ffffff",
        },
        shapes=shapes,
        annotations=annotations,
    )
    data = [ins_trace, faint_trace, sig_trace] if any(map(any, faint)) else [ins_trace, sig_trace]
    return {"data": data, "layout": layout}


def beta_heatmap(
    params: pd.DataFrame,
    tvalues: pd.DataFrame,
    groups: Sequence[tuple[str, Sequence[str]]],
    *,
    threshold: float = 2.0,
    classes: pd.DataFrame | None = None,
    marks: pd.DataFrame | None = None,
) -> Any:
    """Summary heatmap of all funds' betas, masked by significance (the seed's last chart).

    Without ``classes``, cells with |t| at or above ``threshold`` are coloured on the
    diverging scale and the others grey with faint text. With ``classes`` (see
    :func:`beta_classes`), material cells are coloured, faint ones pale red or pale blue,
    insignificant ones grey, and a term a fund's model lacks is blank. ``marks`` (see
    :func:`fdr_marks`) adds ``†`` to the cells whose q-value passes the FDR level. Rows
    follow ``groups`` (see :func:`category_groups`), with black lines between categories
    and the category names on the right.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    return _figure(
        _beta_heatmap_spec(
            params, tvalues, groups, threshold=threshold, classes=classes, marks=marks
        )
    )


def _correlation_spec(corr: pd.DataFrame, vif: pd.Series | None = None) -> dict[str, Any]:
    names = [str(c) for c in corr.columns]
    labels = [_text(n) for n in names]
    if vif is not None:
        ylabels = [
            f"{lab} · VIF {_fmt(vif.get(n), '.2f')}" for lab, n in zip(labels, names, strict=True)
        ]
    else:
        ylabels = labels
    values = corr.to_numpy(float)
    trace = {
        "type": "heatmap",
        "x": labels,
        "y": list(range(len(names))),
        "z": [_nums(row, 3) for row in values],
        "text": [[_fmt(v) for v in row] for row in values],
        "texttemplate": "%{text}",
        "textfont": {"size": 11},
        "colorscale": DIVERGING,
        "zmin": -1,
        "zmid": 0,
        "zmax": 1,
        "xgap": 2,
        "ygap": 2,
        "customdata": [[ylabels[i]] * len(names) for i in range(len(names))],
        "hovertemplate": "%{customdata[0]} vs %{x}<br>correlation %{z:.3f}<extra></extra>",
        "colorbar": {"title": {"text": "Correlation", "side": "right"}, "thickness": 10},
    }
    layout = _base_layout(
        height=int(140 + 38 * len(names)),
        margin={"l": 110, "r": 16, "t": 16, "b": 40},
        xaxis={"showgrid": False, "fixedrange": True, "linecolor": "#ffffff"},
        yaxis={
            "tickvals": list(range(len(names))),
            "ticktext": ylabels,
            "autorange": "reversed",
            "showgrid": False,
            "zeroline": False,
            "fixedrange": True,
            "linecolor": "#ffffff",
        },
    )
    return {"data": [trace], "layout": layout}


def correlation_heatmap(corr: pd.DataFrame, vif: pd.Series | None = None) -> Any:
    """Heatmap of the factor correlation matrix, with each factor's VIF in its label.

    Parameters
    ----------
    corr : DataFrame
        Factors x factors correlations (``engine.diagnostics.factor_correlations``).
    vif : Series, optional
        Variance inflation factor per factor (``engine.diagnostics.vif``).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    return _figure(_correlation_spec(corr, vif))


# ---------------------------------------------------------------------------- rolling


def _rgba(hex_color: str, alpha: float) -> str:
    value = hex_color.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _rolling_spec(
    plot_data: pd.DataFrame,
    terms: Sequence[str],
    *,
    window: int | None = None,
    y_range: tuple[float, float] | None = None,
    height: int = 320,
    frequency: str = "monthly",
) -> dict[str, Any]:
    from factorxray.report.periods import period_words

    data: list[dict[str, Any]] = []
    axis = _time_axis(plot_data.index, frequency)
    span = "" if window is None else f"{period_words(frequency).span(window)} "
    hover_date = _HOVER_DATES.get(frequency, "%d %b %Y")
    block, column = _plot_columns(plot_data)
    for position, term in enumerate(terms):
        if (term, "estimate") not in column:
            continue
        color = factor_color(term, position)
        label = _text(term)
        common = {"type": "scatter", **axis, "legendgroup": label}
        data.append(
            {
                **common,
                "y": _nums(block[:, column[(term, "upper")]]),
                "mode": "lines",
                "line": {"width": 0, "color": color},
                "hoverinfo": "skip",
                "showlegend": False,
                "name": f"{label} upper",
            }
        )
        data.append(
            {
                **common,
                "y": _nums(block[:, column[(term, "lower")]]),
                "mode": "lines",
                "line": {"width": 0, "color": color},
                "fill": "tonexty",
                "fillcolor": _rgba(color, 0.16),
                "hoverinfo": "skip",
                "showlegend": False,
                "name": f"{label} 95% band",
            }
        )
        data.append(
            {
                **common,
                "y": _nums(block[:, column[(term, "estimate")]]),
                "mode": "lines",
                "line": {"width": 2, "color": color},
                "name": label,
                "hovertemplate": f"{label} %{{y:.2f}}<extra>%{{x|{hover_date}}}</extra>",
            }
        )
    layout = _base_layout(
        height=height,
        margin={"l": 52, "r": 12, "t": 30, "b": 36},
        showlegend=True,
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "font": {"size": 11}},
        xaxis={"type": "date", "tickformat": "%Y"},
        yaxis={
            "title": {"text": f"{span}beta".strip().capitalize()},
            "zeroline": True,
            **({"range": [float(y_range[0]), float(y_range[1])]} if y_range else {}),
        },
        hovermode="x unified",
    )
    return {"data": data, "layout": layout}


def rolling_chart(
    plot_data: pd.DataFrame,
    terms: Sequence[str],
    *,
    window: int | None = None,
    y_range: tuple[float, float] | None = None,
    frequency: str = "monthly",
) -> Any:
    """Rolling-window betas of one fund with 95% bands.

    Parameters
    ----------
    plot_data : DataFrame
        ``RollingExposureResults.plot_data(fund)``: index period (window end), columns
        ``(term, estimate|lower|upper)``.
    terms : sequence of str
        Factors to draw (see :func:`rolling_terms`).
    window : int, optional
        Window length in periods, for the axis title ("36-month beta").
    y_range : tuple of float, optional
        Fixed y-range (e.g. :func:`rolling_range` of all funds) so the charts compare.
    frequency : {"monthly", "weekly", "daily"}
        The run's frequency (``analysis.meta["frequency"]``): the axis title's unit, where the
        points go and how hover dates read.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    return _figure(
        _rolling_spec(plot_data, terms, window=window, y_range=y_range, frequency=frequency)
    )


# ---------------------------------------------------------------------------- attribution


def _attribution_parts(row: pd.Series | Mapping[str, Any]) -> tuple[list[str], list[float]]:
    """Alpha and the factors of one fund's attribution (NaN: a term its model lacks)."""
    values = _mapping(row)
    parts = [c for c, v in values.items() if c not in ("fitted", "total") and _num(v) is not None]
    return parts, [float(values[c]) for c in parts]


def _attribution_waterfall_spec(
    row: pd.Series | Mapping[str, Any], *, height: int = 300
) -> dict[str, Any]:
    row = _mapping(row)
    parts, values = _attribution_parts(row)
    total = float(row.get("total", np.nansum(values)))
    labels = [_text(p) for p in parts] + ["Total"]
    pct = [v * 100 for v in values]
    trace = {
        "type": "waterfall",
        "x": labels,
        "y": [*_nums(pct), _num(total * 100)],
        "measure": ["relative"] * len(parts) + ["total"],
        "text": [signed_percent(v, 1) for v in pct] + [f"{total * 100:.1f}%"],
        "customdata": [signed_percent(v, 2) for v in pct] + [f"{total * 100:.2f}%"],
        "textposition": "outside",
        "constraintext": "none",
        "textfont": {"size": 10},
        "cliponaxis": False,
        "increasing": {"marker": {"color": POSITIVE}},
        "decreasing": {"marker": {"color": NEGATIVE}},
        "totals": {"marker": {"color": TOTAL}},
        "connector": {"line": {"color": "#b0b0b0", "width": 1}},
        "hovertemplate": "%{x}: %{customdata} a year<extra></extra>",
    }
    layout = _base_layout(
        height=height,
        margin={"l": 52, "r": 12, "t": 20, "b": 40},
        xaxis={"fixedrange": True, "tickfont": {"size": 10}},
        yaxis={"title": {"text": "% a year"}, "zeroline": True, "ticksuffix": "%"},
    )
    # On a phone: the same waterfall lying down, one row per part, so that neither the
    # names nor the values share a line with a neighbour.
    values_pct = [*_nums(pct), _num(total * 100)]
    finite = [v for v in values_pct if v is not None]
    running = np.cumsum([0.0, *[v or 0.0 for v in values_pct[:-1]]])
    low = min([0.0, *finite, *running.tolist()])
    high = max([0.0, *finite, *running.tolist()])
    span = max(high - low, 1.0)
    narrow_trace = {
        **trace,
        "orientation": "h",
        "x": values_pct,
        "y": labels,
        "textfont": {"size": 9},
    }
    narrow_layout = _base_layout(
        height=int(60 + 26 * len(labels)),
        margin={"l": 56, "r": 10, "t": 10, "b": 36},
        yaxis={"fixedrange": True, "autorange": "reversed", "tickfont": {"size": 10}},
        xaxis={
            "title": {"text": "% a year", "standoff": 4},
            "zeroline": True,
            "ticksuffix": "%",
            "fixedrange": True,
            "nticks": 5,
            # room for the value labels outside the bars on both sides
            "range": [round(low - 0.3 * span, 2), round(high + 0.3 * span, 2)],
        },
    )
    return {
        "data": [trace],
        "layout": layout,
        "narrow": {"data": [narrow_trace], "layout": narrow_layout},
    }


def attribution_waterfall(row: pd.Series) -> Any:
    """Waterfall of one fund's annualized mean excess return: alpha, then each factor.

    Parameters
    ----------
    row : Series
        One row of ``Analysis.attribution`` (decimals a year; ``alpha``, factors...,
        ``fitted``, ``total``). Shown in percent.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    return _figure(_attribution_waterfall_spec(row))


def _attribution_bars_spec(attribution: pd.DataFrame, funds: Sequence[str]) -> dict[str, Any]:
    frame = attribution.loc[list(funds)]
    parts = [c for c in frame.columns if c not in ("fitted", "total")]
    rows = [_text(f) for f in funds]
    data: list[dict[str, Any]] = []
    for position, part in enumerate(parts):
        color = ALPHA_COLOR if part == "alpha" else factor_color(part, position)
        label = _text(part)
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "y": rows,
                "x": _nums(frame[part] * 100),
                "name": label,
                "marker": {"color": color, "opacity": 0.9},
                "hovertemplate": f"%{{y}} {label}: %{{x:.2f}}% a year<extra></extra>",
            }
        )
    data.append(
        {
            "type": "scatter",
            "mode": "markers",
            "y": rows,
            "x": _nums(frame["total"] * 100) if "total" in frame else [],
            "name": "Mean excess return",
            "marker": {
                "symbol": "diamond",
                "size": 9,
                "color": "#ffffff",
                "line": {"width": 2, "color": "#000000"},
            },
            "hovertemplate": "%{y} mean excess %{x:.2f}% a year<extra></extra>",
        }
    )
    layout = _base_layout(
        height=int(110 + 22 * max(len(rows), 1)),
        margin={"l": 60, "r": 16, "t": 40, "b": 40},
        barmode="relative",
        showlegend=True,
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "font": {"size": 11}},
        xaxis={"title": {"text": "% a year"}, "ticksuffix": "%", "zeroline": True},
        yaxis={"autorange": "reversed", "fixedrange": True, "type": "category"},
    )
    return {"data": data, "layout": layout}


def attribution_bars(attribution: pd.DataFrame, funds: Sequence[str] | None = None) -> Any:
    """All funds' return attribution as stacked horizontal bars, the total as a diamond.

    Parameters
    ----------
    attribution : DataFrame
        ``Analysis.attribution`` (decimals a year).
    funds : sequence of str, optional
        Row order (default: the frame's).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    return _figure(_attribution_bars_spec(attribution, list(funds or attribution.index)))


# ---------------------------------------------------------------------------- portfolio

#: Colours of the portfolio charts: the regressed exposures, the implied ones, the
#: idiosyncratic share of variance and the out-of-sample check of a blend.
REGRESSED_COLOR = POSITIVE
IMPLIED_COLOR = "#9ecae1"
IDIOSYNCRATIC_COLOR = "#bdbdbd"
OUT_OF_SAMPLE_COLOR = "#fdae6b"
TARGET_COLOR = "#000000"
#: Standard errors either side of a regressed beta in the portfolio charts.
SE_WIDTH = 2.0


def _exposures_compare_spec(frame: pd.DataFrame, *, height: int = 320) -> dict[str, Any]:
    """Regressed (with +-2 se) beside implied exposures of a portfolio, one group per factor.

    ``frame`` is :meth:`PortfolioAnalysis.exposures_frame` (index term; ``regressed``, ``se``,
    ``t``, ``p``, ``implied``, ``gap``); alpha is left out (another unit).
    """
    rows = frame.drop(index="alpha", errors="ignore")
    labels = [_text(f) for f in rows.index]
    se = rows["se"].astype(float)
    regressed = {
        "type": "bar",
        "name": "Regressed (± 2 se)",
        "x": labels,
        "y": _nums(rows["regressed"]),
        "error_y": {
            "type": "data",
            "array": _nums(SE_WIDTH * se),
            "visible": True,
            "color": TEXT_COLOR,
            "thickness": 1.2,
            "width": 4,
        },
        "marker": {"color": REGRESSED_COLOR},
        "customdata": [
            [_num(s), _num(t, 2), _num(g)]
            for s, t, g in zip(se, rows["t"], rows["gap"], strict=True)
        ],
        "hovertemplate": (
            "<b>%{x}</b> regressed %{y:.3f}<br>se %{customdata[0]:.3f}, t %{customdata[1]:.2f}"
            "<br>gap to implied %{customdata[2]:.4f}<extra></extra>"
        ),
    }
    implied = {
        "type": "bar",
        "name": "Implied by the holdings",
        "x": labels,
        "y": _nums(rows["implied"]),
        "marker": {"color": IMPLIED_COLOR},
        "hovertemplate": "<b>%{x}</b> implied %{y:.3f}<extra></extra>",
    }
    layout = _base_layout(
        height=height,
        margin={"l": 52, "r": 12, "t": 40, "b": 40},
        barmode="group",
        bargap=0.3,
        showlegend=True,
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "font": {"size": 11}},
        xaxis={"fixedrange": True, "type": "category"},
        yaxis={"title": {"text": "Beta"}, "zeroline": True},
    )
    return {"data": [regressed, implied], "layout": layout}


def _contributions_spec(contributions: pd.DataFrame, *, height: int = 320) -> dict[str, Any]:
    """Each fund's weight x beta per factor, stacked (negative parts below zero).

    ``contributions`` is funds x factors (weight x beta); the stacks add up to the implied
    exposures.
    """
    factors = [c for c in contributions.columns if c != "alpha"]
    labels = [_text(f) for f in factors]
    data = []
    for position, (fund, row) in enumerate(contributions[factors].iterrows()):
        name = _text(fund)
        data.append(
            {
                "type": "bar",
                "name": name,
                "x": labels,
                "y": _nums(row),
                "marker": {"color": _EXTRA_COLORS[position % len(_EXTRA_COLORS)]},
                "hovertemplate": f"{name} · %{{x}}: weight × beta %{{y:.3f}}<extra></extra>",
            }
        )
    layout = _base_layout(
        height=height,
        margin={"l": 52, "r": 12, "t": 40, "b": 40},
        barmode="relative",
        bargap=0.35,
        showlegend=True,
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "font": {"size": 11}},
        xaxis={"fixedrange": True, "type": "category"},
        yaxis={"title": {"text": "Weight × beta"}, "zeroline": True},
    )
    return {"data": data, "layout": layout}


def _risk_shares_spec(risk: pd.DataFrame, funds: Sequence[str]) -> dict[str, Any]:
    """Variance shares per fund and portfolio as stacked horizontal bars, the volatility
    written at the right of each bar.

    ``risk`` is :meth:`PortfolioAnalysis.risk_frame` (long: ``fund``, ``component``,
    ``variance``, ``share``, ``volatility``). A negative share (a factor that hedges
    another) is drawn left of zero (``barmode="relative"``).
    """
    wide = risk.pivot_table(index="fund", columns="component", values="share", sort=False)
    wide = wide.reindex(list(funds))
    components = [c for c in wide.columns if c != "idiosyncratic"]
    if "idiosyncratic" in wide.columns:
        components.append("idiosyncratic")
    vol = risk.groupby("fund", sort=False)["volatility"].first().reindex(list(funds))
    rows = [_text(f) for f in funds]
    data: list[dict[str, Any]] = []
    for position, component in enumerate(components):
        color = (
            IDIOSYNCRATIC_COLOR
            if component == "idiosyncratic"
            else factor_color(component, position)
        )
        label = _text(component)
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": label,
                "y": rows,
                "x": _nums(wide[component] * 100, 2),
                "marker": {"color": color},
                "hovertemplate": f"%{{y}} · {label}: %{{x:.1f}}% of the variance<extra></extra>",
            }
        )
    high = float(np.nanmax(wide.clip(lower=0).sum(axis=1))) * 100 if len(wide) else 100.0
    low = float(np.nanmin(wide.clip(upper=0).sum(axis=1))) * 100 if len(wide) else 0.0
    annotations = [
        {
            "x": high,
            "y": row,
            "xref": "x",
            "yref": "y",
            "xanchor": "left",
            "text": f"vol {_fmt(v * 100, '.1f')}%",
            "showarrow": False,
            "xshift": 6,
            "font": {"size": 10, "color": TEXT_COLOR},
        }
        for row, v in zip(rows, vol, strict=True)
    ]
    layout = _base_layout(
        height=int(120 + 26 * max(len(rows), 1)),
        margin={"l": 60, "r": 80, "t": 40, "b": 40},
        barmode="relative",
        showlegend=True,
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "font": {"size": 11}},
        xaxis={
            "title": {"text": "% of the variance of the excess return"},
            "ticksuffix": "%",
            "zeroline": True,
            "range": [min(low, 0.0) - 2, high + 2],
            "fixedrange": True,
        },
        yaxis={"autorange": "reversed", "fixedrange": True, "type": "category"},
        annotations=annotations,
    )
    return {"data": data, "layout": layout}


def _blend_target_spec(frame: pd.DataFrame, target: Sequence[Any]) -> dict[str, Any]:
    """A blend's achieved betas (with +-2 se) beside the out-of-sample ones, the target's
    bounds as black marks.

    ``frame`` is :meth:`Blend.to_frame` (index factor; ``achieved``, ``se``,
    ``out_of_sample``...); ``target`` the constraints (``factor``, ``op``, ``value``).
    """
    labels = [_text(f) for f in frame.index]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": "Achieved (± 2 se)",
            "x": labels,
            "y": _nums(frame["achieved"]),
            "error_y": {
                "type": "data",
                "array": _nums(SE_WIDTH * frame["se"].astype(float)),
                "visible": True,
                "color": TEXT_COLOR,
                "thickness": 1.2,
                "width": 4,
            },
            "marker": {"color": REGRESSED_COLOR},
            "hovertemplate": "<b>%{x}</b> achieved %{y:.3f}<extra></extra>",
        }
    ]
    if frame["out_of_sample"].notna().any():
        data.append(
            {
                "type": "bar",
                "name": "Out of sample",
                "x": labels,
                "y": _nums(frame["out_of_sample"]),
                "marker": {"color": OUT_OF_SAMPLE_COLOR},
                "hovertemplate": "<b>%{x}</b> out of sample %{y:.3f}<extra></extra>",
            }
        )
    marks = [c for c in target if str(c.factor) in set(frame.index)]
    if marks:
        symbols = {">=": "triangle-up", "<=": "triangle-down"}
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Target",
                "x": [_text(c.factor) for c in marks],
                "y": _nums([c.value for c in marks]),
                "marker": {
                    "symbol": [symbols.get(str(c.op), "line-ew-open") for c in marks],
                    "size": 12,
                    "color": TARGET_COLOR,
                    "line": {"width": 2, "color": TARGET_COLOR},
                },
                "customdata": [_text(c) for c in marks],
                "hovertemplate": "target %{customdata}<extra></extra>",
            }
        )
    layout = _base_layout(
        height=320,
        margin={"l": 52, "r": 12, "t": 40, "b": 40},
        barmode="group",
        bargap=0.3,
        showlegend=True,
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "font": {"size": 11}},
        xaxis={"fixedrange": True, "type": "category"},
        yaxis={"title": {"text": "Beta"}, "zeroline": True},
    )
    return {"data": data, "layout": layout}
