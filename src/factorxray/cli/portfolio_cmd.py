"""``factorxray portfolio`` and ``factorxray blend``: a blend X-rayed like a fund, and the reverse.

Thin wrappers over :func:`factorxray.analyze_portfolio`, :func:`factorxray.find_blend` and
their report writers; the console shows the weights and the exposures table.
"""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from factorxray.cli._common import (
    cli_text,
    download_progress,
    err_console,
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
from factorxray.cli.analyze_cmd import (
    _check_out_dir,
    _compact_table,
    _print_warnings,
    _short,
    _TickerProgress,
)
from factorxray.errors import UsageError

if TYPE_CHECKING:
    from factorxray.portfolio.blend import Blend
    from factorxray.portfolio.xray import PortfolioAnalysis

#: Exit code when the target cannot be met (the closest blend is still written).
EXIT_INFEASIBLE = 3


@handle_errors
def portfolio_command(
    ctx: typer.Context,
    weights: Annotated[
        list[str] | None,
        typer.Argument(help="Funds and weights: SPY=0.6 VLUE=0.2 MTUM=0.2 (or SPY=60%)."),
    ] = None,
    universe: Annotated[
        Path | None,
        typer.Option(
            "--universe",
            "-u",
            help="A fund list (TOML/YAML/CSV) with a weight column: its weights and labels.",
        ),
    ] = None,
    normalize: Annotated[
        bool, typer.Option("--normalize", help="Rescale weights that do not sum to 1.")
    ] = False,
    buy_and_hold: Annotated[
        bool,
        typer.Option(
            "--buy-and-hold",
            help="Hold the starting weights and let them drift (default: rebalance monthly).",
        ),
    ] = False,
    benchmark: Annotated[
        str | None,
        typer.Option(
            "--benchmark", "-b", help="Tracking error and information ratio against this fund."
        ),
    ] = None,
    name: Annotated[
        str, typer.Option("--name", help="The portfolio's name in the tables.")
    ] = "PORTFOLIO",
    model: ModelOption = "xray7",
    region: RegionOption = "us",
    cov: CovOption = "hac",
    hac_lags: HacLagsOption = None,
    start: StartOption = None,
    end: EndOption = None,
    min_months: Annotated[
        int, typer.Option("--min-months", help="Fewest months the funds must share.")
    ] = 36,
    models: ModelsOption = DEFAULT_MODELS,
    source: SourceOption = "yahoo",
    prices_file: PricesFileOption = None,
    offline: OfflineOption = False,
    refresh: RefreshOption = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Report folder (default ./factorxray-portfolio)."),
    ] = None,
    png: PngOption = False,
    open_report: OpenOption = False,
    all_cards: AllCardsOption = False,
    force: ForceOption = False,
) -> None:
    """X-ray a weighted blend of funds like a fund: exposures, implied vs regressed, risk.

    Examples: factorxray portfolio SPY=0.6 VLUE=0.2 MTUM=0.2 --offline;
    factorxray portfolio RSP=0.5 MTUM=0.25 USMV=0.25 --buy-and-hold --benchmark SPY --out p/
    """
    from factorxray.pipeline import Hooks
    from factorxray.portfolio.holdings import BUY_AND_HOLD, MONTHLY, Portfolio
    from factorxray.portfolio_pipeline import analyze_portfolio, write_portfolio_report

    rebalance = BUY_AND_HOLD if buy_and_hold else MONTHLY
    if not weights and universe is not None:
        from factorxray.universe import load_universe

        labels = load_universe(universe)
        if labels.weights is None:
            raise UsageError(
                f"--universe {universe} has no weight column; add one or give SPY=0.6 ..."
            )
        portfolio = Portfolio(labels.weights, normalize=normalize, rebalance=rebalance, name=name)
    else:
        portfolio = Portfolio.parse(
            weights or [], normalize=normalize, rebalance=rebalance, name=name
        )
    if prices_file is not None and source == "yahoo":
        source = "file"
    out_dir = _check_out_dir(out or Path("factorxray-portfolio"), force)
    first, last = parse_month_range(start, end)
    with download_progress() as download, _TickerProgress() as ticker_progress:
        result = analyze_portfolio(
            portfolio,
            universe=universe,
            benchmark=benchmark,
            model=model,
            region=region,
            cov=cov,
            hac_lags=hac_lags,
            start=first,
            end=last,
            min_months=min_months,
            models=models_list(models),
            source=source,
            prices_file=prices_file,
            offline=offline,
            refresh=refresh,
            cache=state(ctx).cache(),
            hooks=Hooks(
                download=lambda label: download(f"downloading {label}"),
                prices_start=ticker_progress.start,
                ticker_done=ticker_progress.advance,
            ),
        )
    _print_warnings(result.analysis.warnings)
    out_console.print(weights_table(result))
    out_console.print(exposures_table(result))
    out_console.print(risk_table(result))
    out_console.print(performance_table(result))
    index = write_portfolio_report(
        result, out_dir, png=png, open_browser=False, all_cards=all_cards, force=force
    )
    out_console.print(f"report: {escape(str(index))}")
    if open_report:
        webbrowser.open(index.resolve().as_uri())


@handle_errors
def blend_command(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Option("--target", "-t", help="Exposures to reach, e.g. 'SMB>=0.2,HML>=0.2'."),
    ],
    candidates: Annotated[
        str,
        typer.Option("--from", "-f", help="Candidate funds, comma-separated: VBR,IJR,VTV,SPY."),
    ],
    max_weight: Annotated[
        float, typer.Option("--max-weight", help="Most weight on one fund (0-1).")
    ] = 1.0,
    max_funds: Annotated[
        int | None, typer.Option("--max-funds", help="Most funds in the blend.")
    ] = None,
    benchmark: Annotated[
        str | None,
        typer.Option("--benchmark", "-b", help="Minimise tracking error against this fund."),
    ] = None,
    model: ModelOption = "xray7",
    region: RegionOption = "us",
    cov: CovOption = "hac",
    hac_lags: HacLagsOption = None,
    start: StartOption = None,
    end: EndOption = None,
    min_months: Annotated[
        int, typer.Option("--min-months", help="Fewest months the candidates must share.")
    ] = 36,
    models: ModelsOption = DEFAULT_MODELS,
    source: SourceOption = "yahoo",
    prices_file: PricesFileOption = None,
    offline: OfflineOption = False,
    refresh: RefreshOption = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (default ./factorxray-blend)."),
    ] = None,
    report: Annotated[
        bool,
        typer.Option("--report/--no-report", help="Also X-ray the blend in an HTML report."),
    ] = True,
    png: PngOption = False,
    all_cards: AllCardsOption = False,
    force: ForceOption = False,
) -> None:
    """Find the long-only blend of funds that delivers the tilts you ask for, at least risk.

    Exit code 3 when the target cannot be met (the closest blend is shown and written).

    Examples: factorxray blend --target "SMB>=0.2,HML>=0.2" --from VBR,IJR,VTV,VLUE,SPY,MTUM,USMV --offline;
    factorxray blend -t "MOM>=0.2" -f SPY,MTUM,VLUE,USMV --max-weight 0.6 --max-funds 2 --benchmark SPY
    """
    from factorxray.pipeline import Hooks
    from factorxray.portfolio_pipeline import find_blend, write_blend_report

    if prices_file is not None and source == "yahoo":
        source = "file"
    out_dir = _check_out_dir(out or Path("factorxray-blend"), force)
    first, last = parse_month_range(start, end)
    with download_progress() as download, _TickerProgress() as ticker_progress:
        blend = find_blend(
            target,
            candidates,
            benchmark=benchmark,
            max_weight=max_weight,
            max_funds=max_funds,
            model=model,
            region=region,
            cov=cov,
            hac_lags=hac_lags,
            start=first,
            end=last,
            min_months=min_months,
            xray=report,
            models=models_list(models),
            source=source,
            prices_file=prices_file,
            offline=offline,
            refresh=refresh,
            cache=state(ctx).cache(),
            hooks=Hooks(
                download=lambda label: download(f"downloading {label}"),
                prices_start=ticker_progress.start,
                ticker_done=ticker_progress.advance,
            ),
        )
    for note in blend.notes:
        err_console.print(f"[yellow]note:[/] {escape(cli_text(note))}", soft_wrap=True)
    if not blend.feasible:
        err_console.print(f"[yellow]warning:[/] {escape(blend.message)}", soft_wrap=True)
    out_console.print(blend_weights_table(blend))
    out_console.print(blend_target_table(blend))
    out_console.print(escape(_blend_footer(blend)), soft_wrap=True)
    written = write_blend_report(blend, out_dir, png=png, all_cards=all_cards, force=force)
    out_console.print(f"written: {escape(str(written))} (blend.json, summary.json)")
    if not blend.feasible:
        raise typer.Exit(EXIT_INFEASIBLE)


# ------------------------------------------------------------------------------ tables


def weights_table(result: PortfolioAnalysis) -> Table:
    """Fund, name, category, weight (and the average weight held, for buy and hold)."""
    port = result.portfolio
    table = _compact_table(f"{port.name}: {port.describe()}")
    table.add_column("fund", no_wrap=True)
    table.add_column("name")
    table.add_column("category")
    table.add_column("weight", justify="right")
    held = port.rebalance != "monthly"
    if held:
        table.add_column("avg held", justify="right")
    for fund, row in result.weights_frame().iterrows():
        cells = [escape(str(fund)), escape(str(row["name"])), escape(str(row["category"]))]
        cells.append(f"{row['weight']:.1%}")
        if held:
            cells.append(f"{row['weight_used']:.1%}")
        table.add_row(*cells)
    return table


def exposures_table(result: PortfolioAnalysis) -> Table:
    """The portfolio's regression beside the exposures its holdings imply, term by term."""
    ex = result.exposures
    held = ex.held
    info = result.analysis.fund_factors.get(result.name, {})
    title = (
        f"exposures: {info.get('model', '')} ({result.region}), {ex.results.cov_type} errors, "
        f"{ex.start}..{ex.end}, {ex.nobs} months (funds' common window {held.window_text()})"
    )
    table = _compact_table(title)
    for column in ("term", "regressed", "se", "t", "p", "implied", "gap"):
        table.add_column(column, justify="left" if column == "term" else "right", no_wrap=True)
    for term, row in ex.to_frame().iterrows():
        table.add_row(
            escape(_short(str(term))),
            f"{row['regressed']:+.4f}",
            f"{row['se']:.4f}",
            f"{row['t']:.2f}",
            f"{row['p']:.3f}",
            f"{row['implied']:+.4f}",
            f"{row['gap']:+.1e}",
        )
    return table


def risk_table(result: PortfolioAnalysis) -> Table:
    """Per fund and portfolio: each factor's share of the variance of its excess return."""
    shares = result.risk_shares
    table = _compact_table("risk: share of variance (Euler; idio = idiosyncratic)")
    table.add_column("fund", no_wrap=True)
    for component in shares.columns:
        label = "idio" if component == "idiosyncratic" else _short(component)
        table.add_column(escape(label), justify="right", no_wrap=True)
    for fund in shares.index:
        cells = [escape(str(fund))]
        for component in shares.columns:
            cells.append(_share(shares.loc[fund, component]))
        table.add_row(*cells)
    return table


def performance_table(result: PortfolioAnalysis) -> Table:
    """Per fund and portfolio: annualized return, volatility, Sharpe, max drawdown (TE, IR)."""
    perf = result.performance_frame()
    table = _compact_table("performance (annualized; Sharpe over RF)")
    columns = ["fund", "months", "return", "vol", "Sharpe", "max DD"]
    if result.tracking is not None:
        columns += [f"TE vs {result.benchmark}", "IR"]
    for column in columns:
        table.add_column(escape(column), justify="left" if column == "fund" else "right")
    for fund, row in perf.iterrows():
        cells = [
            escape(str(fund)),
            str(int(row["months"])),
            _pct(row["annual_return"]),
            _pct(row["annual_volatility"]),
            _num(row["sharpe"]),
            _pct(row["max_drawdown"]),
        ]
        if result.tracking is not None:
            cells += [_pct(row["tracking_error"]), _num(row["information_ratio"])]
        table.add_row(*cells)
    return table


def blend_weights_table(blend: Blend) -> Table:
    """The blend's non-zero weights, largest first."""
    table = _compact_table(f"blend of {len(blend.candidates)} candidates ({blend.objective})")
    table.add_column("fund", no_wrap=True)
    table.add_column("weight", justify="right")
    table.add_column("out-of-sample fit", justify="right")
    oos = blend.out_of_sample
    for fund, weight in blend.holdings.items():
        fit = f"{oos.weights[fund]:.1%}" if oos is not None else ""
        table.add_row(escape(str(fund)), f"{weight:.1%}", fit)
    return table


def blend_target_table(blend: Blend) -> Table:
    """Factor, target, achieved (se), met, and the out-of-sample exposure."""
    oos = blend.out_of_sample
    title = f"target {blend.target} vs achieved, {blend.start}..{blend.end} ({blend.nobs} months)"
    table = _compact_table(title)
    for column in ("factor", "target", "achieved", "se", "met", "out of sample"):
        table.add_column(column, justify="left" if column in ("factor", "target") else "right")
    for factor, row in blend.to_frame().iterrows():
        met = {True: "[green]yes[/]", False: "[red]no[/]"}.get(row["met"], "")
        table.add_row(
            escape(_short(str(factor))),
            escape(str(row["target"])),
            f"{row['achieved']:+.3f}",
            f"{row['se']:.3f}",
            met,
            f"{row['out_of_sample']:+.3f}" if oos is not None else "",
        )
    return table


def _blend_footer(blend: Blend) -> str:
    risk = f"{blend.objective}: {blend.risk:.2%} a year"
    oos = blend.out_of_sample
    if oos is None:
        return f"{risk}. " + " ".join(blend.notes)
    return (
        f"{risk}. Out of sample: fitted on {oos.fit_start}..{oos.fit_end}, "
        f"exposures measured on {oos.test_start}..{oos.test_end}."
    )


def _share(value: Any) -> str:
    """A variance share in whole percent; n/a where the fund's model lacks the factor."""
    if value is None or value != value:
        return "n/a"
    return f"{0.0 if abs(value) < 0.005 else float(value):.0%}"  # no "-0%"


def _pct(value: Any) -> str:
    return "" if value is None or value != value else f"{float(value):.1%}"


def _num(value: Any) -> str:
    return "" if value is None or value != value else f"{float(value):.2f}"
