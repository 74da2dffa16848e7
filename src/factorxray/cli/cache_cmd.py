"""``factorxray cache``: inspect and clear the download cache."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from factorxray.cli._common import err_console, handle_errors, out_console, state
from factorxray.errors import UsageError

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

    Corrupt entries (data not matching their checksum, unreadable metadata) are listed with
    their problem; they are ignored when reading and downloaded again.

    Example: factorxray cache info
    """
    from factorxray.data.cache import CacheEntry
    from factorxray.data.prices.store import PRICES_TTL_SECONDS

    cache = state(ctx).cache()
    items = list(cache.inspect())
    entries = [item for item in items if isinstance(item, CacheEntry)]
    problems = [item for item in items if not isinstance(item, CacheEntry)]
    table = Table(
        title=escape(f"factorxray cache: {cache.root}"), title_justify="left", highlight=False
    )
    for column in ("namespace", "item", "vintage", "fetched at (UTC)", "size"):
        table.add_column(column)
    for item in items:
        if isinstance(item, CacheEntry):
            table.add_row(
                escape(item.namespace),
                escape(item.key),
                escape(str(item.meta.get("vintage") or "")),
                escape(str(item.meta.get("fetched_at", ""))[:19].replace("T", " ")),
                _human_size(item.meta.get("size", 0)),
            )
        else:
            table.add_row(
                escape(item.namespace), escape(item.key), f"[red]{escape(item.reason)}[/]", "", ""
            )
    out_console.print(table)
    flagged = f", {len(problems)} corrupt (ignored; downloaded again)" if problems else ""
    marked = (
        "" if cache.is_marked() or not cache.root.exists() else " (folder not marked as a cache)"
    )
    out_console.print(
        f"{len(entries)} item(s){flagged}, {_human_size(cache.size_bytes())} on disk{marked}; "
        f"factor files are re-validated after {cache.ttl_seconds / 86400:g} days, price "
        f"histories after {min(cache.ttl_seconds, PRICES_TTL_SECONDS) / 86400:g} day(s)",
        markup=False,
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

    Only a folder marked as a factorxray cache (or holding nothing but cache entries) is
    touched, and in it only the entries factorxray wrote: a wrong --cache-dir or
    FACTORXRAY_CACHE_DIR is refused with an error, nothing removed.

    Example: factorxray cache clear kenfrench
    """
    cache = state(ctx).cache()
    if namespace is not None:
        from factorxray.data.cache import derived_namespace

        known = sorted({entry.namespace for entry in cache.entries()})
        # kenfrench holds nothing but the snapshot's parsed forms after an offline run:
        # clearing it clears them (as it would beside downloads)
        if namespace not in known and derived_namespace(namespace) not in known:
            listed = ", ".join(known) if known else "none: the cache is empty"
            raise UsageError(
                f"no cache namespace {namespace!r}; namespaces in {cache.root}: {listed}"
            )
    removed = cache.clear(namespace)
    err_console.print(f"removed {removed} file(s) from {cache.root}", markup=False)
