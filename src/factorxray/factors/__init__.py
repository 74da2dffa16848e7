"""Factor data: models (``models``), any mix (``catalog``), libraries (``libraries``), vintages.

Every name that ``factorxray.factors`` exported when it was one module is re-exported here,
so ``from factorxray.factors import load_factors, MODELS, ...`` keeps working.
"""

from __future__ import annotations

from factorxray._lazy import lazy_exports

#: Public name -> the module that defines it, imported on first access (PEP 562), so that
#: ``from factorxray.factors.registry import MODELS`` (the command line's start) stays light.
_EXPORTS = {
    **dict.fromkeys(
        (
            "CATALOG",
            "LIBRARIES",
            "MIXED_MODELS",
            "FactorSpec",
            "load_factor_set",
            "resolve_factors",
        ),
        "factorxray.factors.catalog",
    ),
    **dict.fromkeys(
        ("FACTOR_ORDER", "FREQUENCIES", "MODELS", "REGIONS"), "factorxray.factors.registry"
    ),
    **dict.fromkeys(
        (
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
        ),
        "factorxray.factors.models",
    ),
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
