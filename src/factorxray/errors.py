"""Exception classes of factorxray.

Every error the package raises on purpose is a :class:`FactorXrayError`. Messages are one
line: they name what went wrong and what to do about it, so the CLI can print them as is.
"""

from __future__ import annotations

import reprlib
from typing import NamedTuple, TypeVar

E = TypeVar("E", bound=BaseException)

#: How many characters of a user's value an error message quotes.
QUOTE_LIMIT = 60

_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxdict = 4
_REPR.maxstring = _REPR.maxother = QUOTE_LIMIT + 10


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A short ``repr`` of a user's value for a one-line error message.

    At most ``limit`` characters (then ``...``), whatever the value: nested containers are
    cut after a few items and two levels, so even a value built from shared references
    (a YAML "billion laughs") costs no more than a few hundred characters to quote.
    Line breaks and other control characters show as escapes.

    Examples
    --------
    >>> quote("SPY")
    "'SPY'"
    >>> quote("x" * 100, limit=12)
    "'xxxxxxx...'"
    >>> quote([[1, 2, 3, 4, 5, 6]] * 3)
    '[[1, 2, 3, 4, ...], [1, 2, 3, 4, ...], [1, 2, 3, 4, ...]]'
    """
    text = repr(value[: limit + 1]) if isinstance(value, str | bytes) else _REPR.repr(value)
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)
    if len(text) <= limit:
        return text
    if text[:1] in "'\"" and text[-1:] == text[:1]:
        return text[: limit - 4] + "..." + text[0]
    return text[: limit - 3] + "..."


def with_message(exc: E, message: str) -> E:
    """A copy of ``exc`` (same class, same attributes) with a new message."""
    renewed = type(exc).__new__(type(exc))
    renewed.__dict__.update(exc.__dict__)
    renewed.args = (message,)
    return renewed


class Advice(NamedTuple):
    """A piece of advice that error messages give, in the Python API's words and the CLI's.

    Messages are written for the Python API (``python``); the command line prints them
    through :func:`cli_wording`, which puts ``cli`` in their place, so each audience reads
    only the options it has.
    """

    python: str
    cli: str


#: Work offline on the cache, else the bundled snapshot (Ken French files).
PASS_SNAPSHOT = Advice("pass snapshot=True", "add --offline")
#: Work offline on the cache (prices, ``fx.analyze``, the other factor libraries).
PASS_OFFLINE = Advice("pass offline=True", "add --offline")
#: Download what an offline read did not find in the cache (``... to download it``).
DOWNLOAD_ONCE = Advice(
    "call once with offline=False (the default) to download",
    "run once without --offline to download",
)
#: Download a cached file again that no longer parses.
PASS_REFRESH = Advice(
    "pass refresh=True to download it again", "run with --refresh to download it again"
)
#: Say the units of a factor file (both choices, or the one the values suggest).
FACTOR_UNITS = Advice(
    "pass factor_units='percent' or factor_units='decimal'",
    "add --factor-units percent or --factor-units decimal",
)
FACTOR_UNITS_PERCENT = Advice("pass factor_units='percent'", "add --factor-units percent")
#: Read prices from the caller's own file.
PASS_PRICES_FILE = Advice("pass prices_file=F", "add --prices-file F")
#: Use the histories the price checks found suspect.
ALLOW_SUSPECT_PRICES = Advice("pass allow_suspect_prices=True", "add --allow-suspect-prices")
#: Another price source than one that needs a key.
USE_YAHOO = Advice("pass source='yahoo'", "use --source yahoo")
#: Another cache folder.
CACHE_FOLDER = Advice("pass cache=Cache(FOLDER)", "use --cache-dir FOLDER")
#: Which cache folder was meant.
CHECK_CACHE_FOLDER = Advice("check the folder given to Cache()", "check --cache-dir")
#: Pin a year of a file published once a year.
PIN_YEAR = Advice("pass vintage=YEAR", "add --vintage YEAR")
#: What keeps every vintage of the factor files it sees.
UNPINNED_RUN = Advice("a call without vintage=", "a run without --vintage")
#: Options of ``fx.analyze`` named in its messages (``min_months=0 is too small``).
MIN_MONTHS = Advice("min_months=", "--min-months ")
T_THRESHOLD = Advice("t_threshold=", "--t-threshold ")
#: A longer sample for a fund with too few months.
WIDEN_RANGE = Advice("or widen start/end", "or widen --start/--end")
#: Every pair, the longest Python wording first (so one that holds another is replaced whole).
_ADVICE = tuple(
    sorted(
        (
            PASS_SNAPSHOT,
            PASS_OFFLINE,
            DOWNLOAD_ONCE,
            PASS_REFRESH,
            FACTOR_UNITS,
            FACTOR_UNITS_PERCENT,
            PASS_PRICES_FILE,
            ALLOW_SUSPECT_PRICES,
            USE_YAHOO,
            CACHE_FOLDER,
            CHECK_CACHE_FOLDER,
            PIN_YEAR,
            UNPINNED_RUN,
            MIN_MONTHS,
            T_THRESHOLD,
            WIDEN_RANGE,
        ),
        key=lambda advice: -len(advice.python),
    )
)


def cli_wording(message: str) -> str:
    """``message`` with the Python API's advice in the command line's words.

    Examples
    --------
    >>> cli_wording("cannot reach host; pass snapshot=True to use the bundled snapshot")
    'cannot reach host; add --offline to use the bundled snapshot'
    >>> cli_wording("say the units: pass factor_units='percent' or factor_units='decimal'")
    'say the units: add --factor-units percent or --factor-units decimal'
    """
    for advice in _ADVICE:
        message = message.replace(advice.python, advice.cli)
    return message


class FactorXrayError(Exception):
    """Base class of every error factorxray raises on purpose."""

    exit_code: int = 1


class UsageError(FactorXrayError, ValueError):
    """Bad input from the caller: unknown model, region, dataset, option value."""

    exit_code = 2


class InputFileError(UsageError):
    """A file the caller gave (a factor file, a panel) cannot be used as given.

    Neither a download nor another region helps: the message names the file and what it
    should hold.
    """


class DataSourceError(FactorXrayError):
    """A data source failed: HTTP error, timeout, corrupt archive, unparsable file."""


class UnreachableError(DataSourceError):
    """A server could not be reached at all: connection refused, host name not found, no route.

    Not retried (no network or a wrong address does not heal in seconds); the data sources
    add how to work offline (:data:`PASS_SNAPSHOT`, :data:`PASS_OFFLINE`).
    """


class HttpStatusError(DataSourceError):
    """The server answered an HTTP error status; keeps the status, the (redacted) URL and the body.

    Providers put the useful words in the body (Yahoo's ``chart.error.description``,
    Tiingo's ``detail``), so callers can explain the failure in their own terms.
    """

    def __init__(self, message: str, *, status_code: int, url: str, body: bytes = b"") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.url = url
        self.body = body


class CacheError(FactorXrayError):
    """The cache folder cannot be written (or read)."""


class ParseError(DataSourceError):
    """A downloaded file does not have the layout we expect."""


class NotCachedError(DataSourceError):
    """Offline mode was asked for but the cache does not hold the item."""


class UnknownTickerError(DataSourceError):
    """The price provider does not know a ticker."""


class InsufficientDataError(FactorXrayError):
    """Too few observations for what was asked (e.g. fewer months than ``min_obs``).

    ``skipped`` maps each fund that could not be used to the reason, when known.
    """

    skipped: dict[str, str] = {}  # noqa: RUF012 (replaced per instance, never mutated)


class CollinearityError(FactorXrayError):
    """The factor design matrix is singular: some factors are linear combinations of others."""


class AllFailedError(FactorXrayError):
    """Every item of a batch failed (e.g. every ticker); ``failures`` maps item -> reason."""

    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures: dict[str, str] = dict(failures or {})
