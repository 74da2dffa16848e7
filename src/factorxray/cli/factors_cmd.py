"""``factorxray factors``: list models, show factor returns, correlations, any dataset."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from factorxray.cli._common import (
    OutputFormat,
    download_progress,
    err_console,
    format_periods,
    handle_errors,
    out_console,
    parse_month_range,
    state,
    write_csv,
)
from factorxray.data.kenfrench import read_dataset
from factorxray.errors import ParseError, UsageError
from factorxray.factors import MODELS, REGIONS, load_factors

factors_app = typer.Typer(help="Factor models and Ken French datasets.", no_args_is_help=True)


class Frequency(StrEnum):
    """Data frequency."""

    monthly = "monthly"
    daily = "daily"


RegionOption = Annotated[
    str, typer.Option("--region", "-r", help=f"Region: {', '.join(REGIONS)}.", show_default=True)
]
OfflineOption = Annotated[
    bool, typer.Option("--offline", help="Use only the cache; never download.")
]
SnapshotOption = Annotated[
    bool,
    typer.Option(
        "--snapshot",
        help="Never download: use the cache, else the bundled snapshot (US, developed).",
    ),
]
RefreshOption = Annotated[
    bool, typer.Option("--refresh", help="Download again even if the cache is fresh.")
]


@factors_app.command("list")
@handle_errors
def factors_list(ctx: typer.Context) -> None:
    """List the factor models, the regions, and how to read any other dataset.

    Example: factorxray factors list
    """
    models = Table(title="Models", title_justify="left")
    models.add_column("model", style="bold")
    models.add_column("factors")
    models.add_column("what it is")
    for name, (factors, text) in MODELS.items():
        models.add_row(name, " ".join(factors), text)
    regions = Table(title="Regions", title_justify="left")
    regions.add_column("region", style="bold")
    regions.add_column("datasets")
    regions.add_column("what it covers")
    for name, (prefix, label) in REGIONS.items():
        regions.add_row(
            name,
            f"{prefix}_*" if name != "us" else "F-F_Research_Data_*, F-F_Momentum_Factor",
            label,
        )
    out_console.print(models)
    out_console.print(regions)
    out_console.print(
        "VOL (low volatility) is built from 25_Portfolios_ME_VAR_5x5 and exists for the US only.\n"
        "Any other dataset of the Ken French library can be read by its file name without "
        "_CSV.zip, e.g.\n  factorxray factors dataset 49_Industry_Portfolios"
    )


def _vintage_line(factors: pd.DataFrame) -> str:
    vintages = ", ".join(
        f"{name} {vintage or '?'}" for name, vintage in factors.attrs["vintages"].items()
    )
    first, last = factors.index[0], factors.index[-1]
    limited = factors.attrs.get("limited_by", {})
    note = ""
    if len(factors.attrs["sources"]) > 1 and limited.get("end"):
        note = f"; range limited by {', '.join(limited['end'])} (end)"
    return f"vintages: {vintages}\nrange: {first} to {last} ({len(factors)} rows{note})"


@factors_app.command("show")
@handle_errors
def factors_show(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help=f"Model: {', '.join(MODELS)}.")],
    region: RegionOption = "us",
    start: Annotated[str | None, typer.Option(help="First month, YYYY-MM.")] = None,
    end: Annotated[str | None, typer.Option(help="Last month, YYYY-MM.")] = None,
    frequency: Annotated[Frequency, typer.Option(help="monthly or daily.")] = Frequency.monthly,
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table (percent) or csv (decimals).")
    ] = (OutputFormat.table),
    offline: OfflineOption = False,
    refresh: RefreshOption = False,
    snapshot: SnapshotOption = False,
) -> None:
    """Show a model's factor returns (table in percent, or CSV in decimals).

    Example: factorxray factors show ff5 --region developed --start 2010-01 --format csv
    """
    if frequency is Frequency.daily:  # days allowed: YYYY-MM-DD (or whole months, YYYY-MM)
        first, last = start, end
    else:
        first, last = parse_month_range(start, end)
    with download_progress() as progress:
        factors = load_factors(
            model,
            region,
            start=first,
            end=last,
            frequency=frequency.value,
            cache=state(ctx).cache(),
            offline=offline,
            refresh=refresh,
            snapshot=snapshot,
            progress=lambda name: progress(f"downloading {name}"),
        )
    if output is OutputFormat.csv:
        write_csv(factors, digits=12)
        return
    table = Table(
        title=f"{factors.attrs['model']} factors, {factors.attrs['region']} ({frequency.value}, percent)"
    )
    table.add_column("period")
    for column in factors.columns:
        table.add_column(column, justify="right")
    labels = format_periods(factors.index)
    for label, row in zip(labels, (factors * 100).itertuples(index=False), strict=True):
        table.add_row(
            label,
            *(
                f"{value:.2f}" if abs(value) >= 0.005 or value == 0 else f"{value:.4f}"
                for value in row
            ),
        )
    out_console.print(table)
    out_console.print(_vintage_line(factors))


@factors_app.command("corr")
@handle_errors
def factors_corr(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help=f"Model: {', '.join(MODELS)}.")],
    region: RegionOption = "us",
    start: Annotated[str | None, typer.Option(help="First month, YYYY-MM.")] = None,
    end: Annotated[str | None, typer.Option(help="Last month, YYYY-MM.")] = None,
    offline: OfflineOption = False,
    snapshot: SnapshotOption = False,
) -> None:
    """Show the factors' correlation matrix and each factor's variance inflation factor.

    Example: factorxray factors corr xray7
    """
    from factorxray.engine.diagnostics import factor_correlations, vif

    first, last = parse_month_range(start, end)
    with download_progress() as progress:
        factors = load_factors(
            model,
            region,
            start=first,
            end=last,
            cache=state(ctx).cache(),
            offline=offline,
            snapshot=snapshot,
            progress=lambda name: progress(f"downloading {name}"),
        )

    correlations = factor_correlations(factors)
    inflation = vif(factors)
    table = Table(
        title=f"Correlations of {model} factors ({factors.attrs['region']})", title_justify="left"
    )
    table.add_column("")
    for column in correlations.columns:
        table.add_column(column, justify="right")
    table.add_column("VIF", justify="right", style="bold")
    for name, row in correlations.iterrows():
        cells = [_corr_cell(value, name == other) for other, value in row.items()]
        table.add_row(str(name), *cells, f"{inflation[name]:.2f}")
    out_console.print(table)
    out_console.print(
        f"{len(factors)} months, {factors.index[0]} to {factors.index[-1]}. "
        "VIF above 5 means a factor is largely explained by the others."
    )


def _corr_cell(value: float, diagonal: bool) -> str:
    if diagonal:
        return "1"
    style = "red" if value <= -0.5 else "green" if value >= 0.5 else ""
    text = f"{value:+.2f}"
    return f"[{style}]{text}[/]" if style else text


@factors_app.command("dataset")
@handle_errors
def factors_dataset(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="Dataset file name without _CSV.zip, e.g. F-F_Momentum_Factor.")
    ],
    section: Annotated[
        str | None,
        typer.Option("--section", "-s", help="Print this section (title or number) as CSV."),
    ] = None,
    offline: OfflineOption = False,
    refresh: RefreshOption = False,
) -> None:
    """List the sections of any Ken French dataset (or print one as CSV, values as published).

    Example: factorxray factors dataset 25_Portfolios_ME_VAR_5x5
    """
    with download_progress() as progress:
        dataset = read_dataset(
            name,
            cache=state(ctx).cache(),
            offline=offline,
            refresh=refresh,
            on_progress=progress(f"downloading {name}"),
        )
    if section is not None:
        try:
            frame = dataset.section(int(section) if section.lstrip("-").isdigit() else section)
        except ParseError as exc:
            raise UsageError(f"--section {section!r}: {exc}") from None
        write_csv(frame, frame.index.name or "period")
        return
    table = Table(
        title=f"{dataset.name} (vintage {dataset.vintage or 'unknown'}, {dataset.database or 'source unknown'})",
        title_justify="left",
    )
    for column in ("#", "section", "frequency", "rows", "first", "last", "columns"):
        table.add_column(column)
    for number, (title, frame) in enumerate(dataset.sections.items()):
        columns = ", ".join(frame.columns[:6]) + (
            f", ... ({len(frame.columns)})" if len(frame.columns) > 6 else ""
        )
        table.add_row(
            str(number),
            title,
            frame.attrs["frequency"],
            str(len(frame)),
            str(frame.index[0]),
            str(frame.index[-1]),
            columns,
        )
    out_console.print(table)
    err_console.print("Print a section as CSV with --section NUMBER or --section TITLE.")
