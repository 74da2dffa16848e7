"""Factor models: which datasets make each model, in each region, plus VOL.

A model is a list of factors (``Mkt-RF, SMB, HML, RMW, CMA, MOM, VOL``); a region picks the
Ken French datasets they come from. :func:`load_factors` downloads (through the cache) and
combines them into one DataFrame of decimal returns with an ``RF`` column, on the months (or
days) that every source covers, with the vintage of each source file in ``.attrs``. Models
drawing on other libraries (``q4``, ``q5``, ``ff6bq``; :data:`factorxray.factors.catalog.MIXED_MODELS`)
and any ``factors=`` list are loaded by :func:`factorxray.factors.catalog.load_factor_set`.

The pure functions here (:func:`vol_factor`, :func:`combine_sources`) do no I/O; the
download is done by :mod:`factorxray.data.kenfrench`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from factorxray.data.cache import Cache
from factorxray.data.http import HttpClient, ProgressCallback
from factorxray.data.kenfrench import FrenchDataset, read_dataset
from factorxray.errors import UsageError
from factorxray.factors.frequency import check_model_frequency
from factorxray.factors.registry import FACTOR_ORDER, FREQUENCIES, MODELS, REGIONS

VOL_DATASET = "25_Portfolios_ME_VAR_5x5"
VOL_SECTION = {
    "monthly": "Average Value Weighted Returns -- Monthly",
    "daily": "Average Value Weighted Returns -- Daily",
}
VOL_LONG = ("SMALL LoVAR", "BIG LoVAR")
VOL_SHORT = ("SMALL HiVAR", "BIG HiVAR")


@dataclass(frozen=True)
class Source:
    """One dataset a model draws columns from: ``columns`` maps published name -> ours."""

    dataset: str
    columns: dict[str, str]
    #: Published section holding the data (default: the first section of the frequency).
    section: str | None = None


def _three_factor_dataset(region: str, frequency: str) -> str:
    if region == "us":
        return "F-F_Research_Data_Factors" + {"daily": "_daily", "weekly": "_weekly"}.get(
            frequency, ""
        )
    if region == "emerging":
        return _five_factor_dataset(region, frequency)
    return f"{REGIONS[region][0]}_3_Factors" + ("_Daily" if frequency == "daily" else "")


def _five_factor_dataset(region: str, frequency: str) -> str:
    if region == "us":
        return "F-F_Research_Data_5_Factors_2x3" + ("_daily" if frequency == "daily" else "")
    return f"{REGIONS[region][0]}_5_Factors" + ("_Daily" if frequency == "daily" else "")


_UPPER_MOM = ("emerging", "asia_pacific_ex_japan")
#: Ken French's reversal factors (US only): ours -> (dataset, published column).
REVERSAL = {
    "STREV": ("F-F_ST_Reversal_Factor", "ST_Rev"),
    "LTREV": ("F-F_LT_Reversal_Factor", "LT_Rev"),
}


def _momentum_dataset(region: str, frequency: str) -> str:
    if region == "us":
        return "F-F_Momentum_Factor" + ("_daily" if frequency == "daily" else "")
    if region in _UPPER_MOM:
        # The library spells these two "MOM" (the others "Mom").
        return f"{REGIONS[region][0]}_MOM_Factor" + ("_Daily" if frequency == "daily" else "")
    return f"{REGIONS[region][0]}_Mom_Factor" + ("_Daily" if frequency == "daily" else "")


def _vol_dataset(frequency: str) -> str:
    return VOL_DATASET + ("_daily" if frequency == "daily" else "")


def validate_choice(kind: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    """Return ``value`` lower-cased if it is one of ``choices``, else raise a one-line UsageError."""
    normalized = value.strip().lower()
    if normalized not in choices:
        raise UsageError(f"unknown {kind} {value!r}; choose one of: {', '.join(choices)}")
    return normalized


def model_sources(model: str, region: str = "us", frequency: str = "monthly") -> list[Source]:
    """The datasets and columns a model needs in a region.

    Parameters
    ----------
    model : str
        One of :data:`MODELS`.
    region : str
        One of :data:`REGIONS` (ignored by ``article7``, whose regions are fixed by name).
    frequency : {"monthly", "weekly", "daily"}
        Weekly exists for the US ``capm`` and ``ff3`` only, daily for every model but
        those with VOL (see :mod:`factorxray.factors.frequency`).

    Returns
    -------
    list of Source
        The market/size/value (and profitability/investment) file first (it also gives RF),
        then momentum, then the size/variance portfolios for VOL.

    Raises
    ------
    UsageError
        Unknown model, region or frequency, VOL outside the US, or a model Ken French does
        not publish at that frequency (one line naming the missing file and what to use).
    """
    model = validate_choice("model", model, tuple(MODELS))
    region = validate_choice("region", region, tuple(REGIONS))
    frequency = validate_choice("frequency", frequency, FREQUENCIES)
    check_model_frequency(model, region, frequency)
    factors = MODELS[model][0]
    if model in _mixed_models():
        from factorxray.factors.catalog import MIXED_MODELS, resolve_factors

        specs = resolve_factors(MIXED_MODELS[model])
        for spec in specs:
            if spec.regions is not None and region not in spec.regions:
                raise UsageError(
                    f"model {model} needs {spec.name}, which exists only for: "
                    f"{', '.join(spec.regions)}; use --region {spec.regions[0]}"
                )
        kf = [s.name for s in specs if s.library == "kenfrench"]
        return kenfrench_sources(kf, region, frequency, want_rf=bool(kf)) if kf else []
    if model == "article7":
        return [
            Source(
                _five_factor_dataset("developed", frequency),
                {c: c for c in (*FACTOR_ORDER[:5], "RF")},
            ),
            Source(_momentum_dataset("us", frequency), {"Mom": "MOM", "WML": "MOM"}),
            Source(_vol_dataset(frequency), {}, VOL_SECTION[frequency]),
        ]
    if "VOL" in factors and region != "us":
        raise UsageError(
            f"model {model} needs the VOL factor, which exists only for the US (Ken French publishes "
            f"size/variance portfolios for the US only); use --region us, a model without VOL "
            f"(ff6), or article7 for the article's Developed+US mix"
        )
    return kenfrench_sources(list(factors), region, frequency, want_rf=True)


def _mixed_models() -> tuple[str, ...]:
    from factorxray.factors.catalog import MIXED_MODELS

    return tuple(MIXED_MODELS)


def kenfrench_sources(
    factors: list[str], region: str, frequency: str, want_rf: bool = True
) -> list[Source]:
    """The Ken French datasets (and columns) that give ``factors`` in a region.

    The market/size/value (and profitability/investment) file comes first (it gives RF),
    then momentum, VOL's size/variance portfolios and the reversal factors. With
    ``want_rf`` and no such factor asked for, the region's 3-factor file still comes, for RF.
    """
    base_factors = [f for f in factors if f in ("Mkt-RF", "SMB", "HML", "RMW", "CMA")]
    needs_five = any(f in ("RMW", "CMA") for f in factors)
    sources = []
    if base_factors or want_rf:
        base_dataset = (_five_factor_dataset if needs_five else _three_factor_dataset)(
            region, frequency
        )
        sources.append(Source(base_dataset, {c: c for c in (*base_factors, "RF")}))
    if "MOM" in factors:
        sources.append(Source(_momentum_dataset(region, frequency), {"Mom": "MOM", "WML": "MOM"}))
    if "VOL" in factors:
        sources.append(Source(_vol_dataset(frequency), {}, VOL_SECTION[frequency]))
    for name, (dataset, column) in REVERSAL.items():
        if name in factors:
            if region != "us":
                raise UsageError(
                    f"{name} (Ken French's {dataset}) exists for the US only; use --region us"
                )
            suffix = "_daily" if frequency == "daily" else ""
            sources.append(Source(dataset + suffix, {column: name}))
    return sources


def vol_factor(size_variance_portfolios: pd.DataFrame) -> pd.Series:
    """The low-volatility factor from Ken French's 25 size/variance portfolios.

    ``VOL = (SMALL LoVAR + BIG LoVAR) / 2 - (SMALL HiVAR + BIG HiVAR) / 2``, a long-short
    return (no RF subtracted), in the units of the input.

    Parameters
    ----------
    size_variance_portfolios : DataFrame
        The value-weighted returns section of ``25_Portfolios_ME_VAR_5x5``.

    Returns
    -------
    Series
        Named ``VOL``.

    Examples
    --------
    >>> frame = pd.DataFrame({"SMALL LoVAR": [1.0], "BIG LoVAR": [0.5],
    ...                       "SMALL HiVAR": [2.0], "BIG HiVAR": [-1.0]})
    >>> float(vol_factor(frame).iloc[0])
    0.25
    """
    missing = [c for c in (*VOL_LONG, *VOL_SHORT) if c not in size_variance_portfolios.columns]
    if missing:
        raise UsageError(
            f"size/variance portfolios lack column(s) {', '.join(missing)}; cannot build VOL"
        )
    long_leg = (size_variance_portfolios[VOL_LONG[0]] + size_variance_portfolios[VOL_LONG[1]]) / 2
    short_leg = (
        size_variance_portfolios[VOL_SHORT[0]] + size_variance_portfolios[VOL_SHORT[1]]
    ) / 2
    return (long_leg - short_leg).rename("VOL")


def source_frame(source: Source, dataset: FrenchDataset, frequency: str) -> pd.DataFrame:
    """A source's columns of a parsed dataset, renamed to ours (values as published)."""
    return _source_columns(source, dataset, frequency)


def _source_columns(source: Source, dataset: FrenchDataset, frequency: str) -> pd.DataFrame:
    # weekly rows are keyed YYYYMMDD like daily ones: the parser calls such a section daily
    keyed = "daily" if frequency == "weekly" else frequency
    frame = dataset.section(source.section) if source.section else dataset.first_section(keyed)
    if not source.columns:
        return vol_factor(frame).to_frame()
    present = {
        published: ours for published, ours in source.columns.items() if published in frame.columns
    }
    wanted = set(source.columns.values())
    if set(present.values()) != wanted:
        lacking = sorted(wanted - set(present.values()))
        raise UsageError(
            f"dataset {dataset.name} has no column(s) {', '.join(lacking)} "
            f"(it has: {', '.join(frame.columns)}); the library's layout may have changed"
        )
    return frame[list(present)].rename(columns=present)


def combine_sources(
    model: str,
    sources: list[Source],
    datasets: dict[str, FrenchDataset],
    frequency: str = "monthly",
) -> pd.DataFrame:
    """Join the sources' columns on their common dates, convert percent to decimals.

    Rows where any factor is missing are dropped; the range is the intersection of the
    sources (``.attrs["limited_by"]`` names the datasets that end first / start last).
    """
    parts = [_source_columns(source, datasets[source.dataset], frequency) for source in sources]
    combined = pd.concat(parts, axis=1, join="inner").dropna(how="any")
    order = [f for f in MODELS[model][0] if f in combined.columns] + ["RF"]
    factors = (combined[order] / 100.0).astype("float64")
    factors.columns.name = None
    ends = {s.dataset: parts[i].dropna().index.max() for i, s in enumerate(sources)}
    starts = {s.dataset: parts[i].dropna().index.min() for i, s in enumerate(sources)}
    factors.attrs.update(
        model=model,
        frequency=frequency,
        vintages={name: datasets[name].vintage for name in (s.dataset for s in sources)},
        sources=[s.dataset for s in sources],
        limited_by={
            "end": sorted(name for name, end in ends.items() if end == min(ends.values())),
            "start": sorted(
                name for name, start in starts.items() if start == max(starts.values())
            ),
        },
    )
    return factors


def _parse_bound(
    value: str | pd.Period | pd.Timestamp | None, frequency: str, *, end: bool
) -> pd.Period | pd.Timestamp | None:
    """A monthly Period, or for daily data the first (last) day of a month or the day given."""
    if value is None:
        return None
    try:
        if frequency == "monthly":
            return pd.Period(value, freq="M")
        period = value if isinstance(value, pd.Period) else pd.Period(value)
    except (ValueError, TypeError):
        raise UsageError(
            f"date {value!r} is not valid; use YYYY-MM (monthly) or YYYY-MM[-DD] (daily)"
        ) from None
    bound = period.end_time if end else period.start_time
    return bound.normalize()


def load_factors(
    model: str = "xray7",
    region: str = "us",
    start: str | pd.Period | None = None,
    end: str | pd.Period | None = None,
    frequency: str = "monthly",
    *,
    cache: Cache | None = None,
    base_url: str | None = None,
    refresh: bool = False,
    offline: bool = False,
    snapshot: bool = False,
    client: HttpClient | None = None,
    progress: Callable[[str], ProgressCallback] | None = None,
    factors: str | Sequence[str] | None = None,
    factor_file: str | os.PathLike[str] | None = None,
    factor_units: str | None = None,
    vintage: str | None = None,
    price_source: str = "yahoo",
    prices_file: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Factor returns of a model in a region, in decimals.

    Parameters
    ----------
    model : str
        ``capm``, ``ff3``, ``carhart``, ``ff5``, ``ff6``, ``xray7``, ``article7``, or a model
        drawing on other libraries: ``q4``, ``q5`` (global-q.org, US only), ``ff6bq`` (FF5 +
        MOM + AQR's BAB and QMJ). Ignored when ``factors`` or ``factor_file`` is given.
    region : str
        ``us``, ``developed``, ``developed_ex_us``, ``europe``, ``japan``,
        ``asia_pacific_ex_japan``, ``north_america`` or ``emerging``. ``VOL`` exists for the
        US only; ``article7`` fixes its regions by name (Developed FF5, US MOM and VOL).
    start, end : str or Period, optional
        First and last month (``"2010-01"``) or day, inclusive.
    frequency : {"monthly", "weekly", "daily"}
        Daily where Ken French publishes daily files (not VOL); weekly only the US 3
        factors (``capm``, ``ff3``). Weekly and daily frames have a ``DatetimeIndex`` (for
        weekly, the week's last trading day).
    cache, base_url, refresh, offline, client
        Passed to :func:`factorxray.data.kenfrench.read_dataset`.
    snapshot : bool
        Never download: use the cache, else the package's bundled snapshot (US and developed
        monthly files; see :mod:`factorxray.snapshot`).
    progress : callable, optional
        ``progress(label)`` returns an ``on_progress`` callback for each download.
    factors : str or sequence of str, optional
        Any set of factors from any library instead of a model: ``"Mkt-RF,SMB,HML,QMJ,BAB"``
        (see :func:`factorxray.factors.catalog.resolve_factors`); ``attrs["model"]`` is
        ``"custom"``.
    factor_file, factor_units : optional
        Your own factor file (CSV or Parquet) and its units, ``"percent"`` or ``"decimal"``:
        its columns become factors by name (all of them when ``factors`` is not given).
    vintage : str, optional
        ``YYYYMM``: every file as published by then, from the cache (the newest version at
        hand whose data end by that month); nothing is downloaded, and a file with no such
        version at hand is a :class:`~factorxray.errors.NotCachedError` naming those at hand.
    price_source, prices_file
        Prices for fund-defined factors (``TERM``, ``CREDIT``, ``NAME=LONG-SHORT``).

    Returns
    -------
    DataFrame
        Columns: the model's factors (``Mkt-RF, SMB, HML, RMW, CMA, MOM, VOL`` subset) then
        ``RF``; index a ``PeriodIndex('M')`` (``DatetimeIndex`` for daily); decimals.
        ``.attrs``: ``model``, ``region``, ``frequency``, ``vintages`` (dataset -> vintage),
        ``sources``, ``limited_by`` (datasets that set the common range).

    Raises
    ------
    UsageError
        Unknown model, region or frequency; VOL outside the US; bad dates.
    DataSourceError
        A download or parse failed.

    Examples
    --------
    >>> import factorxray as fx
    >>> factors = fx.load_factors("ff5", region="developed", start="2010-01")  # doctest: +SKIP
    >>> factors.attrs["vintages"]  # doctest: +SKIP
    {'Developed_5_Factors': '202510'}
    """
    if factors is not None or factor_file is not None or model.strip().lower() in _mixed_models():
        from factorxray.factors.catalog import MIXED_MODELS, load_factor_set

        custom = factors is not None or factor_file is not None
        if not custom:
            model = validate_choice("model", model, tuple(MODELS))
            region = validate_choice("region", region, tuple(REGIONS))
            model_sources(model, region, "monthly" if frequency == "weekly" else frequency)
        return load_factor_set(
            factors if custom else MIXED_MODELS[model],
            region,
            start,
            end,
            frequency,
            model="custom" if custom else model,
            factor_file=factor_file,
            factor_units=factor_units,
            vintage=vintage,
            price_source=price_source,
            prices_file=prices_file,
            cache=cache,
            base_url=base_url,
            refresh=refresh,
            offline=offline,
            snapshot=snapshot,
            client=client,
            progress=progress,
        )
    sources = model_sources(model, region, frequency)
    model, region, frequency = (
        model.strip().lower(),
        region.strip().lower(),
        frequency.strip().lower(),
    )
    first = _parse_bound(start, frequency, end=False)
    last = _parse_bound(end, frequency, end=True)
    if first is not None and last is not None and first > last:
        raise UsageError(f"start {start} is after end {end}; swap them")
    from factorxray.factors.catalog import _LazyHttp

    own_client = client is None
    # made on first use: a load served by the cache sets up no TLS context (~30 ms)
    http = client if client is not None else _LazyHttp()
    cache = cache if cache is not None else Cache()
    try:
        datasets = {
            source.dataset: (
                _pinned(source.dataset, vintage, cache)
                if vintage is not None
                else read_dataset(
                    source.dataset,
                    base=base_url,
                    cache=cache,
                    client=http,  # type: ignore[arg-type]
                    refresh=refresh,
                    offline=offline or snapshot,
                    snapshot=snapshot,
                    on_progress=progress(source.dataset) if progress else None,
                )
            )
            for source in sources
        }
    finally:
        if own_client:
            http.close()
    factors = combine_sources(model, sources, datasets, frequency)
    if first is not None or last is not None:
        factors = factors.loc[first:last]
    if factors.empty:
        raise UsageError(
            f"model {model} ({region}) has no {frequency} data between {start or 'the start'} and "
            f"{end or 'the end'}; widen the dates"
        )
    factors.attrs["region"] = "developed+us" if model == "article7" else region
    return factors


def _pinned(dataset: str, vintage: str, cache: Cache) -> FrenchDataset:
    from factorxray.factors.vintages import read_pinned_dataset

    return read_pinned_dataset(dataset, vintage, cache=cache)


def describe_models() -> pd.DataFrame:
    """A table of every model: its factors and what it is."""
    return pd.DataFrame(
        [
            {"model": name, "factors": " ".join(f), "description": text}
            for name, (f, text) in MODELS.items()
        ]
    ).set_index("model")
