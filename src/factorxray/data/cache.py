"""On-disk cache of downloaded bytes, safe under crashes and concurrent processes.

Each entry is two files in a namespace folder: ``<name>.data`` (the raw bytes as
downloaded) and ``<name>.meta.json`` (URL, fetched-at, ETag/Last-Modified, sha256, size, the
namespace and key, and whatever the source adds, e.g. the Ken French vintage). ``<name>``
is the key itself when it is a plain file name (``SPY``, ``F-F_Momentum_Factor_CSV.zip``),
else an escaped form (``^GSPC`` -> ``~5EGSPC``): the mapping is injective, so two keys never
share a file (:func:`entry_stem`). Both files are written to a temporary file in the same
folder and moved into place with :func:`os.replace`, so a reader never sees half a file.

Reading checks the entry before returning it: the metadata must name the namespace and key
asked for, and carry the sha256 of the data. An entry that fails (two writers interleaved,
a crash between the two renames, a disk error, a file edited by hand) is treated as absent
and a warning is logged on the ``factorxray.cache`` logger: never wrong data, never silence.

A namespace may have a derived twin, ``<namespace>-parsed`` (:func:`derived_namespace`),
holding forms computed from its entries (the parsed Ken French files): their metadata name
the entry they come from (``derived_from``) and its sha256, they are listed under that
namespace, and clearing a namespace clears its twin too.

The cache folder holds a ``CACHEDIR.TAG`` marker (the `cache directory tag
<https://bford.info/cachedir/>`_ convention, naming factorxray) written when the cache
creates the folder. :meth:`Cache.clear` removes only entries whose metadata it can read and
only in a folder it can prove is a cache: marked, or holding nothing but valid entries (a
cache made before the marker existed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
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
from factorxray.errors import (
    CACHE_FOLDER,
    CHECK_CACHE_FOLDER,
    DOWNLOAD_ONCE,
    PASS_OFFLINE,
    CacheError,
    DataSourceError,
    NotCachedError,
    UsageError,
    quote,
    with_message,
)

DEFAULT_TTL_SECONDS = 7 * 24 * 3600
#: The marker file in the cache root, and what it starts with.
MARKER_NAME = "CACHEDIR.TAG"
MARKER_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by factorxray.\n"
    "# Only files factorxray wrote here are removed by `factorxray cache clear`.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
#: How many files a folder without the marker may hold for the cache to check them all.
MAX_ADOPT_FILES = 10_000
_DATA_SUFFIX = ".data"
_META_SUFFIX = ".meta.json"
#: Keys used as file names unchanged.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.=-]*[A-Za-z0-9=-])?")
_MAX_STEM = 160
#: Temporary files of :func:`atomic_write_bytes`: ``.<name>.<random>.tmp``.
_TEMP_FILE = re.compile(r"\..+\.(?:data|meta\.json)\.[A-Za-z0-9_]+\.tmp")
#: Attempts at reading an entry whose metadata changes while it is read (a concurrent writer).
_READ_ATTEMPTS = 3
#: Ends the name of a namespace of derived entries (``kenfrench-parsed``).
DERIVED_SUFFIX = "-parsed"

logger = logging.getLogger("factorxray.cache")


def default_cache_dir() -> Path:
    """The cache folder: ``$FACTORXRAY_CACHE_DIR`` or platformdirs' user cache dir."""
    env = os.environ.get("FACTORXRAY_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("factorxray", appauthor=False))


def entry_stem(key: str) -> str:
    """The file name (without suffix) of a namespace or key: injective, safe on every OS.

    A plain key (letters, digits, ``_ . = -`` inside, starting with a letter or digit and
    not ending with ``.`` or ``_``) is its own name, as in earlier versions. Any other key
    has every character but letters and digits escaped as ``~XX`` (its UTF-8 bytes in hex),
    so it always contains a ``~``, which no plain key does: two different keys never map to
    one name. A name longer than 160 characters is cut and ends with ``~~`` and a hash.

    Examples
    --------
    >>> entry_stem("SPY"), entry_stem("^GSPC"), entry_stem("MTUM."), entry_stem("MTUM")
    ('SPY', '~5EGSPC', 'MTUM~2E', 'MTUM')
    """
    if not isinstance(key, str) or not key:
        raise UsageError(f"cache key {quote(key)} is empty; use letters and digits")
    if _PLAIN_KEY.fullmatch(key) and len(key) <= _MAX_STEM:
        return key
    stem = "".join(
        ch if ch.isascii() and ch.isalnum() else "".join(f"~{b:02X}" for b in ch.encode())
        for ch in key
    )
    if len(stem) > _MAX_STEM:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        stem = f"{stem[: _MAX_STEM - 34]}~~{digest}"
    return stem


def derived_namespace(namespace: str) -> str:
    """The namespace of forms derived from ``namespace``'s entries, cleared with it.

    Examples
    --------
    >>> derived_namespace("kenfrench")
    'kenfrench-parsed'
    """
    return f"{namespace}{DERIVED_SUFFIX}"


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


@dataclass(frozen=True)
class CacheProblem:
    """An entry that cannot be used: where it is and why (for ``cache info``)."""

    namespace: str
    key: str
    path: Path
    reason: str


class _Unusable(Exception):
    """An entry exists but cannot be returned; the message says why, ``reason`` in short."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


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
        self._root_ready = False

    def _paths(self, namespace: str, key: str) -> tuple[Path, Path]:
        folder = self.root / entry_stem(namespace)
        name = entry_stem(key)
        return folder / f"{name}{_DATA_SUFFIX}", folder / f"{name}{_META_SUFFIX}"

    # ------------------------------------------------------------------ reading

    def get(self, namespace: str, key: str, *, quiet: bool = False) -> CacheEntry | None:
        """Return the entry, or None when absent or unusable.

        An entry that exists but cannot be used (its data does not match the sha256 in its
        metadata, the metadata is unreadable or names another key, the data file is
        missing) is treated as absent, with a warning on the ``factorxray.cache`` logger:
        the caller downloads it again (or, offline, reports it missing). With ``quiet`` (for
        a derived entry, which its caller rebuilds) the message is logged at debug level.
        """
        try:
            return self._read(namespace, key)
        except _Unusable as exc:
            logger.log(logging.DEBUG if quiet else logging.WARNING, "%s", exc)
            return None

    def _read(
        self, namespace: str, key: str, paths: tuple[Path, Path] | None = None
    ) -> CacheEntry | None:
        data_path, meta_path = paths or self._paths(namespace, key)
        where = f"cache entry {namespace}/{key} in {self.root}"
        for attempt in range(_READ_ATTEMPTS):
            try:
                meta_bytes = meta_path.read_bytes()
            except FileNotFoundError:
                return None  # absent (or a first write that has not finished yet)
            except OSError as exc:
                reason = f"unreadable ({exc.strerror or exc})"
                raise _Unusable(f"{where} is {reason}; ignoring it", reason) from None
            try:
                data = data_path.read_bytes()
            except OSError as exc:
                problem = f"its data file cannot be read ({exc.strerror or exc})"
                data = None
            try:
                meta = json.loads(meta_bytes)
            except (ValueError, UnicodeDecodeError):
                meta = None
            if not isinstance(meta, dict):
                problem = "its metadata is unreadable"
            elif meta.get("namespace", namespace) != namespace or meta.get("key", key) != key:
                stored = quote(f"{meta.get('namespace')}/{meta.get('key')}")
                raise _Unusable(
                    f"{where} holds {stored} instead (an entry of an older version "
                    "or another key); ignoring it",
                    f"holds {stored}",
                )
            elif data is not None and meta.get("sha256") == hashlib.sha256(data).hexdigest():
                return CacheEntry(namespace, key, data, meta)
            elif data is not None:
                problem = "its data does not match the sha256 in its metadata"
            with contextlib.suppress(OSError):
                if meta_path.read_bytes() != meta_bytes and attempt + 1 < _READ_ATTEMPTS:
                    time.sleep(0.01)
                    continue  # rewritten while we read it: read again
            break
        raise _Unusable(
            f"corrupt {where}: {problem}; ignoring it (it is downloaded again when online)",
            f"corrupt: {problem}",
        )

    def entries(self) -> Iterator[CacheEntry]:
        """Every valid entry, namespace by namespace (unusable ones are skipped quietly)."""
        for item in self.inspect():
            if isinstance(item, CacheEntry):
                yield item

    def inspect(self) -> Iterator[CacheEntry | CacheProblem]:
        """Every entry: a :class:`CacheEntry` when valid, else a :class:`CacheProblem`."""
        if not self.root.is_dir():
            return
        for meta_path in sorted(self.root.glob(f"*/*{_META_SUFFIX}")):
            namespace, key = _names_from_meta(meta_path)
            if namespace is None or key is None:
                yield CacheProblem(
                    meta_path.parent.name,
                    meta_path.name.removesuffix(_META_SUFFIX),
                    meta_path,
                    "corrupt: unreadable metadata",
                )
                continue
            data_path = meta_path.with_name(
                meta_path.name.removesuffix(_META_SUFFIX) + _DATA_SUFFIX
            )
            try:
                entry = self._read(namespace, key, (data_path, meta_path))
            except _Unusable as exc:
                yield CacheProblem(namespace, key, meta_path, exc.reason)
                continue
            if entry is not None:
                yield entry

    def size_bytes(self) -> int:
        """Total bytes on disk under the cache folder."""
        if not self.root.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    # ------------------------------------------------------------------ writing

    def put(
        self,
        namespace: str,
        key: str,
        data: bytes,
        meta: dict[str, Any],
        *,
        durable: bool = True,
    ) -> CacheEntry:
        """Store ``data`` with ``meta`` atomically; adds sha256, size and fetched-at.

        With ``durable=False`` (a derived entry, which its reader checks and rebuilds) the
        files are not flushed to the disk before they are renamed into place: two fsyncs
        (~10 ms) saved; a file left torn by a power cut fails the sha256 check on reading
        and is treated as absent.
        """
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
            self._prepare_root()
            atomic_write_bytes(data_path, data, durable=durable)
            atomic_write_bytes(
                meta_path,
                json.dumps(full_meta, indent=2, sort_keys=True).encode(),
                durable=durable,
            )
        except OSError as exc:
            raise CacheError(
                f"cannot write to the cache folder {self.root} ({exc.strerror or exc}); "
                f"choose another: {CACHE_FOLDER.python} or set FACTORXRAY_CACHE_DIR"
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

    def _prepare_root(self) -> None:
        """Create the cache folder with its marker; mark an existing folder only if it is ours."""
        if self._root_ready:
            return
        if not self.root.exists():
            self.root.mkdir(parents=True, exist_ok=True)
        if not self.is_marked() and self._holds_only_entries():
            self._write_marker()
        self._root_ready = True

    def _write_marker(self) -> None:
        with contextlib.suppress(OSError):
            atomic_write_bytes(self.root / MARKER_NAME, MARKER_TEXT.encode())

    def is_marked(self) -> bool:
        """Whether the folder holds factorxray's ``CACHEDIR.TAG`` marker."""
        try:
            with open(self.root / MARKER_NAME, "rb") as handle:
                head = handle.read(512)
        except OSError:
            return False
        return head.startswith(MARKER_TEXT.encode()[:44]) and b"factorxray" in head

    def _holds_only_entries(self) -> bool:
        return self.foreign_file() is None

    def foreign_file(self) -> Path | None:
        """A file or folder in the cache folder that the cache cannot prove it wrote, or None.

        The cache writes only its marker at the top, and in each namespace folder entries
        (``.data`` and ``.meta.json``, the metadata naming that namespace and key) and
        temporary files of those. Anything else is foreign. Only two levels are looked at,
        and at most :data:`MAX_ADOPT_FILES` files, so a wrong folder (a home folder) costs
        little: the first foreign file ends the search.
        """
        if not self.root.is_dir():
            return None
        checked = 0
        valid: dict[Path, bool] = {}
        with os.scandir(self.root) as top:
            namespaces = sorted(top, key=lambda item: item.name)
        for item in namespaces:
            path = Path(item.path)
            if not item.is_dir(follow_symlinks=False):
                if item.name == MARKER_NAME and item.is_file(follow_symlinks=False):
                    continue
                return path
            with os.scandir(path) as inside:
                files = sorted(inside, key=lambda f: f.name)
            for file in files:
                checked += 1
                if checked > MAX_ADOPT_FILES or not file.is_file(follow_symlinks=False):
                    return Path(file.path)
                name = file.name
                if _TEMP_FILE.fullmatch(name):
                    continue
                if name.endswith(_META_SUFFIX):
                    meta_path = Path(file.path)
                elif name.endswith(_DATA_SUFFIX):
                    meta_path = path / (name.removesuffix(_DATA_SUFFIX) + _META_SUFFIX)
                else:
                    return Path(file.path)
                if meta_path not in valid:
                    valid[meta_path] = _names_from_meta(meta_path) != (None, None)
                if not valid[meta_path]:
                    return Path(file.path)
        return None

    # ------------------------------------------------------------------ clearing

    def clear(self, namespace: str | None = None) -> int:
        """Delete every entry (or one namespace's and its derived twin's); return the number
        of files removed.

        Only a folder the cache can prove is its own is touched: one holding factorxray's
        ``CACHEDIR.TAG`` marker, or holding nothing but entries with valid metadata (a cache
        made before the marker existed; it is marked now). In it, only entries whose
        metadata names their namespace and key, and temporary files of the cache, are
        deleted; anything else stays, and so does the marker.

        Raises
        ------
        CacheError
            The folder is not a factorxray cache: nothing is removed, and the message names
            the folder and a file that is not the cache's.
        """
        if not self.root.is_dir():
            return 0
        if not self.is_marked():
            foreign = self.foreign_file()
            if foreign is not None:
                raise CacheError(
                    f"{self.root} is not a factorxray cache folder (no CACHEDIR.TAG from "
                    f"factorxray, and {quote(str(foreign.relative_to(self.root)))} is not a "
                    f"cache file), so nothing was removed; {CHECK_CACHE_FOLDER.python} and "
                    "FACTORXRAY_CACHE_DIR (to drop a cache of an older factorxray that also "
                    "holds other files, delete that folder yourself)"
                )
            self._write_marker()
        folders = (
            [
                self.root / entry_stem(namespace),
                self.root / entry_stem(derived_namespace(namespace)),
            ]
            if namespace
            else sorted(p for p in self.root.iterdir() if p.is_dir())
        )
        removed = 0
        for folder in folders:
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if not path.is_file():
                    continue
                if _TEMP_FILE.fullmatch(path.name):
                    removed += _unlink(path)
                elif path.name.endswith(_META_SUFFIX):
                    if _names_from_meta(path) == (None, None):
                        continue
                    data_path = path.with_name(path.name.removesuffix(_META_SUFFIX) + _DATA_SUFFIX)
                    removed += _unlink(data_path) + _unlink(path)
            with contextlib.suppress(OSError):
                folder.rmdir()
        return removed


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1


def _names_from_meta(meta_path: Path) -> tuple[str | None, str | None]:
    """The namespace and key an entry's metadata names, if it is valid metadata for its place.

    Valid: a JSON object with a sha256, whose namespace and key map to the folder and file
    name it sits at. Anything else gives ``(None, None)``.
    """
    try:
        if meta_path.stat().st_size > 1024 * 1024:
            return None, None
        meta = json.loads(meta_path.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(meta, dict):
        return None, None
    namespace, key, sha = meta.get("namespace"), meta.get("key"), meta.get("sha256")
    if not (isinstance(namespace, str) and isinstance(key, str) and isinstance(sha, str)):
        return None, None
    if not namespace or not key:
        return None, None
    if meta_path.parent.name not in (entry_stem(namespace), _legacy_stem(namespace)):
        return None, None
    stem = meta_path.name.removesuffix(_META_SUFFIX)
    if stem not in (entry_stem(key), _legacy_stem(key)):
        return None, None
    return namespace, key


def _legacy_stem(key: str) -> str:
    """The file name versions before 0.2 gave a key (not injective: ``^GSPC`` -> ``GSPC``)."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", key).strip("._")


def kept_copy_error(
    exc: DataSourceError, kept: CacheEntry, how: str = PASS_OFFLINE.python
) -> DataSourceError:
    """``exc``, saying that the good cached copy ``kept`` stays and how to use it.

    ``how`` is the advice in the Python API's words (``"pass snapshot=True"``, which the CLI
    prints as ``"add --offline"``: :func:`factorxray.errors.cli_wording`).
    The error's ``kept_copy`` attribute holds the copy's fetch time.
    """
    fetched = kept.meta.get("fetched_at", "?")
    renewed = with_message(exc, f"{exc} (a cached copy from {fetched} is kept; {how} to use it)")
    renewed.kept_copy = fetched  # type: ignore[attr-defined]
    return renewed


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
    offline_hint: str = PASS_OFFLINE.python,
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
    offline_hint : str
        How the caller's user works offline, in the Python API's words, for the error of a
        failed download when a cached copy is kept (``"... is kept; pass offline=True to use
        it"``; the CLI prints ``add --offline``).

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
                f"{what} is not in the cache ({cache.root}); {DOWNLOAD_ONCE.python} it"
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
            raise kept_copy_error(exc, cached, offline_hint) from None
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
    if cached is not None:
        keep_older_vintage(cache, cached, meta.get("vintage"))
    return cache.put(namespace, key, response.content, meta)


#: Separates a key from the vintage of a kept older version: ``KEY@VINTAGE``.
VINTAGE_SEPARATOR = "@"


def keep_older_vintage(cache: Cache, cached: CacheEntry, new_vintage: object) -> None:
    """Keep ``cached`` as ``KEY@VINTAGE`` before a download of another vintage replaces it.

    Only entries whose metadata names a vintage (the data sources add it) are kept, once
    per vintage; the copy carries the original metadata plus ``kept_from``. The cache thus
    holds every vintage of a dataset it has seen (``factorxray.factors.vintages`` reads them).
    A copy that cannot be written is skipped: the newer data matter more.
    """
    old_vintage = cached.meta.get("vintage")
    if not old_vintage or str(old_vintage) == str(new_vintage or ""):
        return
    key = f"{cached.key}{VINTAGE_SEPARATOR}{old_vintage}"
    if cache.get(cached.namespace, key) is not None:
        return
    meta = {
        name: value
        for name, value in cached.meta.items()
        if name not in ("sha256", "size", "namespace", "key")
    }
    meta["kept_from"] = cached.key
    with contextlib.suppress(CacheError):
        cache.put(cached.namespace, key, cached.data, meta)
