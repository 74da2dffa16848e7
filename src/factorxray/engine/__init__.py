"""Regression engine: batched static OLS of fund returns on factor returns."""

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

__all__ = [
    "HAC",
    "HC1",
    "Bartlett",
    "CovarianceEstimator",
    "Kernel",
    "NonRobust",
    "factor_correlations",
    "regress",
    "vif",
]
