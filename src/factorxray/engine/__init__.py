"""Regression engine: batched static and rolling OLS of fund returns on factor returns."""

from __future__ import annotations

from factorxray.engine.covariance import (
    HAC,
    HC1,
    Bartlett,
    CovarianceEstimator,
    Kernel,
    NonRobust,
)
from factorxray.engine.diagnostics import factor_correlations, vif
from factorxray.engine.ols import regress
from factorxray.engine.rolling import rolling_regress

__all__ = [
    "HAC",
    "HC1",
    "Bartlett",
    "CovarianceEstimator",
    "Kernel",
    "NonRobust",
    "factor_correlations",
    "regress",
    "rolling_regress",
    "vif",
]
