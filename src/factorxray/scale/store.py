"""The output folder of a panel run: layout, atomic Parquet files, chunk markers, the lock.

```
OUT/manifest.json                 what was run and how far it got (rewritten atomically)
OUT/static/chunk-00007.parquet    static estimates of chunk 7 (one row per series and term)
OUT/rolling/chunk-00007.parquet   rolling estimates (one row per series, window end and term)
OUT/_chunks/chunk-00007.json      marker: chunk 7 is complete (written after its files)
OUT/_staging/...                  the panel regrouped by chunk (removed when the run is complete)
OUT/.lock                         held by the running client (one run per folder at a time)
```

Every file is written to a hidden temporary name in its folder (``.name.*.tmp``, which
Parquet readers skip) and renamed into place with :func:`os.replace`, so a crash, a killed
worker or Ctrl-C leaves the old state or the new one, never a partial file. A chunk is done
when its marker exists; the marker is written only after the chunk's data files are in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from factorxray._atomic import atomic_write_text
from factorxray.errors import UsageError, quote

__all__ = [
    "MANIFEST",
    "atomic_parquet",
    "chunk_name",
    "clean_temporary",
    "read_json",
    "run_lock",
    "write_json",
]

MANIFEST = "manifest.json"
STATIC = "static"
ROLLING = "rolling"
MARKERS = "_chunks"
STAGING = "_staging"
LOCK = ".lock"


def chunk_name(chunk: int) -> str:
    """``chunk-00007``: the stem of a chunk's files."""
    return f"chunk-{chunk:05d}"


@contextlib.contextmanager
def atomic_parquet(path: Path, schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
    """A Parquet writer whose file appears at ``path`` whole, or not at all.

    Row groups are written to a hidden temporary file in the same folder; on leaving the
    block without error the file is flushed to disk and renamed to ``path``; on any error
    (or interruption) the temporary file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        strings = [f.name for f in schema if pa.types.is_string(f.type)]
        # dictionary pages for the id-like string columns only: trying them on float columns
        # doubles the write time for nothing
        writer = pq.ParquetWriter(tmp_name, schema, compression="zstd", use_dictionary=strings)
        try:
            yield writer
        finally:
            writer.close()
        with open(tmp_name, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_table(path: Path, table: pa.Table) -> None:
    """Write one table as a Parquet file, atomically."""
    with atomic_parquet(path, table.schema) as writer:
        writer.write_table(table)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically (sorted keys left as given, two-space indent)."""
    atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or ``None`` when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def clean_temporary(folder: Path) -> int:
    """Remove temporary files left by an interrupted run under ``folder``; return how many."""
    removed = 0
    if not folder.exists():
        return 0
    for tmp in folder.rglob(".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed += 1
    return removed


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``OUT/.lock`` for the duration of a run; a second run on the folder fails at once."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / LOCK, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"another panel run is writing {quote(str(out))}; wait for it or use another --out"
            ) from None
        yield
    finally:
        handle.close()
