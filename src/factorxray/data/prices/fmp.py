"""Financial Modeling Prep: dividend-adjusted end-of-day prices (key from ``FMP_API_KEY``).

``GET {base}/stable/historical-price-eod/dividend-adjusted?symbol=SPY&from=..&to=..&apikey=..``
answers a JSON list (newest first) of ``{symbol, date, adjOpen, adjHigh, adjLow, adjClose,
volume}``. An unknown symbol answers an empty list; a bad key 401/403 with an
``"Error Message"``; a plan limit may answer 200 with ``{"Error Message": ...}``.
"""

from __future__ import annotations

import os
from datetime import date

import pandas as pd

from factorxray.data.prices.base import (
    PriceRequest,
    closes_from_rows,
    json_error_field,
    load_json,
    resolve_base_url,
)
from factorxray.errors import PASS_OFFLINE, USE_YAHOO, DataSourceError, UsageError

DEFAULT_BASE_URL = "https://financialmodelingprep.com"
ENV_URL = "FACTORXRAY_FMP_URL"
ENV_KEY = "FMP_API_KEY"


def missing_key_error(source: str, env_key: str, signup: str) -> UsageError:
    """The error for a provider whose key is not set: names the variable to set."""
    return UsageError(
        f"the {source} price source needs an API key: set the environment variable {env_key} "
        f"(free key at {signup}), or {USE_YAHOO.python}, or {PASS_OFFLINE.python} to read only "
        "the cache"
    )


class FmpProvider:
    """Daily dividend-adjusted closes from Financial Modeling Prep.

    Parameters
    ----------
    api_key : str, optional
        Default ``$FMP_API_KEY``. Sent as the ``apikey`` query parameter, which the HTTP
        client redacts from every message and the cache never stores.
    base_url : str, optional
        Default ``$FACTORXRAY_FMP_URL``, else ``https://financialmodelingprep.com``.

    Raises
    ------
    UsageError
        No key given and ``FMP_API_KEY`` unset.
    """

    name = "fmp"

    def __init__(self, api_key: str | None = None, base_url: str | None = None) -> None:
        self.api_key = api_key or os.environ.get(ENV_KEY) or ""
        if not self.api_key:
            raise missing_key_error("fmp", ENV_KEY, "https://site.financialmodelingprep.com")
        self.secrets: tuple[str, ...] = (self.api_key,)
        self.env_key = ENV_KEY
        self.base_url = resolve_base_url(base_url, ENV_URL, DEFAULT_BASE_URL)

    def request(self, ticker: str, start: date, end: date) -> PriceRequest:
        """The dividend-adjusted EOD request for ``ticker`` from ``start`` to ``end``."""
        params = {
            "symbol": ticker,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "apikey": self.api_key,
        }
        url = f"{self.base_url}/stable/historical-price-eod/dividend-adjusted"
        return PriceRequest(url, params, {})

    def parse(self, ticker: str, content: bytes) -> pd.Series:
        """Adjusted closes from FMP's JSON list."""
        what = f"FMP answer for {ticker}"
        payload = load_json(content, what=what)
        if isinstance(payload, dict):
            message = payload.get("Error Message") or payload.get("error") or payload
            raise DataSourceError(f"FMP: {message}")
        return closes_from_rows(payload, what=what)

    def describe_error(self, ticker: str, status: int, body: bytes) -> str | None:
        """FMP's ``Error Message`` from an error answer, if any."""
        message = json_error_field(body, "Error Message")
        return f"FMP: HTTP {status}: {message}" if message else None


__all__ = ["DEFAULT_BASE_URL", "ENV_KEY", "ENV_URL", "FmpProvider", "missing_key_error"]
