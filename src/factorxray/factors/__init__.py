"""Factor data: models (``models``), more factor libraries (``libraries``), vintages.

Every name that ``factorxray.factors`` exported when it was one module is re-exported here,
so ``from factorxray.factors import load_factors, MODELS, ...`` keeps working.
"""

from __future__ import annotations

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
    "FACTOR_ORDER",
    "FREQUENCIES",
    "MODELS",
    "REGIONS",
    "VOL_DATASET",
    "VOL_LONG",
    "VOL_SECTION",
    "VOL_SHORT",
    "Source",
    "combine_sources",
    "describe_models",
    "load_factors",
    "model_sources",
    "validate_choice",
    "vol_factor",
]
