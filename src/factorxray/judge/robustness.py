"""How far a verdict can be trusted: other models, other periods, many tests, other regions.

Pure functions over results (no I/O, no regressions): the analysis runs the regressions and
hands them over.

- :func:`bh_qvalues`: Benjamini-Hochberg q-values over a funds x factors table of p-values.
- :func:`model_ladder`: each fund's verdict and labelled betas under every model of a ladder
  (``capm, ff3, carhart, ff5, ff6, xray7``), and the tilts whose verdict depends on the model.
- :func:`window_share`: per labelled tilt, the share of rolling windows in which it delivered
  and the beta of the last window.
- :func:`better_region`: the documented region-fit rule.
- :func:`annotate`: puts all of it on the verdicts (per-tilt ``robustness`` and the notes
  that end the sentence).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from factorxray.judge.defaults import DEFAULT_MODEL_LADDER
from factorxray.judge.sentences import is_market, join, tilt_word
from factorxray.judge.verdicts import Rules, TiltCheck, Verdict

__all__ = [
    "DEFAULT_MODEL_LADDER",
    "REGION_FIT_MARGIN",
    "annotate",
    "better_region",
    "bh_qvalues",
    "model_ladder",
    "window_share",
]

#: Another region's factors "fit materially better" when its R² is higher by this much.
REGION_FIT_MARGIN = 0.05
#: Drift is reported when the sup-Wald p-value is below this.
DRIFT_LEVEL = 0.05


# --------------------------------------------------------------------------- multiple tests


def bh_qvalues(pvalues: pd.DataFrame, *, exclude: Sequence[str] = ("alpha",)) -> pd.DataFrame:
    """Benjamini-Hochberg q-values over every cell of a funds x factors p-value table.

    The family is the whole table (every fund and every factor but ``exclude``): a user who
    scans 20 funds x 7 factors runs 140 tests, and about 7 of them pass p < 0.05 by chance.
    NaN p-values are left out of the family and stay NaN.

    Parameters
    ----------
    pvalues : DataFrame
        Funds x terms (e.g. ``ExposureResults.pvalues``).
    exclude : sequence of str
        Columns left out (alpha by default).

    Returns
    -------
    DataFrame
        Same index, the kept columns; q-values in [0, 1].

    Examples
    --------
    >>> p = pd.DataFrame({"alpha": [0.5, 0.5], "HML": [0.01, 0.04], "SMB": [0.03, 0.5]})
    >>> bh_qvalues(p).round(3).to_dict("list")
    {'HML': [0.04, 0.053], 'SMB': [0.053, 0.5]}
    """
    left_out = set(exclude)
    kept = [j for j, c in enumerate(pvalues.columns) if c not in left_out]
    table = pvalues.take(kept, axis=1)  # by position: a list of labels costs pandas ~0.5 ms
    values = table.to_numpy(dtype=float)
    finite = np.isfinite(values)
    q = np.full(values.shape, np.nan)
    if finite.any():
        q[finite] = _bh(np.clip(values[finite], 0.0, 1.0))
    return pd.DataFrame(q, index=table.index, columns=table.columns)


def _bh(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values of a flat array (step-up, as statsmodels' fdr_bh).

    q_(i) = min over j >= i of p_(j) m / j, capped at 1, for the sorted p_(1) <= ... <= p_(m).
    A few lines of numpy: ``scipy.stats.false_discovery_control`` does the same but its import
    costs a second of start-up on a busy laptop.
    """
    m = pvalues.size
    order = np.argsort(pvalues, kind="mergesort")
    scaled = pvalues[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(adjusted, 1.0)
    return q


# ----------------------------------------------------------------------------- model ladder


def model_ladder(
    verdicts_by_model: Mapping[str, Mapping[str, Verdict]],
    unavailable: Mapping[str, Mapping[str, str]] | None = None,
    model_factors: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each fund's verdict under every model, and how each labelled tilt fares across them.

    Parameters
    ----------
    verdicts_by_model : mapping model -> (fund -> Verdict)
        The verdicts of each model of the ladder (in ladder order).
    unavailable : mapping model -> (fund -> reason), optional
        Funds a model could not be run for (e.g. ``xray7`` outside the US: no VOL there).
    model_factors : mapping model -> factor names, optional
        Lets the wording name what a model adds (``weak under xray7, which adds VOL``).

    Returns
    -------
    dict
        fund -> ``{"verdict_by_model": {model: status or None}, "reason_by_model":
        {model: reason}, "tilts": {tilt: {"by_model": {model: status}, "beta_by_model":
        {model: beta}, "delivers_in": n, "tested_in": m, "depends_on_model": bool,
        "text": str}}}``. A model that lacks a tilt's factor says ``"not tested"`` for it.
        A tilt *depends on the model* when it delivers under some models that test it and
        not under others.
    """
    unavailable = unavailable or {}
    models = list(verdicts_by_model)
    funds: list[str] = []
    for by_fund in verdicts_by_model.values():
        funds.extend(f for f in by_fund if f not in funds)
    ladder: dict[str, dict[str, Any]] = {}
    for fund in funds:
        by_model: dict[str, str | None] = {}
        reasons: dict[str, str] = {}
        tilts: dict[str, dict[str, Any]] = {}
        for model in models:
            verdict = verdicts_by_model[model].get(fund)
            if verdict is None:
                by_model[model] = None
                reasons[model] = unavailable.get(model, {}).get(fund, "not run")
                continue
            by_model[model] = verdict.status
            for check in verdict.checks:
                entry = tilts.setdefault(
                    str(check.tilt), {"tilt": check.tilt, "by_model": {}, "beta_by_model": {}}
                )
                entry["by_model"][model] = check.status
                entry["beta_by_model"][model] = check.beta
        for entry in tilts.values():
            _summarise_tilt(entry, model_factors or {})
        ladder[fund] = {"verdict_by_model": by_model, "reason_by_model": reasons, "tilts": tilts}
    return ladder


def _summarise_tilt(entry: dict[str, Any], model_factors: Mapping[str, Sequence[str]]) -> None:
    statuses = {
        m: s for m, s in entry["by_model"].items() if s not in ("not tested", "not estimated")
    }
    delivered = [m for m, s in statuses.items() if s == "delivers"]
    entry["tested_in"] = len(statuses)
    entry["delivers_in"] = len(delivered)
    entry["depends_on_model"] = 0 < len(delivered) < len(statuses)
    tilt = entry.pop("tilt")
    if not entry["depends_on_model"]:
        entry["text"] = ""
        return
    others = [
        f"{s} under {m}{_what_it_adds(m, delivered, model_factors)}"
        for m, s in statuses.items()
        if s != "delivers"
    ]
    factor = tilt.factor if not tilt.is_multi else "the multi-factor label"
    entry["text"] = (
        f"{factor} delivers in {len(delivered)} of {len(statuses)} models that test it "
        f"({join(others)})"
    )


def _what_it_adds(
    model: str, delivering: Sequence[str], model_factors: Mapping[str, Sequence[str]]
) -> str:
    """``, which adds VOL``: the factors a model has beyond the largest delivering model it nests."""
    own = set(model_factors.get(model, ()))
    nested = [m for m in delivering if own and set(model_factors.get(m, ())) < own]
    if not nested:
        return ""
    largest = max(nested, key=lambda m: len(model_factors[m]))
    extra = [f for f in model_factors[model] if f not in set(model_factors[largest])]
    return f", which adds {join(extra)}"


# ------------------------------------------------------------------------------- over time


def window_share(
    rolling: Any,
    verdicts: Mapping[str, Verdict],
    rules: Rules,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per fund and labelled tilt: in how many rolling windows it delivered, and the last beta.

    A window delivers by the same rule as the full sample (significant and material, on the
    promised side; no FDR inside windows).

    Parameters
    ----------
    rolling : RollingExposureResults
        Rolling regressions of the same model (``params`` and ``bse`` indexed by
        ``(fund, period)``).
    verdicts : mapping fund -> Verdict
        The full-sample verdicts (their checks name the tilts).
    rules : Rules
        Significance and size rules.

    Returns
    -------
    dict
        fund -> tilt text -> ``{"windows": n, "share_of_windows": float, "last_window_beta":
        float, "last_window_end": "YYYY-MM"}``; funds without windows are left out.
    """
    if rolling is None:
        return {}
    params, bse = rolling.params, rolling.bse
    columns = list(params.columns)
    beta_all, se_all = params.to_numpy(dtype=float), bse.to_numpy(dtype=float)
    rows_by_fund, period_of_row = _rows_by_fund(params.index)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for fund, verdict in verdicts.items():
        rows = rows_by_fund.get(fund)
        if rows is None or not verdict.checks:
            continue
        beta, se = beta_all[rows], se_all[rows]
        entries = {}
        for check in verdict.checks:
            flags, path = _window_delivers(check, columns, beta, se, rules)
            if flags is None:
                continue
            entries[str(check.tilt)] = {
                "windows": int(flags.size),
                "share_of_windows": float(flags.mean()) if flags.size else math.nan,
                "last_window_beta": float(path[-1]),
                "last_window_end": period_of_row(rows[-1]),
            }
        out[fund] = entries
    return out


_SIDES = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}


def _rows_by_fund(index: pd.MultiIndex) -> tuple[dict[str, np.ndarray], Any]:
    """Row positions of each fund's windows (in window order), and the period of a row as
    text; from the index's codes (its level values and a factorize cost ~0.6 ms)."""
    fund_codes, period_codes = index.codes[0], index.codes[1]
    funds, periods = index.levels[0], index.levels[1]
    order = np.argsort(fund_codes, kind="stable")
    counts = np.bincount(fund_codes, minlength=len(funds))
    bounds = np.cumsum(counts)[:-1]
    rows = {
        str(fund): positions
        for fund, positions, count in zip(funds, np.split(order, bounds), counts, strict=True)
        if count
    }

    def period_of_row(row: int) -> str:
        return str(periods[period_codes[row]])

    return rows, period_of_row


def _window_delivers(
    check: TiltCheck, columns: list[str], beta: np.ndarray, se: np.ndarray, rules: Rules
) -> tuple[np.ndarray | None, np.ndarray]:
    """Per window: did the tilt deliver? And the path shown as "last window" (beta or count)."""
    tilt = check.tilt
    with np.errstate(divide="ignore", invalid="ignore"):
        t = beta / se
    if tilt.is_multi:
        style = [j for j, f in enumerate(columns) if f != "alpha" and not is_market(f)]
        if len(style) < int(tilt.threshold):
            return None, np.empty(0)
        b = beta[:, style]
        premia = (b > 0) & (np.abs(t[:, style]) >= rules.t_threshold)
        premia &= b >= rules.min_beta - 1e-12
        counts = premia.sum(axis=1)
        return counts >= int(tilt.threshold), counts.astype(float)
    if tilt.factor not in columns:
        return None, np.empty(0)
    j = columns.index(tilt.factor)
    distance = beta[:, j] - tilt.threshold
    on_side = _SIDES[tilt.op](beta[:, j], tilt.threshold)
    with np.errstate(divide="ignore", invalid="ignore"):
        significant = np.abs(distance / se[:, j]) >= rules.t_threshold
    material = np.abs(distance) >= rules.min_beta - 1e-12
    return on_side & significant & material, beta[:, j]


# --------------------------------------------------------------------------------- regions


def better_region(
    region_fit: Mapping[str, float], used: str, *, margin: float = REGION_FIT_MARGIN
) -> str | None:
    """The region whose factors fit a fund materially better than the one used, if any.

    Rule: the best R² among the regions at hand beats the used region's R² by at least
    ``margin`` (0.05). ``None`` when the used region is best, within the margin, or unknown.

    Examples
    --------
    >>> better_region({"us": 0.78, "developed_ex_us": 0.94, "europe": 0.85}, "us")
    'developed_ex_us'
    >>> better_region({"us": 0.97, "north_america": 0.98}, "us") is None
    True
    """
    own = region_fit.get(used)
    finite = {r: v for r, v in region_fit.items() if v is not None and math.isfinite(v)}
    if own is None or not math.isfinite(own) or not finite:
        return None
    best = max(finite, key=lambda r: finite[r])
    return best if best != used and finite[best] - own >= margin - 1e-12 else None


# ------------------------------------------------------------------------------- annotating


def annotate(
    verdicts: Mapping[str, Verdict],
    *,
    ladder: Mapping[str, Mapping[str, Any]] | None = None,
    windows: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    drift: Mapping[str, Mapping[str, Any]] | None = None,
    window: int = 36,
    extra_notes: Mapping[str, Sequence[str]] | None = None,
    unit: str = "month",
) -> dict[str, Verdict]:
    """The verdicts with their robustness: per-tilt facts and the notes ending the sentence.

    Parameters
    ----------
    verdicts : mapping fund -> Verdict
        Full-sample verdicts of the main model.
    ladder : mapping, optional
        From :func:`model_ladder`.
    windows : mapping, optional
        From :func:`window_share`.
    drift : mapping fund -> dict, optional
        Per fund: ``stat``, ``p_value``, ``break_period``, and per factor the betas before
        and after the break (``{"p_value": 0.01, "break_period": "2016-03", "betas":
        {"HML": (0.35, 0.10)}}``).
    window : int
        Rolling window length, for the wording.
    extra_notes : mapping fund -> list of str, optional
        Other notes (region fallback, better region), put first.
    unit : str
        The period of the data (``month``, ``week``, ``day``), for the wording.

    Returns
    -------
    dict of str to Verdict
        New verdicts (the input is not changed); ``notes`` holds the added sentences.
    """
    out = {}
    for fund, verdict in verdicts.items():
        fund_ladder = (ladder or {}).get(fund, {})
        fund_windows = (windows or {}).get(fund, {})
        fund_drift = (drift or {}).get(fund)
        checks = tuple(
            dataclasses.replace(
                check,
                robustness=_tilt_facts(
                    check, fund_ladder, fund_windows.get(str(check.tilt)), fund_drift
                ),
            )
            for check in verdict.checks
        )
        notes = [_sentence_case(n) for n in (extra_notes or {}).get(fund, ())]
        notes += [
            n for n in (_model_note(checks, fund_ladder), _time_note(checks, window, unit)) if n
        ]
        sentence = " ".join([verdict.sentence, *notes])
        out[fund] = dataclasses.replace(
            verdict, checks=checks, notes=tuple(notes), sentence=sentence
        )
    return out


def _model_note(checks: Sequence[TiltCheck], fund_ladder: Mapping[str, Any]) -> str:
    texts = [c.robustness.get("model_note") for c in checks if c.robustness.get("model_note")]
    if texts:
        return "Across models: " + "; ".join(texts) + "."
    if checks or not fund_ladder:
        return ""
    statuses = {m: s for m, s in fund_ladder["verdict_by_model"].items() if s and s != "not tested"}
    if len(set(statuses.values())) <= 1:
        return ""
    return "Across models: " + ", ".join(f"{s} under {m}" for m, s in statuses.items()) + "."


def _time_note(checks: Sequence[TiltCheck], window: int, unit: str = "month") -> str:
    shares = [
        f"{_tilt_name(c)} in {c.robustness['share_of_windows']:.0%}"
        for c in checks
        if c.status not in ("not tested", "not estimated")
        and math.isfinite(c.robustness.get("share_of_windows", math.nan))
    ]
    parts = [f"delivered {join(shares)} of {window}-{unit} windows"] if shares else []
    drifted = [
        c for c in checks if math.isfinite(c.robustness.get("drift_p", math.nan) or math.nan)
    ]
    if drifted:
        p = drifted[0].robustness["drift_p"]
        if p < DRIFT_LEVEL:
            moves = join(
                [
                    f"{c.tilt.factor} {c.robustness['beta_before_break']:.2f} to "
                    f"{c.robustness['beta_after_break']:.2f}"
                    for c in drifted
                ]
            )
            parts.append(
                f"style drift (sup-Wald p {_p_text(p)}): {moves} after "
                f"{drifted[0].robustness['drift_break']}"
            )
        else:
            parts.append(f"no style drift (sup-Wald p {_p_text(p)})")
    return "Over time: " + "; ".join(parts) + "." if parts else ""


def _tilt_name(check: TiltCheck) -> str:
    return "the multi-factor label" if check.tilt.is_multi else tilt_word(check.tilt)


def _tilt_facts(
    check: TiltCheck,
    fund_ladder: Mapping[str, Any],
    window_facts: Mapping[str, Any] | None,
    fund_drift: Mapping[str, Any] | None,
) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    tilt_ladder = fund_ladder.get("tilts", {}).get(str(check.tilt)) if fund_ladder else None
    if tilt_ladder:
        facts["by_model"] = dict(tilt_ladder["by_model"])
        facts["beta_by_model"] = dict(tilt_ladder["beta_by_model"])
        facts["delivers_in_models"] = tilt_ladder["delivers_in"]
        facts["tested_in_models"] = tilt_ladder["tested_in"]
        facts["depends_on_model"] = tilt_ladder["depends_on_model"]
        facts["model_note"] = tilt_ladder["text"]
    if window_facts:
        facts.update(window_facts)
    if fund_drift and not check.tilt.is_multi:
        betas = fund_drift.get("betas", {}).get(check.tilt.factor)
        if betas is not None:
            facts["drift_p"] = fund_drift.get("p_value")
            facts["drift_stat"] = fund_drift.get("stat")
            facts["drift_break"] = fund_drift.get("break_period")
            facts["beta_before_break"], facts["beta_after_break"] = betas
    return facts


def _p_text(p: float) -> str:
    """``0.41``, ``0.004``, or ``< 0.001`` at the floor of the sup-Wald table (p is clamped there)."""
    from factorxray.engine.breaks import P_VALUE_FLOOR

    if p <= P_VALUE_FLOOR:
        return f"< {P_VALUE_FLOOR:g}"
    return f"{p:.2f}" if p >= 0.01 else f"{p:.3f}"


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text
