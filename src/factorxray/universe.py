"""Fund lists: ticker, name, category, region and the factor tilts each fund promises.

A :class:`Universe` is an ordered list of :class:`Fund` objects. Each fund carries the tilts
its label promises (:class:`Tilt`, e.g. ``HML>0`` for value), either given explicitly or
taken from its category through :data:`CATEGORY_TILTS`. :mod:`factorxray.verdicts` checks
those promises against regression results.

Universes come from three places:

* the presets shipped with the package (:mod:`factorxray.presets`),
* a user file in TOML, YAML or CSV (:func:`load_universe`, :func:`parse_universe`),
* plain tickers (:func:`universe_from_tickers`), optionally labelled by a preset.

Names, categories and descriptions are user-supplied text: they are kept exactly as given
(whatever renders them must escape them). Tickers are stripped and upper-cased.
"""

from __future__ import annotations

import csv
import io
import math
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from factorxray.data.tickers import check_ticker
from factorxray.errors import UsageError, quote
from factorxray.factors import FACTOR_ORDER, REGIONS

__all__ = [
    "CATEGORY_TILTS",
    "MARKET_FACTOR",
    "MULTI",
    "UNLABELLED",
    "Fund",
    "Tilt",
    "Universe",
    "category_tilts",
    "load_universe",
    "parse_universe",
    "universe_from_tickers",
]

#: Category of funds that carry no label at all.
UNLABELLED = "unlabelled"
#: The market factor: never a "style" tilt, never counted as unintended.
MARKET_FACTOR = "Mkt-RF"
#: Pseudo-factor of the multi-factor rule (``multi>=2``).
MULTI = "multi"

_OPS = (">=", "<=", ">", "<")
_OP_ALIASES = {"≥": ">=", "≤": "<=", "=>": ">=", "=<": "<="}
_FACTOR_ALIASES = {
    **{name.lower(): name for name in FACTOR_ORDER},
    "mkt": "Mkt-RF",
    "mkt_rf": "Mkt-RF",
    "mktrf": "Mkt-RF",
    "market": "Mkt-RF",
    "umd": "MOM",
    "wml": "MOM",
    MULTI: MULTI,
}
_TILT_RE = re.compile(
    r"^\s*(?P<factor>[A-Za-z][A-Za-z0-9_.-]*?)\s*(?P<op>>=|<=|=>|=<|>|<|≥|≤)\s*"
    r"(?P<threshold>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
_TILT_HELP = (
    "write FACTOR OP NUMBER, e.g. 'HML>0' or 'Mkt-RF<1' (OP one of >, >=, <, <=), "
    "or 'multi>=N' for at least N significant factor premia"
)


# --------------------------------------------------------------------------------- tilts


@dataclass(frozen=True)
class Tilt:
    """One promised exposure: the fund's beta on ``factor`` is ``op`` ``threshold``.

    ``Tilt("HML", ">", 0)`` is a value tilt, ``Tilt("Mkt-RF", "<", 1)`` a defensive market
    beta. The pseudo-factor ``"multi"`` (``Tilt("multi", ">=", 2)``) is the multi-factor
    rule: at least that many significant factor premia (positive betas on non-market
    factors); see :func:`factorxray.verdicts.judge`.

    Parameters
    ----------
    factor : str
        Factor name as the model spells it (``"HML"``, ``"Mkt-RF"``), or ``"multi"``.
    op : {">", ">=", "<", "<="}
        Side of ``threshold`` the beta should be on.
    threshold : float
        The boundary (0 for ordinary factor tilts, 1 for market beta; an integer >= 1 for
        ``multi``).

    Examples
    --------
    >>> Tilt.parse("Mkt-RF<1")
    Tilt(factor='Mkt-RF', op='<', threshold=1.0)
    >>> str(Tilt.parse(" hml > 0 "))
    'HML>0'
    """

    factor: str
    op: str
    threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise UsageError(f"bad tilt operator {quote(self.op)}: use one of >, >=, <, <=")
        if not isinstance(self.factor, str) or not self.factor.strip():
            raise UsageError(f"bad tilt factor {quote(self.factor)}: give a factor name")
        try:
            threshold = float(self.threshold)
        except (TypeError, ValueError):
            raise UsageError(f"bad tilt threshold {quote(self.threshold)}: give a number") from None
        if not math.isfinite(threshold):
            raise UsageError(f"bad tilt threshold {quote(self.threshold)}: give a finite number")
        object.__setattr__(self, "threshold", threshold)
        if self.is_multi and (self.op != ">=" or threshold < 1 or not threshold.is_integer()):
            raise UsageError(
                f"bad multi-factor rule '{self.factor}{self.op}{self.threshold}': "
                "write 'multi>=N' with N a whole number of at least 1, e.g. 'multi>=2'"
            )

    @classmethod
    def parse(cls, text: str) -> Tilt:
        """Read a tilt from text such as ``"HML>0"``, ``"Mkt-RF < 1"`` or ``"multi>=2"``.

        Known factor names are matched case-insensitively and returned in the model's
        spelling (``"hml"`` -> ``"HML"``; ``"MKT"``, ``"market"`` -> ``"Mkt-RF"``; ``"UMD"``,
        ``"WML"`` -> ``"MOM"``). Other names are kept as written, for custom factors; check
        them with :meth:`Universe.validate`.

        Parameters
        ----------
        text : str
            The tilt.

        Returns
        -------
        Tilt

        Raises
        ------
        UsageError
            When the text is not ``FACTOR OP NUMBER``.

        Examples
        --------
        >>> Tilt.parse("multi>=2").is_multi
        True
        >>> Tilt.parse("VOL >= 0.1")
        Tilt(factor='VOL', op='>=', threshold=0.1)
        """
        if not isinstance(text, str):
            raise UsageError(f"bad tilt {quote(text)}: {_TILT_HELP}")
        match = _TILT_RE.match(text)
        if match is None:
            raise UsageError(f"bad tilt {quote(text)}: {_TILT_HELP}")
        raw = match["factor"]
        factor = _FACTOR_ALIASES.get(raw.lower(), raw)
        op = _OP_ALIASES.get(match["op"], match["op"])
        return cls(factor, op, float(match["threshold"]))

    @property
    def is_multi(self) -> bool:
        """Whether this is the multi-factor counting rule (``multi>=N``)."""
        return self.factor == MULTI

    @property
    def sign(self) -> int:
        """+1 when the beta should be above the threshold, -1 when below."""
        return 1 if self.op in (">", ">=") else -1

    def holds(self, beta: float) -> bool:
        """Whether ``beta`` is on the promised side of the threshold.

        Parameters
        ----------
        beta : float
            Estimated factor loading.

        Returns
        -------
        bool

        Examples
        --------
        >>> Tilt.parse("Mkt-RF<1").holds(0.86)
        True
        """
        return {
            ">": beta > self.threshold,
            ">=": beta >= self.threshold,
            "<": beta < self.threshold,
            "<=": beta <= self.threshold,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.factor}{self.op}{self.threshold:g}"


def _as_tilt(value: Tilt | str) -> Tilt:
    if isinstance(value, Tilt):
        return value
    return Tilt.parse(value)


def _split_tilts(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[;,]", text) if part.strip()]


# ---------------------------------------------------------------------- category defaults

#: Category -> tilts expected of a fund in it, used when a fund gives no explicit tilts.
#: An empty tuple means the label promises *no* tilt (a core/market fund): any significant
#: non-market exposure is reported as unintended. Categories are matched case-insensitively
#: with ``-``, ``_`` and spaces treated alike (``"Small Cap"`` is ``"small-cap"``); see also
#: the aliases in :data:`CATEGORY_ALIASES`. A category not listed here, with no explicit
#: tilts, is a label we cannot test ("no label").
CATEGORY_TILTS: dict[str, tuple[Tilt, ...]] = {
    "small-cap": (Tilt("SMB", ">", 0),),
    "large-cap": (Tilt("SMB", "<", 0),),
    "large/core": (),
    "core": (),
    "value": (Tilt("HML", ">", 0),),
    "growth": (Tilt("HML", "<", 0),),
    "quality": (Tilt("RMW", ">", 0),),
    "momentum": (Tilt("MOM", ">", 0),),
    "low volatility": (Tilt("VOL", ">", 0), Tilt("Mkt-RF", "<", 1)),
    "multi-factor": (Tilt(MULTI, ">=", 2),),
}

#: Other spellings of the categories above.
CATEGORY_ALIASES: dict[str, str] = {
    "smallcap": "small-cap",
    "small": "small-cap",
    "largecap": "large-cap",
    "large": "large-cap",
    "mega-cap": "large-cap",
    "large core": "large/core",
    "large-cap/core": "large/core",
    "market": "core",
    "broad market": "core",
    "profitability": "quality",
    "low vol": "low volatility",
    "low-vol": "low volatility",
    "lowvol": "low volatility",
    "min vol": "low volatility",
    "minimum volatility": "low volatility",
    "multifactor": "multi-factor",
    "multi factor": "multi-factor",
}


def _category_key(category: str) -> str:
    return re.sub(r"[\s_-]+", " ", category.strip().lower())


_CATEGORY_LOOKUP = {
    **{_category_key(alias): name for alias, name in CATEGORY_ALIASES.items()},
    **{_category_key(name): name for name in CATEGORY_TILTS},
}


def category_tilts(category: str) -> tuple[Tilt, ...] | None:
    """Default tilts of a category, or None when the category is not a known label.

    Parameters
    ----------
    category : str
        Category as written by the user (``"Value"``, ``"small cap"``, ``"Low Vol"``...).

    Returns
    -------
    tuple of Tilt or None
        The expected tilts (possibly empty: "no tilt expected"), or None if unknown.

    Examples
    --------
    >>> [str(t) for t in category_tilts("Low Vol")]
    ['VOL>0', 'Mkt-RF<1']
    >>> category_tilts("large/core")
    ()
    >>> category_tilts("thematic") is None
    True
    """
    name = _CATEGORY_LOOKUP.get(_category_key(category))
    return None if name is None else CATEGORY_TILTS[name]


def canonical_category(category: str) -> str | None:
    """The name of a known category in :data:`CATEGORY_TILTS` (aliases resolved), else None.

    Examples
    --------
    >>> canonical_category("Large Core"), canonical_category("thematic")
    ('large/core', None)
    """
    return _CATEGORY_LOOKUP.get(_category_key(category))


# ---------------------------------------------------------------------------------- funds


def _clean_ticker(ticker: object) -> str:
    """The ticker upper-cased, checked by the one rule the price sources use too."""
    if not isinstance(ticker, str):
        raise UsageError(f"bad ticker {quote(ticker)}: a ticker is text such as 'SPY'")
    if not ticker.strip():
        raise UsageError("empty ticker: every fund needs a ticker such as 'SPY'")
    return check_ticker(ticker)


def _text(value: object, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be text, not {type(value).__name__} {quote(value)}")
    return value


def _some(items: Sequence[str], limit: int = 10) -> str:
    """The first ``limit`` items, comma-separated, and how many more (for error messages)."""
    shown = ", ".join(quote(item, 30)[1:-1] for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


@dataclass(frozen=True)
class Fund:
    """One fund and the factor tilts its label promises.

    Parameters
    ----------
    ticker : str
        Stripped and upper-cased.
    name : str
        Display name, kept as given (defaults to the ticker).
    category : str
        Label such as ``"value"``, kept as given (defaults to ``"unlabelled"``).
    region : str
        Factor region the fund is judged against (lower-cased). Empty (the default): the
        run's region (``--region``, ``us`` unless given).
    tilts : sequence of Tilt or str, or str, optional
        Expected tilts (``"HML>0; SMB>0"`` or ``["HML>0", "SMB>0"]`` work too). None (the
        default) takes the category's defaults from :data:`CATEGORY_TILTS`; explicit tilts
        replace them, and an explicit empty sequence (or ``"none"``) means "no tilt
        expected".
    description : str
        Free text, kept as given.
    weight : float, optional
        The fund's weight in a portfolio (``factorxray portfolio --universe F``): a decimal,
        0 or more; None when the list is not a portfolio.

    Attributes
    ----------
    tilt_source : str
        ``"explicit"``, ``"category"`` or ``"none"`` (no tilts given and the category is not
        a known label): where ``tilts`` came from.

    Examples
    --------
    >>> fund = Fund(" vtv ", "Vanguard Value ETF", "Value")
    >>> fund.ticker, [str(t) for t in fund.tilts], fund.tilt_source
    ('VTV', ['HML>0'], 'category')
    >>> [str(t) for t in Fund("VBR", category="small-cap", tilts="SMB>0; HML>0").tilts]
    ['SMB>0', 'HML>0']
    """

    ticker: str
    name: str = ""
    category: str = UNLABELLED
    region: str = ""
    tilts: tuple[Tilt, ...] | Sequence[Tilt | str] | str | None = None
    description: str = ""
    weight: float | None = None
    tilt_source: str = field(init=False, default="none")

    def __post_init__(self) -> None:
        ticker = _clean_ticker(self.ticker)
        name = _text(self.name, "name") or ticker
        category = _text(self.category, "category")
        if not category.strip():
            category = UNLABELLED
        region = _text(self.region, "region").strip().lower()
        description = _text(self.description, "description")
        if self.weight is not None:
            weight = float(self.weight)
            if not (math.isfinite(weight) and weight >= 0):
                raise UsageError(
                    f"weight {quote(self.weight)} of {ticker} must be a number of 0 or more"
                )
            object.__setattr__(self, "weight", weight)
        tilts, source = self._resolve_tilts(category)
        for attr, value in (
            ("ticker", ticker),
            ("name", name),
            ("category", category),
            ("region", region),
            ("description", description),
            ("tilts", tilts),
            ("tilt_source", source),
        ):
            object.__setattr__(self, attr, value)

    def _resolve_tilts(self, category: str) -> tuple[tuple[Tilt, ...], str]:
        given = self.tilts
        if given is None:
            default = category_tilts(category)
            return (default, "category") if default is not None else ((), "none")
        items = _split_tilts(given) if isinstance(given, str) else list(given)
        if len(items) == 1 and isinstance(items[0], str) and items[0].strip().lower() == "none":
            items = []  # "none": the label explicitly promises no tilt
        tilts = tuple(_as_tilt(item) for item in items)
        factors = [t.factor for t in tilts]
        repeated = sorted({f for f in factors if factors.count(f) > 1})
        if repeated:
            raise UsageError(
                f"more than one tilt on {', '.join(repeated)}; give each factor at most one tilt"
            )
        return tilts, "explicit"

    @property
    def labelled(self) -> bool:
        """Whether the fund's label can be tested (explicit tilts or a known category)."""
        return self.tilt_source != "none"

    @property
    def expects_no_tilt(self) -> bool:
        """Whether the label promises no factor tilt at all (e.g. a core market fund)."""
        return self.labelled and not self.tilts

    def tilts_text(self) -> str:
        """The tilts as ``"SMB>0; HML>0"`` (empty when there are none).

        Returns
        -------
        str

        Examples
        --------
        >>> Fund("USMV", category="low volatility").tilts_text()
        'VOL>0; Mkt-RF<1'
        """
        return "; ".join(str(t) for t in self.tilts)


# ------------------------------------------------------------------------------ universes


@dataclass(frozen=True)
class Universe:
    """An ordered list of funds with their labels.

    Parameters
    ----------
    name : str
        Name of the list (a preset's name, a file's stem...).
    funds : sequence of Fund
        The funds, in display order. Tickers must be unique.
    description : str
        Free text about the list.

    Raises
    ------
    UsageError
        On duplicate tickers.

    Examples
    --------
    >>> u = Universe("mine", [Fund("VTV", category="value"), Fund("SPY", category="large/core")])
    >>> u.tickers, u.categories
    (['VTV', 'SPY'], ['value', 'large/core'])
    >>> u.fund("vtv").category
    'value'
    """

    name: str
    funds: tuple[Fund, ...]
    description: str = ""

    def __post_init__(self) -> None:
        funds = tuple(self.funds)
        for fund in funds:
            if not isinstance(fund, Fund):
                raise UsageError(f"universe {quote(self.name)}: {quote(fund)} is not a Fund")
        tickers = [f.ticker for f in funds]
        duplicates = sorted({t for t in tickers if tickers.count(t) > 1})
        if duplicates:
            raise UsageError(
                f"universe {quote(self.name)}: duplicate ticker {_some(duplicates)}; "
                "list each fund once"
            )
        object.__setattr__(self, "funds", funds)

    def __len__(self) -> int:
        return len(self.funds)

    def __iter__(self) -> Iterator[Fund]:
        return iter(self.funds)

    def __contains__(self, ticker: object) -> bool:
        return isinstance(ticker, str) and ticker.strip().upper() in self._index

    @cached_property
    def _index(self) -> dict[str, Fund]:
        return {fund.ticker: fund for fund in self.funds}

    @property
    def tickers(self) -> list[str]:
        """Tickers in order."""
        return [fund.ticker for fund in self.funds]

    @property
    def weights(self) -> dict[str, float] | None:
        """Fund -> weight when the list gives weights (a portfolio), else None.

        Funds without a weight in a list that gives some are left out (weight 0).

        Examples
        --------
        >>> Universe("p", [Fund("SPY", weight=0.6), Fund("VLUE", weight=0.4)]).weights
        {'SPY': 0.6, 'VLUE': 0.4}
        """
        given = {f.ticker: f.weight for f in self.funds if f.weight is not None}
        return given or None

    @property
    def categories(self) -> list[str]:
        """Distinct categories in the order they first appear."""
        return list(dict.fromkeys(fund.category for fund in self.funds))

    def by_category(self) -> dict[str, list[Fund]]:
        """Funds grouped by category; categories and funds keep their order.

        Returns
        -------
        dict of str to list of Fund

        Examples
        --------
        >>> u = Universe("u", [Fund("A", category="value"), Fund("B"), Fund("C", category="value")])
        >>> {k: [f.ticker for f in v] for k, v in u.by_category().items()}
        {'value': ['A', 'C'], 'unlabelled': ['B']}
        """
        groups: dict[str, list[Fund]] = {}
        for fund in self.funds:
            groups.setdefault(fund.category, []).append(fund)
        return groups

    def fund(self, ticker: str) -> Fund:
        """The fund with this ticker (case-insensitive).

        Parameters
        ----------
        ticker : str
            A ticker of the universe.

        Returns
        -------
        Fund

        Raises
        ------
        UsageError
            When the ticker is not in the universe.

        Examples
        --------
        >>> Universe("u", [Fund("SPY")]).fund(" spy ").name
        'SPY'
        """
        key = ticker.strip().upper() if isinstance(ticker, str) else ticker
        try:
            return self._index[key]
        except KeyError:
            raise UsageError(
                f"{quote(ticker)} is not in universe {quote(self.name)}; its tickers: "
                f"{_some(self.tickers)}"
            ) from None

    def get(self, ticker: str) -> Fund | None:
        """The fund with this ticker, or None.

        Parameters
        ----------
        ticker : str
            Any ticker.

        Returns
        -------
        Fund or None

        Examples
        --------
        >>> Universe("u", [Fund("SPY")]).get("QQQ") is None
        True
        """
        return self._index.get(ticker.strip().upper()) if isinstance(ticker, str) else None

    def subset(self, tickers: Iterable[str], *, name: str | None = None) -> Universe:
        """The given tickers, in the given order, labelled by this universe where it can.

        Tickers this universe holds keep their name, category and tilts; the others become
        unlabelled funds (see :func:`universe_from_tickers`). This is how tickers typed on the
        command line pick up a preset's labels.

        Parameters
        ----------
        tickers : iterable of str
            Tickers, any case; duplicates are an error.
        name : str, optional
            Name of the result (default: this universe's name).

        Returns
        -------
        Universe

        Examples
        --------
        >>> u = Universe("p", [Fund("VTV", category="value")])
        >>> [(f.ticker, f.category) for f in u.subset(["spy", "VTV"])]
        [('SPY', 'unlabelled'), ('VTV', 'value')]
        """
        funds = []
        for raw in tickers:
            ticker = _clean_ticker(raw)
            funds.append(self._index.get(ticker) or Fund(ticker))
        return Universe(self.name if name is None else name, funds, self.description)

    def validate(
        self, factor_names: Iterable[str] = FACTOR_ORDER, *, check_regions: bool = True
    ) -> Universe:
        """Check that every tilt names a known factor and every region is known.

        A tilt may name a factor the chosen model lacks (the verdict then says "not
        tested"), but not a factor that does not exist at all: that is a typo.

        Parameters
        ----------
        factor_names : iterable of str
            The valid factor names (default: every factor factorxray knows).
        check_regions : bool
            Also check the regions (``analyze`` checks them per fund instead, so that one
            fund with an unknown region fails alone).

        Returns
        -------
        Universe
            ``self``, for chaining.

        Raises
        ------
        UsageError
            Naming the fund, the tilt, the unknown factor and the valid factors.

        Examples
        --------
        >>> Universe("u", [Fund("X", tilts="HLM>0")]).validate()
        Traceback (most recent call last):
        ...
        factorxray.errors.UsageError: fund 'X' expects tilt 'HLM>0' on unknown factor 'HLM'; valid factors: Mkt-RF, SMB, HML, RMW, CMA, MOM, VOL (or 'multi>=N')
        """
        valid = list(factor_names)
        for fund in self.funds:
            if check_regions and fund.region and fund.region not in REGIONS:
                raise UsageError(
                    f"fund {quote(fund.ticker)} has unknown region {quote(fund.region)}; "
                    f"valid regions: {', '.join(REGIONS)}"
                )
            for tilt in fund.tilts:
                if not tilt.is_multi and tilt.factor not in valid:
                    raise UsageError(
                        f"fund {quote(fund.ticker)} expects tilt {quote(str(tilt))} on unknown "
                        f"factor {quote(tilt.factor)}; valid factors: {', '.join(valid)} "
                        "(or 'multi>=N')"
                    )
        return self

    def to_frame(self) -> pd.DataFrame:
        """One row per fund: name, category, region, tilts, tilt source, description.

        Returns
        -------
        DataFrame
            Indexed by ``ticker``; ``tilts`` as text (``"SMB>0; HML>0"``).

        Examples
        --------
        >>> Universe("u", [Fund("VTV", "Vanguard Value", "value")]).to_frame().loc["VTV", "tilts"]
        'HML>0'
        """
        rows = [
            {
                "ticker": f.ticker,
                "name": f.name,
                "category": f.category,
                "region": f.region,
                "tilts": f.tilts_text(),
                "tilt_source": f.tilt_source,
                "description": f.description,
            }
            for f in self.funds
        ]
        columns = ["ticker", "name", "category", "region", "tilts", "tilt_source", "description"]
        return pd.DataFrame(rows, columns=columns).set_index("ticker")


def universe_from_tickers(
    tickers: Iterable[str], *, labels: Universe | None = None, name: str = "custom"
) -> Universe:
    """A universe of plain tickers: unlabelled, no tilts, name = ticker.

    Parameters
    ----------
    tickers : iterable of str
        Tickers, any case.
    labels : Universe, optional
        A universe (e.g. a preset) whose name, category and tilts are used for the tickers
        it holds.
    name : str
        Name of the result.

    Returns
    -------
    Universe

    Examples
    --------
    >>> u = universe_from_tickers(["spy", "qqq"])
    >>> u.tickers, u.fund("SPY").category, u.fund("SPY").tilts
    (['SPY', 'QQQ'], 'unlabelled', ())
    """
    source = labels if labels is not None else Universe(name, ())
    return source.subset(tickers, name=name)


# ---------------------------------------------------------------------------------- files

_FUND_KEYS = ("ticker", "name", "category", "region", "tilts", "description", "weight")
#: The largest universe file read (a list of 10,000 funds is well under 2 MB).
MAX_UNIVERSE_BYTES = 16 * 1024 * 1024
#: The most values a YAML file may expand to once its aliases (``*name``) are followed: a
#: few aliases nested in each other ("billion laughs") expand to billions.
MAX_YAML_VALUES = 1_000_000
#: The deepest nesting of lists and mappings read from YAML (a fund list needs 3).
MAX_YAML_DEPTH = 50
_TOP_KEYS = ("name", "description", "source", "fund", "funds")
_FORMATS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".csv": "csv"}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def load_universe(
    path: str | Path, *, factor_names: Iterable[str] | None = FACTOR_ORDER
) -> Universe:
    """Read a fund list from a TOML, YAML or CSV file (chosen by the file's suffix).

    TOML: ``[[fund]]`` tables; YAML: a list under ``funds:``; CSV: a header row with
    ``ticker`` and any of ``name, category, region, tilts, description`` (tilts separated by
    ``;``). See ``docs/universe.md`` for an example of each. Unknown keys or columns are
    errors (a misspelt ``catgory`` would otherwise silently drop the label).

    Parameters
    ----------
    path : str or Path
        The file.
    factor_names : iterable of str or None
        Factors a tilt may name (default: every factor factorxray knows); None skips the
        check, for custom factors.

    Returns
    -------
    Universe
        Named after the file's ``name`` entry, or its stem.

    Raises
    ------
    UsageError
        One line naming the file and the problem: unreadable, malformed, unknown format,
        bad ticker or tilt, duplicate ticker, no funds.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "mine.csv"
    >>> _ = p.write_text("ticker,category,tilts\\nvtv,value,\\nvbr,small-cap,SMB>0;HML>0\\n")
    >>> u = load_universe(p)
    >>> u.name, u.tickers, u.fund("VBR").tilts_text()
    ('mine', ['VTV', 'VBR'], 'SMB>0; HML>0')
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(
            f"universe file {path} is a folder; give a fund list file (.toml, .yaml/.yml or "
            ".csv), e.g. --universe funds.csv"
        )
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"universe file {path}: unknown format {quote(path.suffix or '(no suffix)')}; "
            "use .toml, .yaml/.yml or .csv"
        )
    try:
        if path.stat().st_size > MAX_UNIVERSE_BYTES:
            raise UsageError(
                f"universe file {path} is larger than {MAX_UNIVERSE_BYTES // (1024 * 1024)} MB; "
                "a fund list is far smaller, check the path"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read universe file {path}: {_one_line(exc.strerror or exc)}"
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"universe file {path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    return parse_universe(text, fmt, name=path.stem, source=str(path), factor_names=factor_names)


def parse_universe(
    text: str,
    fmt: str,
    *,
    name: str = "custom",
    source: str = "<text>",
    factor_names: Iterable[str] | None = FACTOR_ORDER,
) -> Universe:
    """Read a fund list from text in one of the file formats.

    Parameters
    ----------
    text : str
        File content.
    fmt : {"toml", "yaml", "csv"}
        Its format.
    name : str
        Name when the text has no ``name`` entry (CSV never has one).
    source : str
        What to call the text in error messages (a path, a preset name).
    factor_names : iterable of str or None
        Factors a tilt may name; None skips the check.

    Returns
    -------
    Universe

    Raises
    ------
    UsageError
        One line starting with ``source``.

    Examples
    --------
    >>> u = parse_universe("funds:\\n  - ticker: ON\\n    category: quality\\n", "yaml")
    >>> u.tickers, u.fund("ON").tilts_text()
    (['ON'], 'RMW>0')
    """
    readers = {"toml": _read_toml, "yaml": _read_yaml, "csv": _read_csv}
    if fmt not in readers:
        raise UsageError(f"{source}: unknown format {quote(fmt)}; use toml, yaml or csv")
    try:
        meta, records = readers[fmt](text, source)
        universe = _build(meta, records, name, source)
        if factor_names is not None:
            # A fund with an unknown region fails alone when it is analyzed; the others run.
            universe.validate(factor_names, check_regions=False)
    except UsageError as exc:
        message = _one_line(exc)
        if not message.startswith(source):
            message = f"{source}: {message}"
        raise UsageError(message) from None
    return universe


def _read_toml(text: str, source: str) -> tuple[dict[str, Any], list[Any]]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: invalid TOML: {_short_error(exc)}") from None
    except RecursionError:
        raise UsageError(f"{source}: invalid TOML: nested too deeply") from None
    return _split_document(doc, source, "TOML", "[[fund]] tables")


def _read_yaml(text: str, source: str) -> tuple[dict[str, Any], list[Any]]:
    from factorxray._yaml_reader import read_yaml  # PyYAML only when a YAML list is read

    doc = read_yaml(text, source)
    if isinstance(doc, list):
        doc = {"funds": doc}
    return _split_document(doc, source, "YAML", "a list under 'funds:'")


def _short_error(exc: BaseException, limit: int = 200) -> str:
    """A parser's message on one line, at most ``limit`` characters (it may quote the input)."""
    text = _one_line(exc)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _split_document(
    doc: object, source: str, kind: str, expected: str
) -> tuple[dict[str, Any], list[Any]]:
    if not isinstance(doc, dict):
        raise UsageError(f"{source}: expected {expected}, found no {kind} mapping")
    unknown = [k for k in doc if k not in _TOP_KEYS]
    if unknown:
        raise UsageError(
            f"{source}: unknown key {quote(unknown[0])}; top-level keys are name, description, "
            f"source and {expected}"
        )
    if "fund" in doc and "funds" in doc:
        raise UsageError(f"{source}: give the funds under one key, 'fund' or 'funds', not both")
    records = doc.get("fund", doc.get("funds"))
    if records is None:
        raise UsageError(f"{source}: no funds; expected {expected}")
    if not isinstance(records, list):
        raise UsageError(f"{source}: the funds must be {expected}, not a single value")
    meta = {k: doc[k] for k in ("name", "description") if k in doc}
    return meta, records


def _csv_rows(text: str, source: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a CSV text, each with the line it starts on.

    Strict about quotes: a quote left open would otherwise swallow every later line into
    one field (``VTV,"Vanguard`` then ``SPY,...`` read as one fund named ``Vanguard\nSPY``),
    and text after a closing quote would be glued on silently.
    """
    reader = csv.reader(io.StringIO(text), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            raise UsageError(_csv_problem(exc, source, start, reader.line_num)) from None
        if any(cell.strip() for cell in row):
            rows.append((start, row))
        start = reader.line_num + 1


def _csv_problem(exc: csv.Error, source: str, start: int, line: int) -> str:
    """One line for a CSV syntax error of the record starting on line ``start``."""
    reason = str(exc)
    if "unexpected end of data" in reason or "EOF" in reason:
        return (
            f"{source} line {start}: unclosed quote (the quoted field runs to the end of the "
            "file); close the quote or remove it"
        )
    if "expected after" in reason:
        return (
            f"{source} line {line}: text after a closing quote; quote the whole field and "
            'double any quote inside it ("")'
        )
    return f"{source} line {line}: invalid CSV: {_short_error(exc)}"


def _read_csv(text: str, source: str) -> tuple[dict[str, Any], list[Any]]:
    numbered = _csv_rows(text, source)
    rows = [row for _, row in numbered]
    if not rows:
        raise UsageError(f"{source}: empty CSV; expected a header row with a 'ticker' column")
    header = [cell.strip().lower() for cell in rows[0]]
    if "ticker" not in header:
        raise UsageError(
            f"{source}: no 'ticker' column in the header ({_some(header)}); "
            f"columns are {', '.join(_FUND_KEYS)}"
        )
    unknown = [h for h in header if h not in _FUND_KEYS]
    if unknown:
        raise UsageError(
            f"{source}: unknown column {quote(unknown[0])}; columns are {', '.join(_FUND_KEYS)}"
        )
    if len(set(header)) != len(header):
        raise UsageError(f"{source}: a column appears twice in the header")
    records = []
    for line, row in numbered[1:]:
        if len(row) > len(header):
            raise UsageError(
                f"{source} line {line}: {len(row)} cells but the header has {len(header)} "
                "(quote names that contain commas)"
            )
        records.append(dict(zip(header, row, strict=False)))
    return {}, records


def _build(meta: Mapping[str, Any], records: list[Any], name: str, source: str) -> Universe:
    if not records:
        raise UsageError(f"{source}: no funds listed")
    funds = [_fund_from_record(record, i, source) for i, record in enumerate(records, start=1)]
    title = _text(meta.get("name"), "name").strip() or name
    description = _text(meta.get("description"), "description")
    try:
        return Universe(title, funds, description)
    except UsageError as exc:
        message = str(exc).replace(f"universe {quote(title)}: ", "")
        raise UsageError(f"{source}: {message}") from None


def _fund_from_record(record: object, position: int, source: str) -> Fund:
    where = f"{source}: fund {position}"
    if not isinstance(record, dict):
        raise UsageError(
            f"{where}: expected a table of keys (ticker, name, ...), got {quote(record)}"
        )
    ticker = record.get("ticker")
    if isinstance(ticker, str) and ticker.strip():
        where = f"{where} ({quote(ticker.strip().upper(), 24)[1:-1]})"
    unknown = [k for k in record if k not in _FUND_KEYS]
    if unknown:
        raise UsageError(
            f"{where}: unknown key {quote(unknown[0])}; keys are {', '.join(_FUND_KEYS)}"
        )
    if ticker is None or (isinstance(ticker, str) and not ticker.strip()):
        raise UsageError(f"{where}: no ticker")
    try:
        return Fund(
            ticker=ticker,
            name=_text(record.get("name"), "name"),
            category=_text(record.get("category"), "category"),
            region=_text(record.get("region"), "region"),
            tilts=_record_tilts(record.get("tilts")),
            description=_text(record.get("description"), "description"),
            weight=_record_weight(record.get("weight")),
        )
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _record_weight(value: object) -> float | None:
    """A fund's portfolio weight: a number (0.6) or a percent string (``60%``); blank: none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise UsageError(f"weight {quote(value)} is not a number; write e.g. 0.6 or 60%")
    text = str(value).strip()
    try:
        return float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise UsageError(f"weight {quote(value)} is not a number; write e.g. 0.6 or 60%") from None


def _record_tilts(value: object) -> list[str] | None:
    """Tilts of one record: None (absent or blank: category default) or a list of strings."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = _split_tilts(value)
        return parts or None
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                raise UsageError(f"tilts must be text such as 'HML>0', not {quote(item)}")
        return [item.strip() for item in value if item.strip()]
    raise UsageError(f"tilts must be a list of text such as ['HML>0'], not {quote(value)}")
