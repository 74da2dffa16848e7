"""The words of a run's period, the one place the report takes them from.

A run is monthly, weekly or daily (``analysis.meta["frequency"]``): every sentence, title and
label of the report that names a period ("36-month windows", "N months", "12 x monthly
alpha", "(1 + alpha)^12 - 1") takes its words and its periods per year from
:func:`period_words`, so that a weekly report says weeks and 52 and a monthly one reads as
it always did.

Nothing here does I/O or imports pandas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from factorxray.factors.frequency import (
    DEFAULT_ROLLING_WINDOWS,
    PERIOD_NAMES,
    PERIODS_PER_YEAR,
)

__all__ = ["PeriodWords", "period_words"]


@dataclass(frozen=True)
class PeriodWords:
    """The words of one frequency.

    Attributes
    ----------
    frequency : str
        ``monthly``, ``weekly``, ``daily`` (``per-period`` for an unknown one).
    unit : str
        One period: ``month``, ``week``, ``day`` (``period``).
    per_year : float
        Periods per year, for annualizing: 12, 52, 252.
    """

    frequency: str
    unit: str
    per_year: float

    @property
    def units(self) -> str:
        """``months``, ``weeks``, ``days``."""
        return f"{self.unit}s"

    @property
    def adjective(self) -> str:
        """``monthly``, ``weekly``, ``daily``: "the monthly alpha"."""
        return self.frequency

    @property
    def per_year_text(self) -> str:
        """``12``, ``52``, ``252``: "12 x alpha", "(1 + alpha)^12 - 1"."""
        return f"{self.per_year:g}"

    @property
    def sqrt_text(self) -> str:
        """``√12``: the factor that annualizes a standard deviation."""
        return f"√{self.per_year_text}"

    @property
    def default_window(self) -> int | None:
        """The default rolling window in periods (36 months, 156 weeks, 252 days)."""
        return DEFAULT_ROLLING_WINDOWS.get(self.frequency)

    def count(self, n: Any) -> str:
        """``1 month``, ``36 months``, ``156 weeks``."""
        return f"{n} {self.unit}" if str(n) == "1" else f"{n} {self.units}"

    def span(self, n: Any) -> str:
        """A window's length as an adjective: ``36-month``, ``156-week``, ``252-day``."""
        return f"{n}-{self.unit}"

    def annual(self, of: str = "alpha") -> str:
        """``12 × monthly alpha``: how a per-period quantity is annualized."""
        return f"{self.per_year_text} × {self.adjective} {of}".strip()


#: Periods per year -> frequency, for an analysis that records only its results' frequency.
_BY_PER_YEAR = {float(v): k for k, v in PERIODS_PER_YEAR.items()}


def period_words(source: Any = None, periods_per_year: Any = None) -> PeriodWords:
    """The words of a run's period.

    Parameters
    ----------
    source : Analysis, mapping or str, optional
        An analysis (its ``meta``), its ``meta`` mapping (``meta["frequency"]``) or a
        frequency name. Missing: monthly, unless ``periods_per_year`` says otherwise.
    periods_per_year : float, optional
        Used when ``source`` names no frequency (an analysis built by hand): 12, 52 or 252
        name their frequency; another number gives ``period`` and ``per-period``.

    Returns
    -------
    PeriodWords

    Examples
    --------
    >>> words = period_words({"frequency": "weekly"})
    >>> words.span(156), words.count(1461), words.annual(), words.sqrt_text
    ('156-week', '1461 weeks', '52 × weekly alpha', '√52')
    >>> period_words().annual()
    '12 × monthly alpha'
    >>> period_words(None, 4).annual()
    '4 × per-period alpha'
    """
    meta = getattr(source, "meta", source)
    if isinstance(meta, Mapping):
        frequency = meta.get("frequency")
        if periods_per_year is None:
            periods_per_year = meta.get("periods_per_year")
    else:
        frequency = meta
    if frequency is None and periods_per_year is None:
        results = getattr(source, "results", None)
        periods_per_year = getattr(results, "periods_per_year", None)
    frequency = str(frequency).strip().lower() if frequency else None
    if frequency not in PERIOD_NAMES:
        per_year = _number(periods_per_year)
        if per_year is not None and per_year not in _BY_PER_YEAR:
            return PeriodWords("per-period", "period", per_year)
        frequency = _BY_PER_YEAR.get(per_year, "monthly") if per_year else "monthly"
    return PeriodWords(frequency, PERIOD_NAMES[frequency], float(PERIODS_PER_YEAR[frequency]))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 and number == number and number != float("inf") else None
