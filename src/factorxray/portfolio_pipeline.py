"""Portfolios and blends (issue 14): ``fx.analyze_portfolio``, ``fx.find_blend`` and their reports.

They reuse :func:`factorxray.pipeline.analyze` for the funds' data and regressions and never
change it; the math lives in :mod:`factorxray.portfolio` (no I/O there), imported lazily.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from factorxray.analysis import (
    DEFAULT_ROLLING_WINDOW,
    Analysis,
)
from factorxray.data.cache import Cache
from factorxray.errors import (
    AllFailedError,
    UsageError,
)
from factorxray.factors import MODELS, validate_choice
from factorxray.judge.robustness import DEFAULT_MODEL_LADDER
from factorxray.judge.verdicts import DEFAULT_MIN_BETA
from factorxray.pipeline import FactorLoader, Hooks, analyze, check_models
from factorxray.universe import Universe, load_universe

if TYPE_CHECKING:
    from factorxray.portfolio.blend import Blend
    from factorxray.portfolio.xray import PortfolioAnalysis


def analyze_portfolio(
    portfolio: Any,
    *,
    normalize: bool = False,
    rebalance: str = "monthly",
    benchmark: str | None = None,
    name: str = "PORTFOLIO",
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
    rolling_window: int = DEFAULT_ROLLING_WINDOW,
    source: str = "yahoo",
    prices_file: str | os.PathLike[str] | None = None,
    allow_suspect_prices: bool = False,
    offline: bool = False,
    refresh: bool = False,
    cache: Cache | None = None,
    hooks: Hooks | None = None,
) -> PortfolioAnalysis:
    """X-ray a weighted blend of funds like a fund, beside its funds.

    The funds are fetched and regressed by :func:`analyze`; the portfolio's monthly return
    series (see :class:`~factorxray.portfolio.Portfolio` for rebalancing) is added as one more
    fund, so the report, charts and exports show it like any fund. Beside its regression: the
    exposures its holdings imply, each factor's share of its variance, performance figures,
    and tracking error against a benchmark. Methods: docs/portfolio.md.

    Parameters
    ----------
    portfolio : Portfolio, mapping fund -> weight, or sequence of ``"TICKER=WEIGHT"``
        The weights (decimals, or ``"SPY=60%"`` in the text form). None (or empty) with a
        ``universe`` whose funds have a ``weight``: those weights.
    normalize : bool
        Rescale weights that do not sum to 1 (else they are refused).
    rebalance : {"monthly", "buy-and-hold"}
        Ignored when ``portfolio`` is a :class:`~factorxray.portfolio.Portfolio`.
    benchmark : str, optional
        A ticker (fetched like the funds, shown beside them): tracking error and information
        ratio of every fund and of the portfolio against it.
    name : str
        The portfolio's name in the tables (default ``PORTFOLIO``).
    preset, universe
        Where the funds' labels come from (default: ``smart-beta-20`` where it knows them).
    model, region, cov, hac_lags, start, end, min_months, t_threshold, min_beta, fdr, models,
    region_fit, drift, rolling_window, source, prices_file, offline, refresh, cache, hooks
        As :func:`analyze`. The portfolio is regressed on its funds' region when they share
        one, else on ``region``.

    Returns
    -------
    PortfolioAnalysis
        ``.analysis`` (for :func:`factorxray.write_report`), ``.exposures`` (implied vs
        regressed), ``.risk``, ``.performance``, ``.tracking``.

    Raises
    ------
    UsageError
        Bad weights (sum, sign, duplicates), a weighted fund or the benchmark that cannot
        be loaded or analyzed (naming it and why), bad options.
    InsufficientDataError
        The funds share fewer than ``min_months`` months with the factors.

    Examples
    --------
    >>> import factorxray as fx
    >>> result = fx.analyze_portfolio({"SPY": 0.6, "VLUE": 0.4}, offline=True)  # doctest: +SKIP
    >>> result.exposures_frame()[["regressed", "implied", "gap"]]  # doctest: +SKIP
    """
    if _no_weights(portfolio) and universe is not None:
        labels = universe if isinstance(universe, Universe) else load_universe(universe)
        if labels.weights is None:
            raise UsageError(
                "no weights: give TICKER=WEIGHT items or a fund list with a weight column"
            )
        portfolio, universe = labels.weights, labels
    port = _as_portfolio(portfolio, normalize=normalize, rebalance=rebalance, name=name)
    bench = _bench_ticker(benchmark, port.name)
    ladder_models = check_models(models)
    cache = cache if cache is not None else Cache()
    tickers = port.funds + ([bench] if bench and bench not in port.funds else [])
    base = _base_analysis(
        tickers,
        {f: f"carries {w:.4g} of the portfolio" for f, w in port.weights.items()},
        bench,
        preset=preset,
        universe=universe,
        model=model,
        region=region,
        cov=cov,
        hac_lags=hac_lags,
        start=start,
        end=end,
        min_months=min_months,
        t_threshold=t_threshold,
        min_beta=min_beta,
        fdr=fdr,
        rolling_window=rolling_window,
        source=source,
        prices_file=prices_file,
        offline=offline,
        refresh=refresh,
        cache=cache,
        hooks=hooks,
    )
    return _xray(
        port,
        base,
        bench,
        model=model,
        region=region,
        ladder_models=ladder_models,
        region_fit=region_fit,
        drift=drift,
        start=start,
        end=end,
        cov=cov,
        hac_lags=hac_lags,
        min_months=min_months,
        t_threshold=t_threshold,
        min_beta=min_beta,
        fdr=fdr,
        rolling_window=rolling_window,
        offline=offline,
        refresh=refresh,
        cache=cache,
        hooks=hooks,
    )


def find_blend(
    target: Any,
    candidates: Sequence[str] | str,
    *,
    benchmark: str | None = None,
    max_weight: float = 1.0,
    max_funds: int | None = None,
    model: str = "xray7",
    region: str = "us",
    cov: str = "hac",
    hac_lags: int | None = None,
    start: str | pd.Period | None = None,
    end: str | pd.Period | None = None,
    min_months: int = 36,
    fit_share: float = 2 / 3,
    xray: bool = True,
    models: Sequence[str] | None = DEFAULT_MODEL_LADDER,
    source: str = "yahoo",
    prices_file: str | os.PathLike[str] | None = None,
    offline: bool = False,
    refresh: bool = False,
    cache: Cache | None = None,
    hooks: Hooks | None = None,
) -> Blend:
    """Find the long-only blend of funds whose exposures meet a target with the least risk.

    Fetches the candidates (and the benchmark) as :func:`analyze` does, regresses them on
    the same months (their common window) and solves
    :func:`factorxray.portfolio.blend.find_blend`; with ``xray`` the blend found is then
    X-rayed beside the candidates like a portfolio (``blend.xray``, for the report).

    Parameters
    ----------
    target : str or mapping
        ``"SMB>=0.2,HML>=0.2"`` (operators ``>=``, ``<=``, ``>``, ``<``, ``=``) or
        ``{factor: value}`` for equalities.
    candidates : sequence of str, or ``"VBR,IJR,VTV"``
        The funds to blend. Candidates that cannot be loaded or analyzed are dropped, with a
        note in ``blend.notes``.
    benchmark : str, optional
        Minimise the tracking error against this fund instead of the residual risk.
    max_weight, max_funds
        Most weight on one fund; most funds in the blend.
    model, region, cov, hac_lags, start, end, min_months, source, prices_file, offline,
    refresh, cache, hooks
        As :func:`analyze` (the candidates are regressed on their shared region's factors,
        else on ``region``'s).
    fit_share : float
        The out-of-sample check fits on this share of the common window (default 2/3).
    xray : bool
        Also X-ray the blend beside the candidates (``blend.xray``; about a second).
    models : sequence of str, optional
        The model ladder of the X-ray.

    Returns
    -------
    Blend
        ``weights``, ``achieved``, ``constraints`` (target vs achieved), ``feasible`` and
        ``message`` (which constraint binds when infeasible: the weights are then the closest
        blend), ``out_of_sample``.

    Raises
    ------
    UsageError
        A malformed target or unknown factor (before any download), no candidates,
        duplicates, bounds that cannot add up to 1, a benchmark that cannot be loaded,
        no candidate loaded.

    Examples
    --------
    >>> import factorxray as fx
    >>> blend = fx.find_blend("SMB>=0.2,HML>=0.2", "VBR,IJR,VTV,VLUE,SPY", offline=True)  # doctest: +SKIP
    >>> blend.holdings, blend.achieved  # doctest: +SKIP
    """
    from factorxray.portfolio import blend as blend_math
    from factorxray.portfolio.holdings import Portfolio

    pool = _candidate_list(candidates)
    validate_choice("model", model, tuple(MODELS))
    blend_math.parse_target(target, MODELS[model.strip().lower()][0])  # fail before downloading
    blend_math._check_bounds(len(pool), max_weight, max_funds)
    bench = _bench_ticker(benchmark, "BLEND")
    ladder_models = check_models(models) if xray else []
    cache = cache if cache is not None else Cache()
    tickers = pool + ([bench] if bench and bench not in pool else [])
    base = _base_analysis(
        tickers,
        {},
        bench,
        model=model,
        region=region,
        cov=cov,
        hac_lags=hac_lags,
        start=start,
        end=end,
        min_months=min_months,
        source=source,
        prices_file=prices_file,
        offline=offline,
        refresh=refresh,
        cache=cache,
        hooks=hooks,
    )
    kept = [c for c in pool if c in base.analyzed]
    dropped = {c: base.failed.get(c, "not analyzed") for c in pool if c not in kept}
    if not kept:
        raise UsageError(
            "none of the candidates could be loaded: "
            + "; ".join(f"{c}: {r}" for c, r in dropped.items())
        )
    blend_region, frame, mixed = _shared_region(
        base, kept, model, region, start, end, cache, hooks, offline, refresh
    )
    blend = blend_math.find_blend(
        target,
        base.returns,
        frame,
        candidates=kept,
        benchmark=bench,
        max_weight=max_weight,
        max_funds=max_funds,
        cov=cov,
        hac_lags=hac_lags,
        min_months=min_months,
        fit_share=fit_share,
    )
    blend.notes[:0] = [f"{c} dropped: {reason}" for c, reason in dropped.items()]
    if mixed:
        blend.notes.append(f"the candidates: {mixed}")
    if xray:
        port = Portfolio(blend.holdings, normalize=True, name="BLEND")
        blend.xray = _xray(
            port,
            base,
            bench,
            model=model,
            region=region,
            ladder_models=ladder_models,
            region_fit=False,
            drift=True,
            start=start,
            end=end,
            cov=cov,
            hac_lags=hac_lags,
            min_months=min_months,
            offline=offline,
            refresh=refresh,
            cache=cache,
            hooks=hooks,
            portfolio_region=blend_region,
        )
    return blend


def write_portfolio_report(
    result: PortfolioAnalysis,
    out_dir: str | os.PathLike[str],
    *,
    png: bool = True,
    open_browser: bool = False,
    all_cards: bool = False,
    blend: Blend | None = None,
    force: bool = False,
) -> Path:
    """Write the report of a portfolio analysis and the portfolio's own exports.

    The report of ``result.analysis`` with its portfolio section (:func:`factorxray.write_report`
    with ``portfolio=result``, and ``blend`` when given: ``index.html``, PNGs,
    ``exposures.csv``, ``summary.json``; ``all_cards`` as there), then, in the same folder:
    ``summary.json`` gains the portfolio's keys (``weights``, ``start``, ``end``, ``nobs``,
    ``exposures`` ... see :meth:`PortfolioAnalysis.summary`), and
    ``implied_exposures.csv`` (term, regressed, se, t, p, implied, gap),
    ``risk_attribution.csv`` (fund, component, variance, share, volatility),
    ``performance.csv`` (per fund and portfolio) and ``holdings.csv`` (the portfolio's
    monthly return and the weights held each month). ``force`` as in ``write_report``.

    Returns
    -------
    Path
        The ``index.html`` file.
    """
    from factorxray.report import folder, write_report

    out = Path(out_dir)
    index = write_report(
        result.analysis,
        out,
        png=png,
        open_browser=open_browser,
        portfolio=result,
        blend=blend,
        all_cards=all_cards,
        force=force,
    )
    tables = _portfolio_tables(result)
    folder.record_files(out, tables)
    for file_name, frame in tables.items():
        _write_csv(frame, out / file_name)
    _merge_summary(out / "summary.json", result.summary())
    return index


def write_blend_report(
    blend: Blend,
    out_dir: str | os.PathLike[str],
    *,
    png: bool = True,
    open_browser: bool = False,
    all_cards: bool = False,
    force: bool = False,
) -> Path:
    """Write ``blend.json``, the blend's keys in ``summary.json`` and, with an X-ray, its report.

    ``summary.json`` holds ``weights``, ``target``, ``achieved`` (factor -> beta),
    ``feasible``, ``message`` and ``out_of_sample``, beside the report's own keys when the
    blend was X-rayed (``blend.xray``: then the folder also holds the portfolio report of
    :func:`write_portfolio_report`, with the blend section: target vs achieved vs out of
    sample, the constraints, the message when infeasible). ``blend_target.csv`` is
    :meth:`Blend.to_frame`. ``force`` as in ``write_report``.

    Returns
    -------
    Path
        ``index.html`` when an X-ray was written, else ``blend.json``.
    """
    from factorxray._atomic import atomic_write_text
    from factorxray.portfolio.xray import jsonable
    from factorxray.report import folder

    out = Path(out_dir)
    folder.check_folder(out, force=force)
    out.mkdir(parents=True, exist_ok=True)
    folder.record_files(out, ("blend.json", "blend_target.csv", "summary.json"))
    index = None
    if blend.xray is not None:
        index = write_portfolio_report(
            blend.xray,
            out,
            png=png,
            open_browser=open_browser,
            all_cards=all_cards,
            blend=blend,
            force=True,  # the folder was checked above
        )
    record = blend.to_dict()
    atomic_write_text(
        out / "blend.json", json.dumps(jsonable(record), indent=2, allow_nan=False) + "\n"
    )
    _write_csv(blend.to_frame(), out / "blend_target.csv")
    _merge_summary(
        out / "summary.json",
        {
            "weights": record["weights"],
            "target": record["target"],
            "achieved": record["achieved"],
            "feasible": record["feasible"],
            "message": record["message"],
            "objective": record["objective"],
            "risk_annualized": record["risk_annualized"],
            "blend_window": {
                "start": record["start"],
                "end": record["end"],
                "nobs": record["nobs"],
            },
            "constraints": record["constraints"],
            "out_of_sample": record["out_of_sample"],
            "notes": record["notes"],
        },
    )
    folder.record_files(out, ("blend.json", "blend_target.csv", "summary.json"))
    return index if index is not None else out / "blend.json"


def _no_weights(portfolio: Any) -> bool:
    if portfolio is None:
        return True
    if isinstance(portfolio, str):
        return not portfolio.strip()
    try:
        return len(portfolio) == 0
    except TypeError:
        return False


def _as_portfolio(portfolio: Any, *, normalize: bool, rebalance: str, name: str) -> Any:
    from factorxray.portfolio.holdings import Portfolio

    if isinstance(portfolio, Portfolio):
        return portfolio
    if isinstance(portfolio, str) or (
        isinstance(portfolio, Sequence) and all(isinstance(item, str) for item in portfolio)
    ):
        return Portfolio.parse(portfolio, normalize=normalize, rebalance=rebalance, name=name)
    return Portfolio(portfolio, normalize=normalize, rebalance=rebalance, name=name)


def _bench_ticker(benchmark: str | None, portfolio_name: str) -> str | None:
    from factorxray.data.tickers import check_ticker

    if benchmark is None or not str(benchmark).strip():
        return None
    bench = check_ticker(benchmark)
    if bench == portfolio_name:
        raise UsageError(f"the benchmark {bench} has the portfolio's name; name another fund")
    return bench


def _candidate_list(candidates: Sequence[str] | str) -> list[str]:
    from factorxray.data.tickers import check_ticker

    items = re.split(r"[\s,]+", candidates) if isinstance(candidates, str) else list(candidates)
    pool = [check_ticker(item) for item in items if str(item).strip()]
    if not pool:
        raise UsageError("the candidate list is empty; give funds to blend, e.g. --from SPY,VTV")
    duplicates = sorted({c for c in pool if pool.count(c) > 1})
    if duplicates:
        raise UsageError(f"{', '.join(duplicates)} is listed twice in --from; list each once")
    return pool


def _base_analysis(
    tickers: list[str],
    required: dict[str, str],
    bench: str | None,
    **options: Any,
) -> Analysis:
    """The funds fetched and regressed by :func:`analyze` (no ladder, drift or region fit).

    A fund in ``required`` (fund -> what it is to the portfolio) or the benchmark that cannot
    be loaded or analyzed is a UsageError naming it and why.
    """
    needed = {**required, **({bench: "is the benchmark"} if bench else {})}
    try:
        base = analyze(tickers, models=None, region_fit=False, drift=False, **options)
    except AllFailedError as exc:
        failures = exc.failures
        for fund, role in needed.items():
            if fund in failures:
                raise UsageError(
                    f"{fund} {role} but could not be analyzed: {failures[fund]}"
                ) from None
        raise
    for fund, role in needed.items():
        if fund in base.failed:
            raise UsageError(
                f"{fund} {role} but could not be analyzed: {base.failed[fund]}; "
                "fix the ticker or leave it out"
            )
    return base


def _shared_region(
    base: Analysis,
    funds: Sequence[str],
    model: str,
    region: str,
    start: Any,
    end: Any,
    cache: Cache,
    hooks: Hooks | None,
    offline: bool,
    refresh: bool,
) -> tuple[str, pd.DataFrame, str | None]:
    """The region the funds share (else ``region``), its factor frame, and a note if mixed."""
    regions = {base.fund_factors[f]["region"] for f in funds if f in base.fund_factors}
    default = "developed+us" if model.strip().lower() == "article7" else region.strip().lower()
    chosen = next(iter(regions)) if len(regions) == 1 else default
    note = None
    if len(regions) > 1:
        note = (
            f"its funds are judged on different regions' factors ({', '.join(sorted(regions))}); "
            f"it is regressed on {chosen} factors (--region)"
        )
    if chosen in base.factors_by_region:
        return chosen, base.factors_by_region[chosen], note
    loader = FactorLoader(start, end, cache, refresh, offline, hooks or Hooks())
    try:
        frames, _, failures = loader.main(validate_choice("model", model, tuple(MODELS)), [chosen])
    finally:
        loader.close()
    if chosen not in frames:
        raise UsageError(failures.get(chosen, f"no factors for region {chosen}"))
    return chosen, frames[chosen], note


def _xray(
    port: Any,
    base: Analysis,
    bench: str | None,
    *,
    model: str,
    region: str,
    ladder_models: list[str],
    region_fit: bool,
    drift: bool,
    start: Any,
    end: Any,
    cov: str,
    hac_lags: int | None,
    min_months: int,
    offline: bool,
    refresh: bool,
    cache: Cache,
    hooks: Hooks | None,
    t_threshold: float = 2.0,
    min_beta: float = DEFAULT_MIN_BETA,
    fdr: float | None = None,
    rolling_window: int = DEFAULT_ROLLING_WINDOW,
    portfolio_region: str | None = None,
) -> PortfolioAnalysis:
    """The portfolio beside the funds of ``base``: factors, ladder, region fit, then the math."""
    from factorxray.portfolio.xray import build_portfolio_analysis

    chosen, frame, mixed = _shared_region(
        base, port.funds, model, region, start, end, cache, hooks, offline, refresh
    )
    if portfolio_region is not None:
        chosen = portfolio_region
    frames = dict(base.factors_by_region)
    frames.setdefault(chosen, frame)
    region_notes = {
        info["region"]: info["note"] for info in base.fund_factors.values() if info.get("note")
    }
    model_name = validate_choice("model", model, tuple(MODELS))
    loader = FactorLoader(start, end, cache, refresh, offline, hooks or Hooks())
    try:
        ladder = loader.ladder(ladder_models, frames) if ladder_models else None
        fit_factors = loader.at_hand("ff5") if region_fit and model_name != "article7" else None
    finally:
        loader.close()
    keys = ("price_source", "price_sources", "universe", "offline", "default_region")
    meta = {k: base.meta[k] for k in (*keys, "requested_model") if k in base.meta}
    result = build_portfolio_analysis(
        port,
        base.universe,
        frames,
        base.returns,
        fund_regions={f: info["region"] for f, info in base.fund_factors.items()},
        region=chosen,
        benchmark=bench,
        cov=cov,
        hac_lags=hac_lags,
        min_months=min_months,
        meta=meta,
        t_threshold=t_threshold,
        min_beta=min_beta,
        fdr=fdr,
        rolling_window=rolling_window,
        ladder=ladder,
        fit_factors=fit_factors,
        region_notes=region_notes,
        drift=drift,
        failed=dict(base.failed),
    )
    if mixed:
        result.analysis.warnings.setdefault(port.name, []).append(f"{port.name}: {mixed}")
    return result


def _portfolio_tables(result: PortfolioAnalysis) -> dict[str, pd.DataFrame]:
    held = result.exposures.held
    holdings = held.weights.copy()
    holdings.insert(0, "return", held.returns)
    return {
        "implied_exposures.csv": result.exposures_frame(),
        "risk_attribution.csv": result.risk_frame().set_index("fund"),
        "performance.csv": result.performance_frame(),
        "holdings.csv": holdings,
    }


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    from factorxray._atomic import atomic_write_text

    out = frame.copy()
    if isinstance(out.index, pd.PeriodIndex):
        out.index = out.index.astype(str)
    for column in out.columns:
        if isinstance(out[column].dtype, pd.PeriodDtype):
            out[column] = out[column].astype(str)
    atomic_write_text(path, out.to_csv(lineterminator="\n", float_format=lambda v: repr(float(v))))


def _merge_summary(path: Path, extra: dict[str, Any]) -> None:
    """Add ``extra``'s keys to the JSON object in ``path`` (created if absent)."""
    from factorxray._atomic import atomic_write_text
    from factorxray.portfolio.xray import jsonable

    record: dict[str, Any] = {}
    if path.exists():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            record = loaded
    record.update(jsonable(extra))
    atomic_write_text(path, json.dumps(record, indent=2, allow_nan=False) + "\n")
