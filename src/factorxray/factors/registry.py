"""Names of the factor models, regions and frequencies: pure data, no imports.

The command line reads these at start (for its help and choices) without loading pandas;
:mod:`factorxray.factors.models` re-exports them.
"""

from __future__ import annotations

FACTOR_ORDER = ("Mkt-RF", "SMB", "HML", "RMW", "CMA", "MOM", "VOL")

#: Every model: its factors, in order, and what it is.
MODELS: dict[str, tuple[tuple[str, ...], str]] = {
    "capm": (("Mkt-RF",), "CAPM: the market excess return only"),
    "ff3": (("Mkt-RF", "SMB", "HML"), "Fama-French (1993) three factors"),
    "carhart": (("Mkt-RF", "SMB", "HML", "MOM"), "Carhart (1997): FF3 plus momentum"),
    "ff5": (("Mkt-RF", "SMB", "HML", "RMW", "CMA"), "Fama-French (2015) five factors"),
    "ff6": (("Mkt-RF", "SMB", "HML", "RMW", "CMA", "MOM"), "FF5 plus momentum"),
    "xray7": (FACTOR_ORDER, "FF5 plus momentum plus low volatility (VOL), one region (US)"),
    "article7": (
        FACTOR_ORDER,
        "the seed article's exact mix: Developed-markets FF5 and RF, US momentum, US VOL",
    ),
    "q4": (
        ("Mkt-RF", "ME", "IA", "ROE"),
        "Hou-Xue-Zhang (2015) q-factor model, global-q.org (market and RF from the same file), US",
    ),
    "q5": (
        ("Mkt-RF", "ME", "IA", "ROE", "EG"),
        "Hou-Mo-Xue-Zhang (2021) q5: q-factors plus expected growth, global-q.org, US",
    ),
    "ff6bq": (
        ("Mkt-RF", "SMB", "HML", "RMW", "CMA", "MOM", "BAB", "QMJ"),
        "FF5 and momentum (Ken French) plus AQR's betting against beta and quality minus junk",
    ),
}

#: Region -> (prefix of its dataset names, label).
REGIONS: dict[str, tuple[str, str]] = {
    "us": ("F-F", "United States (CRSP)"),
    "developed": ("Developed", "Developed markets (23 countries)"),
    "developed_ex_us": ("Developed_ex_US", "Developed markets excluding the US"),
    "europe": ("Europe", "Europe"),
    "japan": ("Japan", "Japan"),
    "asia_pacific_ex_japan": ("Asia_Pacific_ex_Japan", "Asia Pacific excluding Japan"),
    "north_america": ("North_America", "North America (US and Canada)"),
    "emerging": ("Emerging", "Emerging markets"),
}
FREQUENCIES = ("monthly", "weekly", "daily")
