"""Daily dividend-adjusted closes from price providers, one module each.

``yahoo`` (default, no key), ``fmp`` (``FMP_API_KEY``), ``tiingo`` (``TIINGO_API_KEY``)
download through the one HTTP client and the cache (:mod:`.store`); ``file`` reads the
user's own CSV/Parquet (:mod:`.file`).
"""

from __future__ import annotations

from factorxray.data.prices.base import PriceProvider, PriceRequest, check_ticker
from factorxray.data.prices.file import FilePrices, parse_prices_file
from factorxray.data.prices.fmp import FmpProvider
from factorxray.data.prices.store import PriceHistory, PriceStore
from factorxray.data.prices.tiingo import TiingoProvider
from factorxray.data.prices.yahoo import YahooProvider
from factorxray.errors import UsageError, quote

#: The price sources, in the order the CLI lists them.
SOURCES = ("yahoo", "fmp", "tiingo", "file")


def get_provider(
    source: str, *, base_url: str | None = None, api_key: str | None = None
) -> PriceProvider:
    """The downloading provider called ``source``.

    Parameters
    ----------
    source : {"yahoo", "fmp", "tiingo"}
        The provider's name.
    base_url : str, optional
        Override the provider's address (default: its ``FACTORXRAY_<NAME>_URL`` variable,
        else the public address).
    api_key : str, optional
        Override the key read from ``FMP_API_KEY`` / ``TIINGO_API_KEY``.

    Returns
    -------
    PriceProvider

    Raises
    ------
    UsageError
        Unknown source, or a key-based source without a key (the message names the
        environment variable to set).

    Examples
    --------
    >>> get_provider("yahoo", base_url="http://127.0.0.1:8000").name
    'yahoo'
    """
    if source == "yahoo":
        return YahooProvider(base_url)
    if source == "fmp":
        return FmpProvider(api_key, base_url)
    if source == "tiingo":
        return TiingoProvider(api_key, base_url)
    raise UsageError(f"unknown price source {quote(source)}; choose one of {', '.join(SOURCES)}")


__all__ = [
    "SOURCES",
    "FilePrices",
    "FmpProvider",
    "PriceHistory",
    "PriceProvider",
    "PriceRequest",
    "PriceStore",
    "TiingoProvider",
    "YahooProvider",
    "check_ticker",
    "get_provider",
    "parse_prices_file",
]
