"""Judging funds against their labels: rules, sentences and robustness.

- :mod:`~factorxray.judge.verdicts`: the rules (significance *and* size) and the verdicts;
- :mod:`~factorxray.judge.sentences`: the plain words;
- :mod:`~factorxray.judge.robustness`: other models, rolling windows, drift, FDR, regions.
"""

from __future__ import annotations

from factorxray.judge.verdicts import (
    CHECK_STATUSES,
    DEFAULT_MIN_BETA,
    VERDICT_STATUSES,
    Rules,
    TiltCheck,
    Verdict,
    judge,
    verdict_table,
)

__all__ = [
    "CHECK_STATUSES",
    "DEFAULT_MIN_BETA",
    "VERDICT_STATUSES",
    "Rules",
    "TiltCheck",
    "Verdict",
    "judge",
    "verdict_table",
]
