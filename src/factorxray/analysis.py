"""One analysis of a list of funds: the bundle the report and the CLI are built from.

:func:`build_analysis` is pure (no I/O): given factor returns (one frame, or one per region),
fund total returns and a universe, it regresses every fund on its own region's factors, rolls
the windows, judges the labels by significance and size, and checks how each verdict fares
under other models, over time (share of rolling windows, a structural-break test) and in
other regions. :func:`factorxray.analyze` (in :mod:`factorxray.pipeline`) adds the downloads.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from factorxray.engine import regress, rolling_regress
from factorxray.errors import (
    MIN_MONTHS,
    WIDEN_RANGE,
    AllFailedError,
    CollinearityError,
    InsufficientDataError,
    UsageError,
)
from factorxray.factors.frequency import (
    PERIOD_NAMES,
    PERIODS_PER_YEAR,
    check_frequency,
    min_periods,
    months_text,
)
from factorxray.judge import robustness
from factorxray.judge.verdicts import DEFAULT_MIN_BETA, Rules, Verdict, judge
from factorxray.results import (
    ExposureResults,
    RollingExposureResults,
    combine_results,
    combine_rolling,
)
from factorxray.universe import Universe

DEFAULT_ROLLING_WINDOW = 36

#: What a model of the ladder holds for a region: its factors, or why it cannot be run there.
LadderEntry = pd.DataFrame | str


@dataclass
class Analysis:
    """Everything one run produced, ready to print or to render.

    Attributes
    ----------
    universe : Universe
        The funds asked for, with names, categories and expected tilts.
    factors : DataFrame
        Factor returns of the run's main region (decimals, model columns then ``RF``,
        ``.attrs`` with vintages); see ``factors_by_region`` for the others.
    returns : DataFrame
        Monthly total returns of the funds that were fetched (decimals).
    excess_returns : DataFrame
        ``returns`` minus RF, on the factor months.
    results : ExposureResults
        Static regressions of the analyzed funds, each on its own region's factors (a term a
        fund's model lacks is NaN for it).
    rolling : RollingExposureResults or None
        Rolling-window regressions (None when no fund has enough months for one window).
    verdicts : dict of str to Verdict
        Per analyzed fund, with robustness facts on each check and notes in the sentence.
    attribution : DataFrame
        Per analyzed fund: annualized mean excess return split into alpha and each factor's
        beta x annualized factor mean (columns ``alpha``, factors..., ``total``, ``fitted``).
    failed : dict of str to str
        Funds that were asked for but not analyzed, with the reason. Never silently dropped.
    meta : dict
        Model, region, vintages, price source, covariance, rules, sample: for headers.
    factors_by_region : dict of str to DataFrame
        The main model's factors of every region used (a fallback model where the main one
        cannot be built, e.g. ``ff6`` for ``xray7`` outside the US).
    fund_factors : dict of str to dict
        Per analyzed fund: ``region`` and ``model`` of the factors actually used, and
        ``note`` (why a fallback model was used, else None).
    qvalues : DataFrame
        Benjamini-Hochberg q-values, funds x factors, over the whole table.
    ladder : dict
        Per fund: the verdict and labelled betas under each model of the ladder (see
        :func:`factorxray.judge.robustness.model_ladder`).
    ladder_results : dict of str to ExposureResults
        The ladder's regressions, per model (funds the model could not be run for are absent).
    windows : dict
        Per fund and tilt: share of rolling windows delivered, last window beta.
    drift : DataFrame
        The sup-Wald drift test of each fund's labelled betas (one row per fund).
    region_fit : dict of str to dict of str to float
        Per fund: R² of the region-fit model in every region at hand.
    better_region : dict of str to str or None
        Per fund: a region whose factors fit materially better than the one used, else None.
    warnings : dict of str to list of str
        Per fund: one-line warnings (fallback model, better region, ...), also on stderr.
    """

    universe: Universe
    factors: pd.DataFrame
    returns: pd.DataFrame
    excess_returns: pd.DataFrame
    results: ExposureResults
    rolling: RollingExposureResults | None
    verdicts: dict[str, Verdict]
    attribution: pd.DataFrame
    failed: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    factors_by_region: dict[str, pd.DataFrame] = field(default_factory=dict)
    fund_factors: dict[str, dict[str, Any]] = field(default_factory=dict)
    qvalues: pd.DataFrame = field(default_factory=pd.DataFrame)
    ladder: dict[str, dict[str, Any]] = field(default_factory=dict)
    ladder_results: dict[str, ExposureResults] = field(default_factory=dict)
    windows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    drift: pd.DataFrame = field(default_factory=pd.DataFrame)
    region_fit: dict[str, dict[str, float]] = field(default_factory=dict)
    better_region: dict[str, str | None] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    vintage_comparison: VintageComparison | None = None

    @property
    def analyzed(self) -> list[str]:
        """Tickers analyzed, in universe order."""
        fitted = set(self.results.params.index)
        return [ticker for ticker in self.universe.tickers if ticker in fitted]

    def factors_for(self, fund: str) -> pd.DataFrame:
        """The factor returns a fund was regressed on (its region's main-model factors)."""
        region = self.fund_factors.get(fund, {}).get("region")
        return self.factors_by_region.get(region, self.factors)


@dataclass
class VintageComparison:
    """How each fund's betas and verdict move when the factor files of another vintage are used.

    Attributes
    ----------
    vintage : str
        The other vintage (``YYYYMM``), as asked.
    betas : DataFrame
        Long: one row per (fund, factor) with ``beta`` (the run's), ``beta_other`` (on the
        other vintage, same fund months where the files allow), ``change`` and ``t_change``
        (the change in units of the run's standard error).
    verdicts : DataFrame
        Per fund: ``verdict``, ``verdict_other``, ``changed`` (bool), ``nobs``, ``nobs_other``.
    vintages_other : dict
        Dataset -> vintage of the other run's files.
    error : str or None
        Why the other run could not be made (e.g. that vintage is not at hand), else None.
    """

    vintage: str
    betas: pd.DataFrame = field(default_factory=pd.DataFrame)
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    vintages_other: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def compare_analyses(now: Analysis, then: Analysis, vintage: str) -> VintageComparison:
    """Betas and verdicts of two runs of the same funds (pure; see ``analyze(compare_vintage=)``).

    Parameters
    ----------
    now, then : Analysis
        The run in use and the run on the other vintage's factor files.
    vintage : str
        The other vintage, for the record.

    Returns
    -------
    VintageComparison
    """
    funds = [f for f in now.analyzed if f in set(then.analyzed)]
    factors = [c for c in now.results.params.columns if c in then.results.params.columns]
    beta_now = now.results.params.loc[funds, factors]
    beta_then = then.results.params.loc[funds, factors]
    se_now = now.results.bse.loc[funds, factors]
    betas = pd.DataFrame(
        {
            "beta": beta_now.stack(future_stack=True),
            "beta_other": beta_then.stack(future_stack=True),
        }
    )
    betas["change"] = betas["beta_other"] - betas["beta"]
    betas["t_change"] = betas["change"] / se_now.stack(future_stack=True)
    betas.index = betas.index.set_names(["fund", "factor"])
    verdicts = pd.DataFrame(
        {
            "verdict": [now.verdicts[f].status for f in funds],
            "verdict_other": [then.verdicts[f].status for f in funds],
            "nobs": [int(now.results.nobs[f]) for f in funds],
            "nobs_other": [int(then.results.nobs[f]) for f in funds],
        },
        index=pd.Index(funds, name="fund"),
    )
    verdicts["changed"] = verdicts["verdict"] != verdicts["verdict_other"]
    vintages = {str(k): str(v) for k, v in (then.factors.attrs.get("vintages") or {}).items()}
    return VintageComparison(vintage, betas.dropna(how="all"), verdicts, vintages)


def return_attribution(
    results: ExposureResults, excess_returns: pd.DataFrame, factors: pd.DataFrame
) -> pd.DataFrame:
    """Split each fund's annualized mean excess return into alpha and factor contributions.

    Over each fund's own sample (``results.start`` to ``results.end``, the rows where the
    fund and every factor are observed), the mean excess return equals alpha plus the sum of
    beta_k times the mean of factor k (an OLS identity when the sample is the regression's).
    Values are annualized arithmetically (x12 for monthly data) and in decimals.

    Returns
    -------
    DataFrame
        Index: funds; columns ``alpha``, one per factor, ``fitted`` (their sum) and ``total``
        (the mean excess return itself; equal to ``fitted`` up to rounding).
    """
    params = results.params
    terms = list(params.columns)
    factor_names = [t for t in terms if t != "alpha"]
    periods = float(results.periods_per_year)
    funds = list(params.index)
    x = _rows_on(_columns(factors, factor_names), excess_returns.index)  # (T, K)
    y = np.asfortranarray(_columns(excess_returns, funds).to_numpy(dtype=float))  # (T, n)
    usable = _sample_mask(excess_returns.index, results, funds) & np.isfinite(y)
    usable &= np.isfinite(x).all(axis=1)[:, None]
    count = usable.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor_means = (np.where(usable, 1.0, 0.0).T @ np.nan_to_num(x)) / count[:, None]
        fund_means = np.where(usable, y, 0.0).sum(axis=0) / count
    coefficients = _columns(params, ["alpha", *factor_names]).to_numpy(dtype=float)
    alpha = coefficients[:, 0] * periods
    contributions = coefficients[:, 1:] * factor_means * periods
    fitted = np.zeros(len(funds))
    for column in np.where(np.isnan(contributions), 0.0, contributions).T:
        fitted += column  # factor by factor (a term the fund's model lacks counts 0), then alpha
    fitted += np.where(np.isnan(alpha), 0.0, alpha)
    values = np.column_stack([alpha, contributions, fitted, fund_means * periods])
    return pd.DataFrame(values, index=funds, columns=["alpha", *factor_names, "fitted", "total"])


def _rows_on(frame: pd.DataFrame, index: pd.Index) -> np.ndarray:
    """``frame.reindex(index).to_numpy(dtype=float)`` by position (NaN rows for labels that
    ``frame`` lacks; its index is unique), column-major as pandas lays out a reindexed frame:
    products over it then add in the same order, to the bit."""
    values = frame.to_numpy(dtype=float)
    if frame.index.equals(index):
        return np.asfortranarray(values)
    rows = frame.index.get_indexer(index)
    out = np.asfortranarray(values[rows])
    out[rows < 0] = np.nan
    return out


def _sample_mask(index: pd.Index, results: ExposureResults, funds: Sequence[str]) -> np.ndarray:
    """Boolean (T, n): rows within each fund's regression sample (start to end)."""
    starts, ends = results.start, results.end
    if list(starts.index) != list(funds):
        starts, ends = starts.reindex(funds), ends.reindex(funds)
    positions = np.arange(len(index))
    first = index.get_indexer(pd.Index(starts))
    last = index.get_indexer(pd.Index(ends))
    first = np.where(first < 0, len(index), first)
    return (positions[:, None] >= first[None, :]) & (positions[:, None] <= last[None, :])


def _none_analyzed(failures: dict[str, str]) -> str:
    detail = "; ".join(f"{ticker}: {reason}" for ticker, reason in failures.items())
    return f"no fund could be analyzed ({detail})" if detail else "no fund could be analyzed"


def _factor_names(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c != "RF"]


def _regressors(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame[_factor_names(frame)]``, by position (see :func:`_columns`)."""
    return frame.take([j for j, c in enumerate(frame.columns) if c != "RF"], axis=1)


def _columns(frame: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """``frame[labels]`` by position: pandas turns a list of labels into an Index of
    (pyarrow) strings and looks it up, about 0.5 ms a call, several times a ``take``."""
    columns = frame.columns.tolist()
    if list(labels) == columns:
        return frame  # every column in order (callers only read it)
    if len(set(columns)) != len(columns):
        return frame[list(labels)]
    position = {column: j for j, column in enumerate(columns)}
    return frame.take([position[label] for label in labels], axis=1)


def _bare(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without ``attrs``: a shallow copy (no data copied under copy-on-write).

    pandas deep-copies a frame's ``attrs`` into the result of every operation on it (vintages,
    sources, price origins: some 20,000 ``copy.deepcopy`` calls a run), so the math runs on
    bare frames; the frames handed out keep their ``attrs``.
    """
    if not frame.attrs:
        return frame
    out = frame.copy(deep=False)
    out.attrs = {}
    return out


def _within_samples(excess: pd.DataFrame, results: ExposureResults) -> pd.DataFrame:
    """Each fund's excess returns outside its main regression's sample set to NaN."""
    fitted = set(results.start.index.tolist())
    labels = excess.columns.tolist()
    columns = [j for j, fund in enumerate(labels) if fund in fitted]
    funds = [labels[j] for j in columns]
    mask = _sample_mask(excess.index, results, funds)
    values = excess.to_numpy(dtype=np.float64, copy=True)  # numpy: pandas' setitem of many
    values[:, columns] = np.where(mask, values[:, columns], np.nan)  # columns cost 20 ms a call
    out = pd.DataFrame(values, index=excess.index, columns=excess.columns)
    out.attrs = dict(excess.attrs)
    return out


@dataclass
class _Group:
    """The funds of one region, with what was fitted for them."""

    region: str
    #: The region's factors as given (with their ``attrs``: the analysis hands them out).
    factors: pd.DataFrame
    funds: list[str]
    #: ``factors`` without ``attrs``, for the math (see :func:`_bare`).
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: The regressors of ``frame`` (every column but RF; the engine leaves RF out itself).
    regressors: pd.DataFrame = field(default_factory=pd.DataFrame)
    excess: pd.DataFrame | None = None
    results: ExposureResults | None = None
    rolling: RollingExposureResults | None = None
    #: Per fund: months inside its sample with a return but no (complete) factor data.
    gaps: dict[str, list[pd.Period]] = field(default_factory=dict)
    #: The model ladder's fits on ``sample``, with their factors (see :func:`_known_fit`).
    ladder_fits: list[tuple[pd.DataFrame, ExposureResults]] = field(default_factory=list)
    _sample: pd.DataFrame | None = None

    @property
    def sample(self) -> pd.DataFrame:
        """``excess`` restricted to each fund's main sample (built once, shared by the
        ladder, the drift tests and the region fit)."""
        if self._sample is None:
            self._sample = _within_samples(self.excess, self.results)
        return self._sample


def build_analysis(
    universe: Universe,
    factors: pd.DataFrame | Mapping[str, pd.DataFrame],
    returns: pd.DataFrame,
    *,
    fund_regions: Mapping[str, str] | None = None,
    cov: str = "hac",
    hac_lags: int | None = None,
    min_months: int = 36,
    t_threshold: float = 2.0,
    min_beta: float = DEFAULT_MIN_BETA,
    fdr: float | None = None,
    rolling_window: int = DEFAULT_ROLLING_WINDOW,
    ladder: Mapping[str, Mapping[str, LadderEntry]] | None = None,
    fit_factors: Mapping[str, pd.DataFrame] | None = None,
    region_notes: Mapping[str, str] | None = None,
    drift: bool = True,
    failed: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
    frequency: str = "monthly",
) -> Analysis:
    """Regress, roll, judge, test robustness and attribute: the math of one run (no I/O).

    Parameters
    ----------
    universe : Universe
        The funds asked for.
    factors : DataFrame or mapping of region to DataFrame
        From :func:`factorxray.load_factors` (decimals, with ``RF``): one frame for every
        fund, or one per region (the main model, or its fallback, in each region).
    returns : DataFrame
        Monthly total returns (decimals), one column per fetched fund.
    fund_regions : mapping fund -> region, optional
        Which region's factors each fund is regressed on (needed with a mapping of frames;
        default: the single frame's region for every fund).
    cov, hac_lags
        Passed to :func:`factorxray.regress` (the default HAC lag grows with each fund's
        number of periods, so daily samples get longer lags than monthly ones).
    min_months : int
        Funds with a shorter sample are not analyzed: at least this many months, or at
        weekly or daily frequency the periods spanning as long (36 months = 156 weeks =
        756 days; :func:`factorxray.factors.frequency.min_periods`).
    t_threshold, min_beta, fdr
        The verdict rules (see :class:`factorxray.judge.verdicts.Rules`).
    rolling_window : int
        Periods (months, weeks or days) per rolling window.
    ladder : mapping model -> (region -> DataFrame or reason), optional
        The other models each fund is also judged under, on its main sample.
    fit_factors : mapping region -> DataFrame, optional
        Factors of the region-fit check (one model in every region at hand).
    region_notes : mapping region -> str, optional
        Why a region's frame is a fallback model (shown per fund).
    drift : bool
        Run the structural-break test on the labelled betas.
    failed : dict, optional
        Funds that already failed upstream (e.g. download), with reasons.
    meta : dict, optional
        Extra header facts (price source...).
    frequency : {"monthly", "weekly", "daily"}
        The frequency of ``factors`` and ``returns`` (both on the same period index: see
        :func:`factorxray.factors.frequency.to_periods`); in ``meta["frequency"]``.

    Returns
    -------
    Analysis

    Raises
    ------
    AllFailedError
        When no fund at all can be analyzed (``failures`` maps each fund to its reason).
    UsageError
        A rule out of range, or a fund's region without factors.
    """
    rules = Rules(t_threshold, min_beta, fdr)
    frequency = check_frequency(frequency)
    min_obs = min_periods(min_months, frequency)
    frames, regions = _frames_and_regions(factors, fund_regions, universe)
    failures = dict(failed or {})
    for ticker in universe.tickers:
        if ticker not in returns.columns and ticker not in failures:
            failures[ticker] = "no returns were fetched"
    present = [t for t in universe.tickers if t in returns.columns and t not in failures]
    for ticker in present:
        if regions.get(ticker) not in frames:
            failures[ticker] = f"no factors for its region {regions.get(ticker)!r}"
    present = [t for t in present if t not in failures]
    if not present:
        raise AllFailedError(_none_analyzed(failures), failures)
    groups = _fit_groups(
        frames, regions, present, _bare(returns), cov, hac_lags, min_obs, rolling_window, failures
    )
    failures.update(_option_words(failures, min_months, frequency))  # the engine's skips
    if not groups:
        raise AllFailedError(_none_analyzed(failures), failures)
    order = [t for t in universe.tickers if any(t in g.funds for g in groups)]
    results = combine_results([g.results for g in groups], order)
    rolled = [g.rolling for g in groups if g.rolling is not None]
    rolling = combine_rolling(rolled) if rolled else None
    excess = _columns(_concat([g.excess for g in groups], axis=1), order).copy(deep=False)
    excess.attrs = copy.deepcopy(returns.attrs)  # the math ran on bare frames (see _bare)
    qvalues = robustness.bh_qvalues(results.pvalues)
    verdicts = judge(
        results, universe, t_threshold=t_threshold, min_beta=min_beta, fdr=fdr, qvalues=qvalues
    )
    ladder_verdicts, ladder_results, unavailable = _run_ladder(
        ladder or {}, groups, universe, cov, hac_lags, rules
    )
    fund_ladder = (
        robustness.model_ladder(ladder_verdicts, unavailable, _model_factors(ladder or {}))
        if ladder_verdicts
        else {}
    )
    windows = robustness.window_share(rolling, verdicts, rules)
    drift_table = _drift_tests(groups, verdicts) if drift else pd.DataFrame()
    region_fit, better = _region_fit(fit_factors or {}, groups, results, min_obs)
    fund_factors, notes = _fund_notes(
        groups, region_notes or {}, region_fit, better, PERIOD_NAMES[frequency]
    )
    verdicts = robustness.annotate(
        verdicts,
        ladder=fund_ladder,
        windows=windows,
        drift=_drift_by_fund(drift_table),
        window=rolling_window,
        extra_notes=notes,
        unit=PERIOD_NAMES[frequency],
    )
    attribution = _concat([return_attribution(g.results, g.excess, g.frame) for g in groups])
    if attribution.index.tolist() != order:
        attribution = attribution.reindex(order)
    main = _main_frame(frames, meta)
    failures.update(_option_words(results.skipped, min_months, frequency))
    info = {
        "model": main.attrs.get("model"),
        "region": main.attrs.get("region"),
        "regions": sorted({g.region for g in groups}),
        "factors_vintage": main.attrs.get("vintages", {}),
        "cov_type": results.cov_type,
        "min_months": min_months,
        "frequency": frequency,
        "periods_per_year": PERIODS_PER_YEAR[frequency],
        "period": PERIOD_NAMES[frequency],
        "min_periods": min_obs,
        "t_threshold": t_threshold,
        "min_beta": rules.min_beta,
        "fdr": fdr,
        "rules": rules.legend(),
        "models": list(ladder or {}),
        "rolling_window": rolling_window,
        "rolling_note": (
            None if rolling is not None else _no_windows_note(rolling_window, frequency)
        ),
        "factors_start": str(main.index[0]),
        "factors_end": str(main.index[-1]),
        **(meta or {}),
    }
    return Analysis(
        universe=universe,
        factors=main,
        returns=returns,
        excess_returns=excess,
        results=results,
        rolling=rolling,
        verdicts=verdicts,
        attribution=attribution,
        failed={t: failures[t] for t in universe.tickers if t in failures and t not in order},
        meta=info,
        factors_by_region={g.region: g.factors for g in groups},
        fund_factors=fund_factors,
        qvalues=qvalues,
        ladder=fund_ladder,
        ladder_results=ladder_results,
        windows=windows,
        drift=drift_table,
        region_fit=region_fit,
        better_region=better,
        warnings=_warnings(order, notes, info.get("price_warnings") or {}),
    )


def _warnings(
    funds: Sequence[str], notes: Mapping[str, Sequence[str]], prices: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Per analyzed fund, its one-line warnings: price findings first, then the factor notes."""
    out = {}
    for fund in funds:
        lines = [f"{fund}: {n}" for n in (*prices.get(fund, ()), *notes.get(fund, ()))]
        if lines:
            out[fund] = lines
    return out


def _model_factors(ladder: Mapping[str, Mapping[str, LadderEntry]]) -> dict[str, list[str]]:
    out = {}
    for model, by_region in ladder.items():
        frame = next((e for e in by_region.values() if isinstance(e, pd.DataFrame)), None)
        if frame is not None:
            out[model] = _factor_names(frame)
    return out


def _no_windows_note(window: int, frequency: str = "monthly") -> str:
    unit = PERIOD_NAMES[frequency]
    return f"no rolling {window}-{unit} windows: no fund has {window} {unit}s"


def _frames_and_regions(
    factors: pd.DataFrame | Mapping[str, pd.DataFrame],
    fund_regions: Mapping[str, str] | None,
    universe: Universe,
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    if isinstance(factors, pd.DataFrame):
        region = str(factors.attrs.get("region") or "us")
        frames = {region: factors}
        regions = {t: (fund_regions or {}).get(t, region) for t in universe.tickers}
        return frames, regions
    frames = dict(factors)
    if not frames:
        raise UsageError("no factor returns were given")
    if fund_regions is None:
        if len(frames) > 1:
            raise UsageError("with factors for several regions, say each fund's region")
        only = next(iter(frames))
        return frames, dict.fromkeys(universe.tickers, only)
    return frames, dict(fund_regions)


def _main_frame(frames: Mapping[str, pd.DataFrame], meta: Mapping[str, Any] | None) -> pd.DataFrame:
    wanted = (meta or {}).get("default_region")
    return frames.get(wanted) if wanted in frames else next(iter(frames.values()))


def _fit_groups(
    frames: Mapping[str, pd.DataFrame],
    regions: Mapping[str, str],
    present: Sequence[str],
    returns: pd.DataFrame,
    cov: str,
    hac_lags: int | None,
    min_obs: int,
    rolling_window: int,
    failures: dict[str, str],
) -> list[_Group]:
    from factorxray.returns import excess_returns as to_excess

    groups = []
    for region, frame in frames.items():
        funds = [t for t in present if regions.get(t) == region]
        if not funds:
            continue
        bare = _bare(frame)
        group = _Group(region, frame, funds, bare)
        group.excess = to_excess(_columns(returns, funds), bare)
        regressors = group.regressors = _regressors(bare)
        try:
            group.results = regress(group.excess, bare, cov=cov, hac_lags=hac_lags, min_obs=min_obs)
        except InsufficientDataError as exc:
            failures.update(exc.skipped)
            continue
        failures.update(group.results.skipped)
        fitted = list(group.results.params.index)
        group.funds, group.excess = fitted, _columns(group.excess, fitted)
        group.gaps = missing_factor_months(_columns(returns, fitted), regressors, group.results)
        try:
            group.rolling = rolling_regress(
                group.excess, bare, window=rolling_window, cov=cov, hac_lags=hac_lags
            )
        except (InsufficientDataError, CollinearityError):
            group.rolling = None
        groups.append(group)
    return groups


def _option_words(
    reasons: Mapping[str, str], min_months: int, frequency: str = "monthly"
) -> dict[str, str]:
    """The engine's reasons in the options' words (``min_obs=36`` is ``min_months=36``;
    weekly, ``min_obs=156`` is ``min_months=36 = 156 weeks``; the CLI prints
    ``--min-months 36``: :func:`factorxray.errors.cli_wording`)."""
    months = months_text(min_months, frequency).replace(" months", "", 1)
    words = f"({MIN_MONTHS.python}{months}; lower it, {WIDEN_RANGE.python})"
    return {
        fund: re.sub(r"\(min_obs=\d+[^)]*\)", lambda _: words, reason)
        for fund, reason in reasons.items()
    }


def missing_factor_months(
    returns: pd.DataFrame, factors: pd.DataFrame, results: ExposureResults
) -> dict[str, list[pd.Period]]:
    """Months inside each fund's sample where it has a return but the factors do not.

    The regression uses only months where the fund and every factor are observed, so such a
    month is silently left out unless someone says so (a factor file with a hole, a -99.99
    in a regional file). The sample is the fund's first to last month used.

    Returns
    -------
    dict of str to list of Period
        Only funds with at least one such month.
    """
    starts, ends = results.start, results.end
    index = returns.index
    if not index.is_monotonic_increasing:
        return _missing_factor_months_by_label(returns, factors, starts, ends)
    complete = factors.notna().all(axis=1).to_numpy(dtype=bool)
    where = factors.index.get_indexer(index)  # each return month's row in the factors
    covered = np.zeros(len(index), dtype=bool)
    covered[where >= 0] = complete[where[where >= 0]]
    fitted = set(starts.index.tolist())
    labels = returns.columns.tolist()
    picked = [j for j, fund in enumerate(labels) if fund in fitted]
    funds = [labels[j] for j in picked]
    if not funds:
        return {}
    if starts.index.tolist() != funds:
        starts, ends = starts.reindex(funds), ends.reindex(funds)
    first = index.searchsorted(pd.Index(starts), side="left")
    stop = index.searchsorted(pd.Index(ends), side="right")
    rows = np.arange(len(index))[:, None]
    inside = (rows >= first[None, :]) & (rows < stop[None, :])
    observed = returns.notna().to_numpy(dtype=bool)[:, picked]
    missing = inside & observed & ~covered[:, None]
    return {
        str(fund): list(index[missing[:, j]]) for j, fund in enumerate(funds) if missing[:, j].any()
    }


def _missing_factor_months_by_label(
    returns: pd.DataFrame, factors: pd.DataFrame, starts: pd.Series, ends: pd.Series
) -> dict[str, list[pd.Period]]:
    """:func:`missing_factor_months` on an unsorted index (label slices, fund by fund)."""
    complete = factors.notna().all(axis=1)
    gaps = {}
    for fund in returns.columns:
        if fund not in starts.index:
            continue
        series = returns[fund].loc[starts[fund] : ends[fund]].dropna()
        covered = complete.reindex(series.index, fill_value=False)
        missing = list(series.index[~covered.to_numpy()])
        if missing:
            gaps[str(fund)] = missing
    return gaps


def _months_text(months: Sequence[pd.Period], shown: int = 4) -> str:
    text = ", ".join(str(m) for m in months[:shown])
    return text + (f" and {len(months) - shown} more" if len(months) > shown else "")


def _run_ladder(
    ladder: Mapping[str, Mapping[str, LadderEntry]],
    groups: Sequence[_Group],
    universe: Universe,
    cov: str,
    hac_lags: int | None,
    rules: Rules,
) -> tuple[dict[str, dict[str, Verdict]], dict[str, ExposureResults], dict[str, dict[str, str]]]:
    """Every fund under every model of the ladder, on its main regression's months."""
    verdicts: dict[str, dict[str, Verdict]] = {}
    fits: dict[str, ExposureResults] = {}
    unavailable: dict[str, dict[str, str]] = {}
    for model, by_region in ladder.items():
        parts = []
        for group in groups:
            entry = by_region.get(group.region, f"no {model} factors for {group.region}")
            if isinstance(entry, str):
                unavailable.setdefault(model, {}).update(dict.fromkeys(group.funds, entry))
                continue
            try:  # the engine reads the frame's values by position: its attrs are never copied
                if not group.results.skipped and _same_frame(entry, group.frame):
                    fit = group.results  # the main model on the main months: that very fit
                else:
                    fit = regress(group.sample, entry, cov=cov, hac_lags=hac_lags, min_obs=2)
            except (InsufficientDataError, CollinearityError) as exc:
                unavailable.setdefault(model, {}).update(dict.fromkeys(group.funds, str(exc)))
                continue
            group.ladder_fits.append((entry, fit))
            parts.append(fit)
            unavailable.setdefault(model, {}).update(fit.skipped)
        verdicts[model] = {}
        if not parts:
            continue
        fits[model] = combine_results(parts)
        qvalues = robustness.bh_qvalues(fits[model].pvalues) if rules.fdr is not None else None
        verdicts[model] = judge(
            fits[model],
            universe,
            t_threshold=rules.t_threshold,
            min_beta=rules.min_beta,
            fdr=rules.fdr,
            qvalues=qvalues,
        )
    return verdicts, fits, unavailable


def _drift_tests(groups: Sequence[_Group], verdicts: Mapping[str, Verdict]) -> pd.DataFrame:
    """Andrews' sup-Wald test on each fund's labelled betas (long: fund x tested factor).

    Drift is called only when the heteroskedasticity-robust (HC0) and the classical test both
    reject: HC0 guards against volatility clustering but is liberal in short histories (11% at
    a nominal 5% with 120 months), the classical one is the reverse (docs/robustness.md).
    ``p_value`` is the larger of the two (``p_hc0``, ``p_classical`` are kept); the break date
    and the betas are the robust test's.
    """
    robust, classical = _drift_tables(groups, verdicts)
    if robust.empty:
        return robust
    robust = robust.set_axis(["p_hc0" if c == "p_value" else c for c in robust.columns], axis=1)
    p_classical = classical["p_value"]
    if not p_classical.index.equals(robust.index):
        p_classical = p_classical.reindex(robust.index)
    p_hc0, p_classical = robust["p_hc0"].to_numpy(), p_classical.to_numpy()
    robust["p_classical"] = p_classical
    robust["p_value"] = np.fmax(p_hc0, p_classical)  # the larger, or the one that is not NaN
    return robust


def _drift_tables(
    groups: Sequence[_Group], verdicts: Mapping[str, Verdict]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The drift tests of every group under HC0 and the classical covariance (one fit each)."""
    from factorxray.engine.breaks import drift_tests_by_cov

    tables: dict[str, list[pd.DataFrame]] = {"HC0": [], "nonrobust": []}
    for group in groups:
        names = _factor_names(group.frame)
        tested = {
            fund: [
                c.tilt.factor
                for c in verdicts[fund].checks
                if not c.tilt.is_multi and c.tilt.factor in names
            ]
            for fund in group.funds
        }
        tested = {fund: factors for fund, factors in tested.items() if factors}
        if not tested:
            continue
        by_cov = drift_tests_by_cov(
            _columns(group.sample, list(tested)),
            group.frame,
            tested,
            covs=tuple(tables),
        )
        for cov, table in by_cov.items():
            if not isinstance(table, InsufficientDataError):  # every fund too short: no test
                tables[cov].append(table)
    robust, classical = (_concat(t) for t in tables.values())
    return robust, classical


def _concat(tables: list[pd.DataFrame], axis: int = 0) -> pd.DataFrame:
    """``pd.concat(tables, axis=axis)``; one table as it is, none as an empty frame."""
    if not tables:
        return pd.DataFrame()
    return tables[0] if len(tables) == 1 else pd.concat(tables, axis=axis)


def _drift_by_fund(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The drift table as fund -> {stat, p_value, break_period, betas: {f: (before, after)}}."""
    out: dict[str, dict[str, Any]] = {}
    if table.empty:
        return out
    columns = ("stat", "p_value", "break_period", "before", "after")
    rows = zip(table.index, *(table[c].tolist() for c in columns), strict=True)
    for (fund, factor), stat, p_value, break_period, before, after in rows:
        entry = out.setdefault(
            str(fund),
            {
                "stat": float(stat),
                "p_value": float(p_value),
                "break_period": str(break_period),
                "betas": {},
            },
        )
        entry["betas"][str(factor)] = (float(before), float(after))
    return out


def _region_fit(
    fit_factors: Mapping[str, pd.DataFrame],
    groups: Sequence[_Group],
    results: ExposureResults,
    min_obs: int,
) -> tuple[dict[str, dict[str, float]], dict[str, str | None]]:
    """R² of the region-fit model per fund and region, and the better-region rule."""
    if not fit_factors:
        return {}, {}
    fit: dict[str, dict[str, float]] = {}
    for group in groups:
        for region, frame in fit_factors.items():  # read by position: attrs never copied
            res = _known_fit(group, frame, min_obs)
            try:
                if res is None:
                    res = regress(group.sample, frame, cov="nonrobust", min_obs=min_obs)
            except (InsufficientDataError, CollinearityError):
                continue
            for fund, r2 in res.rsquared.items():
                fit.setdefault(str(fund), {})[region] = float(r2)
    better = {}
    for group in groups:
        for fund in group.funds:
            better[fund] = robustness.better_region(fit.get(fund, {}), group.region)
    return fit, better


def _known_fit(group: _Group, factors: pd.DataFrame, min_obs: int) -> ExposureResults | None:
    """A ladder fit of the group on these very factors that a region-fit regression would
    repeat: the same funds (none skipped, all with ``min_obs`` observations), the same sums
    of squares (R² does not depend on the covariance), else None."""
    needed = max(min_obs, len(_factor_names(factors)) + 2)
    for seen, fit in group.ladder_fits:
        if not fit.skipped and _same_frame(seen, factors) and int(fit.nobs.min()) >= needed:
            return fit
    return None


def _same_frame(left: pd.DataFrame, right: pd.DataFrame) -> bool:
    """The same labels, index (and its name) and float64 values, NaN where NaN."""
    if left is right:
        return True
    if left.shape != right.shape or left.columns.tolist() != right.columns.tolist():
        return False
    index, other = left.index, right.index
    if not (index.dtype == other.dtype and index.names == other.names and index.equals(other)):
        return False
    values = [frame.to_numpy() for frame in (left, right)]
    if any(v.dtype != np.float64 for v in values):
        return False
    return bool(np.array_equal(values[0], values[1], equal_nan=True))


def _fund_notes(
    groups: Sequence[_Group],
    region_notes: Mapping[str, str],
    region_fit: Mapping[str, Mapping[str, float]],
    better: Mapping[str, str | None],
    unit: str = "month",
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    fund_factors: dict[str, dict[str, Any]] = {}
    notes: dict[str, list[str]] = {}
    for group in groups:
        model = group.factors.attrs.get("model")
        for fund in group.funds:
            note = region_notes.get(group.region)
            fund_factors[fund] = {"region": group.region, "model": model, "note": note}
            fund_notes = [note] if note else []
            gaps = group.gaps.get(fund)
            if gaps:
                noun = unit if len(gaps) == 1 else f"{unit}s"
                fund_notes.append(
                    f"{len(gaps)} {noun} inside its sample have no factor data "
                    f"({_months_text(gaps)}) and are left out of the regression"
                )
            other = better.get(fund)
            if other:
                fit = region_fit[fund]
                fund_notes.append(
                    f"{other} factors fit better than {group.region} "
                    f"(R² {fit[other]:.2f} vs {fit[group.region]:.2f}); give it its region."
                )
            notes[fund] = fund_notes
    return fund_factors, notes
