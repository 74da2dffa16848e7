"""The one HTTP client of factorxray.

A thin wrapper over :class:`httpx.Client` that adds what every data source needs: timeouts,
retries with exponential backoff on 429 and 5xx (honouring ``Retry-After``), a cap on the
response size, one-line errors, and redaction of API keys from every URL it ever shows.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from factorxray import __version__
from factorxray.errors import DataSourceError, HttpStatusError

#: Query parameters whose values are secrets and never shown.
SECRET_PARAMS = frozenset({"apikey", "api_key", "apitoken", "api_token", "token", "key"})
#: Status codes worth retrying.
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
USER_AGENT = f"factorxray/{__version__} (+https://github.com/factorxray/factorxray)"
DEFAULT_MAX_BYTES = 256 * 1024 * 1024

ProgressCallback = Callable[[int, int | None], None]


def redact_url(url: str) -> str:
    """Return ``url`` with the values of secret query parameters replaced by ``***``.

    Parameters
    ----------
    url : str
        Any URL.

    Returns
    -------
    str
        The same URL, safe to print or log.

    Examples
    --------
    >>> redact_url("https://x.test/a?symbol=SPY&apikey=abc123")
    'https://x.test/a?symbol=SPY&apikey=***'
    """
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [
        (name, "***" if name.lower() in SECRET_PARAMS else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe="*")))


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove every secret value (and secret URL parameter) from a message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return re.sub(
        r"(?i)\b(apikey|api_key|apitoken|api_token|token|key)=([^&\s'\"]+)",
        lambda m: f"{m.group(1)}=***",
        text,
    )


@dataclass(frozen=True)
class HttpResponse:
    """A finished response: status, headers and the whole body."""

    url: str
    status_code: int
    headers: Mapping[str, str]
    content: bytes = field(repr=False)

    @property
    def not_modified(self) -> bool:
        """True for a 304 answer to a conditional GET."""
        return self.status_code == 304


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw is not None else default
    except ValueError:
        return default


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """HTTP GET with timeouts, retries, size caps and redacted one-line errors.

    Parameters
    ----------
    timeout : float
        Seconds for connect and for each read (env ``FACTORXRAY_HTTP_TIMEOUT``).
    retries : int
        Extra attempts after a 429, a 5xx, a timeout or a dropped connection
        (env ``FACTORXRAY_HTTP_RETRIES``).
    backoff : float
        First wait in seconds, doubled at each retry unless the server sends ``Retry-After``
        (env ``FACTORXRAY_HTTP_BACKOFF``).
    max_wait : float
        The longest single wait, whatever ``Retry-After`` asks.
    max_bytes : int
        Responses larger than this are refused.
    secrets : iterable of str
        Values (API keys) to blank out of every error message.
    """

    def __init__(
        self,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        max_wait: float = 60.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        secrets: Iterable[str | None] = (),
        max_connections: int = 16,
    ) -> None:
        self.timeout = (
            timeout if timeout is not None else _env_float("FACTORXRAY_HTTP_TIMEOUT", 30.0)
        )
        self.retries = int(
            retries if retries is not None else _env_float("FACTORXRAY_HTTP_RETRIES", 3)
        )
        self.backoff = (
            backoff if backoff is not None else _env_float("FACTORXRAY_HTTP_BACKOFF", 0.5)
        )
        self.max_wait = max_wait
        self.max_bytes = max_bytes
        self.secrets = [s for s in secrets if s]
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=True,
            limits=httpx.Limits(max_connections=max_connections),
            trust_env=False,
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _safe(self, text: str) -> str:
        return redact_text(redact_url(text), self.secrets)

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        on_progress: ProgressCallback | None = None,
        what: str = "",
    ) -> HttpResponse:
        """GET ``url`` and return the whole body, retrying transient failures.

        Parameters
        ----------
        url : str
            The address.
        params : mapping, optional
            Query parameters to add.
        headers : mapping, optional
            Extra request headers (e.g. ``If-None-Match``).
        on_progress : callable, optional
            Called as ``on_progress(bytes_so_far, total_or_None)`` while the body arrives.
        what : str
            What is being fetched, for error messages (e.g. ``"dataset F-F_Research_Data_Factors"``).

        Returns
        -------
        HttpResponse
            Status 200 or 304 (other 2xx are returned as well).

        Raises
        ------
        HttpStatusError
            On 4xx, and on 5xx/429 after the retries (with ``status_code`` and ``body``).
        DataSourceError
            On timeouts and dropped connections after the retries, and on oversized bodies.
        """
        request_url = str(httpx.URL(url, params=params)) if params else url
        shown = self._safe(request_url)
        prefix = f"{what}: " if what else ""
        attempt = 0
        while True:
            try:
                response = self._get_once(request_url, headers, on_progress, shown, prefix)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempt >= self.retries:
                    reason = _transport_reason(exc)
                    raise DataSourceError(
                        f"{prefix}{reason} for {shown} after {attempt + 1} attempt(s); "
                        "check the address and your connection, or retry later"
                    ) from None
                self._sleep(attempt, None)
                attempt += 1
                continue
            if response.status_code in RETRY_STATUS and attempt < self.retries:
                self._sleep(attempt, response.headers.get("retry-after"))
                attempt += 1
                continue
            if response.status_code >= 400:
                raise HttpStatusError(
                    f"{prefix}{_status_reason(response.status_code)} from {shown}",
                    status_code=response.status_code,
                    url=shown,
                    body=response.content,
                )
            return response

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        wait = _retry_after_seconds(retry_after)
        if wait is None:
            wait = self.backoff * (2**attempt)
        time.sleep(min(wait, self.max_wait))

    def _get_once(
        self,
        url: str,
        headers: Mapping[str, str] | None,
        on_progress: ProgressCallback | None,
        shown: str,
        prefix: str,
    ) -> HttpResponse:
        with self._client.stream("GET", url, headers=dict(headers or {})) as stream:
            total = _content_length(stream.headers)
            if total is not None and total > self.max_bytes:
                raise DataSourceError(
                    f"{prefix}response of {total} bytes from {shown} exceeds the "
                    f"{self.max_bytes}-byte limit"
                )
            chunks: list[bytes] = []
            received = 0
            if stream.status_code < 300:
                for chunk in stream.iter_bytes():
                    received += len(chunk)
                    if received > self.max_bytes:
                        raise DataSourceError(
                            f"{prefix}response from {shown} exceeds the {self.max_bytes}-byte limit"
                        )
                    chunks.append(chunk)
                    if on_progress is not None:
                        on_progress(received, total)
            else:
                stream.read()
                chunks.append(stream.content[: 64 * 1024])
            if total is not None and stream.status_code < 300 and received < total:
                raise httpx.RemoteProtocolError(f"body ended after {received} of {total} bytes")
            return HttpResponse(
                url=str(stream.url),
                status_code=stream.status_code,
                headers={k.lower(): v for k, v in stream.headers.items()},
                content=b"".join(chunks),
            )


def _content_length(headers: httpx.Headers) -> int | None:
    raw = headers.get("content-length")
    if raw is None or headers.get("content-encoding"):
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _status_reason(status: int) -> str:
    reasons = {
        401: "HTTP 401 Unauthorized (check your API key)",
        403: "HTTP 403 Forbidden (check your API key and plan)",
        404: "HTTP 404 Not Found",
        429: "HTTP 429 Too Many Requests (rate limited; retry later)",
    }
    if status in reasons:
        return reasons[status]
    if status >= 500:
        return f"HTTP {status} server error (retry later)"
    return f"HTTP {status}"


def _transport_reason(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection dropped mid-response"
    return f"network error ({type(exc).__name__})"
