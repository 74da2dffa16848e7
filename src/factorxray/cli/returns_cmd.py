"""``factorxray returns``: monthly total returns of funds, as a table or CSV.

A thin wrapper over :func:`factorxray.returns.fetch_returns`. Exit codes: 0 when every
ticker succeeded, 3 when some failed (each named on stderr, the others printed), 1 when
none succeeded, 2 for bad options. Findings of the price checks are printed on stderr as
``warning: TICKER: ...`` lines; they do not change the exit code.
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from factorxray.cli._common import (
    OutputFormat,
    cli_text,
    count_progress,
    err_console,
    handle_errors,
    out_console,
    parse_month_range,
    state,
    write_csv,
)
from factorxray.errors import AllFailedError

if TYPE_CHECKING:  # pandas and the data layer are imported when the command runs
    import pandas as pd

    from factorxray.data.cache import Cache

#: Exit code when some tickers failed and the others were printed.
PARTIAL_EXIT_CODE = 3


class Source(StrEnum):
    """Price sources offered on the command line."""

    yahoo = "yahoo"
    fmp = "fmp"
    tiingo = "tiingo"
    file = "file"


def returns_table(returns: pd.DataFrame, source: str) -> Table:
    """A rich table of the returns in percent, two decimals."""
    table = Table(
        title=f"Monthly total returns, % (source: {source})",
        title_justify="left",
        show_lines=False,
    )
    table.add_column("period")
    for ticker in returns.columns:
        table.add_column(str(ticker), justify="right")
    for period, row in zip(returns.index, returns.to_numpy().tolist(), strict=True):
        cells = ["" if math.isnan(value) else f"{100 * value:.2f}" for value in row]
        table.add_row(f"{period:%Y-%m}", *cells)
    return table


def _empty_with_failures(failures: dict[str, str]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(index=pd.PeriodIndex([], freq="M", name="period"))
    frame.attrs = {"failed": dict(failures), "warnings": {}}
    return frame


def _with_snapshot(
    returns: pd.DataFrame, first: pd.Period | None, last: pd.Period | None, cache: Cache
) -> pd.DataFrame:
    """``--offline`` as in ``analyze``: funds not in the cache come from the bundled snapshot."""
    import pandas as pd

    from factorxray.pipeline import fund_returns

    failed = dict(returns.attrs.get("failed", {}))
    filled = fund_returns(list(failed), offline=True, cache=cache).loc[first:last]
    if filled.empty:
        return returns if not returns.empty else filled
    combined = pd.concat([returns, filled], axis=1) if not returns.empty else filled
    combined.attrs = {
        "failed": dict(filled.attrs["failed"]),
        "warnings": {**returns.attrs.get("warnings", {}), **filled.attrs.get("warnings", {})},
    }
    return combined


def _report_failures(failures: dict[str, str]) -> None:
    """One ``failed: TICKER: reason`` line each, the reason's advice in CLI words."""
    for ticker, reason in failures.items():
        err_console.print(
            f"[bold red]failed:[/] {escape(ticker)}: {escape(cli_text(reason))}",
            soft_wrap=True,
            highlight=False,
        )


def _report_warnings(warnings: dict[str, list[str]]) -> None:
    """One ``warning: TICKER: finding`` line per finding of the price checks, in CLI words."""
    for ticker, lines in warnings.items():
        for line in lines:
            err_console.print(
                f"[yellow]warning:[/] {escape(ticker)}: {escape(cli_text(line))}",
                soft_wrap=True,
                highlight=False,
            )


@handle_errors
def returns_command(
    ctx: typer.Context,
    tickers: Annotated[
        list[str] | None,
        typer.Argument(
            help="Fund tickers, e.g. SPY MTUM USMV. With --prices-file, none means every "
            "ticker in the file.",
            metavar="[TICKER]...",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        Source | None,
        typer.Option(
            "--source",
            help="Price source: yahoo (default, no key), fmp (FMP_API_KEY), "
            "tiingo (TIINGO_API_KEY), file (--prices-file). Default: file when "
            "--prices-file is given, else yahoo.",
            show_default=False,
        ),
    ] = None,
    prices_file: Annotated[
        Path | None,
        typer.Option(
            "--prices-file",
            help="Your own prices: CSV/Parquet, wide (date,SPY,...) or long "
            "(date,ticker,adj_close), or a folder of TICKER.csv files.",
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="First month, YYYY-MM.", show_default=False)
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Last month, YYYY-MM.", show_default=False)
    ] = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option("--format", help="table (percent) or csv (decimals, exact)."),
    ] = OutputFormat.table,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="No network: cached prices, else the bundled snapshot."),
    ] = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Update cached prices now, even if fresh.")
    ] = False,
    allow_suspect_prices: Annotated[
        bool,
        typer.Option(
            "--allow-suspect-prices",
            help="Use price histories that look wrong (an unadjusted split, conflicting "
            "duplicate dates, non-positive prices) instead of failing those funds; each "
            "finding is printed as a warning.",
        ),
    ] = False,
) -> None:
    """Monthly total returns of funds, compounded from daily dividend-adjusted closes.

    The first (partial) month of each fund and the still-running month are left out.
    Exit code 3 when some tickers failed (each named on stderr), 1 when all did.
    With --prices-file and no tickers, every ticker in the file is read.

    Example: factorxray returns SPY MTUM USMV --start 2015-01 --format csv
    """
    from factorxray.returns import fetch_returns

    chosen = source.value if source is not None else ("file" if prices_file else "yahoo")
    first_month, last_month = parse_month_range(start, end)
    tickers = tickers or []
    with count_progress(f"fetching {chosen} prices", len(tickers)) as progress:
        task = progress.add_task("fetch", total=len(tickers) or None)
        try:
            returns = fetch_returns(
                tickers,
                chosen,
                first_month,
                last_month,
                prices_file=prices_file,
                cache=state(ctx).cache(),
                offline=offline,
                refresh=refresh,
                on_ticker_done=lambda _ticker, _reason: progress.advance(task),
                allow_suspect_prices=allow_suspect_prices,
            )
        except AllFailedError as exc:
            if not (offline and chosen != "file"):
                progress.stop()
                _report_failures(exc.failures)
                raise typer.Exit(1) from None
            returns = _empty_with_failures(exc.failures)
    if offline and chosen != "file" and returns.attrs.get("failed"):
        returns = _with_snapshot(returns, first_month, last_month, state(ctx).cache())
        if returns.empty:
            _report_failures(returns.attrs.get("failed", {}))
            raise typer.Exit(1)
    if output_format is OutputFormat.csv:
        write_csv(returns)
    else:
        out_console.print(returns_table(returns, chosen))
    _report_warnings(returns.attrs.get("warnings", {}))
    failures = returns.attrs.get("failed", {})
    _report_failures(failures)
    if failures:
        raise typer.Exit(PARTIAL_EXIT_CODE)


__all__ = ["PARTIAL_EXIT_CODE", "returns_command", "returns_table"]
