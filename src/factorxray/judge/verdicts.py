"""Does each fund deliver what its label promises? Verdicts from regression results.

For every fund :func:`judge` tests each expected :class:`~factorxray.universe.Tilt` against
the fund's estimated beta, lists the material exposures nobody asked for, gives an overall
status and writes one plain-English sentence from the numbers (see
:mod:`factorxray.judge.sentences`).

A verdict rests on **size as well as significance**. With ``t = (beta - threshold) / se``:

- *significant*: ``|t| >= t_threshold`` (2 by default, as in the seed article); with an FDR
  level (``fdr=0.05``) a beta tested against 0 must also have a Benjamini-Hochberg q-value
  at or below it;
- *material*: ``|beta - threshold| >= min_beta`` (0.10 by default): a long-only fund's
  loadings are diluted by its market exposure, so a beta of 0.02 with t = 3 is real but says
  nothing about a label (docs/universe.md works the SPY and GSLC cases through).

Check statuses (one per expected tilt):

``delivers``
    beta on the promised side of the threshold, significant and material.
``faint``
    on the promised side and significant, but not material: real, too small to act on.
``weak``
    on the promised side, not significant.
``absent``
    on the wrong side, and not both significant and material: no evidence of the tilt.
``contradicts``
    on the wrong side, significant and material: the fund tilts the other way.
``not tested``
    the model has no such factor (e.g. ``VOL`` in FF5), or, for ``multi>=N``, fewer than N
    non-market factors: the tilt cannot be tested there.
``not estimated``
    the beta or its standard error is missing or not finite.

The multi-factor rule ``multi>=N`` counts the fund's factor *premia*: positive betas that are
significant and material on non-market factors (every factor here is built so that positive is
the premium side: small, value, profitable, conservative, winners, low volatility).
``delivers`` when the count reaches N, ``weak`` when it is between 1 and N-1, ``faint`` when
it is 0 but some positive loadings are significant (all too small), ``absent`` otherwise. Negative loadings do not count: large-cap or growth leanings are not factor premia;
when material they are reported as unintended. Faint loadings never count, and are never
called unintended tilts: they are listed apart as faint.

Overall statuses (one per fund):

``delivers``
    every testable tilt delivers.
``partly delivers``
    some testable tilts deliver, none contradicts.
``faint``
    none delivers, at least one is faint, none contradicts.
``weak``
    no tilt delivers or is faint, none contradicts.
``contradicts``
    at least one tilt significantly and materially goes the other way.
``not tested``
    no expected tilt could be tested with this model.
``neutral`` / ``tilted``
    the label promises no tilt (e.g. a core fund): no / some material and significant
    non-market beta.
``no label``
    nothing to test: unlabelled, or a category with no known tilts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from factorxray.errors import UsageError
from factorxray.judge import sentences
from factorxray.judge.defaults import DEFAULT_MIN_BETA, DEFAULT_T_THRESHOLD
from factorxray.judge.sentences import is_market, pivot, side_word
from factorxray.universe import UNLABELLED, Fund, Tilt, Universe, canonical_category

__all__ = [
    "CHECK_STATUSES",
    "DEFAULT_MIN_BETA",
    "DEFAULT_T_THRESHOLD",
    "VERDICT_STATUSES",
    "Rules",
    "TiltCheck",
    "Verdict",
    "judge",
    "side_word",
    "verdict_table",
]

CHECK_STATUSES = (
    "delivers",
    "faint",
    "weak",
    "absent",
    "contradicts",
    "not tested",
    "not estimated",
)
VERDICT_STATUSES = (
    "delivers",
    "partly delivers",
    "faint",
    "weak",
    "contradicts",
    "not tested",
    "neutral",
    "tilted",
    "no label",
)
_UNTESTED = ("not tested", "not estimated")
#: Leans a label implies without promising them: a large-cap core fund (SPY) sits below the
#: whole market's average size, so a material SMB<0 is what its label says, not a surprise.
LABEL_LEANS: dict[str, dict[str, int]] = {"large/core": {"SMB": -1}}


class _Results(Protocol):
    """What :func:`judge` needs of a results object (e.g. ``ExposureResults``)."""

    @property
    def params(self) -> pd.DataFrame: ...

    @property
    def bse(self) -> pd.DataFrame: ...


@dataclass(frozen=True)
class Rules:
    """What counts as a delivered tilt: one definition for verdicts, stars and dimming.

    Parameters
    ----------
    t_threshold : float
        |t| at or above which a beta is significant (default 2).
    min_beta : float
        ``|beta - threshold|`` at or above which a beta is material (default 0.10; 0 turns
        the size rule off).
    fdr : float or None
        When set (e.g. 0.05), a beta tested against 0 is significant only if its
        Benjamini-Hochberg q-value is at most ``fdr`` too.

    Raises
    ------
    UsageError
        When a value is out of range.

    Examples
    --------
    >>> Rules().significant(2.5), Rules().material(0.05), Rules(min_beta=0).material(0.05)
    (True, False, True)
    """

    t_threshold: float = DEFAULT_T_THRESHOLD
    min_beta: float = DEFAULT_MIN_BETA
    fdr: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "t_threshold", _positive(self.t_threshold))
        object.__setattr__(self, "min_beta", _min_beta(self.min_beta))
        if self.fdr is not None:
            object.__setattr__(self, "fdr", _fdr(self.fdr))

    def significant(self, t: float, q: float | None = None) -> bool:
        """``|t| >= t_threshold`` (and ``q <= fdr`` when an FDR level is set and q is given)."""
        if not abs(t) >= self.t_threshold:  # also False for NaN
            return False
        if self.fdr is not None and q is not None and math.isfinite(q):
            return q <= self.fdr
        return True

    def material(self, distance: float) -> bool:
        """``|beta - threshold| >= min_beta`` (a hair of tolerance for printed inputs)."""
        return abs(distance) >= self.min_beta - 1e-12

    def legend(self) -> str:
        """One line stating the definition, for report and console legends."""
        text = f"* significant: |t| >= {self.t_threshold:g}"
        if self.fdr is not None:
            text += f" and Benjamini-Hochberg q <= {self.fdr:g}"
        return text + (
            f"; a tilt delivers when it is also material: |beta - threshold| >= {self.min_beta:g}"
            " (smaller but significant loadings are 'faint')"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"t_threshold": self.t_threshold, "min_beta": self.min_beta, "fdr": self.fdr}


@dataclass(frozen=True)
class TiltCheck:
    """One expected tilt tested against one fund's estimate.

    Attributes
    ----------
    tilt : Tilt
        The promise.
    beta, se : float
        Estimated beta and its standard error (NaN when not in the model). For the
        multi-factor rule ``beta`` is the number of premia and ``se`` is NaN.
    t : float
        ``(beta - threshold) / se``; NaN for the multi-factor rule.
    status : str
        One of :data:`CHECK_STATUSES`.
    factors : tuple of str
        Multi-factor rule only: the factors whose premia were counted.
    q : float
        Benjamini-Hochberg q-value of the beta (NaN when not computed or tested against a
        non-zero threshold).
    robustness : dict
        Filled by :mod:`factorxray.judge.robustness`: the verdict under other models and
        over rolling windows (``by_model``, ``share_of_windows``, ``last_window_beta``,
        ``drift_p`` ...).
    """

    tilt: Tilt
    beta: float
    se: float
    t: float
    status: str
    factors: tuple[str, ...] = ()
    q: float = math.nan
    robustness: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (NaN becomes None).

        Returns
        -------
        dict

        Examples
        --------
        >>> TiltCheck(Tilt("HML", ">", 0), 0.3, 0.1, 3.0, "delivers").to_dict()["tilt"]
        'HML>0'
        """
        return {
            "tilt": str(self.tilt),
            "factor": self.tilt.factor,
            "op": self.tilt.op,
            "threshold": self.tilt.threshold,
            "beta": _json_float(self.beta),
            "se": _json_float(self.se),
            "t": _json_float(self.t),
            "q": _json_float(self.q),
            "status": self.status,
            "factors": list(self.factors),
            **{key: _json_value(value) for key, value in self.robustness.items()},
        }


@dataclass(frozen=True)
class Verdict:
    """Whether one fund delivers its label.

    Attributes
    ----------
    fund : str
        Ticker (the results' index label).
    category : str
        The fund's category as given, ``"unlabelled"`` if none.
    status : str
        One of :data:`VERDICT_STATUSES`.
    checks : tuple of TiltCheck
        One per expected tilt, in the label's order.
    unintended : tuple of (str, float, float)
        ``(factor, beta, t)`` of significant and material non-market betas the label did not
        ask for, in model order.
    sentence : str
        One plain-English sentence built from the numbers.
    t_threshold : float
        |t| at or above which a beta counted as significant.
    faint : tuple of (str, float, float)
        ``(factor, beta, t)`` of significant but immaterial non-market betas the label did
        not ask for (never counted as tilts).
    min_beta : float
        The size rule used.
    notes : tuple of str
        Robustness clauses appended to the sentence (model dependence, time, region).
    implied : tuple of (str, float, float)
        Material loadings the label implies without promising them (a large-cap core fund's
        SMB<0, see :data:`LABEL_LEANS`): neither tilts nor unintended.
    """

    fund: str
    category: str
    status: str
    checks: tuple[TiltCheck, ...]
    unintended: tuple[tuple[str, float, float], ...]
    sentence: str
    t_threshold: float = DEFAULT_T_THRESHOLD
    faint: tuple[tuple[str, float, float], ...] = ()
    min_beta: float = DEFAULT_MIN_BETA
    notes: tuple[str, ...] = ()
    implied: tuple[tuple[str, float, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, for ``summary.json``.

        Returns
        -------
        dict
            ``fund``, ``category``, ``status``, ``sentence``, ``t_threshold``, ``min_beta``,
            ``tilts`` (a list of :meth:`TiltCheck.to_dict`), ``unintended`` and ``faint``
            (lists of ``{factor, side, beta, t}``) and ``notes``.

        Examples
        --------
        >>> import json
        >>> v = Verdict("SPY", "unlabelled", "no label", (), (("SMB", -0.4, -10.0),), "...")
        >>> json.loads(json.dumps(v.to_dict()))["unintended"][0]["side"]
        'large-cap'
        """
        return {
            "fund": self.fund,
            "category": self.category,
            "status": self.status,
            "sentence": self.sentence,
            "t_threshold": self.t_threshold,
            "min_beta": self.min_beta,
            "tilts": [check.to_dict() for check in self.checks],
            "unintended": [_loading_dict(*item) for item in self.unintended],
            "faint": [_loading_dict(*item) for item in self.faint],
            "implied_by_label": [_loading_dict(*item) for item in self.implied],
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------------------- judging


def judge(
    results: _Results,
    universe: Universe | None = None,
    *,
    t_threshold: float = DEFAULT_T_THRESHOLD,
    min_beta: float = DEFAULT_MIN_BETA,
    fdr: float | None = None,
    qvalues: pd.DataFrame | None = None,
) -> dict[str, Verdict]:
    """Judge every fitted fund against the tilts its label promises.

    Parameters
    ----------
    results : ExposureResults
        Regression results (anything with ``params`` and ``bse`` DataFrames indexed by fund,
        columns ``alpha`` then the factors).
    universe : Universe, optional
        Labels. Funds it does not hold (or all, when None) are ``"unlabelled"``.
    t_threshold : float
        |t| at or above which a beta is significant (the seed's 2 by default).
    min_beta : float
        ``|beta - threshold|`` at or above which a significant beta is material (0.10).
    fdr : float, optional
        Benjamini-Hochberg level: betas tested against 0 must also have ``q <= fdr``.
    qvalues : DataFrame, optional
        q-values, funds x factors (see :func:`factorxray.judge.robustness.bh_qvalues`);
        needed for ``fdr`` and stored on each check.

    Returns
    -------
    dict of str to Verdict
        One per fund of ``results.params.index``, in that order.

    Raises
    ------
    UsageError
        When a rule is out of range, or ``fdr`` is given without ``qvalues``.

    Examples
    --------
    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> from factorxray.universe import Fund, Universe
    >>> cols = ["alpha", "Mkt-RF", "SMB", "HML"]
    >>> res = SimpleNamespace(
    ...     params=pd.DataFrame([[0.0, 0.95, -0.12, 0.31]], index=["VTV"], columns=cols),
    ...     bse=pd.DataFrame([[0.001, 0.02, 0.035, 0.05]], index=["VTV"], columns=cols),
    ... )
    >>> v = judge(res, Universe("u", [Fund("VTV", category="value")]))["VTV"]
    >>> v.status
    'delivers'
    >>> v.sentence
    'VTV delivers value (HML 0.31, t 6.2); it also leans large-cap (SMB -0.12, t -3.4).'
    """
    rules = Rules(t_threshold, min_beta, fdr)
    if fdr is not None and qvalues is None:
        raise UsageError("an FDR level needs q-values; compute them with bh_qvalues(pvalues)")
    params = results.params
    factors = [c for c in params.columns.tolist() if c != "alpha"]
    beta_table = _table(params, params.index, factors)
    se_table = _table(results.bse, params.index, factors)
    q_table = _table(qvalues, params.index, factors)
    missing = np.isnan(beta_table).tolist()
    betas, ses, qs = beta_table.tolist(), se_table.tolist(), q_table.tolist()  # Python floats
    verdicts: dict[str, Verdict] = {}
    for i, fund in enumerate(str(f) for f in params.index.tolist()):
        label = universe.get(fund) if universe is not None else None
        # a factor this fund's model lacks (NaN beta and se, e.g. VOL outside the US) is
        # not in its model: leave it out so its tilts are "not tested"
        present = [j for j, gone in enumerate(missing[i]) if not gone]
        if not present:
            present = list(range(len(factors)))
        beta = {factors[j]: betas[i][j] for j in present}
        se = {factors[j]: ses[i][j] for j in present}
        q = {factors[j]: qs[i][j] for j in present}
        verdicts[fund] = judge_fund(fund, label, beta, se, rules, q)
    return verdicts


def _table(frame: pd.DataFrame | None, index: pd.Index, columns: list[str]) -> np.ndarray:
    """``frame`` as floats on ``index`` x ``columns`` (NaN where it has no value)."""
    if frame is None:
        return np.full((len(index), len(columns)), np.nan)
    labels = frame.columns.tolist()
    if frame.index.equals(index) and len(set(labels)) == len(labels):
        position = {column: j for j, column in enumerate(labels)}
        if all(column in position for column in columns):  # a plain take: no reindex
            return frame.to_numpy(dtype=float)[:, [position[c] for c in columns]]
    return frame.reindex(index=index, columns=columns).to_numpy(dtype=float)


def judge_fund(
    fund: str,
    label: Fund | None,
    beta: Mapping[str, float],
    se: Mapping[str, float],
    rules: Rules,
    q: Mapping[str, float] | None = None,
) -> Verdict:
    """The verdict of one fund from its betas and standard errors (see :func:`judge`)."""
    q = q or {}
    tilts = label.tilts if label is not None else ()
    checks = tuple(_check(tilt, beta, se, q, rules) for tilt in tilts)
    implied_signs = LABEL_LEANS.get(canonical_category(label.category) or "", {}) if label else {}
    unintended, faint = _unexpected(tilts, beta, se, q, rules)
    implied = tuple(
        item for item in unintended if implied_signs.get(item[0]) == _side(item[0], item[1])
    )
    unintended = tuple(item for item in unintended if item not in implied)
    status = _overall(label, checks, unintended, beta)
    sentence = sentences.verdict_sentence(
        fund, status, checks, unintended, faint, beta, se, implied=implied
    )
    category = label.category if label is not None else UNLABELLED
    return Verdict(
        fund,
        category,
        status,
        checks,
        unintended,
        sentence,
        rules.t_threshold,
        faint,
        rules.min_beta,
        implied=implied,
    )


def _check(
    tilt: Tilt,
    beta: Mapping[str, float],
    se: Mapping[str, float],
    q: Mapping[str, float],
    rules: Rules,
) -> TiltCheck:
    if tilt.is_multi:
        return _check_multi(tilt, beta, se, q, rules)
    if tilt.factor not in beta:
        return TiltCheck(tilt, math.nan, math.nan, math.nan, "not tested")
    b, s = beta[tilt.factor], se[tilt.factor]
    q_value = q.get(tilt.factor, math.nan) if tilt.threshold == 0 else math.nan
    if not (math.isfinite(b) and math.isfinite(s) and s > 0):
        return TiltCheck(tilt, b, s, math.nan, "not estimated", q=q_value)
    t = (b - tilt.threshold) / s
    significant = rules.significant(t, q_value)
    material = rules.material(b - tilt.threshold)
    if tilt.holds(b):
        status = ("delivers" if material else "faint") if significant else "weak"
    else:
        status = "contradicts" if significant and material else "absent"
    return TiltCheck(tilt, b, s, t, status, q=q_value)


def is_premium(factor: str, beta: float, se: float, q: float, rules: Rules) -> bool:
    """A positive, significant and material loading on a non-market factor."""
    return (
        not is_market(factor)
        and beta > 0
        and rules.significant(_t(beta, se), q)
        and rules.material(beta)
    )


def _check_multi(
    tilt: Tilt,
    beta: Mapping[str, float],
    se: Mapping[str, float],
    q: Mapping[str, float],
    rules: Rules,
) -> TiltCheck:
    needed = int(tilt.threshold)
    style = [f for f in beta if not is_market(f)]
    if len(style) < needed:
        return TiltCheck(tilt, math.nan, math.nan, math.nan, "not tested")
    premia = tuple(f for f in style if is_premium(f, beta[f], se[f], q.get(f, math.nan), rules))
    if len(premia) >= needed:
        status = "delivers"
    elif premia:
        status = "weak"
    elif any(
        beta[f] > 0 and rules.significant(_t(beta[f], se[f]), q.get(f, math.nan)) for f in style
    ):
        status = "faint"  # significant premia, all too small to matter
    else:
        status = "absent"
    return TiltCheck(tilt, float(len(premia)), math.nan, math.nan, status, premia)


def _unexpected(
    tilts: tuple[Tilt, ...],
    beta: Mapping[str, float],
    se: Mapping[str, float],
    q: Mapping[str, float],
    rules: Rules,
) -> tuple[tuple[tuple[str, float, float], ...], tuple[tuple[str, float, float], ...]]:
    """Loadings the label did not ask for: (material ones, faint ones)."""
    expected = {t.factor for t in tilts if not t.is_multi}
    multi = any(t.is_multi for t in tilts)
    material, faint = [], []
    for factor, b in beta.items():
        if is_market(factor) or factor in expected:
            continue
        t = _t(b, se[factor])
        if not rules.significant(t, q.get(factor, math.nan)):
            continue
        if not rules.material(b - pivot(factor)):
            faint.append((factor, b, t))
        elif not (multi and b > 0):  # a positive one is a premium of the multi rule
            material.append((factor, b, t))
    return tuple(material), tuple(faint)


def _overall(
    label: Fund | None,
    checks: tuple[TiltCheck, ...],
    unintended: tuple[tuple[str, float, float], ...],
    beta: Mapping[str, float],
) -> str:
    if label is None or not label.labelled:
        return "no label"
    if label.expects_no_tilt:
        if not any(not is_market(f) for f in beta):
            return "not tested"  # e.g. CAPM: no style factor to show a tilt
        return "tilted" if unintended else "neutral"
    return overall_status([c.status for c in checks])


def overall_status(statuses: Iterable[str]) -> str:
    """The fund's status from its checks' statuses (a label with at least one tilt).

    Examples
    --------
    >>> overall_status(["delivers", "faint"]), overall_status(["faint", "weak"])
    ('partly delivers', 'faint')
    >>> overall_status(["not tested"])
    'not tested'
    """
    tested = [s for s in statuses if s not in _UNTESTED]
    if not tested:
        return "not tested"
    if "contradicts" in tested:
        return "contradicts"
    delivered = tested.count("delivers")
    if delivered == len(tested):
        return "delivers"
    if delivered:
        return "partly delivers"
    return "faint" if "faint" in tested else "weak"


# ------------------------------------------------------------------------------- tables


def verdict_table(verdicts: Mapping[str, Verdict] | Iterable[Verdict]) -> pd.DataFrame:
    """One row per fund, for printing: category, status, checks, unintended, sentence.

    Parameters
    ----------
    verdicts : dict of str to Verdict, or iterable of Verdict
        From :func:`judge`.

    Returns
    -------
    DataFrame
        Indexed by ``fund``; columns ``category``, ``status``, ``expected`` (``"SMB>0;
        HML>0"``), ``checks`` (``"SMB>0 delivers; HML>0 weak"``), ``unintended``
        (``"SMB-, CMA+"``), ``faint`` (same form) and ``sentence``.

    Examples
    --------
    >>> v = Verdict("SPY", "unlabelled", "no label", (), (("SMB", -0.4, -10.0),), "...")
    >>> verdict_table({"SPY": v}).loc["SPY", "unintended"]
    'SMB-'
    """
    items = verdicts.values() if isinstance(verdicts, Mapping) else verdicts
    rows = [
        {
            "fund": v.fund,
            "category": v.category,
            "status": v.status,
            "expected": "; ".join(str(c.tilt) for c in v.checks),
            "checks": "; ".join(f"{c.tilt} {c.status}" for c in v.checks),
            "unintended": _signs(v.unintended),
            "faint": _signs(v.faint),
            "sentence": v.sentence,
        }
        for v in items
    ]
    columns = [
        "fund",
        "category",
        "status",
        "expected",
        "checks",
        "unintended",
        "faint",
        "sentence",
    ]
    return pd.DataFrame(rows, columns=columns).set_index("fund")


# ------------------------------------------------------------------------------- helpers


def _side(factor: str, beta: float) -> int:
    return 1 if beta > pivot(factor) else -1


def _signs(loadings: tuple[tuple[str, float, float], ...]) -> str:
    return ", ".join(f"{f}{'+' if b > pivot(f) else '-'}" for f, b, _ in loadings)


def _loading_dict(factor: str, beta: float, t: float) -> dict[str, Any]:
    return {
        "factor": factor,
        "side": side_word(factor, 1 if beta > pivot(factor) else -1),
        "beta": _json_float(beta),
        "t": _json_float(t),
    }


def _positive(t_threshold: object) -> float:
    try:
        value = float(t_threshold)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"t threshold must be a positive number, not {t_threshold!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"t threshold must be a positive number, not {t_threshold!r}")
    return value


def _min_beta(min_beta: object) -> float:
    try:
        value = float(min_beta)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and 0 <= value < 5):
        raise UsageError(
            f"--min-beta {min_beta!r} must be a number from 0 to 5 (0.10 is the default)"
        )
    return value


def _fdr(fdr: object) -> float:
    try:
        value = float(fdr)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not (0 < value < 1):
        raise UsageError(f"--fdr {fdr!r} must be between 0 and 1 (e.g. 0.05)")
    return value


def _t(beta: float, se: float) -> float:
    if not (math.isfinite(beta) and math.isfinite(se) and se > 0):
        return math.nan
    return beta / se


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value
