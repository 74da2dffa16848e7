"""What every CLI command shares: global options, one-line errors, progress bars, date options."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from factorxray.errors import FactorXrayError, UsageError, cli_wording

if TYPE_CHECKING:  # pandas and the cache are imported by the commands that use them
    import pandas as pd

    from factorxray.data.cache import Cache

F = TypeVar("F", bound=Callable[..., Any])

#: Messages, progress and errors go to stderr; data (tables, CSV) to stdout.
# No highlighting and no emoji codes: user text (a file name, a fund's label) is printed
# as written; escape() stops markup, emoji=False stops ":smile:" becoming a face.
err_console = Console(stderr=True, highlight=False, emoji=False)
out_console = Console(highlight=False, soft_wrap=True, emoji=False)


class OutputFormat(StrEnum):
    """How a command prints its data: a rich table (percent) or CSV (decimals)."""

    table = "table"
    csv = "csv"


def format_periods(index: pd.Index) -> list[str]:
    """Labels for an index: ``YYYY-MM`` for months, ``YYYY-MM-DD`` for days, else str."""
    import pandas as pd

    if isinstance(index, pd.PeriodIndex):
        return [p.strftime("%Y-%m") for p in index]
    if isinstance(index, pd.DatetimeIndex):
        return [ts.strftime("%Y-%m-%d") for ts in index]
    return [str(label) for label in index]


def write_csv(frame: pd.DataFrame, index_label: str = "period", digits: int | None = None) -> None:
    """Print a frame as CSV on stdout.

    Floats are written in their shortest round-trip form; with ``digits``, rounded to that
    many decimals first (so ``2.89 / 100`` prints as ``0.0289``, not ``0.028900000000000002``).
    """
    import pandas as pd

    out = frame.copy()
    out.index = pd.Index(format_periods(frame.index), name=index_label)
    if digits is None:
        float_format = lambda value: repr(float(value))  # noqa: E731
    else:
        float_format = lambda value: repr(round(float(value), digits))  # noqa: E731
    typer.echo(out.to_csv(float_format=float_format, lineterminator="\n"), nl=False)


@dataclass
class CliState:
    """Global options, stored on the typer context."""

    cache_dir: Path | None = None
    debug: bool = False

    def cache(self) -> Cache:
        """The cache the user asked for."""
        from factorxray.data.cache import Cache

        return Cache(self.cache_dir)


def state(ctx: typer.Context) -> CliState:
    """The global options of this invocation (defaults when called without the callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState(debug=bool(os.environ.get("FACTORXRAY_DEBUG")))
    return root.obj


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on one line of stderr and return the Exit to raise.

    The message is plain text: rich markup in it (from a file name, a ticker, a server's
    answer) is escaped and control characters are dropped, so it prints as written. Advice
    in the Python API's words (``pass snapshot=True``) is printed in the CLI's
    (``add --offline``): :func:`cli_text`.
    """
    err_console.print(
        f"[bold red]error:[/] {escape(cli_text(message))}",
        markup=True,
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(code)


_CONTROL = dict.fromkeys([c for c in range(32) if c not in (9, 10)] + list(range(127, 160)), None)


def plain_text(text: str) -> str:
    r"""``text`` without control characters (escape sequences, carriage returns, bells).

    Examples
    --------
    >>> plain_text("VTV\x1b[2J\rok")
    'VTV[2Jok'
    """
    return str(text).translate(_CONTROL)


def cli_text(message: str) -> str:
    """A library message as the command line prints it: its advice in CLI words, plain text.

    Examples
    --------
    >>> cli_text("cannot reach host; pass offline=True to use it\x07")
    'cannot reach host; add --offline to use it'
    """
    return plain_text(cli_wording(str(message)))


def handle_errors(func: F) -> F:
    """Turn our exceptions into one line on stderr and an exit code (a traceback with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs.get("ctx") or (
            args[0] if args and isinstance(args[0], typer.Context) else None
        )
        debug = state(ctx).debug if ctx is not None else False
        try:
            return func(*args, **kwargs)
        except FactorXrayError as exc:
            if debug:
                raise
            raise fail(_one_line(str(exc)), exc.exit_code) from None
        except OSError as exc:
            if debug:
                raise
            where = f": {exc.filename}" if exc.filename else ""
            raise fail(
                f"{exc.strerror or exc}{where}; check the path and its permissions", 1
            ) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def parse_month(value: str | None, option: str) -> pd.Period | None:
    """Parse ``YYYY-MM`` (or ``YYYY-MM-DD``, ``YYYYMM``) into a monthly Period."""
    if value is None:
        return None
    import pandas as pd

    text = value.strip()
    if len(text) == 6 and text.isdigit():
        text = f"{text[:4]}-{text[4:]}"
    try:
        return pd.Period(text, freq="M")
    except (ValueError, TypeError):
        raise UsageError(f"{option} {value!r} is not a month; use YYYY-MM, e.g. 2015-01") from None


def parse_month_range(
    start: str | None, end: str | None
) -> tuple[pd.Period | None, pd.Period | None]:
    """``--start`` and ``--end`` as monthly Periods, checked for order."""
    first, last = parse_month(start, "--start"), parse_month(end, "--end")
    if first is not None and last is not None and first > last:
        raise UsageError(f"--start {first} is after --end {last}; swap them")
    return first, last


@contextmanager
def download_progress(
    enabled: bool = True,
) -> Iterator[Callable[[str], Callable[[int, int | None], None]]]:
    """A rich progress bar on stderr for downloads.

    Yields a factory: ``factory(label)`` returns an ``on_progress(received, total)`` callback
    for one download. Nothing is drawn when stderr is not a terminal or ``enabled`` is false.
    """
    show = enabled and err_console.is_terminal
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not show,
    )

    def factory(label: str) -> Callable[[int, int | None], None]:
        task = progress.add_task(label, total=None)

        def update(received: int, total: int | None) -> None:
            progress.update(task, completed=received, total=total)

        return update

    with progress:
        yield factory


def count_progress(label: str, total: int) -> Progress:
    """A rich progress bar counting items (e.g. tickers fetched) on stderr."""
    return Progress(
        SpinnerColumn(),
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


def is_debug_argv() -> bool:
    """True when ``--debug`` is on the command line (used before typer parses it)."""
    return "--debug" in sys.argv[1:] or bool(os.environ.get("FACTORXRAY_DEBUG"))


class _ConsoleLogHandler(logging.Handler):
    """The library's warnings (waits for a server, corrupt cache entries) as plain stderr lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = " ".join(cli_text(record.getMessage()).split())
            label = "warning" if record.levelno >= logging.WARNING else "note"
            err_console.print(f"[yellow]{label}:[/] {escape(text)}", soft_wrap=True)
        except Exception:  # logging must never take the command down
            self.handleError(record)


def install_log_handler() -> None:
    """Route the ``factorxray`` loggers' WARNING lines to stderr through the error console."""
    logger = logging.getLogger("factorxray")
    if any(isinstance(h, _ConsoleLogHandler) for h in logger.handlers):
        return
    logger.addHandler(_ConsoleLogHandler(logging.WARNING))
    logger.setLevel(logging.WARNING)
    logger.propagate = False
