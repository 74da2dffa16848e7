"""Every factor factorxray can load, from any library, and models made of any mix of them.

A factor is named as a column (``Mkt-RF``, ``BAB``, ``ROE``); where two libraries publish
the same name (the market, from Ken French, the q-factor library and AQR), the default is
Ken French's and ``library:NAME`` picks another (``q:Mkt-RF``). :func:`load_factor_set`
loads any list of them, in decimals, on the months (or days) every source covers, with
the risk-free rate of the market factor's library (else of the first factor's library that
has one, else Ken French's), and records the vintage of every file used.

==========  ===============================================================  ==========
library     factors                                                          regions
==========  ===============================================================  ==========
kenfrench   Mkt-RF SMB HML RMW CMA MOM; VOL STREV LTREV (US only)           all
q           Mkt-RF ME IA ROE EG (global-q.org; monthly, weekly, daily)      us
aqr         BAB QMJ HML_DEVIL UMD MKT_AQR SMB_AQR HML_AQR (monthly)          us, developed, developed_ex_us, europe, north_america, japan
liquidity   LIQ (Pastor-Stambaugh traded factor, monthly)                   us
funds       TERM CREDIT, or NAME=LONG-SHORT (monthly)                         any
user        the columns of your factor file                                 any
==========  ===============================================================  ==========
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from factorxray.data.cache import Cache
from factorxray.data.http import HttpClient, ProgressCallback
from factorxray.errors import UsageError, quote

LIBRARIES: dict[str, str] = {
    "kenfrench": "Kenneth R. French Data Library (Fama/French factors, momentum, reversal, VOL)",
    "q": "q-factor library of Hou, Mo, Xue and Zhang (global-q.org)",
    "aqr": "AQR Capital Management data sets (BAB, QMJ, HML Devil, UMD, market)",
    "liquidity": "Pastor-Stambaugh liquidity factors (Robert Stambaugh's page)",
    "funds": "fund-defined factors: one fund's total return minus another's",
    "user": "your own factor file (CSV or Parquet)",
}
#: Other spellings of library names in ``library:NAME``.
LIBRARY_ALIASES = {
    "ff": "kenfrench",
    "kf": "kenfrench",
    "french": "kenfrench",
    "ken": "kenfrench",
    "hxz": "q",
    "global-q": "q",
    "ps": "liquidity",
    "liq": "liquidity",
    "fund": "funds",
    "file": "user",
}
ALL_REGIONS = None


@dataclass(frozen=True)
class FactorSpec:
    """One factor: its column name, library, where in the library, regions, frequencies."""

    name: str
    library: str
    field: str
    description: str
    regions: tuple[str, ...] | None = ALL_REGIONS
    frequencies: tuple[str, ...] = ("monthly",)
    #: For fund-defined factors: (long fund, short fund).
    legs: tuple[str, str] | None = None

    @property
    def qualified(self) -> str:
        """``library:NAME``."""
        return f"{self.library}:{self.name}"


_KF_MD = ("monthly", "daily")
_AQR_REGIONS = ("us", "developed", "developed_ex_us", "europe", "north_america", "japan")

#: Every factor of every library but the user's file, keyed ``library:NAME``.
CATALOG: dict[str, FactorSpec] = {
    spec.qualified: spec
    for spec in (
        FactorSpec(
            "Mkt-RF", "kenfrench", "Mkt-RF", "market return minus the T-bill", frequencies=_KF_MD
        ),
        FactorSpec("SMB", "kenfrench", "SMB", "size: small minus big", frequencies=_KF_MD),
        FactorSpec(
            "HML", "kenfrench", "HML", "value: high minus low book-to-market", frequencies=_KF_MD
        ),
        FactorSpec(
            "RMW", "kenfrench", "RMW", "profitability: robust minus weak", frequencies=_KF_MD
        ),
        FactorSpec(
            "CMA",
            "kenfrench",
            "CMA",
            "investment: conservative minus aggressive",
            frequencies=_KF_MD,
        ),
        FactorSpec(
            "MOM",
            "kenfrench",
            "MOM",
            "momentum: prior 2-12 month winners minus losers",
            frequencies=_KF_MD,
        ),
        FactorSpec(
            "VOL",
            "kenfrench",
            "VOL",
            "low minus high variance (25 size/variance portfolios)",
            ("us",),
            _KF_MD,
        ),
        FactorSpec(
            "STREV",
            "kenfrench",
            "F-F_ST_Reversal_Factor:ST_Rev",
            "short-term reversal: last month's losers minus winners",
            ("us",),
            _KF_MD,
        ),
        FactorSpec(
            "LTREV",
            "kenfrench",
            "F-F_LT_Reversal_Factor:LT_Rev",
            "long-term reversal: prior 13-60 month losers minus winners",
            ("us",),
            _KF_MD,
        ),
        FactorSpec(
            "Mkt-RF",
            "q",
            "Mkt-RF",
            "q-factor market: value-weighted market minus the T-bill",
            ("us",),
            ("monthly", "weekly", "daily"),
        ),
        FactorSpec(
            "ME", "q", "ME", "q size factor (R_ME)", ("us",), ("monthly", "weekly", "daily")
        ),
        FactorSpec(
            "IA", "q", "IA", "q investment factor (R_IA)", ("us",), ("monthly", "weekly", "daily")
        ),
        FactorSpec(
            "ROE",
            "q",
            "ROE",
            "q profitability factor (R_ROE)",
            ("us",),
            ("monthly", "weekly", "daily"),
        ),
        FactorSpec(
            "EG",
            "q",
            "EG",
            "q5 expected growth factor (R_EG)",
            ("us",),
            ("monthly", "weekly", "daily"),
        ),
        FactorSpec(
            "BAB",
            "aqr",
            "bab:BAB Factors",
            "betting against beta: leveraged low beta minus deleveraged high beta",
            _AQR_REGIONS,
        ),
        FactorSpec(
            "QMJ",
            "aqr",
            "qmj:QMJ Factors",
            "quality minus junk: profitable, growing, safe, well-paid-out minus the opposite",
            _AQR_REGIONS,
        ),
        FactorSpec(
            "HML_DEVIL",
            "aqr",
            "hml_devil:HML Devil",
            "value with current prices (Asness-Frazzini HML Devil)",
            _AQR_REGIONS,
        ),
        FactorSpec("UMD", "aqr", "*:UMD", "AQR momentum: up minus down", _AQR_REGIONS),
        FactorSpec("MKT_AQR", "aqr", "*:MKT", "AQR market return minus the T-bill", _AQR_REGIONS),
        FactorSpec("SMB_AQR", "aqr", "*:SMB", "AQR size: small minus big", _AQR_REGIONS),
        FactorSpec(
            "HML_AQR",
            "aqr",
            "*:HML FF",
            "AQR value with Fama-French's lagged book-to-market",
            _AQR_REGIONS,
        ),
        FactorSpec(
            "LIQ",
            "liquidity",
            "LIQ",
            "traded liquidity factor (LIQ_V, 10-1 on liquidity beta)",
            ("us",),
        ),
        FactorSpec("TERM", "funds", "TERM", "term premium: TLT minus BIL", legs=("TLT", "BIL")),
        FactorSpec(
            "CREDIT", "funds", "CREDIT", "credit premium: LQD minus IEF", legs=("LQD", "IEF")
        ),
    )
}
#: Other spellings of factor names (upper-cased) -> our name.
ALIASES = {
    "MKT": "Mkt-RF",
    "MKTRF": "Mkt-RF",
    "MKT_RF": "Mkt-RF",
    "MARKET": "Mkt-RF",
    "R_MKT": "Mkt-RF",
    "WML": "MOM",
    "ST_REV": "STREV",
    "LT_REV": "LTREV",
    "HML-DEVIL": "HML_DEVIL",
    "HMLDEVIL": "HML_DEVIL",
    "HML DEVIL": "HML_DEVIL",
    "HMLD": "HML_DEVIL",
    "R_ME": "ME",
    "R_IA": "IA",
    "R_ROE": "ROE",
    "R_EG": "EG",
    "LIQ_V": "LIQ",
}
#: Which library a name shared by several comes from when not qualified.
DEFAULT_LIBRARY = {"Mkt-RF": "kenfrench"}

#: Models made of several libraries: model -> qualified factors (see also ``models.MODELS``).
MIXED_MODELS: dict[str, tuple[str, ...]] = {
    "q4": ("q:Mkt-RF", "q:ME", "q:IA", "q:ROE"),
    "q5": ("q:Mkt-RF", "q:ME", "q:IA", "q:ROE", "q:EG"),
    "ff6bq": (
        "kenfrench:Mkt-RF",
        "kenfrench:SMB",
        "kenfrench:HML",
        "kenfrench:RMW",
        "kenfrench:CMA",
        "kenfrench:MOM",
        "aqr:BAB",
        "aqr:QMJ",
    ),
}


def _library(name: str) -> str:
    key = name.strip().lower()
    key = LIBRARY_ALIASES.get(key, key)
    if key not in LIBRARIES:
        raise UsageError(
            f"unknown factor library {quote(name)}; choose one of: {', '.join(LIBRARIES)}"
        )
    return key


def _by_name(library: str | None = None) -> dict[str, list[FactorSpec]]:
    out: dict[str, list[FactorSpec]] = {}
    for spec in CATALOG.values():
        if library is None or spec.library == library:
            out.setdefault(spec.name.upper(), []).append(spec)
    return out


def known_names(user_columns: Sequence[str] = ()) -> list[str]:
    """Every factor name one may ask for (catalog, aliases and the user's columns)."""
    return sorted({s.name for s in CATALOG.values()} | set(user_columns))


def resolve_factors(
    names: str | Sequence[str], user_columns: Sequence[str] = ()
) -> list[FactorSpec]:
    """Turn ``"Mkt-RF,SMB,BAB"`` (or a list) into factor specs, checked.

    Parameters
    ----------
    names : str or sequence of str
        Factor names, comma-separated or a list: ``NAME`` (a catalog name or alias, or a
        column of your factor file), ``library:NAME``, or a fund-defined ``NAME=LONG-SHORT``.
    user_columns : sequence of str
        The factor columns of your factor file, if any.

    Raises
    ------
    UsageError
        An unknown name (the closest known names suggested), a name given twice, two
        factors with one column name, RF asked for, a name both in your file and a library.

    Examples
    --------
    >>> [s.qualified for s in resolve_factors("Mkt-RF, bab, q:ROE")]
    ['kenfrench:Mkt-RF', 'aqr:BAB', 'q:ROE']
    """
    from factorxray.factors.libraries.fund_factors import parse_fund_factor

    items = names.split(",") if isinstance(names, str) else list(names)
    items = [str(item).strip() for item in items if str(item).strip()]
    if not items:
        raise UsageError("no factors given; e.g. --factors Mkt-RF,SMB,HML,BAB")
    user = {c.upper(): c for c in user_columns if c.upper() != "RF"}
    specs: list[FactorSpec] = []
    for item in items:
        if "=" in item:
            name, long_leg, short_leg = parse_fund_factor(item)
            specs.append(
                FactorSpec(
                    name, "funds", name, f"{long_leg} minus {short_leg}", legs=(long_leg, short_leg)
                )
            )
            continue
        library, _, bare = item.rpartition(":")
        if bare.upper() == "RF":
            raise UsageError(
                "RF is added by itself (from the market factor's library); leave it out of --factors"
            )
        if library:
            specs.append(_qualified(_library(library), bare, user))
            continue
        specs.append(_unqualified(bare, user))
    seen: dict[str, FactorSpec] = {}
    for spec in specs:
        if spec.name in seen:
            other = seen[spec.name]
            if other.qualified == spec.qualified:
                raise UsageError(f"factor {spec.name} is listed twice")
            raise UsageError(
                f"two factors are named {spec.name} ({other.qualified} and {spec.qualified}); keep one"
            )
        seen[spec.name] = spec
    return specs


def _user_spec(column: str) -> FactorSpec:
    return FactorSpec(
        column, "user", column, "from your factor file", ALL_REGIONS, ("monthly", "daily")
    )


def _qualified(library: str, bare: str, user: Mapping[str, str]) -> FactorSpec:
    if library == "user":
        if bare.upper() not in user:
            hint = difflib.get_close_matches(bare, list(user.values()), n=3)
            also = f"; did you mean {', '.join(hint)}?" if hint else ""
            where = (
                f"its columns: {', '.join(user.values())}" if user else "no factor file was given"
            )
            raise UsageError(f"factor {quote(bare)} is not in your factor file ({where}){also}")
        return _user_spec(user[bare.upper()])
    if library == "funds" and bare.upper() not in ("TERM", "CREDIT"):
        raise UsageError(
            f"fund factor {quote(bare)}: write it as NAME=LONG-SHORT, e.g. TIPS=TIP-IEF"
        )
    table = _by_name(library)
    key = ALIASES.get(bare.upper(), bare).upper()
    if key not in table:
        hint = difflib.get_close_matches(bare, [s[0].name for s in table.values()], n=3, cutoff=0.5)
        also = f"; did you mean {', '.join(hint)}?" if hint else ""
        raise UsageError(
            f"the {library} library has no factor {quote(bare)} (it has: "
            f"{', '.join(s[0].name for s in table.values())}){also}"
        )
    return table[key][0]


def _unqualified(bare: str, user: Mapping[str, str]) -> FactorSpec:
    table = _by_name()
    key = ALIASES.get(bare.upper(), bare).upper()
    in_user = bare.upper() in user
    if key in table and in_user:
        library = table[key][0].library
        raise UsageError(
            f"factor {bare} is both in your factor file and in the {library} library; write "
            f"user:{bare} or {library}:{bare}"
        )
    if in_user:
        return _user_spec(user[bare.upper()])
    if key not in table:
        candidates = known_names(list(user.values())) + list(ALIASES)
        hint = difflib.get_close_matches(bare, candidates, n=3, cutoff=0.5)
        hint = [ALIASES.get(h, h) for h in hint]
        also = f"; did you mean {', '.join(dict.fromkeys(hint))}?" if hint else ""
        raise UsageError(
            f"unknown factor {quote(bare)}{also} (`factorxray factors list` shows them all)"
        )
    options = table[key]
    if len(options) == 1:
        return options[0]
    preferred = DEFAULT_LIBRARY.get(options[0].name, options[0].library)
    return next(spec for spec in options if spec.library == preferred)


@dataclass
class _Part:
    """What one file contributes: named columns in decimals and where they came from."""

    dataset: str
    library: str
    frame: pd.DataFrame
    vintage: str | None
    url: str | None = None
    rf: pd.Series | None = field(default=None, repr=False)


def load_factor_set(
    factors: str | Sequence[str],
    region: str = "us",
    start: str | pd.Period | None = None,
    end: str | pd.Period | None = None,
    frequency: str = "monthly",
    *,
    model: str | None = None,
    factor_file: str | os.PathLike[str] | None = None,
    factor_units: str | None = None,
    vintage: str | None = None,
    price_source: str = "yahoo",
    prices_file: str | os.PathLike[str] | None = None,
    cache: Cache | None = None,
    base_url: str | None = None,
    refresh: bool = False,
    offline: bool = False,
    snapshot: bool = False,
    client: HttpClient | None = None,
    progress: Callable[[str], ProgressCallback] | None = None,
) -> pd.DataFrame:
    """Factor returns of any set of factors from any libraries, in decimals, with RF.

    Parameters
    ----------
    factors : str or sequence of str
        ``"Mkt-RF,SMB,HML,QMJ,BAB"`` or a list; see :func:`resolve_factors`. ``None`` with
        a ``factor_file``: every column of the file.
    region : str
        One of :data:`factorxray.factors.REGIONS`; each library must publish the region
        (q-factors, VOL, reversal and liquidity are US only; AQR maps ``developed`` to its
        ``Global``, ``developed_ex_us`` to ``Global Ex USA``, ``europe``, ``north_america``
        and ``japan``; fund-defined and your own factors have no region).
    start, end : str or Period, optional
        First and last month (or day), inclusive.
    frequency : {"monthly", "weekly", "daily"}
        Weekly exists only in the q-factor library.
    model : str, optional
        The name recorded in ``attrs["model"]`` (default ``"custom"``).
    factor_file, factor_units : optional
        Your own factor file and its units (``"percent"`` or ``"decimal"``), see
        :func:`factorxray.factors.libraries.user.read_user_factors`.
    vintage : str, optional
        ``YYYYMM``: use, for every library file, the newest version at hand (in the cache)
        whose data end by that month; never download. See :mod:`factorxray.factors.vintages`.
    price_source, prices_file
        Where fund-defined factors take prices (see :func:`factorxray.returns.fetch_returns`).
    cache, base_url, refresh, offline, snapshot, client, progress
        As in :func:`factorxray.factors.load_factors` (``base_url`` is Ken French's; the other
        libraries read ``FACTORXRAY_QFACTORS_URL``, ``FACTORXRAY_AQR_URL``,
        ``FACTORXRAY_LIQUIDITY_URL``).

    Returns
    -------
    DataFrame
        The factors in the order asked, then ``RF``; rows where every factor has a value.
        ``.attrs``: ``model``, ``region``, ``frequency``, ``vintages`` (dataset -> vintage),
        ``sources`` (datasets), ``libraries`` (dataset -> library), ``factor_sources``
        (factor -> dataset), ``rf_source`` (dataset), ``urls``, ``limited_by``.

    Raises
    ------
    UsageError
        Unknown factors, a factor not published in the region or at the frequency, bad dates.
    DataSourceError
        A download or parse failed; ``NotCachedError`` offline without the file.

    Examples
    --------
    >>> f = load_factor_set("Mkt-RF,SMB,HML,QMJ,BAB")  # doctest: +SKIP
    >>> f.attrs["vintages"]  # doctest: +SKIP
    {'F-F_Research_Data_Factors': '202511', 'Quality-Minus-Junk-Factors-Monthly': '202510', ...}
    """
    from factorxray.factors.models import REGIONS, _parse_bound, validate_choice

    region = validate_choice("region", region, tuple(REGIONS))
    frequency = validate_choice("frequency", frequency, ("monthly", "weekly", "daily"))
    user_file = None
    if factor_file is not None:
        from factorxray.factors.libraries.user import read_user_factors

        user_file = read_user_factors(factor_file, factor_units)
    user_columns = list(user_file.section().columns) if user_file is not None else []
    if factors is None:
        if user_file is None:
            raise UsageError("give factors (e.g. Mkt-RF,SMB,HML,BAB) or a factor file")
        factors = [c for c in user_columns if c.upper() != "RF"]
    specs = resolve_factors(factors, user_columns)
    for spec in specs:
        if spec.regions is not None and region not in spec.regions:
            raise UsageError(
                f"factor {spec.name} ({LIBRARIES[spec.library].split(' (')[0]}) is not published "
                f"for region {region}; it exists for: {', '.join(spec.regions)}"
            )
        allowed = spec.frequencies
        if spec.library == "user" and user_file is not None:
            allowed = (user_file.frequency,)
        if frequency not in allowed:
            raise UsageError(
                f"factor {spec.name} is not published {frequency}; it exists: {', '.join(allowed)}"
            )
    first = _parse_bound(start, "daily" if frequency != "monthly" else "monthly", end=False)
    last = _parse_bound(end, "daily" if frequency != "monthly" else "monthly", end=True)
    if first is not None and last is not None and first > last:
        raise UsageError(f"start {start} is after end {end}; swap them")
    loader = _Loader(
        region=region,
        frequency=frequency,
        vintage=vintage,
        cache=cache if cache is not None else Cache(),
        base_url=base_url,
        refresh=refresh,
        offline=offline or snapshot,
        snapshot=snapshot,
        client=client,
        progress=progress,
        price_source=price_source,
        prices_file=prices_file,
        user_file=user_file,
    )
    try:
        parts = loader.load(specs)
    finally:
        loader.close()
    combined = combine_parts(specs, parts, model or "custom", region, frequency)
    if first is not None or last is not None:
        combined = combined.loc[first:last]
    if combined.empty:
        raise UsageError(
            f"factors {', '.join(s.name for s in specs)} ({region}) have no {frequency} data in "
            f"common between {start or 'the start'} and {end or 'the end'}"
        )
    return combined


def _rf_library(specs: Sequence[FactorSpec], user_has_rf: bool) -> str:
    with_rf = {"kenfrench", "q", "aqr"} | ({"user"} if user_has_rf else set())
    market = next((s for s in specs if s.name in ("Mkt-RF", "MKT_AQR")), None)
    if market is not None and market.library in with_rf:
        return market.library
    first = next((s.library for s in specs if s.library in with_rf), None)
    return first or "kenfrench"


def combine_parts(
    specs: Sequence[FactorSpec],
    parts: Sequence[_Part],
    model: str,
    region: str,
    frequency: str,
) -> pd.DataFrame:
    """Join the parts on their common dates (every factor present), factors then RF.

    Pure: no I/O. The RF column is the one part that carries ``rf``.
    """
    frames = [part.frame for part in parts if not part.frame.empty]
    rf_part = next(part for part in parts if part.rf is not None)
    frames.append(rf_part.rf.rename("RF").to_frame())  # type: ignore[union-attr]
    combined = pd.concat(frames, axis=1, join="inner").dropna(how="any")
    order = [spec.name for spec in specs] + ["RF"]
    result = combined[order].astype("float64")
    result.columns.name = None
    ranges = {}
    for part in parts:
        valid = (
            part.frame.dropna(how="any").index if not part.frame.empty else part.rf.dropna().index
        )  # type: ignore[union-attr]
        if len(valid):
            ranges[part.dataset] = (valid.min(), valid.max())
    ends = {name: r[1] for name, r in ranges.items()}
    starts = {name: r[0] for name, r in ranges.items()}
    factor_sources = {}
    for spec in specs:
        factor_sources[spec.name] = next(p.dataset for p in parts if spec.name in p.frame.columns)
    result.attrs.update(
        model=model,
        region=region,
        frequency=frequency,
        vintages={part.dataset: part.vintage for part in parts},
        sources=[part.dataset for part in parts],
        libraries={part.dataset: part.library for part in parts},
        factor_sources=factor_sources,
        rf_source=rf_part.dataset,
        urls={part.dataset: part.url for part in parts if part.url},
        limited_by={
            "end": sorted(n for n, e in ends.items() if e == min(ends.values())) if ends else [],
            "start": sorted(n for n, s in starts.items() if s == max(starts.values()))
            if starts
            else [],
        },
        units="decimal",
    )
    return result


class _LazyHttp:
    """An :class:`HttpClient` made on first use: a load served by the cache makes none
    (creating one costs ~30 ms of TLS set-up)."""

    def __init__(self) -> None:
        self._client: HttpClient | None = None

    def get(self, *args: object, **kwargs: object) -> object:
        if self._client is None:
            self._client = HttpClient()
        return self._client.get(*args, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@dataclass
class _Loader:
    region: str
    frequency: str
    vintage: str | None
    cache: Cache
    base_url: str | None
    refresh: bool
    offline: bool
    snapshot: bool
    client: HttpClient | None
    progress: Callable[[str], ProgressCallback] | None
    price_source: str
    prices_file: str | os.PathLike[str] | None
    user_file: object | None
    _own: _LazyHttp | None = None

    def http(self) -> HttpClient:
        if self.client is not None:
            return self.client
        if self._own is None:
            self._own = _LazyHttp()
        return self._own  # type: ignore[return-value]

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None

    def _on_progress(self, label: str) -> ProgressCallback | None:
        return self.progress(label) if self.progress else None

    def load(self, specs: Sequence[FactorSpec]) -> list[_Part]:
        user_has_rf = self.user_file is not None and "RF" in self.user_file.section().columns  # type: ignore[attr-defined]
        rf_library = _rf_library(specs, user_has_rf)
        by_library: dict[str, list[FactorSpec]] = {}
        for spec in specs:
            by_library.setdefault(spec.library, []).append(spec)
        by_library.setdefault(rf_library, [])
        parts: list[_Part] = []
        for library, group in by_library.items():
            loader = getattr(self, f"_{library}")
            parts.extend(loader(group, want_rf=library == rf_library))
        return parts

    # ------------------------------------------------------------------ Ken French

    def _kenfrench(self, group: list[FactorSpec], want_rf: bool) -> list[_Part]:
        from factorxray.factors import vintages
        from factorxray.factors.models import kenfrench_sources, source_frame

        frequency = self.frequency
        if frequency == "weekly":
            raise UsageError("Ken French factors are not offered weekly here; use monthly or daily")
        sources = kenfrench_sources([s.name for s in group], self.region, frequency, want_rf)
        parts = []
        for source in sources:
            if self.vintage is not None:
                dataset = vintages.read_pinned_dataset(
                    source.dataset, self.vintage, cache=self.cache
                )
            else:
                from factorxray.data.kenfrench import read_dataset

                dataset = read_dataset(
                    source.dataset,
                    base=self.base_url,
                    cache=self.cache,
                    client=self.http(),
                    refresh=self.refresh,
                    offline=self.offline,
                    snapshot=self.snapshot,
                    on_progress=self._on_progress(source.dataset),
                )
            frame = source_frame(source, dataset, frequency) / 100.0
            rf = frame.pop("RF") if "RF" in frame.columns else None
            parts.append(
                _Part(
                    source.dataset,
                    "kenfrench",
                    frame,
                    dataset.vintage,
                    dataset.url,
                    rf if want_rf else None,
                )
            )
            want_rf = want_rf and rf is None
        return parts

    # ------------------------------------------------------------------ q-factors

    def _q(self, group: list[FactorSpec], want_rf: bool) -> list[_Part]:
        from factorxray.factors import vintages
        from factorxray.factors.libraries.q import CACHE_NAMESPACE, file_name, read_q_factors

        if self.vintage is not None:
            year = vintages.pinned_year(
                self.cache,
                CACHE_NAMESPACE,
                lambda y: file_name(self.frequency, y),
                self.vintage,
                f"{self.frequency} q-factor file",
            )
            data = read_q_factors(self.frequency, vintage=year, cache=self.cache, offline=True)
        else:
            data = read_q_factors(
                self.frequency,
                cache=self.cache,
                client=self.http(),
                refresh=self.refresh,
                offline=self.offline,
                on_progress=self._on_progress("q-factors"),
            )
        table = data.decimals()
        frame = table[[s.field for s in group]].rename(columns={s.field: s.name for s in group})
        return [
            _Part(data.name, "q", frame, data.vintage, data.url, table["RF"] if want_rf else None)
        ]

    # ------------------------------------------------------------------ AQR

    def _aqr(self, group: list[FactorSpec], want_rf: bool) -> list[_Part]:
        from factorxray.factors import vintages
        from factorxray.factors.libraries.aqr import DATASETS, read_aqr, region_column

        column = region_column(self.region)
        own = [s.field.split(":")[0] for s in group if not s.field.startswith("*")]
        home = own[0] if own else "bab"
        needs: dict[str, list[tuple[FactorSpec | None, str]]] = {}
        for spec in group:
            dataset, _, sheet = spec.field.partition(":")
            needs.setdefault(home if dataset == "*" else dataset, []).append((spec, sheet))
        if want_rf:
            needs.setdefault(home, []).append((None, "RF"))
        parts = []
        for dataset, wanted in needs.items():
            sheets = tuple(dict.fromkeys(sheet for _, sheet in wanted))
            countries = (column, "Risk Free Rate")
            if self.vintage is not None:
                data = vintages.read_pinned_aqr(
                    dataset, self.vintage, self.cache, sheets, countries
                )
            else:
                data = read_aqr(
                    dataset,
                    sheets=sheets,
                    countries=countries,
                    cache=self.cache,
                    client=self.http(),
                    refresh=self.refresh,
                    offline=self.offline,
                    on_progress=self._on_progress(f"AQR {DATASETS[dataset][0]}"),
                )
            columns = {}
            rf = None
            for spec, sheet in wanted:
                table = data.section(sheet)
                if spec is None:
                    rf = table["Risk Free Rate"]
                    continue
                if column not in table.columns:
                    raise UsageError(f"AQR sheet {sheet!r} of {data.name} has no {column} column")
                columns[spec.name] = table[column]
            frame = pd.DataFrame(columns)
            parts.append(_Part(data.name, "aqr", frame, data.vintage, data.url, rf))
        return parts

    # ------------------------------------------------------------------ liquidity

    def _liquidity(self, group: list[FactorSpec], want_rf: bool) -> list[_Part]:
        from factorxray.factors import vintages
        from factorxray.factors.libraries.liquidity import (
            CACHE_NAMESPACE,
            file_name,
            read_liquidity,
        )

        if self.vintage is not None:
            year = vintages.pinned_year(
                self.cache, CACHE_NAMESPACE, file_name, self.vintage, "liquidity file"
            )
            data = read_liquidity(vintage=year, cache=self.cache, offline=True)
        else:
            data = read_liquidity(
                cache=self.cache,
                client=self.http(),
                refresh=self.refresh,
                offline=self.offline,
                on_progress=self._on_progress("Pastor-Stambaugh liquidity"),
            )
        frame = data.section()[["LIQ"]].dropna()
        return [_Part(data.name, "liquidity", frame, data.vintage, data.url)]

    # ------------------------------------------------------------------ fund-defined

    def _funds(self, group: list[FactorSpec], want_rf: bool) -> list[_Part]:
        from factorxray.factors.libraries.fund_factors import fund_factor_returns

        if self.frequency != "monthly":
            raise UsageError("fund-defined factors (TERM, CREDIT, NAME=A-B) are monthly only")
        specs = {s.name: s.legs for s in group if s.legs}
        frame = fund_factor_returns(
            specs,
            source=self.price_source,
            prices_file=self.prices_file,
            cache=self.cache,
            offline=self.offline,
            refresh=self.refresh,
        )
        label = "funds:" + ",".join(f"{n}={a}-{b}" for n, (a, b) in specs.items())
        return [_Part(label, "funds", frame, f"prices to {frame.attrs['last_month']}")]

    # ------------------------------------------------------------------ the user's file

    def _user(self, group: list[FactorSpec], want_rf: bool) -> list[_Part]:
        data = self.user_file
        assert data is not None  # resolve_factors only makes user specs from a file
        table = data.decimals()  # type: ignore[attr-defined]
        frame = table[[s.field for s in group]] if group else table.iloc[:, :0]
        rf = table["RF"] if want_rf and "RF" in table.columns else None
        return [_Part(f"user:{data.name}", "user", frame, data.vintage, data.url, rf)]  # type: ignore[attr-defined]
