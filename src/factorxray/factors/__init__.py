"""Factor data: models (``models``), any mix (``catalog``), libraries (``libraries``), vintages.

Every name that ``factorxray.factors`` exported when it was one module is re-exported here,
so ``from factorxray.factors import load_factors, MODELS, ...`` keeps working.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'factorxray.factors' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
