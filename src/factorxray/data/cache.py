"""On-disk cache of downloaded bytes, safe under crashes and concurrent processes.

Each entry is two files in a namespace folder: ``<key>.data`` (the raw bytes as downloaded)
and ``<key>.meta.json`` (URL, fetched-at, ETag/Last-Modified, sha256, size, and whatever the
source adds, e.g. the Ken French vintage). Both are written to a temporary file in the same
folder and moved into place with :func:`os.replace`, so a reader never sees half a file. The
metadata carries the sha256 of the data: an entry whose data does not match (two writers
interleaved, or a crash between the two renames) is treated as absent, never returned.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

from factorxray._atomic import atomic_write_bytes
from factorxray.data.http import HttpClient, ProgressCallback, redact_url
from factorxray.errors import CacheError, DataSourceError, NotCachedError, UsageError, with_message

DEFAULT_TTL_SECONDS = 7 * 24 * 3600
_SAFE_KEY = re.compile(r"[^A-Za-z0-9._=-]+")


def default_cache_dir() -> Path:
    """The cache folder: ``$FACTORXRAY_CACHE_DIR`` or platformdirs' user cache dir."""
    env = os.environ.get("FACTORXRAY_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("factorxray", appauthor=False))


def _safe_name(part: str) -> str:
    cleaned = _SAFE_KEY.sub("_", part).strip("._")
    if not cleaned:
        raise UsageError(f"cache key {part!r} is empty once cleaned; use letters and digits")
    return cleaned


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class CacheEntry:
    """One cached item: its bytes and metadata."""

    namespace: str
    key: str
    data: bytes = field(repr=False)
    meta: dict[str, Any]

    @property
    def fetched_at(self) -> datetime:
        """When the bytes were last confirmed current with the server (UTC)."""
        return datetime.fromisoformat(self.meta["fetched_at"])

    def age_seconds(self) -> float:
        """Seconds since ``fetched_at``."""
        return time.time() - self.fetched_at.timestamp()

    def is_fresh(self, ttl_seconds: float) -> bool:
        """True while the entry is younger than ``ttl_seconds``."""
        return self.age_seconds() < ttl_seconds


class Cache:
    """A folder of cached downloads, grouped by namespace (``kenfrench``, ``prices-yahoo``...).

    Parameters
    ----------
    root : path, optional
        The cache folder; default :func:`default_cache_dir`.
    ttl_seconds : float
        Age after which an entry is stale and re-validated with the server (default 7 days).

    Examples
    --------
    >>> import tempfile
    >>> cache = Cache(tempfile.mkdtemp())
    >>> _ = cache.put("demo", "hello.txt", b"hi", {"url": "https://example.test/hello.txt"})
    >>> cache.get("demo", "hello.txt").data
    b'hi'
    """

    def __init__(
        self, root: str | os.PathLike[str] | None = None, ttl_seconds: float | None = None
    ):
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.ttl_seconds = DEFAULT_TTL_SECONDS if ttl_seconds is None else float(ttl_seconds)

    def _paths(self, namespace: str, key: str) -> tuple[Path, Path]:
        folder = self.root / _safe_name(namespace)
        name = _safe_name(key)
        return folder / f"{name}.data", folder / f"{name}.meta.json"

    def get(self, namespace: str, key: str) -> CacheEntry | None:
        """Return the entry, or None when absent, unreadable or not matching its checksum."""
        data_path, meta_path = self._paths(namespace, key)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            data = data_path.read_bytes()
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("sha256") != hashlib.sha256(data).hexdigest():
            return None
        return CacheEntry(namespace, key, data, meta)

    def put(self, namespace: str, key: str, data: bytes, meta: dict[str, Any]) -> CacheEntry:
        """Store ``data`` with ``meta`` atomically; adds sha256, size and fetched-at."""
        full_meta = dict(meta)
        full_meta.update(
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            fetched_at=full_meta.get("fetched_at") or _now_iso(),
            namespace=namespace,
            key=key,
        )
        data_path, meta_path = self._paths(namespace, key)
        try:
            atomic_write_bytes(data_path, data)
            atomic_write_bytes(meta_path, json.dumps(full_meta, indent=2, sort_keys=True).encode())
        except OSError as exc:
            raise CacheError(
                f"cannot write to the cache folder {self.root} ({exc.strerror or exc}); "
                "choose another with --cache-dir or FACTORXRAY_CACHE_DIR"
            ) from None
        return CacheEntry(namespace, key, data, full_meta)

    def touch(self, entry: CacheEntry, **updates: Any) -> CacheEntry:
        """Mark an entry as confirmed current now (after a 304), updating its metadata."""
        meta = dict(entry.meta)
        meta.update(updates)
        meta["fetched_at"] = _now_iso()
        _, meta_path = self._paths(entry.namespace, entry.key)
        try:
            atomic_write_bytes(meta_path, json.dumps(meta, indent=2, sort_keys=True).encode())
        except OSError:
            return entry  # could not record the revalidation; the entry itself is still good
        return CacheEntry(entry.namespace, entry.key, entry.data, meta)

    def entries(self) -> Iterator[CacheEntry]:
        """Every valid entry, namespace by namespace."""
        if not self.root.is_dir():
            return
        for meta_path in sorted(self.root.glob("*/*.meta.json")):
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            entry = self.get(meta.get("namespace", meta_path.parent.name), meta.get("key", ""))
            if entry is not None:
                yield entry

    def size_bytes(self) -> int:
        """Total bytes on disk under the cache folder."""
        if not self.root.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def clear(self, namespace: str | None = None) -> int:
        """Delete every entry (or one namespace's); return the number of files removed.

        Only files the cache wrote (``*.data``, ``*.meta.json`` and leftover temporary files)
        are deleted, so pointing ``--cache-dir`` at a wrong folder cannot wipe it.
        """
        folders = (
            [self.root / _safe_name(namespace)]
            if namespace
            else [p for p in self.root.glob("*") if p.is_dir()]
        )
        removed = 0
        for folder in folders:
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.is_file() and (
                    path.name.endswith((".data", ".meta.json")) or path.name.endswith(".tmp")
                ):
                    path.unlink()
                    removed += 1
            with contextlib.suppress(OSError):
                folder.rmdir()
        return removed


def kept_copy_error(exc: DataSourceError, kept: CacheEntry) -> DataSourceError:
    """``exc``, saying that the good cached copy ``kept`` stays and how to use it."""
    fetched = kept.meta.get("fetched_at", "?")
    return with_message(
        exc, f"{exc} (a cached copy from {fetched} is kept; add --offline to use it)"
    )


def cached_get(
    cache: Cache,
    client: HttpClient,
    *,
    namespace: str,
    key: str,
    url: str,
    what: str,
    validate: Callable[[bytes], dict[str, Any]] | None = None,
    refresh: bool = False,
    offline: bool = False,
    on_progress: ProgressCallback | None = None,
) -> CacheEntry:
    """Return the bytes behind ``url``, from the cache when fresh, else from the server.

    Parameters
    ----------
    cache, client : Cache, HttpClient
        Where to look first, and how to download.
    namespace, key : str
        The cache slot.
    url : str
        The address (its redacted form is stored in the metadata).
    what : str
        What this is, for error messages (e.g. ``"dataset F-F_Momentum_Factor"``).
    validate : callable, optional
        Called on freshly downloaded bytes before they are stored; it raises if they are bad
        (so a bad download never replaces a good cached copy) and returns extra metadata.
    refresh : bool
        Download in full even when the cached copy is fresh.
    offline : bool
        Never touch the network: return the cached copy (however old) or raise.
    on_progress : callable, optional
        Passed to :meth:`HttpClient.get`.

    Raises
    ------
    NotCachedError
        ``offline`` and nothing cached.
    DataSourceError
        The download or the validation failed; the cache keeps its last good copy.
    """
    cached = cache.get(namespace, key)
    if offline:
        if cached is None:
            raise NotCachedError(
                f"{what} is not in the cache ({cache.root}); run once without --offline to download it"
            )
        return cached
    if cached is not None and not refresh and cached.is_fresh(cache.ttl_seconds):
        return cached
    headers: dict[str, str] = {}
    if cached is not None and not refresh:
        if cached.meta.get("etag"):
            headers["If-None-Match"] = cached.meta["etag"]
        if cached.meta.get("last_modified"):
            headers["If-Modified-Since"] = cached.meta["last_modified"]
    try:
        response = client.get(url, headers=headers, on_progress=on_progress, what=what)
    except DataSourceError as exc:
        if cached is not None:
            raise kept_copy_error(exc, cached) from None
        raise
    if response.not_modified and cached is not None:
        return cache.touch(cached)
    extra = validate(response.content) if validate is not None else {}
    meta = {
        "url": redact_url(url),
        "etag": response.headers.get("etag"),
        "last_modified": response.headers.get("last-modified"),
        **(extra or {}),
    }
    return cache.put(namespace, key, response.content, meta)
