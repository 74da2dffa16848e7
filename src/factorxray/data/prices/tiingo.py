"""Tiingo: daily prices with ``adjClose`` (key from ``TIINGO_API_KEY``).

``GET {base}/tiingo/daily/{ticker}/prices?startDate=..&endDate=..&format=json`` with the
header ``Authorization: Token KEY`` answers a JSON list (oldest first) of ``{date, close,
high, low, open, volume, adjClose, adjHigh, adjLow, adjOpen, adjVolume, divCash,
splitFactor}``, dates as ``2024-01-02T00:00:00.000Z``; a ``splitFactor`` other than 1 marks
a split (kept as the provider's split event for the sanity checks). Unknown tickers and bad keys answer
404/401 with ``{"detail": ...}``.
"""

from __future__ import annotations

import os
from datetime import date
from urllib.parse import quote

import pandas as pd

from factorxray.data.prices.base import (
    PriceRequest,
    closes_from_rows,
    json_error_field,
    load_json,
    resolve_base_url,
)
from factorxray.data.prices.fmp import missing_key_error
from factorxray.errors import DataSourceError

DEFAULT_BASE_URL = "https://api.tiingo.com"
ENV_URL = "FACTORXRAY_TIINGO_URL"
ENV_KEY = "TIINGO_API_KEY"


class TiingoProvider:
    """Daily adjusted closes from Tiingo's end-of-day API.

    Parameters
    ----------
    api_key : str, optional
        Default ``$TIINGO_API_KEY``; sent in the ``Authorization`` header only.
    base_url : str, optional
        Default ``$FACTORXRAY_TIINGO_URL``, else ``https://api.tiingo.com``.

    Raises
    ------
    UsageError
        No key given and ``TIINGO_API_KEY`` unset.
    """

    name = "tiingo"

    def __init__(self, api_key: str | None = None, base_url: str | None = None) -> None:
        self.api_key = api_key or os.environ.get(ENV_KEY) or ""
        if not self.api_key:
            raise missing_key_error("tiingo", ENV_KEY, "https://www.tiingo.com")
        self.secrets: tuple[str, ...] = (self.api_key,)
        self.env_key = ENV_KEY
        self.base_url = resolve_base_url(base_url, ENV_URL, DEFAULT_BASE_URL)

    def request(self, ticker: str, start: date, end: date) -> PriceRequest:
        """The daily-prices request for ``ticker`` from ``start`` to ``end``."""
        params = {"startDate": start.isoformat(), "endDate": end.isoformat(), "format": "json"}
        url = f"{self.base_url}/tiingo/daily/{quote(ticker.lower(), safe='.-')}/prices"
        return PriceRequest(url, params, {"Authorization": f"Token {self.api_key}"})

    def parse(self, ticker: str, content: bytes) -> pd.Series:
        """Adjusted closes from Tiingo's JSON list."""
        what = f"Tiingo answer for {ticker}"
        payload = load_json(content, what=what)
        if isinstance(payload, dict):
            raise DataSourceError(f"Tiingo: {payload.get('detail') or payload}")
        return closes_from_rows(payload, what=what, split_field="splitFactor")

    def describe_error(self, ticker: str, status: int, body: bytes) -> str | None:
        """Tiingo's ``detail`` from an error answer, if any."""
        message = json_error_field(body, "detail")
        return f"Tiingo: HTTP {status}: {message}" if message else None


__all__ = ["DEFAULT_BASE_URL", "ENV_KEY", "ENV_URL", "TiingoProvider"]
