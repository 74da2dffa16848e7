"""``fx.analyze``: from fund names to an :class:`~factorxray.analysis.Analysis`.

This module wires the I/O (factor files, prices, the bundled snapshot) to the pure
:func:`~factorxray.analysis.build_analysis`. The CLI's ``analyze`` command is a thin wrapper
over :func:`analyze` and :func:`factorxray.report.write_report`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from factorxray import presets, snapshot
from factorxray.analysis import (
    Analysis,
    VintageComparison,
    build_analysis,
    compare_analyses,
)
from factorxray.data.cache import Cache
from factorxray.data.http import HttpClient, ProgressCallback
from factorxray.data.prices import SOURCES
from factorxray.engine.covariance import make_estimator
from factorxray.errors import (
    DOWNLOAD_ONCE,
    MIN_MONTHS,
    PASS_OFFLINE,
    PASS_PRICES_FILE,
    PASS_SNAPSHOT,
    T_THRESHOLD,
    AllFailedError,
    DataSourceError,
    FactorXrayError,
    InputFileError,
    UsageError,
)
from factorxray.factors import FACTOR_ORDER, MODELS, REGIONS, load_factors, validate_choice
from factorxray.factors.frequency import (
    DEFAULT_ROLLING_WINDOWS,
    PERIOD_NAMES,
    check_frequency,
    check_model_frequency,
    model_unavailable,
    to_periods,
)
from factorxray.judge.robustness import DEFAULT_MODEL_LADDER
from factorxray.judge.verdicts import DEFAULT_MIN_BETA, Rules
from factorxray.returns import fetch_returns, monthly_total_returns
from factorxray.universe import Universe, load_universe, universe_from_tickers


@dataclass(frozen=True)
class Hooks:
    """Progress callbacks the CLI passes in (all optional)."""

    #: ``download(label)`` returns an ``on_progress(received, total)`` callback.
    download: Callable[[str], ProgressCallback] | None = None
    #: Called once before prices are fetched, with the number of tickers.
    prices_start: Callable[[int], None] | None = None
    #: Called after each ticker: ``(ticker, reason_or_None)``.
    ticker_done: Callable[[str, str | None], None] | None = None


#: The model a fund falls back to where its region cannot carry the main one (no VOL).
FALLBACK_MODEL = "ff6"
#: The name of a factor set given by ``factors=``/``factor_file=`` instead of a model.
CUSTOM_MODEL = "custom"
#: Models built from Ken French files only: a ladder model may reuse their columns (a q5
#: frame's market factor and RF are the q-factor library's, not Ken French's).
KENFRENCH_MODELS = ("capm", "ff3", "carhart", "ff5", "ff6", "xray7")


def resolve_universe(
    tickers: Iterable[str] = (),
    *,
    preset: str | None = None,
    universe: str | os.PathLike[str] | Universe | None = None,
) -> Universe:
    """The funds to analyze, with their labels.

    - ``preset`` or ``universe`` alone: all their funds;
    - with ``tickers`` too: those tickers, labelled by the preset/universe where it has them;
    - ``tickers`` alone: labelled by the ``smart-beta-20`` preset where it knows them,
      else unlabelled.

    Raises
    ------
    UsageError
        Nothing to analyze, both a preset and a universe file, unknown preset, bad file.
    """
    tickers = [t for t in tickers if t.strip()]
    if preset and universe is not None:
        raise UsageError("give either --preset or --universe, not both")
    if universe is not None:
        labels = universe if isinstance(universe, Universe) else load_universe(universe)
    elif preset:
        labels = presets.get(preset)
    else:
        if not tickers:
            raise UsageError(
                "name funds to analyze: tickers, --preset NAME or --universe FILE (see `factorxray presets`)"
            )
        return universe_from_tickers(tickers, labels=presets.get("smart-beta-20"), name="custom")
    return labels.subset(tickers) if tickers else labels


def _returns_from_snapshot(tickers: list[str]) -> pd.DataFrame:
    prices = snapshot.month_end_prices(tickers)
    if prices.empty:
        return pd.DataFrame(index=pd.PeriodIndex([], freq="M", name="period"))
    return monthly_total_returns(prices)


def fund_returns(
    tickers: Iterable[str],
    *,
    source: str = "yahoo",
    prices_file: str | os.PathLike[str] | None = None,
    offline: bool = False,
    refresh: bool = False,
    cache: Cache | None = None,
    allow_suspect_prices: bool = False,
    on_ticker_done: Callable[[str, str | None], None] | None = None,
    frequency: str = "monthly",
    calendar: pd.DatetimeIndex | None = None,
) -> pd.DataFrame:
    """Total returns as ``analyze`` gets them: offline, the snapshot fills in (monthly).

    :func:`factorxray.fetch_returns`, and with ``offline=True`` (and a price provider, not a
    file) every fund that is not in the cache but in the bundled snapshot comes from the
    snapshot, as with ``analyze --offline``. A fund whose prices failed the sanity checks
    is never swapped for the snapshot's. Weekly and daily returns (``frequency``, with the
    factor file's dates as ``calendar``: see :func:`factorxray.returns.fetch_returns`) come
    from daily prices only: the snapshot holds month-end closes, so it cannot fill in.

    Returns
    -------
    DataFrame
        Decimals, ``PeriodIndex('M')``; ``attrs``: ``failed`` (ticker -> reason, in the order
        asked), ``warnings`` (ticker -> lines), ``origin`` (ticker -> where its prices came
        from). When every fund fails the frame is empty (no exception).

    Examples
    --------
    >>> import factorxray as fx  # doctest: +SKIP
    >>> fx.fund_returns(["SPY", "EWJ"], offline=True).attrs["origin"]["SPY"]  # doctest: +SKIP
    'bundled snapshot (month-end adjusted closes to 2026-06)'
    """
    tickers = list(tickers)
    cache = cache if cache is not None else Cache()
    try:
        returns = fetch_returns(
            tickers,
            source=source,
            prices_file=prices_file,
            cache=cache,
            offline=offline,
            refresh=refresh,
            on_ticker_done=on_ticker_done,
            allow_suspect_prices=allow_suspect_prices,
            frequency=frequency,
            calendar=calendar,
        )
        failed = dict(returns.attrs.get("failed", {}))
    except AllFailedError as exc:
        freq = {"weekly": "W-SUN", "daily": "D"}.get(frequency, "M")
        returns = pd.DataFrame(index=pd.PeriodIndex([], freq=freq, name="period"))
        failed = dict(exc.failures)
    warnings = dict(returns.attrs.get("warnings", {}))
    origin = {
        ticker: _source_label(source, info)
        for ticker, info in returns.attrs.get("sources", {}).items()
    }
    if offline and source != "file" and frequency != "monthly":
        for ticker, reason in list(failed.items()):
            if ticker in snapshot.tickers():
                failed[ticker] = (
                    f"{reason}; the bundled snapshot holds month-end prices only "
                    f"(no {frequency} ones)"
                )
    elif offline and source != "file":
        held = [
            t
            for t in tickers
            if t in failed
            and t in snapshot.tickers()
            and not failed[t].startswith("suspect prices")  # bad data is not swapped quietly
        ]
        if held:
            bundled = _returns_from_snapshot(held)
            returns = pd.concat([returns, bundled], axis=1) if not returns.empty else bundled
            for ticker in held:
                failed.pop(ticker)
                origin[ticker] = snapshot.price_source_label(ticker)
        for ticker, reason in list(failed.items()):
            if ticker not in snapshot.tickers():
                failed[ticker] = f"{reason}; not in the bundled snapshot either"
    order = [t for t in tickers if t in returns.columns]
    returns = returns[order] if order else returns
    returns.attrs = {"failed": failed, "warnings": warnings, "origin": origin}
    return returns


def _fetch_fund_returns(
    tickers: list[str],
    *,
    source: str,
    prices_file: str | os.PathLike[str] | None,
    offline: bool,
    refresh: bool,
    cache: Cache,
    hooks: Hooks,
    allow_suspect_prices: bool = False,
    frequency: str = "monthly",
    calendar: pd.DatetimeIndex | None = None,
) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """Monthly total returns, failures, and the price source of each fund.

    ``returns.attrs["warnings"]`` holds the price-sanity findings (ticker -> lines).
    """
    if hooks.prices_start:
        hooks.prices_start(len(tickers))
    returns = fund_returns(
        tickers,
        source=source,
        prices_file=prices_file,
        offline=offline,
        refresh=refresh,
        cache=cache,
        allow_suspect_prices=allow_suspect_prices,
        on_ticker_done=hooks.ticker_done,
        frequency=frequency,
        calendar=calendar,
    )
    return returns, dict(returns.attrs["failed"]), dict(returns.attrs["origin"])


def _source_label(source: str, info: object) -> str:
    if isinstance(info, dict):
        return str(info.get("source") or source) + (
            f" ({info['origin']})" if info.get("origin") else ""
        )
    return source


def analyze(
    tickers: Iterable[str] = (),
    *,
    preset: str | None = None,
    universe: str | os.PathLike[str] | Universe | None = None,
    model: str = "xray7",
    region: str = "us",
    cov: str = "hac",
    hac_lags: int | None = None,
    start: str | pd.Period | None = None,
    end: str | pd.Period | None = None,
    min_months: int = 36,
    t_threshold: float = 2.0,
    min_beta: float = DEFAULT_MIN_BETA,
    fdr: float | None = None,
    models: Sequence[str] | None = DEFAULT_MODEL_LADDER,
    region_fit: bool = True,
    drift: bool = True,
    rolling_window: int | None = None,
    source: str = "yahoo",
    prices_file: str | os.PathLike[str] | None = None,
    allow_suspect_prices: bool = False,
    factors: str | Sequence[str] | None = None,
    factor_file: str | os.PathLike[str] | None = None,
    factor_units: str | None = None,
    vintage: str | None = None,
    compare_vintage: str | None = None,
    offline: bool = False,
    refresh: bool = False,
    cache: Cache | None = None,
    hooks: Hooks | None = None,
    frequency: str = "monthly",
) -> Analysis:
    """Reverse-engineer funds: factors, total returns, regressions, verdicts, robustness.

    Parameters
    ----------
    tickers : iterable of str
        Funds to analyze (see :func:`resolve_universe` for how they combine with a preset).
    preset, universe
        A shipped preset (``smart-beta-20``) or a TOML/YAML/CSV fund file (or a Universe).
    model : str
        The factor model (default ``xray7``). Where a fund's region cannot carry it (VOL
        exists for the US only), the fund falls back to ``ff6`` and its verdict says so.
    region : str
        The factor region of funds that do not name their own (default ``us``). Every fund
        is regressed on its own region's factors.
    cov, hac_lags
        ``"hac"`` (Newey-West, default), ``"HC1"`` or ``"nonrobust"``; HAC lag (default per
        fund from its length).
    start, end : str, optional
        First and last month of the sample (``YYYY-MM``; weekly and daily also
        ``YYYY-MM-DD``).
    min_months : int
        Funds with fewer months of overlap are listed as not analyzed; weekly and daily,
        fewer periods than span as many months (36 -> 156 weeks, 756 days).
    t_threshold : float
        |t| at which a beta counts as significant (default 2).
    min_beta : float
        ``|beta - threshold|`` at which a significant tilt is material (default 0.10);
        smaller significant loadings are "faint".
    fdr : float, optional
        Benjamini-Hochberg level the verdict also requires of betas tested against 0.
    models : sequence of str, optional
        The model ladder every fund is also judged under (default ``capm, ff3, carhart,
        ff5, ff6, xray7``); empty or None to skip.
    region_fit : bool
        Compare each fund's fit in every region whose factor files are at hand (cache or
        snapshot; nothing is downloaded for it).
    drift : bool
        Test the labelled betas for a structural break (Andrews' sup-Wald).
    rolling_window : int, optional
        Periods per rolling window; default by frequency: 36 months, 156 weeks (3 years),
        252 days (1 year).
    source, prices_file
        Price provider (``yahoo``, ``fmp``, ``tiingo``, ``file``) and the file for ``file``.
    allow_suspect_prices : bool
        Analyze funds whose prices fail the sanity checks (an unadjusted split, conflicting
        duplicate dates, unusable prices) instead of listing them as not analyzed; the
        findings stay in ``analysis.warnings``.
    factors : str or sequence of str, optional
        Any set of factors from any library instead of ``model`` (``"Mkt-RF,SMB,HML,QMJ,BAB"``,
        see :func:`factorxray.factors.load_factor_set`); the model is then ``custom``.
    factor_file, factor_units
        Your own factor file (CSV or Parquet) as a source of named factors, and its units
        (``"percent"`` or ``"decimal"``).
    vintage : str, optional
        ``YYYYMM``: the factor files as published then, from the cache or the snapshot.
    compare_vintage : str, optional
        ``YYYYMM``: also run on the factor files as published then (from the cache or the
        snapshot) and put how each fund's betas and verdict move in
        ``analysis.vintage_comparison`` (see :func:`compare_analyses`).
    offline : bool
        Never download: the cache, else the bundled snapshot.
    refresh : bool
        Download again even where the cache is fresh.
    cache : Cache, optional
        Default: the user cache folder.
    hooks : Hooks, optional
        Progress callbacks.
    frequency : {"monthly", "weekly", "daily"}
        The frequency of the regressions, where Ken French publishes the model's factors at
        it (weekly: US ``capm`` and ``ff3``; daily: every model but those with VOL): fund
        returns are compounded from daily closes to weeks (last close of each calendar week,
        as Ken French dates his weekly file) or taken close to close. Alpha is annualized
        x52 or x252, the default HAC lag grows with each fund's number of periods, and
        models of the ladder that do not exist at the frequency are skipped (said in
        ``analysis.meta["ladder_skipped"]``). ``analysis.meta["frequency"]`` says it.

    Returns
    -------
    Analysis
        ``analysis.failed`` lists every fund that was asked for but not analyzed, and why;
        ``analysis.warnings`` the per-fund warnings (fallback model, better region).

    Raises
    ------
    UsageError
        Bad options, unknown preset/model/region, a tilt on an unknown factor.
    InsufficientDataError, AllFailedError
        When no fund at all can be analyzed.

    Examples
    --------
    >>> import factorxray as fx
    >>> analysis = fx.analyze(preset="smart-beta-20", offline=True)  # doctest: +SKIP
    >>> analysis.results.params.loc["VTV", "HML"]  # doctest: +SKIP
    """
    call = dict(locals())  # the arguments, for the run on another vintage
    hooks = hooks or Hooks()
    cache = cache if cache is not None else Cache()
    funds = resolve_universe(tickers, preset=preset, universe=universe)
    bad_region = _unknown_regions(funds)
    funds.subset([t for t in funds.tickers if t not in bad_region]).validate(FACTOR_ORDER)
    custom = factors is not None or factor_file is not None
    model = CUSTOM_MODEL if custom else validate_choice("model", model, tuple(MODELS))
    region = validate_choice("region", region, tuple(REGIONS))
    frequency = check_frequency(frequency)
    if not custom:  # one line, before any download, when the library lacks the model
        check_model_frequency(model, "us" if model == "article7" else region, frequency)
    window = DEFAULT_ROLLING_WINDOWS[frequency] if rolling_window is None else rolling_window
    ladder_models, ladder_skipped = _ladder_at(check_models(models), region, frequency)
    _check_options(cov, hac_lags, min_months, t_threshold, window, source, prices_file, frequency)
    Rules(t_threshold, min_beta, fdr)  # checks the verdict rules before any download
    fund_regions = {
        f.ticker: ("developed+us" if model == "article7" else f.region or region)
        for f in funds
        if f.ticker not in bad_region
    }
    loader = FactorLoader(start, end, cache, refresh, offline, hooks, frequency)
    loader.vintage = vintage
    if custom:
        loader.custom = {
            "factors": factors,
            "factor_file": factor_file,
            "factor_units": factor_units,
            "price_source": source,
            "prices_file": prices_file,
        }
    try:
        frames, notes, region_failures = loader.main(model, sorted(set(fund_regions.values())))
        returns, failed, origin = _fetch_fund_returns(
            funds.tickers,
            source=source,
            prices_file=prices_file,
            offline=offline,
            refresh=refresh,
            cache=cache,
            hooks=hooks,
            allow_suspect_prices=allow_suspect_prices,
            frequency=frequency,
            calendar=loader.calendar,
        )
        failed.update(bad_region)
        for ticker, fund_region in fund_regions.items():
            if fund_region in region_failures and ticker not in failed:
                failed[ticker] = region_failures[fund_region]
        if not frames:
            raise AllFailedError(_all_regions_failed(region_failures), failed)
        ladder = loader.ladder(ladder_models, frames) if ladder_models else None
        fit_factors = loader.at_hand("ff5") if region_fit and model != "article7" else None
    finally:
        loader.close()
    if frequency == "monthly" and (start is not None or end is not None):
        returns = returns.loc[
            pd.Period(start, "M") if start else None : pd.Period(end, "M") if end else None
        ]  # weekly and daily returns were cut to start/end as they were fetched
    sources = sorted(set(origin.values()))
    analysis = build_analysis(
        funds,
        frames,
        returns,
        fund_regions=fund_regions,
        cov=cov,
        hac_lags=hac_lags,
        min_months=min_months,
        t_threshold=t_threshold,
        min_beta=min_beta,
        fdr=fdr,
        rolling_window=window,
        ladder=ladder,
        fit_factors=fit_factors,
        region_notes=notes,
        drift=drift,
        failed=failed,
        frequency=frequency,
        meta={
            "price_source": "; ".join(sources) if sources else source,
            "price_sources": origin,
            "universe": funds.name,
            "offline": offline,
            "default_region": "developed+us" if model == "article7" else region,
            "requested_model": model,
            "price_warnings": dict(returns.attrs.get("warnings", {})),
            "ladder_skipped": ladder_skipped,
        },
    )
    if compare_vintage is not None:
        analysis.vintage_comparison = _on_other_vintage(call, compare_vintage, analysis, cache)
    return analysis


def _on_other_vintage(
    call: dict[str, object], vintage: str, analysis: Analysis, cache: Cache
) -> VintageComparison:
    """The same run on the factor files as published by ``vintage`` (cache or snapshot)."""
    other = {
        **call,
        "vintage": vintage,
        "compare_vintage": None,
        "models": None,
        "region_fit": False,
        "drift": False,
        "refresh": False,
        "cache": cache,
        "hooks": None,
    }
    try:
        then = analyze(**other)  # type: ignore[arg-type]
    except FactorXrayError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return VintageComparison(vintage, error=f"no run on vintage {vintage}: {first}")
    return compare_analyses(analysis, then, vintage)


def _unknown_regions(funds: Universe) -> dict[str, str]:
    """Funds whose region is not one we know: each fails alone, the others are analyzed."""
    return {
        fund.ticker: (
            f"unknown region {fund.region!r}; give one of: {', '.join(REGIONS)} "
            "(or none, to use --region)"
        )
        for fund in funds
        if fund.region and fund.region not in REGIONS
    }


def _ladder_at(models: list[str], region: str, frequency: str) -> tuple[list[str], dict[str, str]]:
    """The ladder's models that exist at ``frequency`` (in ``region``), and why the others not."""
    kept, skipped = [], {}
    for model in models:
        reason = model_unavailable(model, region, frequency)
        if reason is None:
            kept.append(model)
        else:
            skipped[model] = reason.split(";")[0]
    return kept, skipped


def _all_regions_failed(region_failures: dict[str, str]) -> str:
    return "no factors could be loaded: " + "; ".join(region_failures.values())


def check_models(models: Sequence[str] | str | None) -> list[str]:
    """The model ladder, checked: known names, no duplicates (``None`` or empty: none).

    Shared by :func:`analyze` and the portfolio and blend entry points
    (:mod:`factorxray.portfolio_pipeline`).

    Examples
    --------
    >>> check_models("ff3, ff5,ff3")
    ['ff3', 'ff5']
    """
    if models is None:
        return []
    items = models.split(",") if isinstance(models, str) else list(models)
    ladder = []
    for item in items:
        if not str(item).strip():
            continue
        name = validate_choice("model in --models", str(item), tuple(MODELS))
        if name == "article7":
            raise UsageError(
                "--models cannot hold article7 (its regions are fixed); "
                f"choose from: {', '.join(m for m in MODELS if m != 'article7')}"
            )
        if name not in ladder:
            ladder.append(name)
    return ladder


class FactorLoader:
    """Loads factor frames for the run: per region, with fallbacks, ladders and region fit.

    One per run, shared by :func:`analyze`, the portfolio and blend entry points
    (:mod:`factorxray.portfolio_pipeline`) and ``bench/robustness.py``; it holds the run's
    one HTTP client (:meth:`close` it) and, weekly or daily, the factor files' calendar.
    """

    def __init__(
        self,
        start: str | pd.Period | None,
        end: str | pd.Period | None,
        cache: Cache,
        refresh: bool,
        offline: bool,
        hooks: Hooks,
        frequency: str = "monthly",
    ) -> None:
        self.start, self.end, self.cache = start, end, cache
        self.refresh, self.offline, self.hooks = refresh, offline, hooks
        self.frequency = frequency
        #: Weekly and daily: the dates of the factor files loaded (weeks' last trading days,
        #: trading days), the calendar fund returns are checked against.
        self.calendar: pd.DatetimeIndex | None = None
        self._client: HttpClient | None = None
        #: Options of a custom factor set (``--factors``/``--factor-file``) and a pinned vintage.
        self.custom: dict[str, object] = {}
        self.vintage: str | None = None

    def close(self) -> None:
        """Close the one HTTP client the loads shared (if any was made)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _http(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient()
        return self._client

    def load(self, model: str, region: str, *, at_hand: bool = False) -> pd.DataFrame:
        """A model's factors in a region, on the run's period index (see ``to_periods``).

        Weekly and daily: the frame's dates join :attr:`calendar` (not for ``at_hand``).
        """
        local = self.offline or at_hand
        frame = load_factors(
            model,
            "us" if region == "developed+us" else region,
            start=self.start,
            end=self.end,
            frequency=self.frequency,
            cache=self.cache,
            refresh=self.refresh and not at_hand,
            snapshot=local,
            progress=None if at_hand else self.hooks.download,
            client=None if local else self._http(),  # no TLS set-up when nothing downloads
            vintage=self.vintage,
            **(self.custom if model == CUSTOM_MODEL else {}),  # type: ignore[arg-type]
        )
        if self.frequency == "monthly":
            return frame
        if not at_hand:
            dates = pd.DatetimeIndex(frame.index)
            self.calendar = dates if self.calendar is None else self.calendar.union(dates)
        return to_periods(frame, self.frequency)

    def main(
        self, model: str, regions: Sequence[str]
    ) -> tuple[dict[str, pd.DataFrame], dict[str, str], dict[str, str]]:
        """The main model per region (a fallback where it cannot be built), notes, failures."""
        frames: dict[str, pd.DataFrame] = {}
        notes: dict[str, str] = {}
        failures: dict[str, str] = {}
        for region in regions:
            used = model
            if (
                model in MODELS
                and region != "us"
                and "VOL" in MODELS[model][0]
                and model != "article7"
            ):
                used = FALLBACK_MODEL
                notes[region] = (
                    f"{model} needs VOL, which exists for the US only: judged on "
                    f"{FALLBACK_MODEL} ({region} factors)"
                )
            try:
                frames[region] = self.load(used, region)
            except InputFileError:
                raise  # the caller's own file: every region fails alike, no download helps
            except (DataSourceError, UsageError) as exc:
                failures[region] = _region_failure(region, used, exc, self.offline)
        for region, note in _short_ranges(frames).items():
            notes[region] = f"{notes[region]}; {note}" if region in notes else note
        return frames, notes, failures

    def ladder(
        self, models: Sequence[str], frames: dict[str, pd.DataFrame]
    ) -> dict[str, dict[str, pd.DataFrame | str]]:
        """Every model of the ladder in every region used (a reason where it cannot be)."""
        out: dict[str, dict[str, pd.DataFrame | str]] = {}
        for model in models:
            wanted = MODELS[model][0]
            out[model] = {}
            for region, frame in frames.items():
                if region != "us" and "VOL" in wanted:
                    out[model][region] = f"{model} needs VOL, which exists for the US only"
                elif (
                    set(wanted) <= set(frame.columns)
                    and region != "developed+us"
                    and frame.attrs.get("model") in KENFRENCH_MODELS
                ):
                    subset = frame[[*wanted, "RF"]].copy()
                    subset.attrs = {**frame.attrs, "model": model}
                    out[model][region] = subset
                else:
                    try:
                        out[model][region] = self.load(model, region)
                    except (DataSourceError, UsageError) as exc:
                        out[model][region] = str(exc)
        return out

    def at_hand(self, model: str) -> dict[str, pd.DataFrame]:
        """``model`` in every region whose files are in the cache or the snapshot."""
        frames = {}
        for region in REGIONS:
            try:
                frames[region] = self.load(model, region, at_hand=True)
            except (DataSourceError, UsageError):
                continue  # not at hand: the region is left out of the fit check
        return frames


#: A region's factors ending this many months before the run's newest are worth a word.
SHORT_RANGE_MONTHS = 6


def _short_ranges(frames: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """Regions whose factor files end well before the others', naming the file that limits."""
    if len(frames) < 2:
        return {}
    newest = max(frame.index[-1] for frame in frames.values())
    notes = {}
    for region, frame in frames.items():
        end = frame.index[-1]
        if _months_between(end, newest) >= SHORT_RANGE_MONTHS:
            limited = (frame.attrs.get("limited_by") or {}).get("end") or []
            by = f" (limited by {', '.join(limited)})" if limited else ""
            notes[region] = f"its {region} factors end {end}{by}, before the others' {newest}"
    return notes


def _months_between(earlier: pd.Period, later: pd.Period) -> int:
    """Whole calendar months from one period's month to another's (any frequency)."""
    return (later.end_time.to_period("M") - earlier.end_time.to_period("M")).n


def _region_failure(region: str, model: str, exc: Exception, offline: bool) -> str:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    # fx.analyze works offline with offline=True (the cache, else the snapshot)
    first = first.replace(PASS_SNAPSHOT.python, PASS_OFFLINE.python)
    if any(said in first for said in ("--offline", "download", PASS_OFFLINE.python)):
        return f"no {model} factors for region {region}: {first}"  # the cause says what to do
    hint = (
        f"{DOWNLOAD_ONCE.python} them, or give the fund another region"
        if offline
        else "give the fund another region"
    )
    return f"no {model} factors for region {region} ({first}); {hint}"


def _check_options(
    cov: str,
    hac_lags: int | None,
    min_months: int,
    t_threshold: float,
    rolling_window: int,
    source: str,
    prices_file: str | os.PathLike[str] | None,
    frequency: str = "monthly",
) -> None:
    """Every option checked before anything is downloaded (one line per problem)."""
    make_estimator(cov, hac_lags)
    if min_months < 2:
        raise UsageError(
            f"{MIN_MONTHS.python}{min_months} is too small; use at least 2 (36 is the default)"
        )
    if not t_threshold > 0:
        raise UsageError(f"{T_THRESHOLD.python}{t_threshold} must be positive (2 is the default)")
    if rolling_window < 3:
        unit = PERIOD_NAMES[frequency]
        raise UsageError(
            f"the rolling window ({rolling_window} {unit}s) must be at least 3 "
            f"({DEFAULT_ROLLING_WINDOWS[frequency]} is the default)"
        )
    if source not in SOURCES:
        raise UsageError(f"unknown price source {source!r}; choose one of: {', '.join(SOURCES)}")
    if source == "file":
        if prices_file is None:
            raise UsageError(
                f"the file source needs a prices file: {PASS_PRICES_FILE.python} (a CSV or "
                "Parquet of adjusted closes)"
            )
        if not Path(prices_file).exists():
            raise UsageError(f"prices file {prices_file} does not exist")


def default_out_dir() -> Path:
    """Where reports go when no ``--out`` is given."""
    return Path("factorxray-report")
