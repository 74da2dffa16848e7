"""Frequencies of a run: which Ken French models exist weekly and daily, and what a period is.

Ken French publishes every factor monthly, but not every factor at every other frequency:

* **weekly**: only the US three factors, ``F-F_Research_Data_Factors_weekly`` (Mkt-RF, SMB,
  HML, RF), rows dated by the last trading day of each week (a Thursday when the Friday is a
  holiday); so ``capm`` and ``ff3``, US only.
* **daily**: the three and five factors and momentum of every region (``..._daily`` for the
  US, ``..._Daily`` for the others), but not the size/variance portfolios behind VOL
  (``25_Portfolios_ME_VAR_5x5`` is monthly only), so not ``xray7`` or ``article7``.

:func:`check_model_frequency` turns a model the library does not publish at a frequency into
one line naming the missing file and what to use instead. The rest are small pure helpers:
periods per year, the default rolling window and minimum sample in periods, and the period
index a frequency is analysed on (:func:`to_periods`).

Nothing here does I/O; pandas is imported only by :func:`to_periods`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from factorxray.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

#: The frequencies ``analyze`` runs at.
ANALYZE_FREQUENCIES = ("monthly", "weekly", "daily")
#: Periods per year, for annualizing (alpha, attribution) and for converting month counts.
PERIODS_PER_YEAR = {"monthly": 12, "weekly": 52, "daily": 252}
#: The pandas period of each frequency: a month, a calendar week (Monday to Sunday, so that
#: the weeks of the 1920s that ended on a Saturday stay whole), a day.
PERIOD_FREQ = {"monthly": "M", "weekly": "W-SUN", "daily": "D"}
#: Default rolling window in periods: 36 months, 156 weeks (three years), 252 days (one year).
DEFAULT_ROLLING_WINDOWS = {"monthly": 36, "weekly": 156, "daily": 252}
#: The unit of one period, for messages and reports.
PERIOD_NAMES = {"monthly": "month", "weekly": "week", "daily": "day"}

#: The one weekly Ken French file, and the models it can make.
WEEKLY_DATASET = "F-F_Research_Data_Factors_weekly"
WEEKLY_MODELS = ("capm", "ff3")
#: Models that need VOL, whose size/variance portfolios Ken French publishes monthly only.
VOL_MODELS = ("xray7", "article7")
#: Models whose factors come from other libraries (their own frequency rules apply).
_OTHER_LIBRARY_MODELS = ("q4", "q5", "ff6bq")


def check_frequency(frequency: str) -> str:
    """``frequency`` lower-cased if ``analyze`` runs at it, else a one-line UsageError."""
    normalized = str(frequency).strip().lower()
    if normalized not in ANALYZE_FREQUENCIES:
        raise UsageError(
            f"unknown frequency {frequency!r}; choose one of: {', '.join(ANALYZE_FREQUENCIES)}"
        )
    return normalized


def model_unavailable(model: str, region: str, frequency: str) -> str | None:
    """Why Ken French does not publish ``model`` for ``region`` at ``frequency``, else None.

    Parameters
    ----------
    model, region, frequency : str
        Lower-case names (``xray7``, ``us``, ``weekly``).

    Returns
    -------
    str or None
        One line naming the file that is missing and what to use instead.

    Examples
    --------
    >>> model_unavailable("ff3", "us", "weekly") is None
    True
    >>> model_unavailable("xray7", "us", "weekly")
    'xray7 has no weekly data: Ken French publishes weekly only the US 3 factors (F-F_Research_Data_Factors_weekly: Mkt-RF, SMB, HML, RF); use --model ff3 or capm, or --frequency monthly'
    """
    if frequency == "monthly" or model in _OTHER_LIBRARY_MODELS:
        return None
    if frequency == "weekly":
        if model in WEEKLY_MODELS and region == "us":
            return None
        published = (
            f"Ken French publishes weekly only the US 3 factors ({WEEKLY_DATASET}: Mkt-RF, SMB, "
            "HML, RF)"
        )
        if model not in WEEKLY_MODELS:
            daily = "--frequency daily" if model not in VOL_MODELS else "--frequency monthly"
            return f"{model} has no weekly data: {published}; use --model ff3 or capm, or {daily}"
        return (
            f"{model} has no weekly data for region {region}: {published}; "
            "use --region us, or --frequency daily"
        )
    if frequency == "daily" and model in VOL_MODELS:
        return (
            f"{model} has no daily data: Ken French publishes the size/variance portfolios "
            "behind VOL (25_Portfolios_ME_VAR_5x5) monthly only, with no daily file; "
            "use --model ff6, or --frequency monthly"
        )
    return None


def check_model_frequency(model: str, region: str, frequency: str) -> None:
    """Raise a one-line UsageError when ``model`` is not published at ``frequency``.

    See :func:`model_unavailable`.
    """
    reason = model_unavailable(model, region, frequency)
    if reason is not None:
        raise UsageError(reason)


def min_periods(min_months: int, frequency: str) -> int:
    """The least number of periods spanning ``min_months`` months (36 -> 156 weeks, 756 days).

    Examples
    --------
    >>> min_periods(36, "monthly"), min_periods(36, "weekly"), min_periods(36, "daily")
    (36, 156, 756)
    """
    return math.ceil(min_months * PERIODS_PER_YEAR[frequency] / 12 - 1e-9)


def months_text(min_months: int, frequency: str) -> str:
    """``--min-months 36`` in the run's unit: ``36 months`` or ``36 months = 156 weeks``."""
    if frequency == "monthly":
        return f"{min_months} months"
    unit = PERIOD_NAMES[frequency]
    return f"{min_months} months = {min_periods(min_months, frequency)} {unit}s"


def to_periods(frame: pd.DataFrame, frequency: str) -> pd.DataFrame:
    """``frame`` on the period index of ``frequency`` (a copy; ``attrs`` kept).

    Monthly frames keep their ``PeriodIndex('M')``. Weekly and daily factor files come on a
    ``DatetimeIndex`` (the week's last trading day, the day): each date becomes its calendar
    week (``W-SUN``) or day, so fund returns computed by calendar week match Ken French's rows.

    Raises
    ------
    UsageError
        Two rows fall in one period (the file is not of that frequency).
    """
    import pandas as pd

    freq = PERIOD_FREQ[frequency]
    index = frame.index
    if isinstance(index, pd.PeriodIndex):
        if index.freqstr == pd.PeriodIndex([], freq=freq).freqstr:
            return frame
        periods = index.to_timestamp(how="end").to_period(freq)
    elif isinstance(index, pd.DatetimeIndex):
        periods = index.to_period(freq)
    else:
        raise UsageError(f"{frequency} data need a date index, not {type(index).__name__}")
    if periods.has_duplicates:
        twice = periods[periods.duplicated()][0]
        raise UsageError(
            f"the data hold two rows in the {PERIOD_NAMES[frequency]} {twice}; "
            f"they are not {frequency} data"
        )
    out = frame.copy()
    out.index = periods.rename(index.name or "period")
    out.attrs = dict(frame.attrs)
    return out
