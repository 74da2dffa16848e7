"""``factorxray factors``: list models and sources, show factor returns (any mix), correlations,
any Ken French dataset, and how two vintages of a dataset differ."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

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
from factorxray.errors import ParseError, UsageError
from factorxray.factors.registry import MODELS, REGIONS

if TYPE_CHECKING:  # the data modules (pandas, httpx) are imported by the commands
    import pandas as pd

factors_app = typer.Typer(help="Factor models and Ken French datasets.", no_args_is_help=True)


class Frequency(StrEnum):
    """Data frequency."""

    monthly = "monthly"
    weekly = "weekly"
    daily = "daily"


class Units(StrEnum):
    """Units of a user's factor file."""

    percent = "percent"
    decimal = "decimal"


RegionOption = Annotated[
    str, typer.Option("--region", "-r", help=f"Region: {', '.join(REGIONS)}.", show_default=True)
]
OfflineOption = Annotated[
    bool,
    typer.Option("--offline", help="No network: the cache, else the bundled snapshot."),
]
SnapshotOption = Annotated[
    bool,
    typer.Option(
        "--snapshot",
        help="Same as --offline (kept for scripts that use it).",
        hidden=True,  # one spelling in --help: --offline
    ),
]
RefreshOption = Annotated[
    bool, typer.Option("--refresh", help="Download again even if the cache is fresh.")
]
FactorsOption = Annotated[
    str | None,
    typer.Option(
        "--factors",
        help="Any set of factors from any library instead of a model, e.g. "
        '"Mkt-RF,SMB,HML,QMJ,BAB" (library:NAME picks a library, NAME=LONG-SHORT a fund spread; '
        "see `factorxray factors list`).",
    ),
]
FactorFileOption = Annotated[
    str | None,
    typer.Option(
        "--factor-file",
        help="Your own factor returns (CSV or Parquet: a date column, one column per factor, "
        "optional RF); its columns become factors by name.",
    ),
]
FactorUnitsOption = Annotated[
    Units | None,
    typer.Option("--factor-units", help="Units of --factor-file: percent or decimal (required)."),
]
VintageOption = Annotated[
    str | None,
    typer.Option(
        "--vintage",
        help="Use every factor file as published by this month (YYYYMM), from the cache; "
        "nothing is downloaded.",
    ),
]
PriceSourceOption = Annotated[
    str,
    typer.Option(
        "--price-source",
        help="Prices for fund-defined factors (TERM, CREDIT): yahoo, fmp, tiingo, file.",
    ),
]
PricesFileOption = Annotated[
    str | None, typer.Option("--prices-file", help="Prices file or folder for --price-source file.")
]


@factors_app.command("list")
@handle_errors
def factors_list(ctx: typer.Context) -> None:
    """List the models, regions, every factor and its library, and the vintages at hand.

    Example: factorxray factors list
    """
    from factorxray.factors.catalog import CATALOG, LIBRARIES, MIXED_MODELS
    from factorxray.factors.libraries import aqr, liquidity, q
    from factorxray.factors.vintages import vintages_at_hand

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
    sources = Table(title="Sources", title_justify="left")
    sources.add_column("library", style="bold")
    sources.add_column("what it is")
    sources.add_column("base URL (environment variable)")
    urls = {
        "kenfrench": "https://mba.tuck.dartmouth.edu/pages/faculty/ken.french/ftp/ (FACTORXRAY_KENFRENCH_URL)",
        "q": f"{q.DEFAULT_BASE_URL} ({q.BASE_URL_ENV})",
        "aqr": f"{aqr.DEFAULT_BASE_URL} ({aqr.BASE_URL_ENV})",
        "liquidity": f"{liquidity.DEFAULT_BASE_URL} ({liquidity.BASE_URL_ENV})",
        "funds": "your price source (--price-source)",
        "user": "--factor-file",
    }
    for name, text in LIBRARIES.items():
        sources.add_row(name, text, urls[name])
    factors = Table(title="Factors (--factors NAME or library:NAME)", title_justify="left")
    for column in ("factor", "library", "regions", "frequencies", "what it is"):
        factors.add_column(column)
    for spec in CATALOG.values():
        factors.add_row(
            spec.name,
            spec.library,
            ", ".join(spec.regions) if spec.regions else "any",
            ", ".join(spec.frequencies),
            spec.description,
        )
    at_hand = Table(title="Vintages at hand (cache and bundled snapshot)", title_justify="left")
    for column in ("library", "dataset", "vintage", "where", "fetched"):
        at_hand.add_column(column)
    for record in vintages_at_hand(state(ctx).cache()):
        at_hand.add_row(
            record.library, record.dataset, record.vintage, record.where, record.fetched_at or ""
        )
    for table in (models, regions, sources, factors, at_hand):
        out_console.print(table)
    out_console.print(
        f"Models {', '.join(MIXED_MODELS)} mix libraries; VOL, STREV, LTREV, the q-factors and LIQ "
        "exist for the US only.\n"
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
    rf = factors.attrs.get("rf_source")
    rf_note = f"; RF from {rf}" if rf and len(factors.attrs["sources"]) > 1 else ""
    return f"vintages: {vintages}{rf_note}\nrange: {first} to {last} ({len(factors)} rows{note})"


@factors_app.command("show")
@handle_errors
def factors_show(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Argument(help=f"Model: {', '.join(MODELS)} (or --factors / --factor-file)."),
    ] = None,
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
    factors_list: FactorsOption = None,
    factor_file: FactorFileOption = None,
    factor_units: FactorUnitsOption = None,
    vintage: VintageOption = None,
    price_source: PriceSourceOption = "yahoo",
    prices_file: PricesFileOption = None,
) -> None:
    """Show factor returns of a model or of any mix of factors (table in percent, CSV in decimals).

    Example: factorxray factors show ff5 --region developed --start 2010-01 --format csv
    Example: factorxray factors show --factors "Mkt-RF,SMB,HML,QMJ,BAB" --start 2000-01
    """
    from factorxray.factors import load_factors

    if frequency is not Frequency.monthly:  # days allowed: YYYY-MM-DD (or whole months)
        first, last = start, end
    else:
        first, last = parse_month_range(start, end)
    _check_model_or_factors(model, factors_list, factor_file)
    with download_progress() as progress:
        factors = load_factors(
            model or "custom",
            region,
            start=first,
            end=last,
            frequency=frequency.value,
            cache=state(ctx).cache(),
            offline=offline,
            refresh=refresh,
            snapshot=snapshot or offline,  # --offline: the cache, else the snapshot
            progress=lambda name: progress(f"downloading {name}"),
            **_mix_options(
                factors_list, factor_file, factor_units, vintage, price_source, prices_file
            ),
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
    model: Annotated[
        str | None,
        typer.Argument(help=f"Model: {', '.join(MODELS)} (or --factors / --factor-file)."),
    ] = None,
    region: RegionOption = "us",
    start: Annotated[str | None, typer.Option(help="First month, YYYY-MM.")] = None,
    end: Annotated[str | None, typer.Option(help="Last month, YYYY-MM.")] = None,
    offline: OfflineOption = False,
    snapshot: SnapshotOption = False,
    factors_list: FactorsOption = None,
    factor_file: FactorFileOption = None,
    factor_units: FactorUnitsOption = None,
    vintage: VintageOption = None,
) -> None:
    """Show the factors' correlation matrix and each factor's variance inflation factor.

    Example: factorxray factors corr xray7
    """
    from factorxray.engine.diagnostics import factor_correlations, vif
    from factorxray.factors import load_factors

    first, last = parse_month_range(start, end)
    _check_model_or_factors(model, factors_list, factor_file)
    with download_progress() as progress:
        factors = load_factors(
            model or "custom",
            region,
            start=first,
            end=last,
            cache=state(ctx).cache(),
            offline=offline,
            snapshot=snapshot or offline,  # --offline: the cache, else the snapshot
            progress=lambda name: progress(f"downloading {name}"),
            **_mix_options(factors_list, factor_file, factor_units, vintage),
        )
        model = factors.attrs["model"]

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


def _check_model_or_factors(
    model: str | None, factors_list: str | None, factor_file: str | None
) -> None:
    if model is None and factors_list is None and factor_file is None:
        raise UsageError(
            f"give a model ({', '.join(MODELS)}) or --factors LIST (or --factor-file FILE)"
        )
    if model is not None and (factors_list is not None or factor_file is not None):
        raise UsageError(
            f"give either a model ({model}) or --factors/--factor-file, not both; to add your "
            "own factors to a model's, list them all in --factors"
        )


def _mix_options(
    factors_list: str | None,
    factor_file: str | None,
    factor_units: Units | None,
    vintage: str | None,
    price_source: str = "yahoo",
    prices_file: str | None = None,
) -> dict[str, object]:
    """The keyword arguments of :func:`load_factors` for a mix, a user file and a vintage."""
    options: dict[str, object] = {}
    if factors_list is not None:
        options["factors"] = factors_list
    if factor_file is not None:
        options["factor_file"] = factor_file
        options["factor_units"] = factor_units.value if factor_units else None
    if vintage is not None:
        options["vintage"] = vintage
    if price_source != "yahoo" or prices_file is not None:
        options.update(price_source=price_source, prices_file=prices_file)
    return options


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
    vintage: VintageOption = None,
) -> None:
    """List the sections of any Ken French dataset (or print one as CSV, values as published).

    Example: factorxray factors dataset 25_Portfolios_ME_VAR_5x5
    """
    from factorxray.data.kenfrench import read_dataset

    if vintage is not None:
        from factorxray.factors.vintages import read_pinned_dataset

        dataset = read_pinned_dataset(name, vintage, cache=state(ctx).cache())
    else:
        with download_progress() as progress:
            dataset = read_dataset(
                name,
                cache=state(ctx).cache(),
                offline=offline,
                snapshot=offline,  # --offline: the cache, else the bundled snapshot
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


@factors_app.command("diff")
@handle_errors
def factors_diff(
    ctx: typer.Context,
    dataset: Annotated[
        str,
        typer.Argument(
            help="A Ken French dataset (F-F_Research_Data_Factors), or aqr:bab|qmj|hml_devil, "
            "q:monthly, liquidity:"
        ),
    ],
    old: Annotated[
        str, typer.Argument(help="The older vintage, YYYYMM (a year for q, liquidity).")
    ],
    new: Annotated[str, typer.Argument(help="The newer vintage.")],
    section: Annotated[
        str | None,
        typer.Option("--section", "-s", help="Section title (Ken French) or sheet (AQR)."),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table or csv.")
    ] = OutputFormat.table,
) -> None:
    """Show how a dataset's factor returns changed between two vintages at hand.

    Per factor: months in common, months changed, the largest change (and its month), the
    root-mean-square change and the correlation of the two series; months added or removed.
    Both vintages must be at hand (the cache keeps every vintage it sees; see `factors list`).

    Example: factorxray factors diff F-F_Research_Data_Factors 202006 202110
    """
    from factorxray.factors.vintages import diff_vintages

    table = diff_vintages(dataset, old, new, section=section, cache=state(ctx).cache())
    if output is OutputFormat.csv:
        write_csv(table, "factor")
        return
    units = "percentage points" if table.attrs["units"] == "percent" else "decimals"
    view = Table(
        title=f"{table.attrs['dataset']}: vintage {table.attrs['old']} -> {table.attrs['new']} "
        f"(changes in {units})",
        title_justify="left",
    )
    for column in (
        "factor",
        "months",
        "changed",
        "largest",
        "at",
        "RMS",
        "correlation",
        "added",
        "removed",
    ):
        view.add_column(column, justify="left" if column in ("factor", "at") else "right")
    for name, row in table.iterrows():
        view.add_row(
            str(name),
            str(row["months"]),
            str(row["changed"]),
            f"{row['max_abs_change']:.4g}",
            row["max_change_at"],
            f"{row['rms_change']:.4g}",
            f"{row['correlation']:.6f}",
            str(row["added"]),
            str(row["removed"]),
        )
    out_console.print(view)
