"""The cache: atomic writes, checksums, TTL, conditional GET, offline, concurrent writers."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factorxray.cli import app
from factorxray.data.cache import (
    MARKER_NAME,
    Cache,
    CacheEntry,
    atomic_write_bytes,
    cached_get,
    default_cache_dir,
    derived_namespace,
    entry_stem,
)
from factorxray.data.http import HttpClient
from factorxray.errors import CacheError, DataSourceError, NotCachedError
from tests._server import LoopbackServer, Reply

runner = CliRunner()


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
        CacheError,
        match=r"cannot write to the cache folder .*disk full.*pass cache=Cache\(FOLDER\) or set "
        "FACTORXRAY_CACHE_DIR",
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


def test_data_not_matching_its_checksum_is_absent_with_a_warning(tmp_path: Path, caplog) -> None:
    cache = Cache(tmp_path)
    cache.put("ns", "item", b"abc", {})
    (tmp_path / "ns" / "item.data").write_bytes(b"abd")
    with caplog.at_level(logging.WARNING, logger="factorxray.cache"):
        assert cache.get("ns", "item") is None
    (record,) = caplog.records
    assert record.getMessage().startswith(f"corrupt cache entry ns/item in {tmp_path}: its data ")
    assert "sha256" in record.getMessage() and "\n" not in record.getMessage()


def test_unreadable_metadata_is_absent_with_a_warning(tmp_path: Path, caplog) -> None:
    cache = Cache(tmp_path)
    cache.put("ns", "item", b"abc", {})
    (tmp_path / "ns" / "item.meta.json").write_bytes(b"{not json")
    with caplog.at_level(logging.WARNING, logger="factorxray.cache"):
        assert cache.get("ns", "item") is None
    assert "metadata is unreadable" in caplog.text


# ------------------------------------------------------------------ keys


@pytest.mark.parametrize(
    "pair", [("^GSPC", "GSPC"), ("MTUM.", "MTUM"), ("A_B", "A/B"), ("a+b", "a_b"), ("~5E", "^")]
)
def test_keys_never_share_an_entry(tmp_path: Path, pair: tuple[str, str]) -> None:
    """The old names stripped ^ . _ and replaced other characters: ^GSPC read GSPC's bytes."""
    cache = Cache(tmp_path)
    first, second = pair
    assert entry_stem(first) != entry_stem(second)
    cache.put("prices-yahoo", first, first.encode(), {})
    assert cache.get("prices-yahoo", second) is None
    cache.put("prices-yahoo", second, second.encode(), {})
    assert cache.get("prices-yahoo", first).data == first.encode()
    assert cache.get("prices-yahoo", second).data == second.encode()


def test_plain_keys_keep_their_file_names(tmp_path: Path) -> None:
    """Existing caches stay valid: every ticker and dataset name in use is its own name."""
    for key in ("SPY", "BRK-B", "BRK.B", "EURUSD=X", "F-F_Research_Data_5_Factors_2x3_CSV.zip"):
        assert entry_stem(key) == key
    assert entry_stem("^GSPC") == "~5EGSPC" and entry_stem("x" * 300).count("~~") == 1
    assert entry_stem("é") == "~C3~A9"


def test_an_entry_naming_another_key_is_a_miss_with_a_warning(tmp_path: Path, caplog) -> None:
    """An older version stored ^GSPC under GSPC's file name: GSPC never gets its bytes."""
    cache = Cache(tmp_path)
    cache.put("prices-yahoo", "GSPC", b"index prices", {})
    meta_path = tmp_path / "prices-yahoo" / "GSPC.meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "key": "^GSPC"}))
    with caplog.at_level(logging.WARNING, logger="factorxray.cache"):
        assert cache.get("prices-yahoo", "GSPC") is None
    assert "holds 'prices-yahoo/^GSPC' instead" in caplog.text


# ------------------------------------------------------------------ ownership and clear


def _foreign_folder(root: Path) -> list[Path]:
    """The issue's example: a folder of someone's work that looks like cache files."""
    files = [root / "project" / "perf.data", root / "project" / "r.tmp", root / "work" / "e.data"]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"precious")
    return files


def test_clear_refuses_a_folder_that_is_not_a_cache(tmp_path: Path) -> None:
    files = _foreign_folder(tmp_path)
    with pytest.raises(CacheError, match=rf"^{tmp_path} is not a factorxray cache folder") as info:
        Cache(tmp_path).clear()
    assert "nothing was removed" in str(info.value) and "\n" not in str(info.value)
    assert all(path.read_bytes() == b"precious" for path in files)


@pytest.mark.parametrize("how", ["--cache-dir", "FACTORXRAY_CACHE_DIR"])
def test_cache_clear_cli_on_a_wrong_folder_removes_nothing(tmp_path: Path, how: str) -> None:
    folder = tmp_path / "mine"
    files = _foreign_folder(folder)
    if how == "--cache-dir":
        result = runner.invoke(app, ["--cache-dir", str(folder), "cache", "clear"])
    else:
        result = runner.invoke(app, ["cache", "clear"], env={"FACTORXRAY_CACHE_DIR": str(folder)})
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "is not a factorxray cache folder" in result.stderr
    assert str(folder) in result.stderr.replace("\n", "")
    assert all(path.read_bytes() == b"precious" for path in files)
    assert sorted(p.name for p in folder.rglob("*")) == [
        "e.data",
        "perf.data",
        "project",
        "r.tmp",
        "work",
    ]
    info = runner.invoke(app, ["--cache-dir", str(folder), "cache", "info"])
    assert info.exit_code == 0 and "0 item(s)" in info.stdout and "not marked" in info.stdout


def test_a_new_cache_folder_is_marked_and_cleared_entry_by_entry(tmp_path: Path) -> None:
    root = tmp_path / "new"
    cache = Cache(root)
    cache.put("kenfrench", "X_CSV.zip", b"zip", {})
    cache.put("prices-yahoo", "^GSPC", b"idx", {})
    assert (
        (root / MARKER_NAME).read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    )
    (root / "prices-yahoo" / "notes.txt").write_text("mine")
    (root / "prices-yahoo" / "orphan.data").write_bytes(b"no metadata: not provably ours")
    assert cache.clear() == 4
    assert sorted(p.name for p in root.rglob("*")) == [
        MARKER_NAME,
        "notes.txt",
        "orphan.data",
        "prices-yahoo",
    ]


def test_a_cache_of_an_older_version_is_recognised_by_its_entries(tmp_path: Path) -> None:
    """No marker, but nothing other than entries whose metadata names their place."""
    root = tmp_path / "old"
    Cache(root).put("kenfrench", "X_CSV.zip", b"zip", {})
    Cache(root).put("prices-yahoo", "SPY", b"spy", {})
    (root / MARKER_NAME).unlink()
    (root / "prices-yahoo" / ".SPY.data.abc123.tmp").write_bytes(b"left by a crash")
    assert Cache(root).foreign_file() is None
    assert Cache(root).clear() == 5
    assert (root / MARKER_NAME).exists()  # recognised, and marked now


def test_a_folder_with_the_marker_of_another_tool_is_not_ours(tmp_path: Path) -> None:
    _foreign_folder(tmp_path)
    (tmp_path / MARKER_NAME).write_text("Signature: 8a477f597d28d172789f06886806bc55\n# cargo\n")
    with pytest.raises(CacheError, match="not a factorxray cache"):
        Cache(tmp_path).clear()


def test_writing_into_a_foreign_folder_does_not_mark_it(tmp_path: Path) -> None:
    files = _foreign_folder(tmp_path)
    Cache(tmp_path).put("kenfrench", "X_CSV.zip", b"zip", {})
    assert not (tmp_path / MARKER_NAME).exists()
    with pytest.raises(CacheError):
        Cache(tmp_path).clear()
    assert all(path.exists() for path in files)


def test_cache_info_flags_corrupt_entries(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put("kenfrench", "GOOD_CSV.zip", b"good", {"vintage": "202511"})
    cache.put("kenfrench", "BAD_CSV.zip", b"bad", {})
    (tmp_path / "kenfrench" / "BAD_CSV.zip.data").write_bytes(b"flipped")
    items = list(cache.inspect())
    assert [type(i).__name__ for i in items] == ["CacheProblem", "CacheEntry"]
    assert [e.key for e in cache.entries() if isinstance(e, CacheEntry)] == ["GOOD_CSV.zip"]
    result = runner.invoke(app, ["--cache-dir", str(tmp_path), "cache", "info"])
    assert result.exit_code == 0
    assert "BAD_CSV.zip" in result.stdout and "corrupt" in result.stdout
    assert "1 item(s), 1 corrupt" in result.stdout


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


def _write_forever(root: str) -> None:
    cache = Cache(root)
    i = 0
    while True:
        i += 1
        cache.put("ns", "big", f"round {i}|".encode() * 300_000, {"round": i})


def test_kill_9_during_writes_never_leaves_a_partial_entry(tmp_path: Path) -> None:
    """A writer killed with SIGKILL at random moments: the entry is always a whole one."""
    import random
    import signal
    import time

    context = multiprocessing.get_context("spawn")
    rng = random.Random(7)
    for _ in range(3):
        writer = context.Process(target=_write_forever, args=(str(tmp_path),))
        writer.start()
        started = time.monotonic()
        while not (tmp_path / "ns" / "big.meta.json").exists() and time.monotonic() - started < 60:
            time.sleep(0.01)  # the child is still importing
        time.sleep(rng.random() * 0.3)
        os.kill(writer.pid, signal.SIGKILL)
        writer.join()
        assert writer.exitcode == -signal.SIGKILL
        entry = Cache(tmp_path).get("ns", "big")
        if entry is not None:
            unit = f"round {entry.meta['round']}|".encode()
            assert entry.data == unit * 300_000
    leftovers = [p for p in (tmp_path / "ns").iterdir() if p.name.endswith(".tmp")]
    removed = Cache(tmp_path).clear()
    assert removed >= len(leftovers) and not list((tmp_path).glob("ns/*"))


def test_clear_removes_only_cache_files(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put("a", "one", b"1", {})
    cache.put("b", "two", b"2", {})
    (tmp_path / "b" / "notes.txt").write_text("user file")
    assert cache.clear("a") == 2
    assert not (tmp_path / "a").exists()
    assert cache.clear() == 2
    assert (tmp_path / "b" / "notes.txt").read_text() == "user file"


def test_clearing_a_namespace_clears_its_derived_twin_only(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put("a", "one", b"1", {})
    cache.put(derived_namespace("a"), "one.npz", b"p", {"derived_from": "a/one"})
    cache.put("a-other", "x", b"x", {})
    cache.put("b", "two", b"2", {})
    cache.put(derived_namespace("b"), "two.npz", b"q", {"derived_from": "b/two"})
    (tmp_path / "a-parsed" / "notes.txt").write_text("user file")
    assert cache.clear("a") == 4
    assert sorted((e.namespace, e.key) for e in cache.entries()) == [
        ("a-other", "x"),
        ("b", "two"),
        ("b-parsed", "two.npz"),
    ]
    assert (tmp_path / "a-parsed" / "notes.txt").read_text() == "user file"
    assert cache.clear("b-parsed") == 2
    assert sorted(e.namespace for e in cache.entries()) == ["a-other", "b"]


def test_cache_clear_cli_of_a_namespace_holding_only_derived_forms(tmp_path: Path) -> None:
    """After an offline run the cache holds only the snapshot's parsed Ken French forms:
    ``cache clear kenfrench`` clears them; a namespace with neither is still refused."""
    cache = Cache(tmp_path)
    cache.put(derived_namespace("kenfrench"), "F-F_Momentum_Factor@snapshot.npz", b"p", {})
    env = {"FACTORXRAY_CACHE_DIR": str(tmp_path)}
    refused = runner.invoke(app, ["cache", "clear", "prices-yahoo"], env=env)
    assert refused.exit_code == 2 and "no cache namespace 'prices-yahoo'" in refused.output
    result = runner.invoke(app, ["cache", "clear", "kenfrench"], env=env)
    assert result.exit_code == 0, result.output
    assert "removed 2 file(s)" in result.output and list(cache.entries()) == []


def test_a_quiet_read_of_a_corrupt_entry_is_a_miss_logged_at_debug(tmp_path: Path, caplog) -> None:
    cache = Cache(tmp_path)
    cache.put("ns-parsed", "item", b"abc", {})
    (tmp_path / "ns-parsed" / "item.data").write_bytes(b"abd")
    with caplog.at_level(logging.DEBUG, logger="factorxray.cache"):
        assert cache.get("ns-parsed", "item", quiet=True) is None
    (record,) = caplog.records
    assert (
        record.levelno == logging.DEBUG and "corrupt cache entry ns-parsed/item" in record.message
    )


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
