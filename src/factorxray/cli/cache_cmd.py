"""``factorxray cache``: inspect and clear the download cache."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from factorxray.cli._common import err_console, handle_errors, out_console, state
from factorxray.data.prices.store import PRICES_TTL_SECONDS

cache_app = typer.Typer(help="Inspect or clear the download cache.", no_args_is_help=True)


def _human_size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.1f} GB"


@cache_app.command("info")
@handle_errors
def cache_info(ctx: typer.Context) -> None:
    """Show the cache folder, its size, and every cached item with its vintage and age.

    Example: factorxray cache info
    """
    cache = state(ctx).cache()
    entries = list(cache.entries())
    table = Table(title=f"factorxray cache: {cache.root}", title_justify="left")
    for column in ("namespace", "item", "vintage", "fetched at (UTC)", "size"):
        table.add_column(column)
    for entry in entries:
        table.add_row(
            entry.namespace,
            entry.key,
            str(entry.meta.get("vintage") or ""),
            entry.meta.get("fetched_at", "")[:19].replace("T", " "),
            _human_size(entry.meta.get("size", 0)),
        )
    out_console.print(table)
    out_console.print(
        f"{len(entries)} item(s), {_human_size(cache.size_bytes())} on disk; factor files are "
        f"re-validated after {cache.ttl_seconds / 86400:g} days, price histories after "
        f"{min(cache.ttl_seconds, PRICES_TTL_SECONDS) / 86400:g} day(s)"
    )


@cache_app.command("clear")
@handle_errors
def cache_clear(
    ctx: typer.Context,
    namespace: Annotated[
        str | None,
        typer.Argument(help="Only this namespace (e.g. kenfrench, prices-yahoo); default all."),
    ] = None,
) -> None:
    """Delete cached downloads (all, or one namespace).

    Example: factorxray cache clear kenfrench
    """
    cache = state(ctx).cache()
    removed = cache.clear(namespace)
    err_console.print(f"removed {removed} file(s) from {cache.root}")
