"""Does each fund deliver what its label promises? Verdicts from regression results.

For every fund :func:`judge` tests each expected :class:`~factorxray.universe.Tilt` against
the fund's estimated beta, lists the significant exposures nobody asked for, gives an
overall status and writes one plain-English sentence from the numbers.

Check statuses (one per expected tilt), with ``t = (beta - threshold) / se``:

``delivers``
    beta on the promised side of the threshold and ``|t| >= t_threshold``.
``weak``
    on the promised side, not significant.
``absent``
    on the wrong side, not significant: no evidence of the tilt at all.
``contradicts``
    on the wrong side and significant: the fund tilts the other way.
``not in model``
    the model has no such factor (e.g. ``VOL`` in FF5): the tilt is untested.
``not estimated``
    the beta or its standard error is missing or not finite.

The multi-factor rule ``multi>=N`` counts the fund's significant factor *premia*: positive
betas with ``|t| >= t_threshold`` on non-market factors (every factor here is built so that
positive is the premium side: small, value, profitable, conservative, winners, low
volatility). ``delivers`` when the count reaches N, ``weak`` when it is between 1 and N-1,
``absent`` when it is 0. Significant *negative* betas do not count: large-cap or growth
leanings are not factor premia; they are reported as unintended.

Overall statuses (one per fund):

``delivers``
    every testable tilt delivers.
``partly delivers``
    some testable tilts deliver, none contradicts.
``weak``
    no tilt delivers, none contradicts.
``contradicts``
    at least one tilt significantly goes the other way.
``untested``
    no expected tilt could be tested with this model.
``neutral`` / ``tilted``
    the label promises no tilt (e.g. a core fund): no / some significant non-market beta.
``no label``
    nothing to test: unlabelled, or a category with no known tilts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from factorxray.errors import UsageError
from factorxray.universe import MARKET_FACTOR, UNLABELLED, Fund, Tilt, Universe

__all__ = [
    "CHECK_STATUSES",
    "SIDE_WORDS",
    "VERDICT_STATUSES",
    "TiltCheck",
    "Verdict",
    "judge",
    "side_word",
    "verdict_table",
]

CHECK_STATUSES = ("delivers", "weak", "absent", "contradicts", "not in model", "not estimated")
VERDICT_STATUSES = (
    "delivers",
    "partly delivers",
    "weak",
    "contradicts",
    "untested",
    "neutral",
    "tilted",
    "no label",
)

#: Factor -> (word for a beta above its pivot, word for a beta below it).
SIDE_WORDS: dict[str, tuple[str, str]] = {
    "Mkt-RF": ("aggressive market beta", "defensive market beta"),
    "SMB": ("small-cap", "large-cap"),
    "HML": ("value", "growth"),
    "RMW": ("profitable (quality)", "unprofitable"),
    "CMA": ("conservative investment", "aggressive investment"),
    "MOM": ("momentum", "recent losers"),
    "VOL": ("low volatility", "high volatility"),
}
#: Natural boundary of a factor's beta: 1 for the market, 0 for the long-short factors.
_PIVOTS = {MARKET_FACTOR: 1.0}
_MARKET_NAMES = {"mkt-rf", "mkt", "mkt_rf", "mktrf", "market"}
_UNTESTED = ("not in model", "not estimated")


class _Results(Protocol):
    """What :func:`judge` needs of a results object (e.g. ``ExposureResults``)."""

    @property
    def params(self) -> pd.DataFrame: ...

    @property
    def bse(self) -> pd.DataFrame: ...


@dataclass(frozen=True)
class TiltCheck:
    """One expected tilt tested against one fund's estimate.

    Attributes
    ----------
    tilt : Tilt
        The promise.
    beta, se : float
        Estimated beta and its standard error (NaN when not in the model). For the
        multi-factor rule ``beta`` is the number of significant premia and ``se`` is NaN.
    t : float
        ``(beta - threshold) / se``; NaN for the multi-factor rule.
    status : str
        One of :data:`CHECK_STATUSES`.
    factors : tuple of str
        Multi-factor rule only: the factors whose premia were counted.
    """

    tilt: Tilt
    beta: float
    se: float
    t: float
    status: str
    factors: tuple[str, ...] = ()

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
            "status": self.status,
            "factors": list(self.factors),
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
        ``(factor, beta, t)`` of significant non-market betas the label did not ask for, in
        model order.
    sentence : str
        One plain-English sentence built from the numbers.
    t_threshold : float
        |t| at or above which a beta counted as significant.
    """

    fund: str
    category: str
    status: str
    checks: tuple[TiltCheck, ...]
    unintended: tuple[tuple[str, float, float], ...]
    sentence: str
    t_threshold: float = 2.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, for ``summary.json``.

        Returns
        -------
        dict
            ``fund``, ``category``, ``status``, ``sentence``, ``t_threshold``, ``tilts`` (a list
            of :meth:`TiltCheck.to_dict`) and ``unintended`` (a list of ``{factor, side, beta,
            t}``).

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
            "tilts": [check.to_dict() for check in self.checks],
            "unintended": [
                {
                    "factor": factor,
                    "side": side_word(factor, 1 if beta > _pivot(factor) else -1),
                    "beta": _json_float(beta),
                    "t": _json_float(t),
                }
                for factor, beta, t in self.unintended
            ],
        }


# ------------------------------------------------------------------------------- judging


def judge(
    results: _Results, universe: Universe | None = None, *, t_threshold: float = 2.0
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

    Returns
    -------
    dict of str to Verdict
        One per fund of ``results.params.index``, in that order.

    Raises
    ------
    UsageError
        When ``t_threshold`` is not a positive number.

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
    threshold = _check_threshold(t_threshold)
    params, bse = results.params, results.bse
    factors = [c for c in params.columns if c != "alpha"]
    verdicts: dict[str, Verdict] = {}
    for fund in params.index:
        label = universe.get(str(fund)) if universe is not None else None
        beta = {f: _float(params.at[fund, f]) for f in factors}
        se = {f: _float(bse.at[fund, f]) if f in bse.columns else math.nan for f in factors}
        verdicts[str(fund)] = _judge_fund(str(fund), label, beta, se, threshold)
    return verdicts


def _judge_fund(
    fund: str,
    label: Fund | None,
    beta: Mapping[str, float],
    se: Mapping[str, float],
    threshold: float,
) -> Verdict:
    tilts = label.tilts if label is not None else ()
    checks = tuple(_check(tilt, beta, se, threshold) for tilt in tilts)
    unintended = _unintended(tilts, beta, se, threshold)
    status = _overall(label, checks, unintended)
    phrased = [(check, _phrase(check, beta, se)) for check in checks]
    sentence = _sentence(fund, status, phrased, unintended, beta)
    category = label.category if label is not None else UNLABELLED
    return Verdict(fund, category, status, checks, unintended, sentence, threshold)


def _check(
    tilt: Tilt, beta: Mapping[str, float], se: Mapping[str, float], threshold: float
) -> TiltCheck:
    if tilt.is_multi:
        return _check_multi(tilt, beta, se, threshold)
    if tilt.factor not in beta:
        return TiltCheck(tilt, math.nan, math.nan, math.nan, "not in model")
    b, s = beta[tilt.factor], se[tilt.factor]
    if not (math.isfinite(b) and math.isfinite(s) and s > 0):
        return TiltCheck(tilt, b, s, math.nan, "not estimated")
    t = (b - tilt.threshold) / s
    significant = abs(t) >= threshold
    if tilt.holds(b):
        status = "delivers" if significant else "weak"
    else:
        status = "contradicts" if significant else "absent"
    return TiltCheck(tilt, b, s, t, status)


def _check_multi(
    tilt: Tilt, beta: Mapping[str, float], se: Mapping[str, float], threshold: float
) -> TiltCheck:
    premia = tuple(
        f
        for f in beta
        if not _is_market(f) and beta[f] > 0 and abs(_t(beta[f], se[f])) >= threshold
    )
    needed = int(tilt.threshold)
    if len(premia) >= needed:
        status = "delivers"
    elif premia:
        status = "weak"
    else:
        status = "absent"
    return TiltCheck(tilt, float(len(premia)), math.nan, math.nan, status, premia)


def _unintended(
    tilts: tuple[Tilt, ...],
    beta: Mapping[str, float],
    se: Mapping[str, float],
    threshold: float,
) -> tuple[tuple[str, float, float], ...]:
    expected = {t.factor for t in tilts if not t.is_multi}
    multi = any(t.is_multi for t in tilts)
    found = []
    for factor, b in beta.items():
        if _is_market(factor) or factor in expected:
            continue
        t = _t(b, se[factor])
        if not abs(t) >= threshold:  # also skips NaN
            continue
        if multi and b > 0:
            continue  # a premium: counted by the multi-factor rule
        found.append((factor, b, t))
    return tuple(found)


def _overall(
    label: Fund | None,
    checks: tuple[TiltCheck, ...],
    unintended: tuple[tuple[str, float, float], ...],
) -> str:
    if label is None or not label.labelled:
        return "no label"
    if label.expects_no_tilt:
        return "tilted" if unintended else "neutral"
    tested = [c.status for c in checks if c.status not in _UNTESTED]
    if not tested:
        return "untested"
    if "contradicts" in tested:
        return "contradicts"
    delivered = tested.count("delivers")
    if delivered == len(tested):
        return "delivers"
    return "partly delivers" if delivered else "weak"


# ------------------------------------------------------------------------------- wording


def side_word(factor: str, sign: int) -> str:
    """Plain words for a beta above (``sign=1``) or below (``sign=-1``) a factor's pivot.

    The pivot is 1 for the market (``Mkt-RF``) and 0 for every other factor.

    Parameters
    ----------
    factor : str
        Factor name.
    sign : int
        +1 or -1.

    Returns
    -------
    str

    Examples
    --------
    >>> side_word("SMB", -1), side_word("Mkt-RF", -1), side_word("BAB", 1)
    ('large-cap', 'defensive market beta', 'positive BAB')
    """
    words = SIDE_WORDS.get(factor)
    if words is None:
        return f"{'positive' if sign > 0 else 'negative'} {factor}"
    return words[0] if sign > 0 else words[1]


def _tilt_word(tilt: Tilt) -> str:
    word = side_word(tilt.factor, tilt.sign)
    if tilt.threshold != _pivot(tilt.factor):
        word = f"{word} ({tilt})"
    return word


def _evidence(factor: str, beta: float, t: float, against: float = 0.0) -> str:
    versus = f" against {against:g}" if against != 0.0 else ""
    return f"({factor} {beta:.2f}, t {t:.1f}{versus})"


def _lean(factor: str, beta: float, t: float) -> str:
    sign = 1 if beta > _pivot(factor) else -1
    return f"{side_word(factor, sign)} {_evidence(factor, beta, t)}"


def _phrase(check: TiltCheck, beta: Mapping[str, float], se: Mapping[str, float]) -> str:
    tilt = check.tilt
    if tilt.is_multi:
        return _multi_phrase(check, beta, se)
    word = _tilt_word(tilt)
    if check.status == "not in model":
        return f"no {tilt.factor} in the model to test {word}"
    if check.status == "not estimated":
        return f"no usable {tilt.factor} estimate to test {word}"
    evidence = _evidence(tilt.factor, check.beta, check.t, tilt.threshold)
    if check.status == "delivers":
        return f"{word} {evidence}"
    if check.status == "weak":
        return f"only a weak {word} tilt {evidence}"
    if check.status == "absent":
        return f"no {word} tilt {evidence}"
    opposite = side_word(tilt.factor, -tilt.sign)
    return f"{opposite} instead of {word} {evidence}"


def _multi_phrase(check: TiltCheck, beta: Mapping[str, float], se: Mapping[str, float]) -> str:
    needed = int(check.tilt.threshold)
    count = len(check.factors)
    listed = _join([_lean(f, beta[f], _t(beta[f], se[f])) for f in check.factors])
    noun = "premium" if count == 1 else "premia"
    if check.status == "delivers":
        return f"{count} significant factor {noun}: {listed}"
    if check.status == "weak":
        return f"only {count} significant factor {noun} of the {needed} a multi-factor label needs: {listed}"
    return f"no significant factor premium (a multi-factor label needs {needed})"


def _sentence(
    fund: str,
    status: str,
    phrased: list[tuple[TiltCheck, str]],
    unintended: tuple[tuple[str, float, float], ...],
    beta: Mapping[str, float],
) -> str:
    leans = _join([_lean(f, b, t) for f, b, t in unintended])
    market = _market_note(beta)
    if status == "no label":
        body = (
            f"{fund} has no label to test; it leans {leans}"
            if leans
            else f"{fund} has no label to test and shows no significant tilt beyond the market{market}"
        )
        return body + "."
    if status in ("neutral", "tilted"):
        body = (
            f"{fund} expects no factor tilt but leans {leans}"
            if leans
            else f"{fund} expects no factor tilt and shows none beyond the market{market}"
        )
        return body + "."
    return _label_sentence(fund, status, phrased, leans) + "."


def _label_sentence(
    fund: str, status: str, phrased: list[tuple[TiltCheck, str]], leans: str
) -> str:
    by_status: dict[str, list[str]] = {}
    for check, phrase in phrased:
        by_status.setdefault(check.status, []).append(phrase)
    delivered = by_status.get("delivers", [])
    untested = by_status.get("not in model", []) + by_status.get("not estimated", [])
    contra = by_status.get("contradicts", [])
    short = by_status.get("weak", []) + by_status.get("absent", [])
    if status == "delivers":
        body = f"{fund} delivers {_join(delivered)}"
    elif status == "partly delivers":
        body = f"{fund} partly delivers: {_join(delivered)} but {_join(short)}"
    elif status == "weak":
        body = f"{fund} does not clearly deliver its label: {_join(short)}"
    elif status == "contradicts":
        body = f"{fund} contradicts its label: {_join(contra + short)}"
        if delivered:
            body += f", though it delivers {_join(delivered)}"
    else:  # untested
        body = f"{fund} cannot be tested against its label: {_join(untested)}"
        untested = []
    if untested:
        body += f"; {_join(untested)}"
    if leans:
        body += f"; it also leans {leans}"
    return body


def _market_note(beta: Mapping[str, float]) -> str:
    market = next((f for f in beta if _is_market(f)), None)
    if market is None or not math.isfinite(beta[market]):
        return ""
    return f" (market beta {beta[market]:.2f})"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


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
        (``"SMB-, CMA+"``) and ``sentence``.

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
            "unintended": ", ".join(
                f"{f}{'+' if b > _pivot(f) else '-'}" for f, b, _ in v.unintended
            ),
            "sentence": v.sentence,
        }
        for v in items
    ]
    columns = ["fund", "category", "status", "expected", "checks", "unintended", "sentence"]
    return pd.DataFrame(rows, columns=columns).set_index("fund")


# ------------------------------------------------------------------------------- helpers


def _check_threshold(t_threshold: float) -> float:
    try:
        value = float(t_threshold)
    except (TypeError, ValueError):
        raise UsageError(f"t threshold must be a positive number, not {t_threshold!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"t threshold must be a positive number, not {t_threshold!r}")
    return value


def _is_market(factor: str) -> bool:
    return factor.lower() in _MARKET_NAMES


def _pivot(factor: str) -> float:
    return _PIVOTS.get(factor, 1.0 if _is_market(factor) else 0.0)


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
