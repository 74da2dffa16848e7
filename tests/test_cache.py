"""The cache: atomic writes, checksums, TTL, conditional GET, offline, concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from factorxray.data.cache import Cache, atomic_write_bytes, cached_get, default_cache_dir
from factorxray.data.http import HttpClient
from factorxray.errors import CacheError, DataSourceError, NotCachedError
from tests._server import LoopbackServer, Reply


def test_put_get_roundtrip_with_metadata(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    stored = cache.put(
        "kenfrench", "X_CSV.zip", b"payload", {"url": "http://h/x", "vintage": "202511"}
    )
    entry = cache.get("kenfrench", "X_CSV.zip")
    assert entry is not None and entry.data == b"payload"
    assert entry.meta["vintage"] == "202511" and entry.meta["size"] == 7
    assert entry.meta["sha256"] == stored.meta["sha256"]
    assert entry.is_fresh(60) and not entry.is_fresh(-1)


def test_default_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTORXRAY_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("FACTORXRAY_CACHE_DIR")
    assert "factorxray" in str(default_cache_dir())


def test_a_failed_write_leaves_no_partial_file_and_keeps_the_old_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = Cache(tmp_path)
    cache.put("ns", "item", b"old good bytes", {})

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(
        CacheError, match=r"cannot write to the cache folder .*disk full.*--cache-dir"
    ):
        cache.put("ns", "item", b"new bytes", {})
    monkeypatch.undo()
    files = sorted(p.name for p in (tmp_path / "ns").iterdir())
    assert files == ["item.data", "item.meta.json"]  # no temporary file left behind
    entry = cache.get("ns", "item")
    assert entry is not None and entry.data == b"old good bytes"


def test_an_interrupted_write_mid_file_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ns" / "file.data"

    class Boom(Exception):
        pass

    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        raise Boom("power cut")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(Boom):
        atomic_write_bytes(target, b"x" * 10_000)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert list((tmp_path / "ns").iterdir()) == []


def test_data_not_matching_its_checksum_is_treated_as_absent(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put("ns", "item", b"abc", {})
    (tmp_path / "ns" / "item.data").write_bytes(b"abd")
    assert cache.get("ns", "item") is None


def _hammer(root: str, writer: int, rounds: int) -> None:
    cache = Cache(root)
    for i in range(rounds):
        cache.put("ns", "shared", f"writer {writer} round {i}|".encode() * 200, {"writer": writer})


def test_two_processes_writing_never_corrupt_an_entry(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_hammer, args=(str(tmp_path), w, 150)) for w in (1, 2)]
    for worker in workers:
        worker.start()
    cache = Cache(tmp_path)
    seen = 0
    while any(worker.is_alive() for worker in workers):
        entry = cache.get("ns", "shared")
        if entry is not None:
            seen += 1
            text = entry.data.decode()
            assert text.startswith(f"writer {entry.meta['writer']} ")
            unit = text.split("|")[0] + "|"
            assert text == unit * 200  # one writer's complete bytes, never a mix
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    final = cache.get("ns", "shared")
    assert final is not None and seen > 0
    assert not [p for p in (tmp_path / "ns").iterdir() if p.name.endswith(".tmp")]


def test_clear_removes_only_cache_files(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put("a", "one", b"1", {})
    cache.put("b", "two", b"2", {})
    (tmp_path / "b" / "notes.txt").write_text("user file")
    assert cache.clear("a") == 2
    assert not (tmp_path / "a").exists()
    assert cache.clear() == 2
    assert (tmp_path / "b" / "notes.txt").read_text() == "user file"


def _server_counting(body: bytes, etag: str = '"v1"') -> LoopbackServer:
    def handler(request):
        if request.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        return Reply(200, body, {"ETag": etag})

    return LoopbackServer({"/item": handler}).start()


def test_cached_get_fresh_stale_refresh_and_offline(tmp_path: Path) -> None:
    server = _server_counting(b"hello")
    try:
        with HttpClient(backoff=0.01) as client:
            cache = Cache(tmp_path, ttl_seconds=3600)
            kwargs = dict(namespace="ns", key="item", url=f"{server.url}/item", what="item")
            assert cached_get(cache, client, **kwargs).data == b"hello"
            assert cached_get(cache, client, **kwargs).data == b"hello"
            assert len(server.requests) == 1  # fresh: served from the cache
            cached_get(cache, client, refresh=True, **kwargs)
            assert len(server.requests) == 2 and "if-none-match" not in server.requests[-1].headers
            stale = Cache(tmp_path, ttl_seconds=0)
            entry = cached_get(stale, client, **kwargs)
            assert server.requests[-1].headers["if-none-match"] == '"v1"' and entry.data == b"hello"
    finally:
        server.stop()
    with HttpClient(retries=0) as client:
        offline = cached_get(Cache(tmp_path, 0), client, offline=True, **kwargs)
        assert offline.data == b"hello"  # server stopped: the cache still answers
        with pytest.raises(NotCachedError, match="other is not in the cache"):
            cached_get(
                Cache(tmp_path),
                client,
                namespace="ns",
                key="other",
                url="http://127.0.0.1:9/x",
                what="other",
                offline=True,
            )


def test_a_bad_download_never_replaces_the_good_copy(tmp_path: Path) -> None:
    cache = Cache(tmp_path, ttl_seconds=0)
    cache.put("ns", "item", b"good", {"etag": None})

    def reject(data: bytes) -> dict:
        raise DataSourceError("garbage")

    with (
        LoopbackServer({"/item": lambda r: Reply(200, b"garbage")}) as server,
        HttpClient() as client,
    ):
        with pytest.raises(DataSourceError, match="garbage"):
            cached_get(
                cache,
                client,
                namespace="ns",
                key="item",
                url=f"{server.url}/item",
                what="item",
                validate=reject,
            )
    with (
        LoopbackServer({"/item": lambda r: Reply(500, b"oops")}) as server,
        HttpClient(retries=1, backoff=0.01) as client,
    ):
        with pytest.raises(DataSourceError, match=r"HTTP 500 .*a cached copy from .* is kept"):
            cached_get(
                cache, client, namespace="ns", key="item", url=f"{server.url}/item", what="item"
            )
    assert cache.get("ns", "item").data == b"good"
