"""Atomic file writes, shared by the cache and the report writer."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file and :func:`os.replace`.

    A crash or error at any point leaves either the old file or the new one, never a
    partial file; the temporary file is removed on failure. Two writers at once each
    write their own temporary file, and the last rename wins whole. With ``durable=False``
    the data are not flushed to the disk before the rename (no ``fsync``, ~5 ms saved a
    file): readers never see a partial file, but after a power cut the file may be empty
    or torn, so use it only for files that are checked on reading and can be made again.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; written files are ordinary readable files
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text (line endings kept as given)."""
    atomic_write_bytes(path, text.encode("utf-8"))
