"""``factorxray analyze`` and ``factorxray presets``: the main job."""

from __future__ import annotations

import os
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from factorxray.cli._common import (
    cli_text,
    count_progress,
    download_progress,
    err_console,
    fail,
    handle_errors,
    out_console,
    parse_month_range,
    state,
)
from factorxray.cli._options import (
    DEFAULT_MODELS,
    AllCardsOption,
    CovOption,
    EndOption,
    ForceOption,
    HacLagsOption,
    ModelOption,
    ModelsOption,
    OfflineOption,
    OpenOption,
    PngOption,
    PricesFileOption,
    RefreshOption,
    RegionOption,
    SourceOption,
    StartOption,
    models_list,
)
from factorxray.errors import AllFailedError, UsageError
from factorxray.judge.defaults import DEFAULT_MIN_BETA

if TYPE_CHECKING:
    from factorxray.analysis import Analysis

#: Exit codes, as in `factorxray returns`: some funds not analyzed / none analyzed.
EXIT_PARTIAL = 3


def _check_out_dir(out: Path, force: bool = False) -> Path:
    """Fail early (before any download) when the report folder cannot be written, or holds
    files factorxray did not write (unless ``force``); create nothing."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the report")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"--out {out}: {existing} is a file, not a folder; choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"cannot write the report to {out} ({existing} is not writable); choose another --out"
        )
    from factorxray.report.folder import check_folder

    check_folder(out, force=force)
    return out


def _title(analysis: Analysis) -> str:
    """``xray7 us, HAC errors``; with mixed regions, which funds each model and region judged."""
    meta = analysis.meta
    funds_by_factors: dict[str, list[str]] = {}
    for fund in analysis.analyzed:
        info = analysis.fund_factors.get(fund, {})
        key = f"{info.get('model', meta.get('model'))} {info.get('region', meta.get('region'))}"
        funds_by_factors.setdefault(key, []).append(fund)
    cov = f"{analysis.results.cov_type} errors"
    if meta.get("frequency", "monthly") != "monthly":
        cov += f", {meta['frequency']} returns"
    if len(funds_by_factors) <= 1:
        return f"{next(iter(funds_by_factors), meta.get('model'))}, {cov}"
    lines = [f"{key}: {' '.join(funds)}" for key, funds in funds_by_factors.items()]
    return f"{cov}; factors by fund:\n" + "\n".join(lines)


def _significance(analysis: Analysis, factors: list[str]) -> list[list[bool]]:
    """Funds x factors: significant by the verdicts' one rule (:meth:`Rules.significant`:
    t, and q when --fdr is set), the rules read from the run as the report reads them."""
    from factorxray.report.charts import rules_from_meta

    rules = rules_from_meta(analysis.meta)
    funds = analysis.analyzed
    tvalues = analysis.results.tvalues.reindex(index=funds, columns=factors).to_numpy(float)
    qvalues = analysis.qvalues.reindex(index=funds, columns=factors).to_numpy(float)
    return [
        [rules.significant(t, q) for t, q in zip(t_row, q_row, strict=True)]
        for t_row, q_row in zip(tvalues.tolist(), qvalues.tolist(), strict=True)
    ]


def console_table(analysis: Analysis) -> Table:
    """Fund, verdict and betas: one line per fund, readable at 80 columns.

    Betas to two decimals, ``*`` when significant by the verdicts' own rule (so the mark
    survives a pipe, where colour is dropped), dimmed when not; ``n/a`` for a factor the
    fund's model lacks; ``!`` after a fund with a warning. Alpha, R², N and the sample are in
    :func:`facts_table`.
    """
    results = analysis.results
    factors = [c for c in results.params.columns if c != "alpha"]
    table = _compact_table(_title(analysis))
    table.add_column("fund", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for factor in factors:
        table.add_column(_short(factor), justify="right", no_wrap=True)
    betas = results.params.reindex(index=analysis.analyzed, columns=factors).to_numpy(float)
    significant = _significance(analysis, factors)
    for row, ticker in enumerate(analysis.analyzed):
        verdict = analysis.verdicts[ticker]
        cells = [
            _beta_cell(beta, marked)
            for beta, marked in zip(betas[row].tolist(), significant[row], strict=True)
        ]
        colour = {"delivers": "green", "contradicts": "red"}.get(verdict.status, "yellow")
        warn = "!" if analysis.warnings.get(ticker) else ""
        table.add_row(escape(ticker) + warn, f"[{colour}]{verdict.status}[/]", *cells)
    return table


def _beta_cell(beta: float, significant: bool) -> str:
    if beta != beta:  # NaN: not in this fund's model (e.g. VOL outside the US)
        return "[dim]n/a[/]"
    text = f"{beta:+.2f}{'*' if significant else ' '}"
    return text if significant else f"[dim]{text}[/]"


def facts_table(analysis: Analysis) -> Table:
    """Per fund: category, alpha a year with t and p, R², months and sample.

    Alpha a year is arithmetic (periods a year x alpha), the report's one annual alpha.
    """
    results = analysis.results
    table = _compact_table("alpha, fit and sample")
    columns = ["fund", "category", "alpha/yr", "t", "p", "R²", "N", "sample"]
    for column in columns:
        justify = "left" if column in ("fund", "category", "sample", "factors") else "right"
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    funds = analysis.analyzed
    alpha = results.alpha_annualized["arithmetic"].reindex(funds).tolist()  # as the report's
    alpha_t = results.tvalues["alpha"].reindex(funds).tolist()
    alpha_p = results.pvalues["alpha"].reindex(funds).tolist()
    rsquared = results.rsquared.reindex(funds).tolist()
    nobs = results.nobs.reindex(funds).tolist()
    starts = results.start.reindex(funds).tolist()
    ends = results.end.reindex(funds).tolist()
    for row, ticker in enumerate(funds):
        table.add_row(
            escape(ticker),
            escape(_clip(analysis.verdicts[ticker].category, 14)),
            f"{alpha[row]:+.1%}",
            f"{alpha_t[row]:.1f}",
            f"{alpha_p[row]:.2f}",
            f"{rsquared[row]:.2f}",
            str(int(nobs[row])),
            f"{starts[row]}..{ends[row]}",
        )
    return table


def _compact_table(title: str) -> Table:
    return Table(
        title=escape(title),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )


def _short(factor: str) -> str:
    return "Mkt" if factor == "Mkt-RF" else factor


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def legend(analysis: Analysis) -> str:
    """The rules line under the tables (the one definition of significance and size)."""
    rules = analysis.meta.get("rules") or ""
    per_year = {"weekly": "52", "daily": "252"}.get(str(analysis.meta.get("frequency")), "12")
    return escape(
        f"{rules}. Mkt is Mkt-RF; alpha/yr is {per_year} x the alpha of a period (as in the "
        "report); ! marks a fund with a warning (see above)."
    )


@handle_errors
def analyze_command(
    ctx: typer.Context,
    tickers: Annotated[
        list[str] | None,
        typer.Argument(help="Fund tickers (labelled by the preset if it has them)."),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option("--preset", "-p", help="A shipped fund list (see `factorxray presets`)."),
    ] = None,
    universe: Annotated[
        Path | None, typer.Option("--universe", "-u", help="Your fund list: TOML, YAML or CSV.")
    ] = None,
    model: ModelOption = "xray7",
    region: RegionOption = "us",
    cov: CovOption = "hac",
    hac_lags: HacLagsOption = None,
    start: StartOption = None,
    end: EndOption = None,
    min_months: Annotated[
        int,
        typer.Option(
            "--min-months",
            help="Funds with fewer months are not analyzed (weekly/daily: as long a span, "
            "36 months = 156 weeks = 756 days).",
        ),
    ] = 36,
    t_threshold: Annotated[
        float, typer.Option("--t-threshold", help="|t| at which a beta counts as significant.")
    ] = 2.0,
    min_beta: Annotated[
        float,
        typer.Option(
            "--min-beta",
            help="Size a significant tilt needs to deliver: |beta - threshold| (0 turns it off).",
        ),
    ] = DEFAULT_MIN_BETA,
    fdr: Annotated[
        float | None,
        typer.Option("--fdr", help="Also require Benjamini-Hochberg q <= Q (e.g. 0.05)."),
    ] = None,
    factors: Annotated[
        str | None,
        typer.Option(
            "--factors",
            help='Any factor set instead of --model, e.g. "Mkt-RF,SMB,HML,QMJ,BAB".',
        ),
    ] = None,
    factor_file: Annotated[
        Path | None,
        typer.Option("--factor-file", help="Your own factors (CSV or Parquet) as a source."),
    ] = None,
    factor_units: Annotated[
        str | None,
        typer.Option("--factor-units", help="Units of --factor-file: percent or decimal."),
    ] = None,
    vintage: Annotated[
        str | None,
        typer.Option("--vintage", help="Pin the factor files as published then (YYYYMM)."),
    ] = None,
    compare_vintage: Annotated[
        str | None,
        typer.Option(
            "--compare-vintage",
            help="Also run on the factor files of this vintage (YYYYMM) and show what moves.",
        ),
    ] = None,
    rolling_window: Annotated[
        int | None,
        typer.Option(
            "--rolling-window",
            help="Periods per rolling window (default 36 months, 156 weeks or 252 days).",
        ),
    ] = None,
    frequency: Annotated[
        str,
        typer.Option(
            "--frequency",
            help="monthly, weekly (US ff3/capm) or daily (not VOL): where Ken French publishes it.",
        ),
    ] = "monthly",
    models: ModelsOption = DEFAULT_MODELS,
    source: SourceOption = "yahoo",
    prices_file: PricesFileOption = None,
    allow_suspect_prices: Annotated[
        bool,
        typer.Option(
            "--allow-suspect-prices",
            help="Analyze funds whose prices fail the sanity checks (warned, not dropped).",
        ),
    ] = False,
    offline: OfflineOption = False,
    refresh: RefreshOption = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Report folder (default ./factorxray-report)."),
    ] = None,
    png: PngOption = False,
    open_report: OpenOption = False,
    all_cards: AllCardsOption = False,
    force: ForceOption = False,
) -> None:
    """Reverse-engineer funds: factor exposures, label verdicts and a report.

    Examples: factorxray analyze --preset smart-beta-20 --offline;
    factorxray analyze SPY MTUM USMV --model ff6 --out report/
    """
    from factorxray.pipeline import Hooks, analyze, default_out_dir
    from factorxray.report import write_report

    if prices_file is not None and source == "yahoo":
        source = "file"
    out_dir = _check_out_dir(out or default_out_dir(), force)
    first, last = parse_month_range(start, end)
    with download_progress() as download, _TickerProgress() as ticker_progress:
        analysis = _analyze_or_report_failures(
            analyze,
            tickers or [],
            preset=preset,
            universe=universe,
            model=model,
            region=region,
            cov=cov,
            hac_lags=hac_lags,
            start=first,
            end=last,
            min_months=min_months,
            t_threshold=t_threshold,
            min_beta=min_beta,
            fdr=fdr,
            models=models_list(models),
            rolling_window=rolling_window,
            frequency=frequency,
            source=source,
            prices_file=prices_file,
            allow_suspect_prices=allow_suspect_prices,
            factors=factors,
            factor_file=factor_file,
            factor_units=factor_units,
            vintage=vintage,
            compare_vintage=compare_vintage,
            offline=offline,
            refresh=refresh,
            cache=state(ctx).cache(),
            hooks=Hooks(
                download=lambda name: download(f"downloading {name}"),
                prices_start=ticker_progress.start,
                ticker_done=ticker_progress.advance,
            ),
        )
    _print_failures(analysis.failed)
    _print_warnings(analysis.warnings)
    _print_ladder_skipped(analysis.meta)
    out_console.print(console_table(analysis))
    out_console.print(facts_table(analysis))
    out_console.print(legend(analysis), soft_wrap=False)
    _print_vintage_comparison(analysis)
    index = write_report(
        analysis, out_dir, png=png, open_browser=False, all_cards=all_cards, force=force
    )
    out_console.print(f"report: {index}")
    if open_report:
        webbrowser.open(index.resolve().as_uri())
    if analysis.failed:
        raise typer.Exit(EXIT_PARTIAL)


def _print_failures(failures: dict[str, str]) -> None:
    for ticker, reason in failures.items():
        err_console.print(
            f"[yellow]not analyzed:[/] {escape(ticker)}: {escape(cli_text(reason))}",
            soft_wrap=True,
        )


def _print_ladder_skipped(meta: dict[str, Any]) -> None:
    """One note naming the ladder's models that do not exist at the run's frequency."""
    skipped = meta.get("ladder_skipped") or {}
    if skipped:
        why = next(iter(skipped.values())).split(": ", 1)[-1]
        err_console.print(
            f"[yellow]note:[/] the model ladder skips {', '.join(skipped)} "
            f"(no {meta.get('frequency')} data: {escape(why)})",
            soft_wrap=True,
        )


def _print_vintage_comparison(analysis: Analysis) -> None:
    """How each fund's verdict and largest beta change move on the other vintage's files."""
    comparison = analysis.vintage_comparison
    if comparison is None:
        return
    if comparison.error:
        err_console.print(
            f"[yellow]warning:[/] {escape(cli_text(comparison.error))}", soft_wrap=True
        )
        return
    table = _compact_table(f"on the factor files of vintage {comparison.vintage}")
    for column in ("fund", "verdict", "then", "largest beta change"):
        table.add_column(column, no_wrap=True)
    betas = comparison.betas.drop(index="alpha", level="factor", errors="ignore")
    for fund, row in comparison.verdicts.iterrows():
        changes = betas.loc[fund, "change"] if fund in betas.index.get_level_values(0) else None
        largest = ""
        if changes is not None and changes.notna().any():
            factor = changes.abs().idxmax()
            largest = f"{factor} {changes[factor]:+.3f}"
        mark = " (changed)" if row["changed"] else ""
        table.add_row(escape(str(fund)), row["verdict"], row["verdict_other"] + mark, largest)
    out_console.print(table)


def _print_warnings(warnings: dict[str, list[str]]) -> None:
    """One line per distinct warning, naming every fund it concerns (in fund order)."""
    funds_by_text: dict[str, list[str]] = {}
    for fund, lines in warnings.items():
        for line in lines:
            text = line.removeprefix(f"{fund}: ")
            funds_by_text.setdefault(text, []).append(fund)
    for text, funds in funds_by_text.items():
        err_console.print(
            f"[yellow]warning:[/] {escape(', '.join(funds))}: {escape(cli_text(text))}",
            soft_wrap=True,
        )


def _analyze_or_report_failures(
    run: Callable[..., Analysis], *args: Any, **kwargs: Any
) -> Analysis:
    """Run the analysis; when no fund at all can be analyzed, one line per fund, then exit 1."""
    try:
        return run(*args, **kwargs)
    except AllFailedError as exc:
        _print_failures(exc.failures)
        raise fail(
            "the fund could not be analyzed; see the reason above"
            if len(exc.failures) == 1
            else f"none of the {len(exc.failures)} funds could be analyzed; see the reasons above",
            1,
        ) from None


class _TickerProgress:
    """A progress bar over tickers, driven by the pipeline's hooks."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: int | None = None

    def __enter__(self) -> _TickerProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, total: int) -> None:
        self._progress = count_progress("fetching prices", total)
        self._task = self._progress.add_task("prices", total=total)
        self._progress.start()

    def advance(self, ticker: str, reason: str | None) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task)


@handle_errors
def presets_command(ctx: typer.Context) -> None:
    """List the shipped fund lists (presets) with their funds and categories.

    Example: factorxray presets
    """
    from factorxray import presets as preset_catalog

    for name in preset_catalog.names():
        universe = preset_catalog.get(name)
        table = Table(title=f"{name}: {universe.description}", title_justify="left")
        for column in ("category", "funds", "expected tilts"):
            table.add_column(column)
        for category, funds in universe.by_category().items():
            by_tilts: dict[str, list[str]] = {}
            for fund in funds:
                by_tilts.setdefault(fund.tilts_text(), []).append(fund.ticker)
            for tilts, tickers in by_tilts.items():
                table.add_row(category, " ".join(tickers), tilts or "none (a plain index fund)")
        out_console.print(table)
    out_console.print(
        "Use one with: factorxray analyze --preset NAME (add tickers to pick some of its funds)"
    )
