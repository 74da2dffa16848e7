"""Factor data: models (``models``), any mix (``catalog``), libraries (``libraries``), vintages.

Every name that ``factorxray.factors`` exported when it was one module is re-exported here,
so ``from factorxray.factors import load_factors, MODELS, ...`` keeps working.
"""

from __future__ import annotations

from factorxray.factors.catalog import (
    CATALOG,
    LIBRARIES,
    MIXED_MODELS,
    FactorSpec,
    load_factor_set,
    resolve_factors,
)
from factorxray.factors.models import (
    FACTOR_ORDER,
    FREQUENCIES,
    MODELS,
    REGIONS,
    VOL_DATASET,
    VOL_LONG,
    VOL_SECTION,
    VOL_SHORT,
    Source,
    combine_sources,
    describe_models,
    load_factors,
    model_sources,
    validate_choice,
    vol_factor,
)

__all__ = [
    "CATALOG",
    "FACTOR_ORDER",
    "FREQUENCIES",
    "LIBRARIES",
    "MIXED_MODELS",
    "MODELS",
    "REGIONS",
    "VOL_DATASET",
    "VOL_LONG",
    "VOL_SECTION",
    "VOL_SHORT",
    "FactorSpec",
    "Source",
    "combine_sources",
    "describe_models",
    "load_factor_set",
    "load_factors",
    "model_sources",
    "resolve_factors",
    "validate_choice",
    "vol_factor",
]
