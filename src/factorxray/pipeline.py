"""``fx.analyze``: from fund names to an :class:`~factorxray.analysis.Analysis`.

This module wires the I/O (factor files, prices, the bundled snapshot) to the pure
:func:`~factorxray.analysis.build_analysis`. The CLI's ``analyze`` command is a thin wrapper
over :func:`analyze` and :func:`factorxray.report.write_report`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from factorxray import presets, snapshot
from factorxray.analysis import DEFAULT_ROLLING_WINDOW, Analysis, build_analysis
from factorxray.data.cache import Cache
from factorxray.data.http import ProgressCallback
from factorxray.data.prices import SOURCES
from factorxray.engine.covariance import make_estimator
from factorxray.errors import AllFailedError, UsageError
from factorxray.factors import FACTOR_ORDER, load_factors
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


def _fetch_fund_returns(
    tickers: list[str],
    *,
    source: str,
    prices_file: str | os.PathLike[str] | None,
    offline: bool,
    refresh: bool,
    cache: Cache,
    hooks: Hooks,
) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """Monthly total returns, failures, and the price source of each fund."""
    if hooks.prices_start:
        hooks.prices_start(len(tickers))
    try:
        returns = fetch_returns(
            tickers,
            source=source,
            prices_file=prices_file,
            cache=cache,
            offline=offline,
            refresh=refresh,
            on_ticker_done=hooks.ticker_done,
        )
        failed = dict(returns.attrs.get("failed", {}))
    except AllFailedError as exc:
        returns = pd.DataFrame(index=pd.PeriodIndex([], freq="M", name="period"))
        failed = dict(exc.failures)
    origin = {
        ticker: _source_label(source, info)
        for ticker, info in returns.attrs.get("sources", {}).items()
    }
    if offline and source != "file":
        held = [t for t in tickers if t in failed and t in snapshot.tickers()]
        if held:
            bundled = _returns_from_snapshot(held)
            returns = pd.concat([returns, bundled], axis=1) if not returns.empty else bundled
            for ticker in held:
                failed.pop(ticker)
                origin[ticker] = snapshot.PRICE_SOURCE_LABEL
        for ticker, reason in list(failed.items()):
            if ticker not in snapshot.tickers():
                failed[ticker] = f"{reason}; not in the bundled snapshot either"
    return returns, failed, origin


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
    rolling_window: int = DEFAULT_ROLLING_WINDOW,
    source: str = "yahoo",
    prices_file: str | os.PathLike[str] | None = None,
    offline: bool = False,
    refresh: bool = False,
    cache: Cache | None = None,
    hooks: Hooks | None = None,
) -> Analysis:
    """Reverse-engineer funds: factors, total returns, regressions, verdicts, attribution.

    Parameters
    ----------
    tickers : iterable of str
        Funds to analyze (see :func:`resolve_universe` for how they combine with a preset).
    preset, universe
        A shipped preset (``smart-beta-20``) or a TOML/YAML/CSV fund file (or a Universe).
    model, region
        The factor model (default ``xray7``) and its region (default ``us``).
    cov, hac_lags
        ``"hac"`` (Newey-West, default), ``"HC1"`` or ``"nonrobust"``; HAC lag (default per
        fund from its length).
    start, end : str, optional
        First and last month of the sample (``YYYY-MM``).
    min_months : int
        Funds with fewer months of overlap are listed as not analyzed.
    t_threshold : float
        |t| at which a beta counts as significant (default 2).
    rolling_window : int
        Months per rolling window (default 36).
    source, prices_file
        Price provider (``yahoo``, ``fmp``, ``tiingo``, ``file``) and the file for ``file``.
    offline : bool
        Never download: the cache, else the bundled snapshot (Ken French US/developed files,
        the 20 ETFs of ``smart-beta-20``).
    refresh : bool
        Download again even where the cache is fresh.
    cache : Cache, optional
        Default: the user cache folder.
    hooks : Hooks, optional
        Progress callbacks.

    Returns
    -------
    Analysis
        ``analysis.failed`` lists every fund that was asked for but not analyzed, and why.

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
    hooks = hooks or Hooks()
    cache = cache if cache is not None else Cache()
    funds = resolve_universe(tickers, preset=preset, universe=universe).validate(FACTOR_ORDER)
    _check_options(cov, hac_lags, min_months, t_threshold, rolling_window, source, prices_file)
    factors = load_factors(
        model,
        region,
        start=start,
        end=end,
        cache=cache,
        refresh=refresh,
        snapshot=offline,
        progress=hooks.download,
    )
    returns, failed, origin = _fetch_fund_returns(
        funds.tickers,
        source=source,
        prices_file=prices_file,
        offline=offline,
        refresh=refresh,
        cache=cache,
        hooks=hooks,
    )
    if start is not None or end is not None:
        returns = returns.loc[
            pd.Period(start, "M") if start else None : pd.Period(end, "M") if end else None
        ]
    sources = sorted(set(origin.values()))
    return build_analysis(
        funds,
        factors,
        returns,
        cov=cov,
        hac_lags=hac_lags,
        min_months=min_months,
        t_threshold=t_threshold,
        rolling_window=rolling_window,
        failed=failed,
        meta={
            "price_source": "; ".join(sources) if sources else source,
            "price_sources": origin,
            "universe": funds.name,
            "offline": offline,
        },
    )


def _check_options(
    cov: str,
    hac_lags: int | None,
    min_months: int,
    t_threshold: float,
    rolling_window: int,
    source: str,
    prices_file: str | os.PathLike[str] | None,
) -> None:
    """Every option checked before anything is downloaded (one line per problem)."""
    make_estimator(cov, hac_lags)
    if min_months < 2:
        raise UsageError(
            f"--min-months {min_months} is too small; use at least 2 (36 is the default)"
        )
    if not t_threshold > 0:
        raise UsageError(f"--t-threshold {t_threshold} must be positive (2 is the default)")
    if rolling_window < 3:
        raise UsageError(
            f"the rolling window ({rolling_window} months) must be at least 3 (36 is the default)"
        )
    if source not in SOURCES:
        raise UsageError(f"unknown price source {source!r}; choose one of: {', '.join(SOURCES)}")
    if source == "file":
        if prices_file is None:
            raise UsageError(
                "--source file needs --prices-file F (a CSV or Parquet of adjusted closes)"
            )
        if not Path(prices_file).exists():
            raise UsageError(f"--prices-file {prices_file} does not exist")


def default_out_dir() -> Path:
    """Where reports go when no ``--out`` is given."""
    return Path("factorxray-report")
