"""The one HTTP client of factorxray.

A thin wrapper over :class:`httpx.Client` that adds what every data source needs: timeouts
per read and a deadline for the whole request, retries with exponential backoff on 429 and
5xx (honouring ``Retry-After`` up to a cap, and within a total budget of waiting), a cap on
the size of each response and a memory budget shared by every response read at once
(counted after decompression), one-line errors, and redaction of API keys from every URL
it ever shows.

Waiting before a retry is announced: each wait calls ``on_wait(line, seconds)`` when the
client has one, else logs ``line`` on the ``factorxray.http`` logger (level WARNING for waits
of a second or more, which Python prints on stderr when nobody configured logging).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from factorxray import __version__
from factorxray.errors import DataSourceError, HttpStatusError, UnreachableError

if TYPE_CHECKING:
    import ssl

    import httpx

#: Query parameters whose values are secrets and never shown.
SECRET_PARAMS = frozenset({"apikey", "api_key", "apitoken", "api_token", "token", "key"})
#: Status codes worth retrying.
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
USER_AGENT = f"factorxray/{__version__} (+https://github.com/factorxray/factorxray)"
#: The largest body of one response, after decompression.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
#: The most bytes all responses being read at once by one client may hold (after
#: decompression, and counting the final copy of each body).
DEFAULT_MEMORY_BUDGET = 512 * 1024 * 1024
#: Seconds one :meth:`HttpClient.get` may take, every attempt and wait included.
DEFAULT_DEADLINE = 300.0
#: The longest single wait before a retry; a server asking for more is not waited for.
DEFAULT_MAX_WAIT = 30.0
#: Seconds of waiting for retries one client may spend in all (summed over its requests).
DEFAULT_MAX_TOTAL_WAIT = 60.0
#: Bytes kept of an error answer's body (for the provider's own error message).
ERROR_BODY_BYTES = 64 * 1024
#: Decompressed bytes produced at a time, so a compressed bomb is caught at the cap.
_PIECE_BYTES = 1024 * 1024

ProgressCallback = Callable[[int, int | None], None]
#: ``on_wait(line, seconds)``: called before each wait for a retry.
WaitCallback = Callable[[str, float], None]

logger = logging.getLogger("factorxray.http")


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


class ByteBudget:
    """A count of bytes held by responses being read, with a limit; safe across threads.

    One budget is shared by every request of an :class:`HttpClient` (pass the same budget
    to several clients to share it wider). ``peak`` is the most ever held at once.

    Examples
    --------
    >>> budget = ByteBudget(100)
    >>> budget.take(60), budget.take(60), budget.used
    (True, False, 60)
    >>> budget.give(60); budget.used, budget.peak
    (0, 60)
    """

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.used = 0
        self.peak = 0
        self._lock = threading.Lock()

    def take(self, n_bytes: int) -> bool:
        """Reserve ``n_bytes``; False (nothing reserved) when that would pass the limit."""
        with self._lock:
            if self.used + n_bytes > self.limit:
                return False
            self.used += n_bytes
            self.peak = max(self.peak, self.used)
            return True

    def give(self, n_bytes: int) -> None:
        """Release bytes reserved with :meth:`take`."""
        with self._lock:
            self.used -= n_bytes


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw is not None else default
    except ValueError:
        return default


def _setting(value: float | None, env: str, default: float) -> float:
    """An argument, else the environment variable ``env``, else ``default``."""
    return float(value) if value is not None else _env_float(env, default)


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


class _DeadlineExceeded(Exception):
    """The whole request ran out of time."""


#: The deadline (``time.monotonic()`` value) of the request this thread is making, if any.
_current = threading.local()


def _bounded(timeout: float | None) -> tuple[float | None, bool]:
    """``timeout`` cut to what is left of this thread's request deadline.

    Returns the timeout to use and whether the deadline (not ``timeout``) set it; raises
    :class:`_DeadlineExceeded` when nothing is left.
    """
    deadline_at: float | None = getattr(_current, "deadline_at", None)
    if deadline_at is None:  # I/O outside a request (none is made today)
        return timeout, False
    left = deadline_at - time.monotonic()
    if left <= 0:
        raise _DeadlineExceeded
    if timeout is None or left < timeout:
        return left, True
    return timeout, False


def _timed_out_by_deadline(exc: BaseException, by_deadline: bool) -> bool:
    """True when ``exc`` is httpcore's timeout of an operation the deadline cut short."""
    import httpcore  # loaded by httpx's transport already; kept out of this module's import

    return by_deadline and isinstance(exc, httpcore.TimeoutException)


class _DeadlineStream:
    """A socket stream whose every read, write and TLS handshake ends by the deadline.

    The per-read timeout alone cannot stop a server that sends a byte just often enough,
    in the headers or the body, on a new or a kept-alive connection: each operation here
    waits at most what is left of the deadline of the request the calling thread is
    making (a pooled connection serves whichever request takes it, so the deadline is
    looked up per call, not stored with the connection). Implements httpcore's
    ``NetworkStream`` interface around the stream of its sync backend.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limit, by_deadline = _bounded(timeout)
        try:
            return self._stream.read(max_bytes, limit)  # type: ignore[no-any-return]
        except Exception as exc:
            if _timed_out_by_deadline(exc, by_deadline):
                raise _DeadlineExceeded from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        limit, by_deadline = _bounded(timeout)
        try:
            self._stream.write(buffer, limit)
        except Exception as exc:
            if _timed_out_by_deadline(exc, by_deadline):
                raise _DeadlineExceeded from None
            raise

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> _DeadlineStream:
        limit, by_deadline = _bounded(timeout)
        try:
            return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, limit))
        except Exception as exc:
            if _timed_out_by_deadline(exc, by_deadline):
                raise _DeadlineExceeded from None
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend:
    """Opens connections whose connect and every later I/O end by the request's deadline.

    Implements httpcore's ``NetworkBackend`` interface around its sync backend. (The name
    lookup before a connect is the system resolver's and is not cut short.)
    """

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> _DeadlineStream:
        limit, by_deadline = _bounded(timeout)
        try:
            stream = self._backend.connect_tcp(
                host, port, limit, local_address=local_address, socket_options=socket_options
            )
        except Exception as exc:
            if _timed_out_by_deadline(exc, by_deadline):
                raise _DeadlineExceeded from None
            raise
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> _DeadlineStream:  # pragma: no cover - factorxray never uses unix sockets
        limit, _ = _bounded(timeout)
        return _DeadlineStream(
            self._backend.connect_unix_socket(path, limit, socket_options=socket_options)
        )

    def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore's own retries only
        self._backend.sleep(seconds)


def _deadline_transport(max_connections: int) -> httpx.HTTPTransport:
    """httpx's transport with every connection opened by :class:`_DeadlineBackend`."""
    import httpcore
    import httpx

    transport = httpx.HTTPTransport(
        limits=httpx.Limits(max_connections=max_connections), trust_env=False
    )
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(pool, httpcore.ConnectionPool) or backend is None:  # pragma: no cover
        raise RuntimeError(
            "this httpx/httpcore version does not expose its connection pool; factorxray "
            "needs httpx 0.28 / httpcore 1.0 to bound every request by its deadline"
        )
    pool._network_backend = _DeadlineBackend(backend)
    return transport


class _BodyDecoder:
    """Undo a ``Content-Encoding`` (gzip, deflate or none) in pieces of at most 1 MB.

    httpx would inflate a whole network chunk at once (64 KB of a gzip bomb is 64 MB);
    decoding here, piece by piece, lets the size cap and the memory budget stop it early.
    """

    def __init__(self, encoding: str, what: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        self.what = what
        self.name = codings[0] if codings else "identity"
        if not codings:
            self._wbits: int | None = None
        elif codings in (["gzip"], ["x-gzip"]):
            self._wbits = 16 + zlib.MAX_WBITS
        elif codings == ["deflate"]:
            self._wbits = zlib.MAX_WBITS
        else:
            raise DataSourceError(
                f"{what} uses Content-Encoding {', '.join(codings)[:40]}, which factorxray "
                "does not read (it asks for gzip or deflate)"
            )
        self._inflater = zlib.decompressobj(self._wbits) if self._wbits is not None else None
        self._started = False

    @property
    def identity(self) -> bool:
        return self._inflater is None

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._inflater is None:
            if data:
                yield data
            return
        while data:
            try:
                out = self._inflater.decompress(data, _PIECE_BYTES)
            except zlib.error:
                if self._wbits == zlib.MAX_WBITS and not self._started:
                    # "deflate" sent as a raw deflate stream, without the zlib header
                    self._wbits = -zlib.MAX_WBITS
                    self._inflater = zlib.decompressobj(self._wbits)
                    continue
                raise DataSourceError(f"{self.what} has a corrupt {self.name} body") from None
            self._started = True
            if out:
                yield out
            if self._inflater.eof:
                rest = self._inflater.unused_data
                if rest and self._wbits == 16 + zlib.MAX_WBITS:
                    self._inflater = zlib.decompressobj(self._wbits)  # another gzip member
                    data = rest
                    continue
                return
            data = self._inflater.unconsumed_tail

    def flush(self) -> Iterator[bytes]:
        if self._inflater is None:
            return
        try:
            out = self._inflater.flush()
        except zlib.error:
            raise DataSourceError(f"{self.what} has a corrupt {self.name} body") from None
        if out:
            yield out


class HttpClient:
    """HTTP GET with timeouts, a deadline, bounded retries, size caps and one-line errors.

    Parameters
    ----------
    timeout : float
        Seconds for connect and for each read (env ``FACTORXRAY_HTTP_TIMEOUT``).
    retries : int
        Extra attempts after a 429, a 5xx, a timeout or a dropped connection
        (env ``FACTORXRAY_HTTP_RETRIES``). A connection refused, a host name that does not
        resolve or no route to the host is not retried (:class:`UnreachableError` at once).
    backoff : float
        First wait in seconds, doubled at each retry unless the server sends ``Retry-After``
        (env ``FACTORXRAY_HTTP_BACKOFF``).
    max_wait : float
        The longest single wait (env ``FACTORXRAY_HTTP_MAX_WAIT``, default 30 s). A server
        whose ``Retry-After`` asks for more is not waited for: the request fails at once,
        saying how long the server asked to wait.
    max_total_wait : float
        Seconds this client may spend waiting for retries in all, summed over every request
        (env ``FACTORXRAY_HTTP_MAX_TOTAL_WAIT``, default 60 s); past it, requests that would
        wait fail instead.
    deadline : float
        Seconds one :meth:`get` may take from start to end, every attempt and wait included
        (env ``FACTORXRAY_HTTP_DEADLINE``, default 300 s): every connect, write, TLS
        handshake and read waits at most what is left of it, so a server dripping its
        headers or body byte by byte, on a new or a kept-alive connection, is cut off then,
        whatever the per-read timeout.
    max_bytes : int
        Responses larger than this (after decompression) are refused.
    memory_budget : int or ByteBudget
        Bytes that all responses being read at once may hold (after decompression,
        default 512 MB): a response that would pass it fails. Give a :class:`ByteBudget`
        to share one budget between clients.
    secrets : iterable of str
        Values (API keys) to blank out of every error message.
    on_wait : callable, optional
        ``on_wait(line, seconds)`` before each wait for a retry; default: log ``line`` on the
        ``factorxray.http`` logger.
    """

    def __init__(
        self,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        max_wait: float | None = None,
        max_total_wait: float | None = None,
        deadline: float | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        memory_budget: int | ByteBudget = DEFAULT_MEMORY_BUDGET,
        secrets: Iterable[str | None] = (),
        max_connections: int = 16,
        on_wait: WaitCallback | None = None,
    ) -> None:
        self.timeout = _setting(timeout, "FACTORXRAY_HTTP_TIMEOUT", 30.0)
        self.retries = max(0, int(_setting(retries, "FACTORXRAY_HTTP_RETRIES", 3)))
        self.backoff = _setting(backoff, "FACTORXRAY_HTTP_BACKOFF", 0.5)
        self.max_wait = _setting(max_wait, "FACTORXRAY_HTTP_MAX_WAIT", DEFAULT_MAX_WAIT)
        self.max_total_wait = _setting(
            max_total_wait, "FACTORXRAY_HTTP_MAX_TOTAL_WAIT", DEFAULT_MAX_TOTAL_WAIT
        )
        self.deadline = _setting(deadline, "FACTORXRAY_HTTP_DEADLINE", DEFAULT_DEADLINE)
        self.max_bytes = max_bytes
        self.budget = (
            memory_budget if isinstance(memory_budget, ByteBudget) else ByteBudget(memory_budget)
        )
        self.secrets = [s for s in secrets if s]
        self.on_wait = on_wait
        self.waited = 0.0
        self._wait_lock = threading.Lock()
        self._max_connections = max_connections
        self._pool: httpx.Client | None = None
        self._pool_lock = threading.Lock()

    @property
    def _client(self) -> httpx.Client:
        """The httpx client, made on the first request: a run that downloads nothing (offline,
        everything cached) never imports httpx nor sets up TLS (about 0.15 s)."""
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    import httpx

                    self._pool = httpx.Client(
                        timeout=httpx.Timeout(self.timeout),
                        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
                        follow_redirects=True,
                        transport=_deadline_transport(self._max_connections),
                        trust_env=False,
                    )
        return self._pool

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (if a request made one)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

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
        max_bytes: int | None = None,
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
            Called as ``on_progress(bytes_so_far, total_or_None)`` while the body arrives
            (bytes on the wire, and the ``Content-Length`` when the server sent one).
        what : str
            What is being fetched, for error messages (e.g. ``"dataset F-F_Research_Data_Factors"``).
        max_bytes : int, optional
            A smaller size cap for this response than the client's.

        Returns
        -------
        HttpResponse
            Status 200 or 304 (other 2xx are returned as well).

        Raises
        ------
        HttpStatusError
            On 4xx, and on 5xx/429 after the retries or when the server asks to wait longer
            than ``max_wait`` (with ``status_code`` and ``body``).
        UnreachableError
            At once, without retrying: connection refused, host name not found, no route.
        DataSourceError
            On timeouts and dropped connections after the retries, past the deadline, and on
            bodies over the size cap or the memory budget.
        """
        import httpx  # here, not at module level: runs that download nothing never load it

        request_url = str(httpx.URL(url, params=params)) if params else url
        shown = self._safe(request_url)
        prefix = f"{what}: " if what else ""
        cap = self.max_bytes if max_bytes is None else min(max_bytes, self.max_bytes)
        deadline_at = time.monotonic() + self.deadline
        attempt = 0
        while True:
            try:
                response = self._get_once(
                    request_url, headers, on_progress, shown, prefix, deadline_at, cap
                )
            except _DeadlineExceeded:
                raise self._deadline_error(prefix, shown, attempt) from None
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if time.monotonic() >= deadline_at - 0.01:
                    raise self._deadline_error(prefix, shown, attempt) from None
                unreachable = _unreachable_reason(exc)
                if unreachable is not None:  # no network or a wrong address: retrying won't help
                    raise UnreachableError(
                        f"{prefix}cannot reach {_host(request_url)}: {unreachable} ({shown}); "
                        "check your network connection"
                    ) from None
                reason = _transport_reason(exc)
                refused = self._wait(attempt, None, f"{reason} for {shown}", prefix, deadline_at)
                if refused is not None:
                    raise DataSourceError(
                        f"{prefix}{reason} for {shown} after {attempt + 1} attempt(s){refused}; "
                        "check the address and your connection, or retry later"
                    ) from None
                attempt += 1
                continue
            if response.status_code in RETRY_STATUS:
                reason = f"{_status_reason(response.status_code)} from {shown}"
                refused = self._wait(
                    attempt, response.headers.get("retry-after"), reason, prefix, deadline_at
                )
                if refused is None:
                    attempt += 1
                    continue
                tries = f" after {attempt + 1} attempts" if attempt and not refused else ""
                raise HttpStatusError(
                    f"{prefix}{reason}{tries}{refused}",
                    status_code=response.status_code,
                    url=shown,
                    body=response.content,
                )
            if response.status_code >= 400:
                raise HttpStatusError(
                    f"{prefix}{_status_reason(response.status_code)} from {shown}",
                    status_code=response.status_code,
                    url=shown,
                    body=response.content,
                )
            return response

    def _deadline_error(self, prefix: str, shown: str, attempt: int) -> DataSourceError:
        return DataSourceError(
            f"{prefix}{shown} did not finish within {self.deadline:g} s "
            f"({attempt + 1} attempt(s); the limit is FACTORXRAY_HTTP_DEADLINE): the server "
            "is too slow or stalled, retry later"
        )

    def _wait(
        self, attempt: int, retry_after: str | None, reason: str, prefix: str, deadline_at: float
    ) -> str | None:
        """Wait before retry ``attempt + 1``; or, when it should not, say why (one clause).

        Returns None after waiting, else the clause to add to the error.
        """
        if attempt >= self.retries:
            return ""
        asked = _retry_after_seconds(retry_after)
        if asked is not None and asked > self.max_wait:
            return (
                f"; the server asks to wait {asked:g} s before retrying, longer than factorxray "
                f"waits ({self.max_wait:g} s, FACTORXRAY_HTTP_MAX_WAIT), so it did not: retry later"
            )
        wait = min(asked if asked is not None else self.backoff * (2**attempt), self.max_wait)
        if time.monotonic() + wait >= deadline_at:
            return (
                f"; waiting {wait:g} s more would pass the {self.deadline:g} s deadline "
                "(FACTORXRAY_HTTP_DEADLINE): retry later"
            )
        with self._wait_lock:
            if self.waited + wait > self.max_total_wait:
                return (
                    f"; factorxray already waited {self.waited:.0f} s for retries in this run "
                    f"(limit {self.max_total_wait:g} s, FACTORXRAY_HTTP_MAX_TOTAL_WAIT): retry later"
                )
            self.waited += wait
        why = f"the server asked for {asked:g} s" if asked is not None else "backoff"
        line = (
            f"{prefix}{reason}; waiting {wait:.3g} s ({why}) before retry {attempt + 1} "
            f"of {self.retries}"
        )
        if self.on_wait is not None:
            self.on_wait(line, wait)
        else:
            logger.log(logging.WARNING if wait >= 1 else logging.INFO, "%s", line)
        time.sleep(wait)
        return None

    def _get_once(
        self,
        url: str,
        headers: Mapping[str, str] | None,
        on_progress: ProgressCallback | None,
        shown: str,
        prefix: str,
        deadline_at: float,
        cap: int,
    ) -> HttpResponse:
        import httpx

        remaining = deadline_at - time.monotonic()
        if remaining <= 0:
            raise _DeadlineExceeded
        held = 0
        body: list[bytes] = []  # pieces, joined once: no reallocation copies
        outer = getattr(_current, "deadline_at", None)
        _current.deadline_at = deadline_at  # bounds every socket operation of this thread
        try:
            with self._client.stream(
                "GET",
                url,
                headers=dict(headers or {}),
                # the pool wait, then connect and each read: never past the deadline
                timeout=httpx.Timeout(max(0.001, min(self.timeout, remaining))),
            ) as stream:
                ok = stream.status_code < 300
                limit = cap if ok else ERROR_BODY_BYTES
                what = f"{prefix}response from {shown}"
                decoder = _BodyDecoder(stream.headers.get("content-encoding", ""), what)
                total = _content_length(stream.headers)
                if ok and decoder.identity and total is not None and total > limit:
                    raise DataSourceError(
                        f"{prefix}response of {total} bytes from {shown} exceeds the "
                        f"{limit}-byte limit"
                    )
                size = 0
                received = 0
                full = False
                pieces = _pieces(stream.iter_raw(), decoder)
                for raw_size, piece in pieces:
                    if time.monotonic() > deadline_at:
                        raise _DeadlineExceeded
                    received += raw_size
                    if size + len(piece) > limit:
                        if not ok:
                            body.append(piece[: limit - size])
                            full = True
                            break
                        unpacked = "" if decoder.identity else f" once {decoder.name}-decoded"
                        raise DataSourceError(
                            f"{what} exceeds the {limit}-byte limit{unpacked}; refusing it"
                        )
                    if not self.budget.take(len(piece)):
                        raise self._budget_error(what)
                    held += len(piece)
                    body.append(piece)
                    size += len(piece)
                    if on_progress is not None and ok and raw_size:
                        on_progress(received, total)
                if not full and total is not None and received < total:
                    raise httpx.RemoteProtocolError(f"body ended after {received} of {total} bytes")
                if len(body) > 1 and not self.budget.take(size):  # the joined copy
                    raise self._budget_error(what)
                held += size if len(body) > 1 else 0
                return HttpResponse(
                    url=str(stream.url),
                    status_code=stream.status_code,
                    headers={k.lower(): v for k, v in stream.headers.items()},
                    content=b"".join(body),
                )
        finally:
            _current.deadline_at = outer
            body.clear()  # an error's traceback keeps this frame: let the pieces go now
            self.budget.give(held)

    def _budget_error(self, what: str) -> DataSourceError:
        return DataSourceError(
            f"{what} does not fit in the {self.budget.limit}-byte memory budget of the "
            f"downloads in progress ({self.budget.used} bytes held); refusing it"
        )


def _pieces(raw_chunks: Iterable[bytes], decoder: _BodyDecoder) -> Iterator[tuple[int, bytes]]:
    """``(raw bytes consumed, decoded piece)`` pairs; the raw size is counted on a chunk's first piece."""
    for raw in raw_chunks:
        size = len(raw)
        produced = False
        for piece in decoder.feed(raw):
            yield size, piece
            size = 0
            produced = True
        if not produced:
            yield size, b""
    for piece in decoder.flush():
        yield 0, piece


def _content_length(headers: httpx.Headers) -> int | None:
    """The ``Content-Length``: bytes on the wire (before any ``Content-Encoding`` is undone)."""
    raw = headers.get("content-length")
    if raw is None:
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


def _host(url: str) -> str:
    """``host`` or ``host:port`` (when the URL names a port) of ``url``."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.hostname}:{port}" if port else str(parts.hostname)


#: ``errno`` values of a connect that fails for want of a network (no route anywhere).
_NO_ROUTE = {errno.ENETUNREACH: "network unreachable", errno.EHOSTUNREACH: "no route to host"}


def _unreachable_reason(exc: Exception) -> str | None:
    """Why a connection could not be opened at all, when retrying would not help; else None.

    A refused connection, a host name that does not resolve and a network with no route
    are answers, not hiccups: they come back at once on every try. Timeouts, resets and
    dropped connections (transient) give None.
    """
    import httpx

    if not isinstance(exc, httpx.ConnectError):
        return None
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 8:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, OSError) and cause.errno in _NO_ROUTE:
            return _NO_ROUTE[cause.errno]
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


def _transport_reason(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection dropped mid-response"
    return f"network error ({type(exc).__name__})"
