"""``factorxray panel``: exposures of every series of a long panel, on Dask, to Parquet.

A thin wrapper over :func:`factorxray.scale.regress_panel`: options map one to one onto its
arguments; a progress bar on stderr while it runs; a short summary on stdout at the end.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from factorxray.cli._common import err_console, handle_errors, out_console
from factorxray.factors.registry import MODELS, REGIONS


class Covariance(StrEnum):
    """Covariance types offered on the command line."""

    hac = "hac"
    HC1 = "HC1"
    nonrobust = "nonrobust"


class Frequency(StrEnum):
    """Panel frequencies."""

    monthly = "monthly"
    daily = "daily"


@handle_errors
def panel_command(
    ctx: typer.Context,
    panel: Annotated[
        Path,
        typer.Argument(
            metavar="PANEL",
            help="Long panel: a Parquet file or folder (partitioned or not) or a CSV file, "
            "with columns date, id and return (decimals) or price.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Output folder: static/ (and rolling/) Parquet datasets and manifest.json. "
            "An unfinished run there is resumed.",
            show_default=False,
        ),
    ],
    model: Annotated[
        str, typer.Option("--model", "-m", help=f"Factor model: {', '.join(MODELS)}.")
    ] = "ff5",
    region: Annotated[
        str, typer.Option("--region", "-r", help=f"Factor region: {', '.join(REGIONS)}.")
    ] = "us",
    window: Annotated[
        int | None,
        typer.Option(
            "--window", help="Also rolling windows of this many periods (e.g. 60, 252).", min=2
        ),
    ] = None,
    cov: Annotated[
        Covariance, typer.Option("--cov", help="Covariance of the estimates.")
    ] = Covariance.hac,
    hac_lags: Annotated[
        int | None,
        typer.Option("--hac-lags", help="Fixed HAC lag (default: from each sample's size).", min=0),
    ] = None,
    min_obs: Annotated[
        int,
        typer.Option("--min-obs", help="Series with fewer observations are skipped.", min=1),
    ] = 36,
    frequency: Annotated[
        Frequency | None,
        typer.Option(
            "--frequency",
            help="monthly or daily (default: inferred; monthly on daily rows compounds them).",
            show_default=False,
        ),
    ] = None,
    excess: Annotated[
        bool,
        typer.Option("--excess", help="The panel holds excess returns (RF not subtracted)."),
    ] = False,
    date_column: Annotated[str, typer.Option("--date-column", help="Date column.")] = "date",
    id_column: Annotated[str, typer.Option("--id-column", help="Series id column.")] = "id",
    return_column: Annotated[
        str | None,
        typer.Option(
            "--return-column", help="Return column (default: 'return').", show_default=False
        ),
    ] = None,
    price_column: Annotated[
        str | None,
        typer.Option(
            "--price-column",
            help="Price column, turned into returns (default: 'price' when there is no "
            "return column).",
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            envvar="DASK_SCHEDULER_ADDRESS",
            help="Running Dask scheduler, tcp://host:port (env DASK_SCHEDULER_ADDRESS); "
            "default: a local cluster, one worker process per core.",
            show_default=False,
        ),
    ] = None,
    connect_timeout: Annotated[
        float | None,
        typer.Option(
            "--connect-timeout",
            help="Seconds to wait for --scheduler (default: regress_panel's, 5).",
            min=0.1,
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Worker processes of the local cluster.", min=1),
    ] = None,
    chunk_rows: Annotated[
        int | None,
        typer.Option(
            "--chunk-rows",
            help="Panel rows per chunk, the unit of work and restart (default 1,000,000; "
            "200,000 with --window).",
            min=1,
            show_default=False,
        ),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="No network: the cache, else the bundled snapshot.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier run with other inputs in --out.")
    ] = False,
    keep_staging: Annotated[
        bool, typer.Option("--keep-staging", help="Keep the regrouped panel (OUT/_staging).")
    ] = False,
) -> None:
    """Exposures of every series of a long panel, computed on Dask, written as Parquet.

    Static regressions of each series (and rolling windows with --window) on the factors of
    --model/--region, by the same engine as analyze, in chunks of series on Dask workers.
    Results: OUT/static (one row per series and term: fund, factor, beta, se, t, p, nobs,
    rsquared ...), OUT/rolling, OUT/manifest.json (model, vintages, options, chunks, skipped
    ids). Rerunning the same command resumes an interrupted run.

    Example: factorxray panel crsp_monthly.parquet --model ff5 --window 60 --out betas/
    """
    del ctx
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    tasks: dict[str, int] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            label = "reading the panel" if stage == "staging" else "regressing chunks"
            tasks[stage] = bar.add_task(label, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    from factorxray.scale import regress_panel
    from factorxray.scale.backend import CONNECT_TIMEOUT

    with bar:
        run = regress_panel(
            panel,
            out,
            model=model,
            region=region,
            window=window,
            cov=cov.value,
            hac_lags=hac_lags,
            min_obs=min_obs,
            frequency=frequency.value if frequency is not None else None,
            excess=excess,
            date_column=date_column,
            id_column=id_column,
            return_column=return_column,
            price_column=price_column,
            offline=offline,
            scheduler=scheduler,
            n_workers=workers,
            connect_timeout=CONNECT_TIMEOUT if connect_timeout is None else connect_timeout,
            chunk_rows=chunk_rows,
            overwrite=overwrite,
            keep_staging=keep_staging,
            progress=on_progress,
        )
    manifest = run.manifest
    counts = manifest["counts"]
    where = [str(run.static_path)]
    if run.rolling_path is not None:
        where.append(f"{run.rolling_path} ({counts['rolling_rows']:,} window rows)")
    out_console.print(
        f"{counts['fitted']:,} of {counts['series']:,} series fitted on "
        f"{manifest['factors'].get('model') or 'the given'} {manifest['factors'].get('region') or ''} "
        f"factors ({manifest['frequency']}, {manifest['options']['cov']}) in "
        f"{len(run.computed)} chunks ({len(run.reused)} reused), {run.seconds:.1f} s: "
        f"{', '.join(escape(w) for w in where)}; manifest {escape(str(run.out / 'manifest.json'))}",
        highlight=False,
    )
    if counts["skipped"]:
        first = next(iter(run.skipped.items()))
        err_console.print(
            f"[yellow]warning:[/] {counts['skipped']:,} series skipped (e.g. "
            f"{escape(first[0])}: {escape(first[1])}); all listed in manifest.json",
            soft_wrap=True,
            highlight=False,
        )
