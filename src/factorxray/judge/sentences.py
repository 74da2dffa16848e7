"""Plain words for verdicts: factor sides, evidence in brackets, one sentence per fund.

Pure string building from numbers; the rules that decide a status live in
:mod:`factorxray.judge.verdicts`, the robustness clauses in :mod:`factorxray.judge.robustness`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from factorxray.universe import MARKET_FACTOR, Tilt

__all__ = ["SIDE_WORDS", "is_market", "join", "pivot", "side_word", "tilt_word", "verdict_sentence"]

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

Loading = tuple[str, float, float]


@functools.cache
def is_market(factor: str) -> bool:
    """Whether ``factor`` is the market excess return (by any usual name)."""
    return factor.lower() in _MARKET_NAMES


def pivot(factor: str) -> float:
    """1 for the market, 0 for every long-short factor."""
    return _PIVOTS.get(factor, 1.0 if is_market(factor) else 0.0)


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


def tilt_word(tilt: Tilt) -> str:
    """``value`` for ``HML>0``; ``defensive market beta (Mkt-RF<0.9)`` off the pivot."""
    word = side_word(tilt.factor, tilt.sign)
    if tilt.threshold != pivot(tilt.factor):
        word = f"{word} ({tilt})"
    return word


def join(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _evidence(factor: str, beta: float, t: float, against: float = 0.0) -> str:
    versus = f" against {against:g}" if against != 0.0 else ""
    return f"({factor} {beta:.2f}, t {t:.1f}{versus})"


def _lean(factor: str, beta: float, t: float) -> str:
    sign = 1 if beta > pivot(factor) else -1
    return f"{side_word(factor, sign)} {_evidence(factor, beta, t)}"


def _t(beta: float, se: float) -> float:
    if not (math.isfinite(beta) and math.isfinite(se) and se > 0):
        return math.nan
    return beta / se


def check_phrase(check: Any, beta: Mapping[str, float], se: Mapping[str, float]) -> str:
    """The words for one tilt check (``value (HML 0.31, t 6.2)``, ``only a faint ...``)."""
    tilt = check.tilt
    if tilt.is_multi:
        return _multi_phrase(check, beta, se)
    word = tilt_word(tilt)
    if check.status == "not tested":
        return f"no {tilt.factor} in the model to test {word}"
    if check.status == "not estimated":
        return f"no usable {tilt.factor} estimate to test {word}"
    evidence = _evidence(tilt.factor, check.beta, check.t, tilt.threshold)
    if check.status == "delivers":
        return f"{word} {evidence}"
    if check.status == "faint":
        return f"only a faint {word} tilt, significant but too small to matter {evidence}"
    if check.status == "weak":
        return f"only a weak {word} tilt {evidence}"
    if check.status == "absent":
        return f"no {word} tilt {evidence}"
    opposite = side_word(tilt.factor, -tilt.sign)
    return f"{opposite} instead of {word} {evidence}"


def _multi_phrase(check: Any, beta: Mapping[str, float], se: Mapping[str, float]) -> str:
    needed = int(check.tilt.threshold)
    if check.status == "not tested":
        return f"fewer than {needed} style factors in the model to test a multi-factor label"
    count = len(check.factors)
    listed = join([_lean(f, beta[f], _t(beta[f], se[f])) for f in check.factors])
    noun = "premium" if count == 1 else "premia"
    if check.status == "delivers":
        return f"{count} material factor {noun}: {listed}"
    if check.status == "weak":
        return (
            f"only {count} material factor {noun} of the {needed} a multi-factor label "
            f"needs: {listed}"
        )
    if check.status == "faint":
        return (
            f"only faint factor premia, significant but too small to matter "
            f"(a multi-factor label needs {needed} material ones)"
        )
    return f"no material factor premium (a multi-factor label needs {needed})"


def verdict_sentence(
    fund: str,
    status: str,
    checks: Sequence[Any],
    unintended: Sequence[Loading],
    faint: Sequence[Loading],
    beta: Mapping[str, float],
    se: Mapping[str, float],
    *,
    implied: Sequence[Loading] = (),
) -> str:
    """One sentence for a fund's verdict, from its checks and loadings.

    ``implied`` are material leans the label implies (a large-cap core fund's SMB<0).

    Examples
    --------
    >>> verdict_sentence("SPY", "neutral", [], [], [("HML", 0.02, 2.9)], {"Mkt-RF": 1.0}, {})
    'SPY expects no factor tilt and shows none beyond the market (market beta 1.00); faint loading too small to matter: HML 0.02 (t 2.9).'
    """
    leans = join([_lean(f, b, t) for f, b, t in unintended])
    faint_text = _faint_clause(faint)
    if implied:
        faint_text = (
            f"; it leans {join([_lean(f, b, t) for f, b, t in implied])}, as its label implies"
            + faint_text
        )
    if status == "no label":
        body = (
            f"{fund} has no label to test; it leans {leans}"
            if leans
            else f"{fund} has no label to test and shows no material tilt beyond the market"
            f"{_market_note(beta)}"
        )
    elif status == "not tested" and not checks:
        body = f"{fund} expects no factor tilt, which a model without style factors cannot test"
    elif status in ("neutral", "tilted"):
        body = (
            f"{fund} expects no factor tilt but leans {leans}"
            if leans
            else f"{fund} expects no factor tilt and shows none beyond the market"
            f"{_market_note(beta)}"
        )
    else:
        phrased = [(check, check_phrase(check, beta, se)) for check in checks]
        body = _label_sentence(fund, status, phrased, leans)
    return body + faint_text + "."


def _faint_clause(faint: Sequence[Loading]) -> str:
    if not faint:
        return ""
    items = join([f"{f} {b:.2f} (t {t:.1f})" for f, b, t in faint])
    noun = "loading" if len(faint) == 1 else "loadings"
    return f"; faint {noun} too small to matter: {items}"


def _label_sentence(fund: str, status: str, phrased: list[tuple[Any, str]], leans: str) -> str:
    by_status: dict[str, list[str]] = {}
    for check, phrase in phrased:
        by_status.setdefault(check.status, []).append(phrase)
    delivered = by_status.get("delivers", [])
    untested = by_status.get("not tested", []) + by_status.get("not estimated", [])
    contra = by_status.get("contradicts", [])
    short = by_status.get("faint", []) + by_status.get("weak", []) + by_status.get("absent", [])
    if status == "delivers":
        body = f"{fund} delivers {join(delivered)}"
    elif status == "partly delivers":
        body = f"{fund} partly delivers: {join(delivered)} but {join(short)}"
    elif status in ("weak", "faint"):
        body = f"{fund} does not clearly deliver its label: {join(short)}"
    elif status == "contradicts":
        body = f"{fund} contradicts its label: {join(contra + short)}"
        if delivered:
            body += f", though it delivers {join(delivered)}"
    else:  # not tested
        body = f"{fund} cannot be tested against its label: {join(untested)}"
        untested = []
    if untested:
        body += f"; {join(untested)}"
    if leans:
        body += f"; it also leans {leans}"
    return body


def _market_note(beta: Mapping[str, float]) -> str:
    market = next((f for f in beta if is_market(f)), None)
    if market is None or not math.isfinite(beta[market]):
        return ""
    return f" (market beta {beta[market]:.2f})"
