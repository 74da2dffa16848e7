"""Regression engine: batched static and rolling OLS of fund returns on factor returns."""

from __future__ import annotations

from factorxray.engine.breaks import (
    P_VALUE_FLOOR,
    SupWaldResult,
    drift_tests,
    drift_tests_by_cov,
    sup_wald,
    supwald_critical_value,
    supwald_pvalue,
)
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
    "P_VALUE_FLOOR",
    "Bartlett",
    "CovarianceEstimator",
    "Kernel",
    "NonRobust",
    "SupWaldResult",
    "drift_tests",
    "drift_tests_by_cov",
    "factor_correlations",
    "regress",
    "rolling_regress",
    "sup_wald",
    "supwald_critical_value",
    "supwald_pvalue",
    "vif",
]
