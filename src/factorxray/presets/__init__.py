"""Fund lists shipped with factorxray.

Each preset is a TOML file in this package (same format as a user's universe file, see
``docs/universe.md``), read with :mod:`importlib.resources`, so presets work from a wheel
and offline.

Examples
--------
>>> from factorxray import presets
>>> "smart-beta-20" in presets.names()
True
>>> len(presets.get("smart-beta-20"))
20
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd

from factorxray.errors import UsageError
from factorxray.universe import Universe, parse_universe

__all__ = ["describe", "get", "names"]

_SUFFIX = ".toml"


def names() -> list[str]:
    """Names of the shipped presets, sorted.

    Returns
    -------
    list of str

    Examples
    --------
    >>> names()
    ['international-13', 'smart-beta-20']
    """
    folder = resources.files(__name__)
    return sorted(
        entry.name[: -len(_SUFFIX)]
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(_SUFFIX)
    )


def get(name: str) -> Universe:
    """One preset universe by name (case-insensitive).

    Parameters
    ----------
    name : str
        A name from :func:`names`.

    Returns
    -------
    Universe

    Raises
    ------
    UsageError
        Naming the valid presets when ``name`` is not one.

    Examples
    --------
    >>> u = get("smart-beta-20")
    >>> u.categories[:2], u.tickers[:3]
    (['small-cap', 'large/core'], ['VBR', 'IJR', 'USMC'])
    """
    key = name.strip().lower() if isinstance(name, str) else name
    valid = names()
    if key not in valid:
        raise UsageError(f"unknown preset {name!r}; presets: {', '.join(valid)}")
    return _load(key)


@cache
def _load(name: str) -> Universe:
    text = resources.files(__name__).joinpath(name + _SUFFIX).read_text(encoding="utf-8")
    return parse_universe(text, "toml", name=name, source=f"preset {name!r}")


def describe() -> pd.DataFrame:
    """One row per preset: number of funds, categories (in order) and description.

    Returns
    -------
    DataFrame
        Indexed by preset name; columns ``funds``, ``categories``, ``description``.

    Examples
    --------
    >>> int(describe().loc["smart-beta-20", "funds"])
    20
    """
    rows = []
    for preset in names():
        universe = _load(preset)
        rows.append(
            {
                "preset": preset,
                "funds": len(universe),
                "categories": ", ".join(universe.categories),
                "description": universe.description,
            }
        )
    return pd.DataFrame(rows, columns=["preset", "funds", "categories", "description"]).set_index(
        "preset"
    )
